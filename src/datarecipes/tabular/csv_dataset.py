"""A read-only Kedro dataset of a file's raw bytes, for user CSVs of unknown encoding.

``pandas.CSVDataset`` would fail on a non-UTF-8 file before our cleaning could decide what to
do with it; this dataset hands the bytes to :func:`datarecipes.tabular.tables.parse_table`.
Use it under a ``partitions.PartitionedDataset`` to read a whole folder of tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class CSVBytesDataset(AbstractDataset[bytes, bytes]):
    """The bytes of one CSV file (read-only)."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _load(self) -> bytes:
        return self._filepath.read_bytes()

    def _save(self, data: bytes) -> None:
        raise DatasetError(f"CSVBytesDataset({str(self._filepath)!r}) is read-only")

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

"""A UTF-8 text file (e.g. a generated markdown report) saved atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from datarecipes.io.atomic import atomic_write_text


class AtomicTextDataset(AbstractDataset[str, str]):
    """One text file; a save replaces it whole (temporary sibling, then rename), so a reader
    never sees half a report."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _load(self) -> str:
        return self._filepath.read_text(encoding="utf-8")

    def _save(self, data: str) -> None:
        if not isinstance(data, str):
            raise DatasetError(f"{self._filepath}: expected text, got {type(data).__name__}")
        atomic_write_text(self._filepath, data)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": os.fspath(self._filepath)}

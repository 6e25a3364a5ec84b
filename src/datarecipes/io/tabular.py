"""The scm recipe's read-only source: a folder of CSV tables, handed out as raw bytes.

``pandas.CSVDataset`` would fail on a non-UTF-8 file before our cleaning could decide what to
do with it; this dataset hands the bytes to :func:`datarecipes.tabular.tables.parse_table`.
:class:`CSVTablesSource` is the scm recipe's input contract: a folder of CSVs, read-only, its
path from the command line (``--params scm_tables_source=/data/my_tables``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kedro.io import DatasetError

from datarecipes.io.sources import ReadOnlyDataset


class CSVTablesSource(ReadOnlyDataset[dict[str, Callable[[], bytes]]]):
    """Every ``*.csv`` of a folder (not its sub-folders), by file stem, each as a callable
    returning the file's bytes (read when the table is used, like a ``PartitionedDataset``)::

        scm_real_tables:
          type: datarecipes.io.tabular.CSVTablesSource
          path: ${runtime_params:scm_tables_source, ../shared/data/tabular}

    Hidden files (``.name.csv``, e.g. an editor's or a half-copied temporary) are ignored.
    A missing folder, a file instead of a folder, or a folder without a CSV is refused,
    naming the path.
    """

    def _load(self) -> dict[str, Callable[[], bytes]]:
        folder = self._require_path()
        if not folder.is_dir():
            raise DatasetError(f"scm tables: {str(folder)!r} is not a folder of CSV files")
        files = sorted(p for p in folder.iterdir()
                       if p.is_file() and p.suffix.lower() == ".csv" and not p.name.startswith("."))
        if not files:
            raise DatasetError(f"scm tables: no *.csv file in {str(folder)!r}")
        stems = [p.stem for p in files]
        clash = sorted({s for s in stems if stems.count(s) > 1})
        if clash:
            raise DatasetError(f"scm tables: {str(folder)!r} holds several files named {clash}")
        return {p.stem: (lambda p=p: p.read_bytes()) for p in files}

    def _exists(self) -> bool:
        return self._path is not None and self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": None if self._path is None else str(self._path)}

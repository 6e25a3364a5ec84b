"""kedro-datasets' file types with atomic saves, used by every catalog entry.

kedro-datasets writes straight into the final path, so a ``kill -9`` mid-save leaves a
truncated parquet or JSON file under its real name, and ``kedro run --only-missing-outputs``
then takes it for finished. Each class here is the kedro-datasets class with one change:
on the local filesystem, ``save`` writes into a temporary sibling (same directory, same file
name inside a ``.<name>.<pid>.<random>.tmp`` folder), fsyncs it and renames it into place
(:mod:`datarecipes.io.atomic`). Remote filesystems (s3, gcs, ...) are left as they are: an
object store's put is already all-or-nothing.

:class:`PartitionedDataset` writes the whole directory beside the final one and swaps it in
(``overwrite: true``; with ``overwrite: false`` the existing partitions are hard-linked into
the new directory first), and never lists temporary or hidden names as partitions.

Catalog usage: ``type: datarecipes.io.atomic_datasets.ParquetDataset`` in place of
``pandas.ParquetDataset``; ``python -m datarecipes.io.atomic_catalog conf/*/catalog*.yml``
rewrites catalogs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from kedro_datasets.json import JSONDataset as _JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset as _MatplotlibDataset
from kedro_datasets.pandas import CSVDataset as _CSVDataset
from kedro_datasets.pandas import JSONDataset as _PandasJSONDataset
from kedro_datasets.pandas import ParquetDataset as _ParquetDataset
from kedro_datasets.partitions import PartitionedDataset as _PartitionedDataset

from datarecipes.io.atomic import atomic_path, is_temporary_name

_LOCAL = ("file", "local", None, "")


class _AtomicFileSave:
    """Mixin: redirect ``_get_save_path`` to a temporary sibling for the length of a save."""

    _atomic_target: PurePosixPath | None = None

    def _get_save_path(self):  # type: ignore[override]
        if self._atomic_target is not None:
            return self._atomic_target
        return super()._get_save_path()  # type: ignore[misc]

    def _atomic_save(self, save, data: Any) -> None:
        if getattr(self, "_protocol", None) not in _LOCAL:
            save(data)
            return
        final = super()._get_save_path()  # type: ignore[misc]
        with atomic_path(final) as tmp:
            self._atomic_target = PurePosixPath(tmp)
            try:
                save(data)
            finally:
                self._atomic_target = None
        self._fs.invalidate_cache(str(final))  # type: ignore[attr-defined]


class ParquetDataset(_AtomicFileSave, _ParquetDataset):
    """``pandas.ParquetDataset`` with an atomic save."""

    def save(self, data) -> None:
        self._atomic_save(super().save, data)


class CSVDataset(_AtomicFileSave, _CSVDataset):
    """``pandas.CSVDataset`` with an atomic save."""

    def save(self, data) -> None:
        self._atomic_save(super().save, data)


class PandasJSONDataset(_AtomicFileSave, _PandasJSONDataset):
    """``pandas.JSONDataset`` with an atomic save."""

    def save(self, data) -> None:
        self._atomic_save(super().save, data)


class JSONDataset(_AtomicFileSave, _JSONDataset):
    """``json.JSONDataset`` with an atomic save."""

    def save(self, data) -> None:
        self._atomic_save(super().save, data)


class MatplotlibDataset(_AtomicFileSave, _MatplotlibDataset):
    """``matplotlib.MatplotlibDataset`` with an atomic save (one figure, or a folder of them).

    A list or dict of figures is written as a fresh folder and swapped in, so the parent's
    ``overwrite`` (delete the final folder first) is not needed and is switched off while
    saving: the old plots stay readable until the new ones are complete.
    """

    def save(self, data) -> None:
        overwrite, self._overwrite = self._overwrite, False
        try:
            self._atomic_save(super().save, data)
        finally:
            self._overwrite = overwrite


class PartitionedDataset(_PartitionedDataset):
    """``partitions.PartitionedDataset`` whose directory is written beside and swapped in.

    Listing skips every path with a temporary or hidden component, so a leftover
    ``.x.123.ab.tmp`` folder from a killed run is never loaded as a partition.
    """

    def _list_partitions(self) -> list[str]:
        if self._cached_partitions is not None:
            return self._cached_partitions
        base = self._filesystem._strip_protocol(self._normalized_path).rstrip(self._sep)
        partitions = super()._list_partitions()
        self._cached_partitions = [
            path for path in partitions
            if not any(is_temporary_name(part)
                       for part in path.split(base, 1)[-1].split(self._sep) if part)
        ]
        return self._cached_partitions

    def save(self, data: dict[str, Any]) -> None:
        if self._protocol not in _LOCAL:
            super().save(data)
            return
        final = Path(self._filesystem._strip_protocol(self._normalized_path))
        original = self._path
        with atomic_path(final) as tmp:
            tmp.mkdir()
            if not self._overwrite and final.is_dir():
                _link_tree(final, tmp)
            self._path = str(tmp)
            try:
                # The parent's save with overwrite: the temporary directory is ours alone.
                overwrite, self._overwrite = self._overwrite, False
                super().save(data)
            finally:
                self._path, self._overwrite = original, overwrite
        self._invalidate_caches()


def _link_tree(source: Path, target: Path) -> None:
    """Hard-link (copy where links are refused) every non-temporary file of ``source``."""
    for root, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if not is_temporary_name(d)]
        rel = Path(root).relative_to(source)
        (target / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            if is_temporary_name(name):
                continue
            src, dst = Path(root) / name, target / rel / name
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)

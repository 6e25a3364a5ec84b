"""The catalog's packed-shard directory: WebDataset tar shards written as a whole.

The shards' layout (bins, slots, the index) is :mod:`datarecipes.filtering.shards`; this
dataset only writes what :func:`~datarecipes.filtering.shards.pack_shards` laid out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from datarecipes.io.atomic import atomic_path, is_temporary_name


class PackedShardsDataset(AbstractDataset[Mapping[str, Iterable[Mapping[str, Any]]], list[str]]):
    """A directory of WebDataset tar shards, written as a whole and swapped in.

    ``save`` takes shard file name → records (``{"__key__": ..., "<ext>": bytes, ...}``, as
    :class:`PackedShards` yields them) and writes every shard into a temporary directory
    beside ``path`` that replaces ``path`` only once complete
    (:func:`datarecipes.io.atomic.atomic_path`): readers never see a half-written set, and
    shards of an earlier run with more bins do not survive. ``load`` returns the shard paths
    in order, as ``webdataset.WebDataset`` takes them::

        filtering_packed_shards:
          type: datarecipes.io.shards.PackedShardsDataset
          path: data/05_model_input/filtering/packed
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> list[str]:
        if not self._path.is_dir():
            raise DatasetError(f"packed shards: {str(self._path)!r} is not a directory")
        return [str(p) for p in sorted(self._path.glob("*.tar"))
                if not is_temporary_name(p.name)]

    def save(self, data: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        import webdataset as wds

        for shard in data:
            if Path(shard).name != shard or not shard.endswith(".tar") or \
                    is_temporary_name(shard):
                raise DatasetError(f"packed shards {str(self._path)!r}: {shard!r} is not a "
                                   "plain '<name>.tar' file name")
        with atomic_path(self._path) as tmp:
            tmp.mkdir()
            for shard, records in data.items():
                # mtime 0: the same shards are the same bytes (DVC, checksums).
                with wds.TarWriter(str(tmp / shard), mtime=0.0) as sink:
                    for record in records:
                        sink.write(dict(record))

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

"""Packed sequences as WebDataset tar shards, with a parquet-ready index.

One WebDataset record per packed sequence (bin): ``<bin>.json`` holds the sample ids,
captions, lengths and token offsets in packing order, and ``<bin>.<slot>.<ext>`` the slot's
image bytes exactly as read. Images are never resized to a square: the reference's packer
(``sequence_packing_image_to_pil.py``) resized both sides to 384, distorting every non-square
image; here the original bytes are kept, or, with ``max_image_side``, the image is shrunk with
its aspect ratio kept. The reference saved pickles; tar shards load without running code.

:func:`pack_shards` lays the bins out (no I/O); the catalog's ``filtering_packed_shards``
(:class:`datarecipes.io.shards.PackedShardsDataset`) writes them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from datarecipes.filtering.inputs import (
    CAPTION_COLUMN,
    ID_COLUMN,
    IMAGE_COLUMN,
    IMAGE_EXT_COLUMN,
    encoded_image,
    image_where,
)
from datarecipes.filtering.packing import Packing

SHARD_PATTERN = "shard-%06d.tar"
INDEX_COLUMNS = (ID_COLUMN, "shard", "bin", "slot", "offset", "length")


@dataclass(frozen=True)
class ShardParams:
    """How packed sequences are written."""

    #: Packed sequences per tar shard.
    bins_per_shard: int = 1000
    #: Longest image side in the shards; 0 keeps the original bytes. Aspect ratio is kept.
    max_image_side: int = 0


def _image_bytes(row: dict, max_side: int) -> tuple[bytes, str]:
    """The row's image as stored in the shard: its own bytes (read from wherever the source
    keeps them, never by writing there), or shrunk to ``max_side``."""
    ext = row.get(IMAGE_EXT_COLUMN)
    if not isinstance(ext, str) or not ext:
        ext = Path(str(row.get(IMAGE_COLUMN) or "")).suffix.lstrip(".")
    ext = ext.lower() or "png"
    data = encoded_image(row)
    if max_side <= 0:
        return data, ext
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB")
        if max(img.size) > max_side:
            img.thumbnail((max_side, max_side))  # keeps the aspect ratio (the reference did not)
        buffer = io.BytesIO()
        img.save(buffer, format="PNG")
        return buffer.getvalue(), "png"


@dataclass(frozen=True)
class _Bin:
    number: int
    members: np.ndarray  # row indices into the samples, in token-offset order


class PackedShards(Mapping[str, Iterable[dict[str, Any]]]):
    """Packed sequences as WebDataset shards, not yet written: shard file name → its records.

    Built by :func:`pack_shards` (no I/O); :class:`~datarecipes.io.shards.PackedShardsDataset`
    writes it. A shard's records are made when it is iterated: each image is read (and shrunk, with
    ``max_image_side``) then, so a large pool's image bytes are never all held in memory.
    """

    def __init__(self, rows: list[dict[str, Any]], ids: np.ndarray, lengths: np.ndarray,
                 packing: Packing, shards: dict[str, list[_Bin]], max_image_side: int) -> None:
        self._rows, self._ids, self._lengths = rows, ids, lengths
        self._packing, self._shards, self._max_side = packing, shards, max_image_side

    def __getitem__(self, shard: str) -> Iterable[dict[str, Any]]:
        bins = self._shards[shard]
        return (self._record(b) for b in bins)

    def __iter__(self) -> Iterator[str]:
        return iter(self._shards)

    def __len__(self) -> int:
        return len(self._shards)

    def _record(self, b: _Bin) -> dict[str, Any]:
        record: dict[str, Any] = {"__key__": f"{b.number:09d}"}
        for slot, i in enumerate(b.members):
            try:
                data, ext = _image_bytes(self._rows[i], self._max_side)
            except OSError as err:
                raise OSError(
                    f"packing: image of {self._ids[i]!r} ({image_where(self._rows[i])}) became "
                    f"unreadable after scoring: {err}"
                ) from err
            record[f"{slot:03d}.{ext}"] = data
        record["json"] = json.dumps({
            "sample_ids": self._ids[b.members].tolist(),
            "captions": [str(self._rows[i][CAPTION_COLUMN]) for i in b.members],
            "lengths": [int(x) for x in self._lengths[b.members]],
            "offsets": [int(x) for x in self._packing.offset[b.members]],
            "capacity": self._packing.capacity,
        }).encode("utf-8")
        return record


def pack_shards(samples: pd.DataFrame, lengths: np.ndarray, packing: Packing,
                params: ShardParams) -> tuple[PackedShards, pd.DataFrame]:
    """The packed bins of ``samples`` as WebDataset shards (written by the catalog's
    :class:`~datarecipes.io.shards.PackedShardsDataset`), and the sample index.

    ``samples`` has ``image_id``, ``image_path`` and ``caption`` columns (and, for images
    inside tar shards or parquet cells, the columns :func:`encoded_image` reads), row-aligned with
    ``lengths`` and ``packing``. Bins go to shards in bin order, ``bins_per_shard`` each
    (``shard-000000.tar``, ...). The index has one row per kept sample:
    ``image_id → shard file, bin, slot (position in the bin), token offset, length``.
    """
    lengths = np.asarray(lengths)
    kept = np.flatnonzero(packing.kept)
    # Bin by bin, samples in offset order (the order they occupy the sequence).
    order = kept[np.lexsort((packing.offset[kept], packing.bin[kept]))]
    bin_of = packing.bin[order]
    starts = np.flatnonzero(np.r_[True, bin_of[1:] != bin_of[:-1]]) if len(order) else []
    ends = np.r_[starts[1:], len(order)] if len(order) else []
    ids = samples[ID_COLUMN].astype(str).to_numpy()
    shards: dict[str, list[_Bin]] = {}
    shard_of_bin: dict[int, str] = {}
    for position, (start, end) in enumerate(zip(starts, ends)):
        b = int(bin_of[start])
        shard = SHARD_PATTERN % (position // params.bins_per_shard)
        shards.setdefault(shard, []).append(_Bin(b, order[start:end]))
        shard_of_bin[b] = shard
    index = pd.DataFrame({
        ID_COLUMN: ids[order],
        "shard": [shard_of_bin[int(b)] for b in bin_of],
        "bin": bin_of.astype(np.int64),
        "slot": (np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
                 ).astype(np.int64) if len(order) else np.array([], dtype=np.int64),
        "offset": packing.offset[order].astype(np.int64),
        "length": lengths[order].astype(np.int64),
    }, columns=list(INDEX_COLUMNS))
    packed = PackedShards(samples.to_dict("records"), ids, lengths, packing, shards,
                          params.max_image_side)
    return packed, index

"""Packed sequences as WebDataset tar shards, with a parquet-ready index.

One WebDataset record per packed sequence (bin): ``<bin>.json`` holds the sample ids,
captions, lengths and token offsets in packing order, and ``<bin>.<slot>.<ext>`` the slot's
image bytes exactly as read. Images are never resized to a square: the reference's packer
(``sequence_packing_image_to_pil.py``) resized both sides to 384, distorting every non-square
image; here the original bytes are kept, or, with ``max_image_side``, the image is shrunk with
its aspect ratio kept. The reference saved pickles; tar shards load without running code.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

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


def write_packed_shards(samples: pd.DataFrame, lengths: np.ndarray, packing: Packing,
                        directory: str | Path, params: ShardParams) -> pd.DataFrame:
    """Write the packed bins of ``samples`` under ``directory``; returns the sample index.

    ``samples`` has ``image_id``, ``image_path`` and ``caption`` columns (and, for images
    inside tar shards or parquet cells, the columns :func:`encoded_image` reads), row-aligned with
    ``lengths`` and ``packing``. The directory is replaced atomically as a whole, so readers
    never see a half-written set of shards. The index has one row per kept sample:
    ``image_id → shard file, bin, slot (position in the bin), token offset, length``.
    """
    import webdataset as wds

    from datarecipes.io.atomic import atomic_path

    kept = np.flatnonzero(packing.kept)
    # Bin by bin, samples in offset order (the order they occupy the sequence).
    order = kept[np.lexsort((packing.offset[kept], packing.bin[kept]))]
    bin_of = packing.bin[order]
    starts = np.flatnonzero(np.r_[True, bin_of[1:] != bin_of[:-1]]) if len(order) else []
    ends = np.r_[starts[1:], len(order)] if len(order) else []
    ids = samples[ID_COLUMN].astype(str).to_numpy()
    rows = samples.to_dict("records")
    captions = samples[CAPTION_COLUMN].to_numpy()
    shard_of_bin: dict[int, str] = {}
    with atomic_path(directory) as tmp:
        tmp.mkdir()
        with wds.ShardWriter(str(tmp / SHARD_PATTERN), maxcount=params.bins_per_shard,
                             maxsize=float("inf"), verbose=0, mtime=0.0) as writer:
            for start, end in zip(starts, ends):
                members = order[start:end]
                b = int(bin_of[start])
                record: dict[str, object] = {"__key__": f"{b:09d}"}
                for slot, i in enumerate(members):
                    try:
                        data, ext = _image_bytes(rows[i], params.max_image_side)
                    except OSError as err:
                        raise OSError(
                            f"packing: image of {ids[i]!r} ({image_where(rows[i])}) became "
                            f"unreadable after scoring: {err}"
                        ) from err
                    record[f"{slot:03d}.{ext}"] = data
                record["json"] = json.dumps({
                    "sample_ids": ids[members].tolist(),
                    "captions": [str(c) for c in captions[members]],
                    "lengths": [int(x) for x in lengths[members]],
                    "offsets": [int(x) for x in packing.offset[members]],
                    "capacity": packing.capacity,
                }).encode("utf-8")
                writer.write(record)
                shard_of_bin[b] = Path(writer.fname).name
    index = pd.DataFrame({
        ID_COLUMN: ids[order],
        "shard": [shard_of_bin[int(b)] for b in bin_of],
        "bin": bin_of.astype(np.int64),
        "slot": (np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
                 ).astype(np.int64) if len(order) else np.array([], dtype=np.int64),
        "offset": packing.offset[order].astype(np.int64),
        "length": np.asarray(lengths)[order].astype(np.int64),
    }, columns=list(INDEX_COLUMNS))
    return index

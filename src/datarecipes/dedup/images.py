"""Image hashing (per batch) and exact / perceptual-hash dedup (over the whole pool).

:func:`hash_images_batch` is the per-shard step: it reads each image once and returns its
content hash (SHA-256 of the file's bytes) and perceptual hashes (imagehash's pHash / dHash,
as hex, the form ``imagehash.hex_to_hash`` reads). It fits :meth:`Executor.map_batches`
(:func:`image_hash_fn_factory`) and :func:`hash_images` runs it resumably with
:func:`datarecipes.executors.map_shards`. :func:`dedup_phash` and :func:`dedup_exact` then
resolve duplicates from those columns, with the index of :mod:`datarecipes.dedup.hamming`.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datarecipes.dedup.clusters import (
    collapse_identical,
    dedup_table,
    expand_groups,
    greedy_representatives,
    keep_scores,
    rank_order,
)
from datarecipes.dedup.hamming import hamming_pairs
from datarecipes.dedup.params import DEFAULT_IMAGES, DEFAULT_KEEP, ImageHashParams, KeepParams
from datarecipes.io.paths import resolve_image_path

#: Columns of the hash table (besides the key): the content hash, a status and its reason.
SHA_COLUMN = "image_sha256"
STATUS_COLUMN = "hash_status"
REASON_COLUMN = "hash_reason"
HASHED = "success"
UNREADABLE = "decode_error"


def hash_column(kind: str) -> str:
    return f"image_{kind}"


def _image_bytes(value: Any, root: str | None) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, dict) and "bytes" in value:  # a parquet/HF image struct
        return bytes(value["bytes"])
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ValueError("missing image path")
    path = Path(resolve_image_path(value, root))
    if not path.is_file():
        raise ValueError(f"missing file {path}")
    return path.read_bytes()


def hash_images_batch(batch: Mapping[str, Sequence[Any]], params: ImageHashParams,
                      image_column: str = "image_path", root: str | None = None
                      ) -> dict[str, list[Any]]:
    """Hashes of one batch of images (paths under ``root``, or encoded bytes).

    An unreadable image gets ``hash_status=decode_error`` and its reason, never an exception:
    it is then neither a duplicate nor a representative.
    """
    import imagehash
    from PIL import Image

    functions = {"phash": imagehash.phash, "dhash": imagehash.dhash}
    out: dict[str, list[Any]] = {SHA_COLUMN: [], STATUS_COLUMN: [], REASON_COLUMN: []}
    for kind in params.kinds:
        out[hash_column(kind)] = []
    for value in batch[image_column]:
        try:
            data = _image_bytes(value, root)
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                rgb = img.convert("RGB")
            hashes = {k: str(functions[k](rgb, hash_size=params.hash_size)) for k in params.kinds}
        except Exception as err:  # noqa: BLE001 - a bad image is a counted skip, not a crash
            out[SHA_COLUMN].append(None)
            out[STATUS_COLUMN].append(UNREADABLE)
            out[REASON_COLUMN].append(f"cannot hash image: {err}")
            for kind in params.kinds:
                out[hash_column(kind)].append(None)
            continue
        out[SHA_COLUMN].append(hashlib.sha256(data).hexdigest())
        out[STATUS_COLUMN].append(HASHED)
        out[REASON_COLUMN].append("")
        for kind in params.kinds:
            out[hash_column(kind)].append(hashes[kind])
    return out


def image_hash_fn_factory(params: ImageHashParams, image_column: str = "image_path",
                          root: str | None = None
                          ) -> Callable[[], Callable[[Mapping[str, Any]], dict]]:
    """``fn_factory`` of :func:`hash_images_batch` for :meth:`Executor.map_batches`."""

    def factory() -> Callable[[Mapping[str, Any]], dict]:
        return functools.partial(hash_images_batch, params=params, image_column=image_column,
                                 root=root)

    return factory


def hash_images(rows: pd.DataFrame, params: ImageHashParams, executor: Any, *, key: str,
                image_column: str = "image_path", root: str | None = None,
                shard_size: int = 4096, batch_size: int = 256,
                resume_dir: str | Path | None = None) -> tuple[pd.DataFrame, Any]:
    """Hash every image of ``rows`` on ``executor``, resumable per shard under ``resume_dir``.

    Returns ``([key, image_sha256, image_phash?, image_dhash?, hash_status, hash_reason],
    ShardStats)``.
    """
    from datarecipes.executors import map_shards

    directory = None
    if resume_dir is not None:
        kinds = "-".join(params.kinds)
        directory = Path(resume_dir) / f"imagehash-{kinds}-{params.hash_size}"
    table, stats = map_shards(
        executor, image_hash_fn_factory(params, image_column, root), rows[[key, image_column]],
        id_column=key, name="imagehash", shard_size=shard_size, batch_size=batch_size,
        directory=directory,
    )
    return table, stats


def hex_to_uint64(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Hex hashes → ``(uint64 array, valid mask)``; missing values are invalid (0)."""
    ints = np.zeros(len(values), dtype=np.uint64)
    valid = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if isinstance(v, str) and v:
            ints[i] = int(v, 16)
            valid[i] = True
    return ints, valid


def dedup_exact(table: pd.DataFrame, *, key: str, column: str, kind: str,
                keep: KeepParams = DEFAULT_KEEP) -> pd.DataFrame:
    """Exact duplicates: rows whose ``column`` (a content hash) is equal; missing → never."""
    values = table[column]
    valid = values.notna().to_numpy()
    rank = rank_order(len(table), keep, keep_scores(table, keep))
    # Invalid rows get a unique stand-in so that they never group.
    stand_in = np.where(valid, values.astype(object).to_numpy(),
                        [f"\0missing{i}" for i in range(len(table))])
    group, leaders = collapse_identical(stand_in.astype(str), rank)
    n_groups = len(leaders)
    rep, dist = expand_groups(group, leaders, np.arange(n_groups), np.zeros(n_groups))
    return dedup_table(table[key].to_numpy(), kind, rep, dist, valid, key_name=key)


def dedup_hamming(table: pd.DataFrame, *, key: str, kind: str, max_distance: int,
                  keep: KeepParams = DEFAULT_KEEP, bits: int = 64) -> pd.DataFrame:
    """Near-duplicate images by the Hamming distance of hash column ``image_<kind>``.

    Identical hashes are collapsed first (re-encodings mostly hash the same), then the index
    finds pairs of distinct hashes within ``max_distance``; see :mod:`.clusters` for which
    sample is kept.
    """
    column = hash_column(kind)
    if column not in table:
        raise ValueError(f"dedup {kind}: the table has no hash column {column!r}; columns are "
                         f"{list(table.columns)}")
    hashes, valid = hex_to_uint64(table[column].tolist())
    rank = rank_order(len(table), keep, keep_scores(table, keep))
    # Invalid rows get their own group (stand-in values beyond any real hash are impossible
    # for uint64, so group them by a separate flag).
    ident = np.stack([hashes, np.where(valid, 0, np.arange(len(table)) + 1).astype(np.uint64)],
                     axis=1)
    group, leaders = collapse_identical(ident, rank)
    leader_valid = valid[leaders]
    sub = np.flatnonzero(leader_valid)
    qi, ti, d = hamming_pairs(hashes[leaders[sub]], max_distance, bits=bits)
    rep, dist = greedy_representatives(len(leaders), sub[qi], sub[ti], d.astype(np.float64),
                                       rank[leaders])
    row_rep, row_dist = expand_groups(group, leaders, rep, dist)
    return dedup_table(table[key].to_numpy(), kind, row_rep, row_dist, valid, key_name=key)


def dedup_phash(table: pd.DataFrame, *, key: str, params: ImageHashParams = DEFAULT_IMAGES,
                keep: KeepParams = DEFAULT_KEEP, kind: str = "phash") -> pd.DataFrame:
    """:func:`dedup_hamming` on pHash (or ``kind="dhash"``) with the parameters' threshold."""
    return dedup_hamming(table, key=key, kind=kind, max_distance=params.max_distance[kind],
                         keep=keep, bits=params.hash_size**2)

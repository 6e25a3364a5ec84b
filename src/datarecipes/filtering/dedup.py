"""Dedup and decontamination of the filtering pool (issue 16), on :mod:`datarecipes.dedup`.

The per-shard step :func:`pair_hashes_batch` reads each pair's image through the filtering
input contract (:func:`datarecipes.filtering.inputs.encoded_image`: a file, a tar member read
in place, or parquet bytes), so every source layout is hashed the same way, and records the
image's size for the before/after analysis. The caption MinHash signatures come from
:func:`datarecipes.dedup.sign_texts`; SemDeDup reads the CLIP image embeddings the scorer
persisted (``filtering_clip_embeddings``), never a second forward.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datarecipes.dedup import (
    DecontaminationParams,
    DedupParams,
    EvalSet,
    contamination,
    hash_images_batch,
    run_dedup,
    sign_texts,
)
from datarecipes.dedup.images import STATUS_COLUMN, hash_column
from datarecipes.executors import Executor, ShardStats, map_shards
from datarecipes.filtering.inputs import CAPTION_COLUMN, ID_COLUMN, encoded_image, input_columns

#: Image size columns of the hash table (pixels; NaN when the image does not open).
WIDTH_COLUMN, HEIGHT_COLUMN = "image_width", "image_height"
EMBEDDING_COLUMN = "embedding"


def pair_hashes_batch(batch: Mapping[str, Sequence[Any]], dedup: DedupParams
                      ) -> dict[str, list[Any]]:
    """SHA-256 / perceptual hashes and the size of each pair's image (bad images: a status)."""
    from PIL import Image

    columns = list(batch)
    n = len(batch[ID_COLUMN])
    data: list[bytes | None] = []
    width: list[float] = []
    height: list[float] = []
    for i in range(n):
        row = {c: batch[c][i] for c in columns}
        try:
            raw = encoded_image(row)
            with Image.open(io.BytesIO(raw)) as img:  # the header only: size is cheap
                w, h = img.size
        except Exception:  # noqa: BLE001 - hash_images_batch records the reason below
            raw, w, h = None, np.nan, np.nan
        data.append(raw)
        width.append(float(w))
        height.append(float(h))
    out = hash_images_batch({"bytes": data}, dedup.images, image_column="bytes")
    out[WIDTH_COLUMN] = width
    out[HEIGHT_COLUMN] = height
    return out


def _factory(dedup: DedupParams) -> Callable[[], Callable[[Mapping[str, Any]], dict]]:
    def factory() -> Callable[[Mapping[str, Any]], dict]:
        return functools.partial(pair_hashes_batch, dedup=dedup)

    return factory


def hash_pairs(pairs: pd.DataFrame, dedup: DedupParams, executor: Executor, *,
               name: str = "pairhash", resume_dir: str | Path | None = None
               ) -> tuple[pd.DataFrame, ShardStats]:
    """:func:`pair_hashes_batch` over ``pairs`` on ``executor``, resumable per shard under
    ``resume_dir/<name>-<kinds>-<hash size>/``."""
    directory = None
    if resume_dir is not None:
        p = dedup.images
        directory = Path(resume_dir) / f"{name}-{'-'.join(p.kinds)}-{p.hash_size}"
    rows = pairs[[c for c in input_columns(pairs) if c != CAPTION_COLUMN]]
    table, stats = map_shards(
        executor, _factory(dedup), rows, id_column=ID_COLUMN, name=name,
        shard_size=dedup.shard_size, batch_size=dedup.batch_size, directory=directory,
    )
    return table, stats


def caption_signatures(pairs: pd.DataFrame, dedup: DedupParams, executor: Executor, *,
                       resume_dir: str | Path | None = None) -> tuple[pd.DataFrame, ShardStats]:
    """MinHash signature and normalised digest of each caption (resumable per shard)."""
    rows = pd.DataFrame({ID_COLUMN: pairs[ID_COLUMN].astype(str).to_numpy(),
                         "text": pairs[CAPTION_COLUMN].to_numpy()})
    return sign_texts(rows, dedup.text, executor, key=ID_COLUMN, normalise=dedup.normalise,
                      shard_size=dedup.shard_size, batch_size=dedup.batch_size,
                      resume_dir=resume_dir)


def embedding_matrix(ids: pd.Series, embeddings: pd.DataFrame) -> np.ndarray:
    """The persisted embeddings in the order of ``ids``; NaN rows where a pair has none."""
    if len(embeddings) == 0:
        return np.full((len(ids), 1), np.nan, dtype=np.float32)
    dim = next((len(e) for e in embeddings[EMBEDDING_COLUMN] if e is not None), 1)
    lookup = dict(zip(embeddings[ID_COLUMN].astype(str), embeddings[EMBEDDING_COLUMN]))
    out = np.full((len(ids), dim), np.nan, dtype=np.float32)
    for i, key in enumerate(ids.astype(str)):
        e = lookup.get(key)
        if e is not None and len(e) == dim:
            out[i] = np.asarray(e, dtype=np.float32)
    return out


def collapsed_embeddings(x: np.ndarray, threshold: float) -> float | None:
    """The median cosine of the embeddings to their mean direction when it reaches
    ``threshold`` (the embeddings do not separate the pool: an untrained, random-weight
    scorer maps every image to nearly the same vector), else ``None``."""
    valid = np.isfinite(x).all(axis=1)
    if valid.sum() < 2:
        return None
    v = x[valid] / np.linalg.norm(x[valid], axis=1, keepdims=True)
    mean = v.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0:
        return None
    median = float(np.median(v @ (mean / norm)))
    return median if median >= threshold else None


def pool_dedup(hashes: pd.DataFrame, signatures: pd.DataFrame, clip_scores: pd.DataFrame,
               embeddings: pd.DataFrame, dedup: DedupParams) -> tuple[pd.DataFrame, str | None]:
    """``dup.<kind>`` / ``dup_cluster`` / ``dup_of`` / ``dup_distance`` per pool pair, and why
    semantic dedup was skipped (``None`` when it ran or was not asked for).

    ``dup_of`` names the representative by its ``image_id`` (the input's key for a user's
    pairs). A pair whose image did not hash is neither a duplicate nor a representative.
    Semantic dedup is skipped, not run, when the scorer's embeddings have collapsed
    (:func:`collapsed_embeddings`): SemDeDup would merge the whole pool.
    """
    table = hashes.merge(signatures, on=ID_COLUMN, how="left", validate="one_to_one")
    if "clip" in clip_scores:
        table = table.merge(clip_scores[[ID_COLUMN, "clip"]], on=ID_COLUMN, how="left")
    unhashed = table[STATUS_COLUMN] != "success"
    for kind in dedup.images.kinds:
        table.loc[unhashed, hash_column(kind)] = None
    skipped = None
    emb = None
    if "semantic" in dedup.kinds:
        emb = embedding_matrix(table[ID_COLUMN], embeddings)
        median = collapsed_embeddings(emb, dedup.semantic.threshold)
        if median is not None:
            skipped = (f"the scorer's embeddings do not separate the pool (median cosine to "
                       f"their mean {median:.4f} >= semantic.threshold "
                       f"{dedup.semantic.threshold}; an untrained scorer?)")
            dedup = replace(dedup, kinds=tuple(k for k in dedup.kinds if k != "semantic"))
    return run_dedup(table, dedup, key=ID_COLUMN, embeddings=emb), skipped


def heldout_contamination(pool_hashes: pd.DataFrame, pool: pd.DataFrame,
                          heldout_hashes: pd.DataFrame, heldout: pd.DataFrame,
                          params: DecontaminationParams) -> pd.DataFrame:
    """Pool pairs matching a held-out pair by image pHash or caption n-grams
    (``contaminated.heldout`` ...), one row per pool pair in the pool's order."""
    pool_h = pool[[ID_COLUMN, CAPTION_COLUMN]].merge(pool_hashes, on=ID_COLUMN, how="left")
    held_h = heldout[[ID_COLUMN, CAPTION_COLUMN]].merge(heldout_hashes, on=ID_COLUMN,
                                                        how="left")
    phash = hash_column("phash")
    ev = EvalSet(keys=held_h[ID_COLUMN].astype(str),
                 phash=held_h[phash] if phash in held_h else None,
                 questions=held_h[CAPTION_COLUMN])
    return contamination(pool_h[ID_COLUMN].astype(str).rename(ID_COLUMN), {"heldout": ev},
                         params, pool_phash=pool_h[phash] if phash in pool_h else None,
                         pool_questions=pool_h[CAPTION_COLUMN])

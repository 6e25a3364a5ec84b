"""Exact and near-duplicate text (captions, questions): digests and MinHash-LSH.

:func:`text_signatures_batch` is the per-shard step (normalised digest + MinHash signature
per text); :func:`dedup_minhash` builds the LSH index over all signatures and resolves
duplicates. The signature is datasketch's: its permutations for ``(num_perm, seed)`` and its
formula ``((a*h + b) mod (2^61-1)) & (2^32-1)``, applied to a whole batch of shingles at once
instead of one ``MinHash.update`` per shingle. The bands and rows come from datasketch's
``MinHashLSH`` (its optimal ``(b, r)`` for the threshold); banding is a numpy sort instead of
its per-key dict inserts. Candidates are verified by their estimated Jaccard similarity.
"""

from __future__ import annotations

import functools
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
    rank_order,
)
from datarecipes.dedup.params import (
    DEFAULT_KEEP,
    DEFAULT_MINHASH,
    DEFAULT_NORM,
    KeepParams,
    MinHashParams,
    TextNormParams,
)
from datarecipes.dedup.text_norm import normalise_text, shingle_hashes, text_digest

_PRIME = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)
#: Shingles per block of the vectorised MinHash (bounds memory to block * num_perm * 8 bytes).
_SHINGLE_BLOCK = 16384
_BAND_MUL = np.uint64(0x100000001B3)


@functools.lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's MinHash permutations ``(a, b)`` for ``(num_perm, seed)``."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    return a.astype(np.uint64), b.astype(np.uint64)


@functools.lru_cache(maxsize=64)
def lsh_bands(threshold: float, num_perm: int, false_negative_weight: float = 0.5
              ) -> tuple[int, int]:
    """datasketch's optimal ``(bands, rows)`` for a Jaccard threshold and error weights."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm,
                     weights=(1.0 - false_negative_weight, false_negative_weight))
    return int(lsh.b), int(lsh.r)


def to_text(value: Any) -> str | None:
    """A text cell as ``str``; ``None`` when missing, not text or not UTF-8."""
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str):
        return None
    return value


def minhash_signatures(texts: Sequence[str], params: MinHashParams) -> np.ndarray:
    """``(len(texts), num_perm)`` uint32 MinHash signatures of already-normalised texts.

    A text without shingles (empty) gets datasketch's empty signature (all ``2^32-1``).
    """
    a, b = permutations(params.num_perm, params.seed)
    a, b = a[:, None], b[:, None]
    hashes, owner = shingle_hashes(texts, params.shingle, params.ngram)
    # (num_perm, texts): each permutation's row is contiguous for the per-text minimum.
    sig = np.full((params.num_perm, len(texts)), _MAX_HASH, dtype=np.uint64)
    if len(hashes) == 0:
        return sig.T.astype(np.uint32)
    bounds = np.searchsorted(owner, np.arange(len(texts) + 1))
    # Cut at text boundaries into blocks of about _SHINGLE_BLOCK shingles.
    cuts = np.searchsorted(bounds, np.arange(0, len(hashes), _SHINGLE_BLOCK), "right") - 1
    text_cuts = sorted(set(cuts.tolist()) | {len(texts)})
    with np.errstate(over="ignore"):
        for t0, t1 in zip(text_cuts[:-1], text_cuts[1:]):
            s0, s1 = bounds[t0], bounds[t1]
            if s1 == s0:
                continue
            # datasketch's ((a*h + b) mod 2^64) mod (2^61-1), then the low 32 bits; in place.
            phv = a * hashes[None, s0:s1]
            phv += b
            phv %= _PRIME
            phv &= _MAX_HASH
            present = np.flatnonzero(bounds[t0 + 1 : t1 + 1] > bounds[t0:t1]) + t0
            starts = bounds[present] - s0
            sig[:, present] = np.minimum.reduceat(phv, starts, axis=1)
    return np.ascontiguousarray(sig.T).astype(np.uint32)


def text_signatures_batch(batch: Mapping[str, Sequence[Any]], params: MinHashParams,
                          normalise: TextNormParams = DEFAULT_NORM,
                          text_column: str = "text") -> dict[str, list[Any]]:
    """Per text: ``text_sha256`` of the normalised text, its MinHash ``signature`` and a status
    (``success``, or ``empty_text`` for a missing / non-UTF-8 / empty text)."""
    texts = [to_text(v) for v in batch[text_column]]
    norm = [normalise_text(t, normalise) if t is not None else "" for t in texts]
    sig = minhash_signatures(norm, params)
    ok = [bool(n) for n in norm]
    return {
        "text_sha256": [text_digest(n) if o else None for n, o in zip(norm, ok)],
        "signature": list(sig),
        "text_status": ["success" if o else "empty_text" for o in ok],
    }


def text_signature_fn_factory(params: MinHashParams, normalise: TextNormParams = DEFAULT_NORM,
                              text_column: str = "text"
                              ) -> Callable[[], Callable[[Mapping[str, Any]], dict]]:
    """``fn_factory`` of :func:`text_signatures_batch` for :meth:`Executor.map_batches`."""

    def factory() -> Callable[[Mapping[str, Any]], dict]:
        return functools.partial(text_signatures_batch, params=params, normalise=normalise,
                                 text_column=text_column)

    return factory


def sign_texts(rows: pd.DataFrame, params: MinHashParams, executor: Any, *, key: str,
               text_column: str = "text", normalise: TextNormParams = DEFAULT_NORM,
               shard_size: int = 65536, batch_size: int = 4096,
               resume_dir: str | Path | None = None) -> tuple[pd.DataFrame, Any]:
    """:func:`text_signatures_batch` over ``rows`` on ``executor``, resumable per shard.

    Shards go to ``resume_dir/minhash-<shingle><n>-<perms>-<seed>-<normalisation>/``, so other
    signature settings never reuse them. Returns ``(table, ShardStats)``.
    """
    from datarecipes.executors import map_shards

    directory = None
    if resume_dir is not None:
        norm = "".join(str(int(v)) for v in (normalise.casefold, normalise.strip_punctuation,
                                              normalise.collapse_whitespace))
        directory = Path(resume_dir) / (f"minhash-{params.shingle}{params.ngram}-"
                                        f"{params.num_perm}-{params.seed}-{norm}")
    return map_shards(
        executor, text_signature_fn_factory(params, normalise, text_column),
        rows[[key, text_column]], id_column=key, name="minhash", shard_size=shard_size,
        batch_size=batch_size, directory=directory,
    )


def signature_matrix(values: Sequence[Any], num_perm: int) -> np.ndarray:
    """A ``signature`` column (arrays or lists) as an ``(n, num_perm)`` uint32 matrix."""
    if len(values) == 0:
        return np.zeros((0, num_perm), dtype=np.uint32)
    sig = np.stack([np.asarray(v, dtype=np.uint32) for v in values])
    if sig.shape[1] != num_perm:
        raise ValueError(f"signatures have {sig.shape[1]} permutations, params say {num_perm}")
    return sig


def lsh_candidates(sig: np.ndarray, bands: int, rows: int, group: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Unordered pairs ``(i < j)`` that share at least one band (and ``group``, if given)."""
    n = len(sig)
    left, right = [], []
    wide = sig.astype(np.uint64)
    base = np.zeros(n, dtype=np.uint64) if group is None else group.astype(np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            key = (base * _BAND_MUL) ^ np.uint64(band + 1)
            for c in range(band * rows, (band + 1) * rows):
                key = (key ^ wide[:, c]) * _BAND_MUL
            order = np.argsort(key, kind="stable")
            sk = key[order]
            run_start = np.r_[True, sk[1:] != sk[:-1]]
            run_id = np.cumsum(run_start) - 1
            # Pair each position with the later positions of its run, offset by offset.
            active = np.arange(n)
            offset = 1
            while len(active):
                nxt = active + offset
                ok = nxt < n
                active, nxt = active[ok], nxt[ok]
                same = run_id[active] == run_id[nxt]
                active, nxt = active[same], nxt[same]
                a, b = order[active], order[nxt]
                left.append(np.minimum(a, b))
                right.append(np.maximum(a, b))
                offset += 1
    if not left:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pair = np.unique(np.concatenate(left).astype(np.int64) * n + np.concatenate(right))
    return pair // n, pair % n


def estimated_jaccard(sig: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Share of equal signature slots of each pair (in blocks: pairs x num_perm bools)."""
    out = np.zeros(len(i), dtype=np.float64)
    for s in range(0, len(i), 65536):
        out[s : s + 65536] = (sig[i[s : s + 65536]] == sig[j[s : s + 65536]]).mean(axis=1)
    return out


def dedup_minhash(table: pd.DataFrame, *, key: str, params: MinHashParams = DEFAULT_MINHASH,
                  keep: KeepParams = DEFAULT_KEEP, kind: str = "minhash",
                  signature_column: str = "signature",
                  within: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Near-duplicate texts: LSH candidates verified at estimated Jaccard ≥ threshold.

    ``within`` names column(s) that duplicates must share: for questions, the image (the
    same question about two images is not a duplicate) and the answer (a reworded question
    keeps its answer; a templated question about another object mostly does not).

    ``table`` holds :func:`text_signatures_batch`'s columns; rows whose ``text_status`` is not
    ``success`` are never duplicates. ``dup_distance`` is ``1 - Jaccard estimate``.
    """
    for col in (key, signature_column):
        if col not in table:
            raise ValueError(f"dedup {kind}: the table has no column {col!r}; columns are "
                             f"{list(table.columns)}")
    sig = signature_matrix(table[signature_column].tolist(), params.num_perm)
    valid = (table["text_status"] == "success").to_numpy() if "text_status" in table else \
        ~(sig == np.uint32(_MAX_HASH)).all(axis=1)
    scores = None
    if keep.policy == "highest_score":
        if keep.score_column not in table:
            raise ValueError(f"keep.policy=highest_score: no score column {keep.score_column!r}")
        scores = table[keep.score_column].to_numpy()
    rank = rank_order(len(table), keep, scores)
    group_ids = np.zeros(len(table), dtype=np.int64)
    if within is not None:
        cols = [within] if isinstance(within, str) else list(within)
        missing = [c for c in cols if c not in table]
        if missing:
            raise ValueError(f"dedup {kind}: no column(s) {missing} to dedup within")
        group_ids = table.groupby(cols, sort=False, dropna=False).ngroup().to_numpy(np.int64)
    ident = np.concatenate([sig, np.where(valid, 0, np.arange(len(table)) + 1)
                            .astype(np.uint32)[:, None],
                            group_ids.astype(np.uint32)[:, None]], axis=1)
    group, leaders = collapse_identical(ident, rank)
    sub = np.flatnonzero(valid[leaders])
    lsig = sig[leaders[sub]]
    bands, rows = lsh_bands(params.threshold, params.num_perm, params.false_negative_weight)
    i, j = lsh_candidates(lsig, bands, rows, group_ids[leaders[sub]] if within else None)
    jaccard = estimated_jaccard(lsig, i, j)
    ok = jaccard >= params.threshold
    rep, dist = greedy_representatives(len(leaders), sub[i[ok]], sub[j[ok]], 1.0 - jaccard[ok],
                                       rank[leaders])
    row_rep, row_dist = expand_groups(group, leaders, rep, dist)
    return dedup_table(table[key].to_numpy(), kind, row_rep, row_dist, valid, key_name=key)


def dedup_text_exact(table: pd.DataFrame, *, key: str, keep: KeepParams = DEFAULT_KEEP,
                     kind: str = "exact_text") -> pd.DataFrame:
    """Exact duplicates of normalised text, by ``text_sha256``."""
    from datarecipes.dedup.images import dedup_exact

    return dedup_exact(table, key=key, column="text_sha256", kind=kind, keep=keep)


def signatures(texts: Sequence[Any], params: MinHashParams = DEFAULT_MINHASH,
               normalise: TextNormParams = DEFAULT_NORM) -> pd.DataFrame:
    """:func:`text_signatures_batch` of a whole column, as a table (in-process)."""
    return pd.DataFrame(text_signatures_batch({"text": list(texts)}, params, normalise))

"""Decontamination: flag training samples that match a sample of an evaluation set.

A pool sample matches eval set ``E`` when its image is within ``image_max_distance`` pHash
bits of an image of ``E``, its embedding within ``embedding_threshold`` cosine of one, or its
question shares at least ``min_shared_ngrams`` word n-grams with a question of ``E`` (GPT-3's
13-gram overlap, Brown et al. 2020, App. C; a question shorter than n words is one n-gram, so
a short question matches only a whole identical one). Each eval set gives the columns
``contaminated.<E>`` (bool), ``contaminated_by.<E>`` (the eval sample's key),
``contaminated_how.<E>`` (image / embedding / ngram) and ``shared_ngrams.<E>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from datarecipes.config import ParameterError
from datarecipes.dedup.hamming import hamming_pairs
from datarecipes.dedup.images import hex_to_uint64
from datarecipes.dedup.params import DEFAULT_DECONTAMINATION, EVAL_SET_NAME, DecontaminationParams
from datarecipes.dedup.semantic import normalise_rows
from datarecipes.dedup.text_norm import ngram_sets, normalise_text


class ContaminationError(RuntimeError):
    """More of the pool matches the evaluation sets than ``decontamination.stop_above``."""


@dataclass(frozen=True)
class EvalSet:
    """One evaluation set: keys and whichever of image hashes, embeddings, questions it has."""

    keys: pd.Series
    phash: pd.Series | None = None
    embeddings: np.ndarray | None = None
    questions: pd.Series | None = None


def _normalised(questions: pd.Series, params: DecontaminationParams) -> list[str]:
    return [normalise_text(q, params.normalise) if isinstance(q, str) else ""
            for q in questions.tolist()]


def _ngram_matches(pool_q: list[str], eval_q: list[str], n: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per pool question: shared n-gram count with the best eval question, and its index."""
    eval_sets = ngram_sets(eval_q, n)
    where: dict[int, list[int]] = {}
    for e, grams in enumerate(eval_sets):
        for g in grams:
            where.setdefault(g, []).append(e)
    shared = np.zeros(len(pool_q), dtype=np.int64)
    best = np.full(len(pool_q), -1, dtype=np.int64)
    for p, grams in enumerate(ngram_sets(pool_q, n)):
        counts: dict[int, int] = {}
        for g in grams:
            for e in where.get(g, ()):
                counts[e] = counts.get(e, 0) + 1
        if counts:
            e, c = max(counts.items(), key=lambda kv: (kv[1], -kv[0]))
            shared[p], best[p] = c, e
    return shared, best


def contamination(pool_keys: pd.Series, eval_sets: Mapping[str, EvalSet],
                  params: DecontaminationParams = DEFAULT_DECONTAMINATION, *,
                  pool_phash: pd.Series | None = None, pool_embeddings: np.ndarray | None = None,
                  pool_questions: pd.Series | None = None) -> pd.DataFrame:
    """Per pool sample (keyed by ``pool_keys``), its match against each eval set.

    A method runs when both sides have its input and its parameter is set. The first method
    that matches names ``contaminated_by`` in the order image, embedding, n-gram.
    """
    key_name = pool_keys.name or "key"
    out = pd.DataFrame({key_name: pool_keys.to_numpy()})
    n = len(out)
    m = params.match
    for name, ev in eval_sets.items():
        if not EVAL_SET_NAME.match(name):
            raise ParameterError(f"eval set name {name!r} must be a rule-language name "
                                 f"([A-Za-z_][A-Za-z0-9_]*): it becomes column "
                                 f"contaminated.{name}")
        hit = np.zeros(n, dtype=bool)
        by = np.full(n, None, dtype=object)
        how = np.full(n, None, dtype=object)
        eval_keys = ev.keys.to_numpy(dtype=object)

        def mark(mask: np.ndarray, match: np.ndarray, method: str, hit=hit, by=by, how=how,
                 eval_keys=eval_keys) -> None:
            new = mask & ~hit
            by[new] = eval_keys[match[new]]
            how[new] = method
            hit[:] |= mask

        if m.image_max_distance is not None and pool_phash is not None and ev.phash is not None:
            ph, pv = hex_to_uint64(pool_phash.tolist())
            eh, evv = hex_to_uint64(ev.phash.tolist())
            pi, ei = np.flatnonzero(pv), np.flatnonzero(evv)
            q, t, d = hamming_pairs(ph[pi], m.image_max_distance, targets=eh[ei])
            mask = np.zeros(n, dtype=bool)
            match = np.zeros(n, dtype=np.int64)
            # Closest eval image per pool image.
            order = np.lexsort((d, q))
            q, t = q[order], t[order]
            first = np.r_[True, q[1:] != q[:-1]] if len(q) else np.zeros(0, bool)
            mask[pi[q[first]]] = True
            match[pi[q[first]]] = ei[t[first]]
            mark(mask, match, "image")
        if m.embedding_threshold is not None and pool_embeddings is not None \
                and ev.embeddings is not None:
            px, pvalid = normalise_rows(pool_embeddings)
            ex, evalid = normalise_rows(ev.embeddings)
            ex = ex[evalid]
            eidx = np.flatnonzero(evalid)
            mask = np.zeros(n, dtype=bool)
            match = np.zeros(n, dtype=np.int64)
            if len(ex):
                for s in range(0, n, 4096):
                    sims = px[s : s + 4096] @ ex.T
                    arg = sims.argmax(axis=1)
                    best = sims[np.arange(len(arg)), arg]
                    mask[s : s + 4096] = (best >= m.embedding_threshold) & pvalid[s : s + 4096]
                    match[s : s + 4096] = eidx[arg]
            mark(mask, match, "embedding")
        shared = np.zeros(n, dtype=np.int64)
        if m.ngram is not None and pool_questions is not None and ev.questions is not None:
            shared, best = _ngram_matches(_normalised(pool_questions, params),
                                          _normalised(ev.questions, params), m.ngram)
            mark(shared >= m.min_shared_ngrams, np.maximum(best, 0), "ngram")
        out[f"contaminated.{name}"] = hit
        out[f"contaminated_by.{name}"] = by
        out[f"contaminated_how.{name}"] = how
        out[f"shared_ngrams.{name}"] = shared
    flags = [c for c in out.columns if c.startswith("contaminated.")]
    out["contaminated.any"] = out[flags].any(axis=1) if flags else False
    return out


def contamination_counts(table: pd.DataFrame) -> dict[str, int]:
    """``{eval set: contaminated pool samples}`` plus ``any``."""
    return {c.split(".", 1)[1]: int(table[c].sum()) for c in table.columns
            if c.startswith("contaminated.")}


def apply_contamination(pool: pd.DataFrame, table: pd.DataFrame,
                        params: DecontaminationParams = DEFAULT_DECONTAMINATION) -> pd.DataFrame:
    """``pool`` after the configured action: unchanged (``flag``), or without contaminated
    rows (``drop``; ``stop`` too, after raising :class:`ContaminationError` with the counts if
    more than ``stop_above`` of the pool is contaminated). Rows align with ``table``."""
    if len(pool) != len(table):
        raise ValueError(f"pool has {len(pool)} rows, its contamination table {len(table)}")
    hit = table["contaminated.any"].to_numpy(dtype=bool)
    counts = contamination_counts(table)
    if params.action == "stop" and len(pool) and hit.mean() > params.stop_above:
        detail = ", ".join(f"{k}: {v}" for k, v in counts.items() if k != "any")
        raise ContaminationError(
            f"{int(hit.sum())} of {len(pool)} pool samples ({hit.mean():.2%}) match an "
            f"evaluation set ({detail}); decontamination.stop_above={params.stop_above}")
    if params.action == "flag":
        return pool
    return pool.loc[~hit]

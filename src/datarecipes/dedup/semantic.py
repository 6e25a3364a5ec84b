"""SemDeDup (Abbas et al., "SemDeDup: Data-efficient learning at web-scale through semantic
deduplication", 2023): k-means over normalised embeddings, then, inside each cluster, a
cosine threshold.

Embeddings are an input (e.g. the ones the CLIP scorer persisted): nothing here embeds. Inside
a cluster, members are visited in keep-policy rank order in blocks; a member is a duplicate
of the most similar *kept* member at cosine >= threshold (see :mod:`.clusters` for why kept
and not any earlier member, where we differ from the paper). Memory is one block against the
cluster's kept members at a time.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from datarecipes.dedup.clusters import dedup_table, rank_order
from datarecipes.dedup.params import DEFAULT_KEEP, DEFAULT_SEMANTIC, KeepParams, SemanticParams

_BLOCK = 512


def normalise_rows(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows (float32) and the mask of rows that are finite and non-zero."""
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (n, dim), got shape {x.shape}")
    norm = np.linalg.norm(x, axis=1)
    valid = np.isfinite(norm) & (norm > 0)
    out = np.zeros_like(x)
    out[valid] = x[valid] / norm[valid, None]
    return out, valid


def default_clusters(n: int) -> int:
    """About sqrt(n) clusters, with at least 100 members each (k-means needs ~40 per centroid
    to train; SemDeDup used ~9k per cluster on LAION-440M)."""
    return max(1, min(int(math.sqrt(n)), n // 100))


def kmeans_centroids(x: np.ndarray, params: SemanticParams, n_total: int | None = None
                     ) -> np.ndarray:
    """k-means centroids of unit rows ``x`` (faiss or scikit-learn), as unit rows.

    ``x`` may be a sample of a larger pool of ``n_total`` rows (the cluster count follows the
    pool); :func:`assign_clusters` then labels the pool shard by shard.
    """
    k = params.n_clusters or default_clusters(n_total or len(x))
    k = max(1, min(k, len(x)))
    if k == 1:
        centroids = x.mean(axis=0, keepdims=True)
    elif params.backend == "faiss":
        import faiss

        km = faiss.Kmeans(x.shape[1], k, niter=params.iterations, seed=params.seed,
                          spherical=True, verbose=False)
        km.train(np.ascontiguousarray(x, dtype=np.float32))
        centroids = km.centroids
    else:
        from sklearn.cluster import MiniBatchKMeans

        km = MiniBatchKMeans(n_clusters=k, max_iter=params.iterations,
                             random_state=params.seed, batch_size=max(1024, 4 * k), n_init=1)
        centroids = km.fit(x).cluster_centers_
    c, _ = normalise_rows(centroids)
    return c


def assign_clusters(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Nearest centroid (by cosine) of each unit row of ``x``; one batch at a time."""
    labels = np.zeros(len(x), dtype=np.int64)
    for s in range(0, len(x), 16384):
        labels[s : s + 16384] = (x[s : s + 16384] @ centroids.T).argmax(axis=1)
    return labels


def kmeans_labels(x: np.ndarray, params: SemanticParams) -> np.ndarray:
    """Cluster labels of unit rows ``x``: :func:`kmeans_centroids`, then nearest centroid."""
    return assign_clusters(x, kmeans_centroids(x, params))


def _resolve_cluster(x: np.ndarray, members: np.ndarray, threshold: float,
                     rep: np.ndarray, sim: np.ndarray) -> None:
    """Greedy within one cluster; ``members`` are in rank order. Fills ``rep``/``sim``."""
    kept: list[int] = []
    kept_x = np.zeros((0, x.shape[1]), dtype=np.float32)
    for start in range(0, len(members), _BLOCK):
        block = members[start : start + _BLOCK]
        bx = x[block]
        best = np.full(len(block), -np.inf, dtype=np.float32)
        arg = np.full(len(block), -1, dtype=np.int64)
        if len(kept):
            s = bx @ kept_x.T
            arg = s.argmax(axis=1)
            best = s[np.arange(len(block)), arg]
            arg = np.asarray(kept, dtype=np.int64)[arg]
        undecided = np.flatnonzero(best < threshold)
        new_kept: list[int] = []
        if len(undecided):
            inner = bx[undecided] @ bx[undecided].T
            close = inner >= threshold
            np.fill_diagonal(close, False)
            if not close.any():
                new_kept = undecided.tolist()
            else:
                # Sequential only inside this block's undecided members.
                kept_local: list[int] = []
                for a in range(len(undecided)):
                    if kept_local:
                        row = inner[a, kept_local]
                        b = int(np.argmax(row))
                        if row[b] >= threshold:
                            best[undecided[a]] = row[b]
                            arg[undecided[a]] = block[undecided[kept_local[b]]]
                            continue
                    kept_local.append(a)
                new_kept = [int(undecided[a]) for a in kept_local]
        dup = best >= threshold
        rep[block[dup]] = arg[dup]
        sim[block[dup]] = best[dup]
        if new_kept:
            kept.extend(block[new_kept].tolist())
            kept_x = np.concatenate([kept_x, bx[new_kept]])


def dedup_semantic(keys: pd.Series | np.ndarray, embeddings: np.ndarray, *,
                   params: SemanticParams = DEFAULT_SEMANTIC, keep: KeepParams = DEFAULT_KEEP,
                   scores: np.ndarray | pd.Series | None = None, kind: str = "semantic",
                   labels: np.ndarray | None = None, key_name: str | None = None
                   ) -> pd.DataFrame:
    """SemDeDup over precomputed ``embeddings`` (row i belongs to ``keys[i]``).

    ``labels`` may carry cluster assignments computed elsewhere (e.g. a k-means trained on a
    sample and applied per shard); otherwise k-means runs here. Rows with a non-finite or zero
    embedding are never duplicates. ``dup_distance`` is ``1 - cosine``; the table has an extra
    ``semantic_cluster`` column (the k-means label).
    """
    keys_arr = np.asarray(keys, dtype=object)
    name = key_name or (keys.name if isinstance(keys, pd.Series) and keys.name else "key")
    x, valid = normalise_rows(embeddings)
    if len(x) != len(keys_arr):
        raise ValueError(f"{len(x)} embeddings for {len(keys_arr)} keys")
    rank = rank_order(len(x), keep, None if scores is None else np.asarray(scores))
    n = len(x)
    rep = np.arange(n)
    sim = np.ones(n, dtype=np.float64)
    cluster = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(valid)
    if labels is None:
        lab = kmeans_labels(x[idx], params) if len(idx) else np.zeros(0, np.int64)
    else:
        lab = np.asarray(labels, dtype=np.int64)[idx]
    cluster[idx] = lab
    order = idx[np.lexsort((rank[idx], lab))]
    bounds = np.flatnonzero(np.r_[True, cluster[order][1:] != cluster[order][:-1], True])
    for c0, c1 in zip(bounds[:-1], bounds[1:]):
        _resolve_cluster(x, order[c0:c1], params.threshold, rep, sim)
    table = dedup_table(keys_arr, kind, rep, np.clip(1.0 - sim, 0.0, 2.0), valid, key_name=name)
    table["semantic_cluster"] = cluster
    return table

"""From candidate pairs to a per-sample table: ranking, greedy representatives, the columns.

Every kind of dedup ends here. Samples are ranked by the keep policy; then, in rank order, a
sample is kept unless a *kept* sample within the threshold ranks before it, in which case it
is a duplicate of the closest such sample (ties: the better ranked). So every dropped sample's
``dup_of`` is a kept sample within the threshold, and no two kept samples are within it —
unlike connected components (datatrove, NeMo Curator), where a chain a~b~c can drop ``c`` for
a kept ``a`` it is far from. SemDeDup (Abbas et al. 2023) drops a sample similar to any earlier
one, kept or not; we keep that sample when its only close neighbours were themselves dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from datarecipes.dedup.params import KeepParams

#: ``dup_cluster`` of a sample with no duplicate.
NO_CLUSTER = -1


def keep_scores(table: pd.DataFrame, keep: KeepParams) -> np.ndarray | None:
    """The column ``keep.policy=highest_score`` ranks by, or None for the other policies."""
    if keep.policy != "highest_score":
        return None
    if keep.score_column not in table:
        raise ValueError(f"keep.policy=highest_score: the table has no score column "
                         f"{keep.score_column!r}; columns are {list(table.columns)}")
    return table[keep.score_column].to_numpy()


def rank_order(n: int, keep: KeepParams, scores: Sequence[float] | np.ndarray | None = None
               ) -> np.ndarray:
    """Rank of each of ``n`` samples (0 is kept first) under the keep policy.

    ``highest_score`` needs ``scores`` (NaN ranks last; ties keep input order); ``first`` is
    input order; ``random`` a permutation seeded by ``keep.seed``.
    """
    if keep.policy == "first":
        order = np.arange(n)
    elif keep.policy == "random":
        order = np.random.default_rng(keep.seed).permutation(n)
    elif keep.policy == "highest_score":
        if scores is None:
            raise ValueError(f"keep.policy=highest_score needs the score column "
                             f"{keep.score_column!r}")
        s = np.asarray(pd.to_numeric(pd.Series(np.asarray(scores)), errors="coerce"),
                       dtype=np.float64)
        if len(s) != n:
            raise ValueError(f"{len(s)} scores for {n} samples")
        s = np.where(np.isnan(s), -np.inf, s)
        order = np.lexsort((np.arange(n), -s))
    else:  # pragma: no cover - KeepParams checks the policy
        raise ValueError(f"unknown keep policy {keep.policy!r}")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank


def collapse_identical(values: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group rows with identical ``values`` (one value per row, or one row of values).

    Returns ``(group of each row, leader row of each group)``; the leader is the best-ranked
    member, so identical samples never need pairwise edges.
    """
    if values.ndim == 2:
        values = np.ascontiguousarray(values).view(
            np.dtype((np.void, values.dtype.itemsize * values.shape[1]))).ravel()
    _, group = np.unique(values, return_inverse=True)
    group = group.ravel()
    order = np.lexsort((rank, group))
    first = np.ones(len(order), dtype=bool)
    first[1:] = group[order][1:] != group[order][:-1]
    leaders = order[first]  # sorted by group id, each group's best rank first
    return group, leaders


def greedy_representatives(n: int, left: np.ndarray, right: np.ndarray, distance: np.ndarray,
                           rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resolve undirected edges ``left[k] – right[k]`` (within the threshold) greedily.

    Returns ``(rep, dist)``: ``rep[i]`` is ``i`` for a kept sample, else the kept sample it
    duplicates; ``dist[i]`` the distance to it (0 for kept samples).
    """
    rep = np.arange(n)
    dist = np.zeros(n, dtype=np.float64)
    if len(left) == 0:
        return rep, dist
    left, right = np.asarray(left), np.asarray(right)
    # Direct every edge from the later-ranked sample to the earlier one.
    later = np.where(rank[left] > rank[right], left, right)
    earlier = np.where(rank[left] > rank[right], right, left)
    # Per later sample, its earlier neighbours by (distance, rank).
    order = np.lexsort((rank[earlier], distance, later))
    later, earlier, distance = later[order], earlier[order], np.asarray(distance)[order]
    bounds = np.flatnonzero(np.r_[True, later[1:] != later[:-1], True])
    heads = later[bounds[:-1]]
    earlier_l, distance_l = earlier.tolist(), distance.tolist()
    kept = np.ones(n, dtype=bool)
    kept_l = kept.tolist()
    for g in np.argsort(rank[heads], kind="stable").tolist():
        u = int(heads[g])
        for k in range(bounds[g], bounds[g + 1]):
            v = earlier_l[k]
            if kept_l[v]:
                kept_l[u] = False
                rep[u] = v
                dist[u] = distance_l[k]
                break
    return rep, dist


def expand_groups(group: np.ndarray, leaders: np.ndarray, leader_rep: np.ndarray,
                  leader_dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``(rep, dist)`` from the resolution of the groups' leaders.

    A kept leader represents its identical members (distance 0); a dropped leader's members
    duplicate the leader's representative, at the leader's distance.
    """
    rep_of_leader = leaders[leader_rep]         # representative row of each group
    return rep_of_leader[group], leader_dist[group].astype(np.float64)


def dedup_table(keys: Sequence, kind: str, rep: np.ndarray, dist: np.ndarray,
                valid: np.ndarray | None = None, key_name: str = "key") -> pd.DataFrame:
    """The per-sample table of one dedup kind, keyed by the samples' own ``keys``.

    Columns: ``key_name``, ``dup.<kind>`` (a duplicate that is not kept), ``dup_cluster.<kind>``
    (one id per kept sample that has duplicates, shared by them; -1 if none), ``dup_of.<kind>``
    (the kept representative's key; ``None`` for kept samples) and ``dup_distance.<kind>``
    (distance to the representative; NaN for samples with no duplicate). Rows not ``valid``
    (undecodable image, empty text) are never duplicates: they have NaN distance.
    """
    keys = np.asarray(keys, dtype=object)
    n = len(keys)
    is_dup = rep != np.arange(n)
    if valid is not None:
        is_dup &= valid
    has_group = np.zeros(n, dtype=bool)
    has_group[rep[is_dup]] = True
    has_group[is_dup] = True
    reps_with_dups = np.unique(rep[is_dup])
    cluster = np.full(n, NO_CLUSTER, dtype=np.int64)
    cluster_id = np.full(n, NO_CLUSTER, dtype=np.int64)
    cluster_id[reps_with_dups] = np.arange(len(reps_with_dups))
    cluster[has_group] = cluster_id[rep[has_group]]
    dup_of = np.full(n, None, dtype=object)
    dup_of[is_dup] = keys[rep[is_dup]]
    distance = np.where(has_group, dist, np.nan)
    distance[~is_dup & has_group] = 0.0
    return pd.DataFrame({
        key_name: keys,
        f"dup.{kind}": is_dup,
        f"dup_cluster.{kind}": cluster,
        f"dup_of.{kind}": pd.Series(dup_of, dtype=object),
        f"dup_distance.{kind}": distance,
    })

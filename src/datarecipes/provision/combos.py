"""Vectorised enumeration of object sets with pairwise non-overlapping boxes."""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=256)
def combos(n: int, k: int) -> np.ndarray:
    """All k-subsets of ``range(n)`` as an (m, k) int array (cached per (n, k))."""
    if n < k:
        return np.empty((0, k), dtype=np.intp)
    return np.array(list(itertools.combinations(range(n), k)), dtype=np.intp).reshape(-1, k)


def non_overlapping(ids: np.ndarray, adjacency: np.ndarray, k: int) -> np.ndarray:
    """k-subsets of ``ids`` with no pair adjacent (overlapping), as object indices (m, k)."""
    sets = ids[combos(len(ids), k)]
    if len(sets) == 0:
        return sets
    keep = np.ones(len(sets), dtype=bool)
    for a, b in itertools.combinations(range(k), 2):
        keep &= ~adjacency[sets[:, a], sets[:, b]]
    return sets[keep]

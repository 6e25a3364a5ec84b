"""Near pairs of 64-bit hashes under a Hamming threshold, by multi-index hashing.

Split the bits into ``m`` chunks: two hashes within distance ``d`` differ by at most
``d // m`` bits in some chunk (pigeonhole), so probing every chunk's exact bucket and its
neighbours within radius ``d // m`` finds every pair (Norouzi, Punjani & Fleet, "Fast Search
in Hamming Space with Multi-Index Hashing", CVPR 2012). ``m`` is chosen by a cost model for
uniform hashes; candidates are verified by popcount, so the result is exact. Probes are numpy
joins over sorted chunk values, processed in blocks of queries to bound memory.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

_BLOCK = 8192


def _ball(bits: int, radius: int) -> list[int]:
    """All ``bits``-bit masks with at most ``radius`` bits set."""
    return [sum(1 << b for b in combo) for r in range(radius + 1)
            for combo in itertools.combinations(range(bits), r)]


def choose_chunks(n_queries: int, n_targets: int, bits: int, d: int) -> int:
    """Chunk count minimising probes + expected candidates for uniform hashes."""
    best, best_cost = 1, math.inf
    for m in range(1, min(d + 1, bits) + 1):
        width = bits // m
        radius = d // m
        probes = sum(math.comb(width, r) for r in range(radius + 1))
        cost = m * probes * (n_queries + n_queries * n_targets / 2.0**width)
        if cost < best_cost:
            best, best_cost = m, cost
    return best


def hamming_pairs(queries: np.ndarray, max_distance: int, targets: np.ndarray | None = None,
                  bits: int = 64, chunks: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair within ``max_distance`` bits: ``(query index, target index, distance)``.

    Without ``targets`` it is a self-join and returns each unordered pair once (``q < t``).
    """
    queries = np.asarray(queries, dtype=np.uint64)
    self_join = targets is None
    targets = queries if targets is None else np.asarray(targets, dtype=np.uint64)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    if len(queries) == 0 or len(targets) == 0:
        return empty
    m = chunks or choose_chunks(len(queries), len(targets), bits, max_distance)
    radius = max_distance // m
    edges = [bits * j // m for j in range(m + 1)]
    probes = sum(math.comb(edges[1] - edges[0], r) for r in range(radius + 1))
    if probes > 1_000_000:
        raise ValueError(f"hamming_pairs: {m} chunk(s) for distance {max_distance} means "
                         f"{probes} probes per chunk; use more chunks (or chunks=None)")
    tables = []
    for j in range(m):
        lo, width = edges[j], edges[j + 1] - edges[j]
        mask = np.uint64((1 << width) - 1)
        tchunk = (targets >> np.uint64(lo)) & mask
        order = np.argsort(tchunk, kind="stable")
        tables.append((lo, mask, order, tchunk[order], _ball(width, radius)))
    found_q, found_t, found_d = [], [], []
    for start in range(0, len(queries), _BLOCK):
        q = queries[start : start + _BLOCK]
        cand_q, cand_t = [], []
        for lo, mask, order, sorted_chunk, ball in tables:
            qchunk = (q >> np.uint64(lo)) & mask
            for flip in ball:
                probe = qchunk ^ np.uint64(flip)
                left = np.searchsorted(sorted_chunk, probe, "left")
                right = np.searchsorted(sorted_chunk, probe, "right")
                counts = right - left
                total = int(counts.sum())
                if total == 0:
                    continue
                qi = np.repeat(np.arange(len(q)), counts)
                pos = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) \
                    + np.repeat(left, counts)
                ti = order[pos]
                if self_join:
                    keep = qi + start < ti
                    qi, ti = qi[keep], ti[keep]
                cand_q.append(qi)
                cand_t.append(ti)
        if not cand_q:
            continue
        qi, ti = np.concatenate(cand_q), np.concatenate(cand_t)
        dist = np.bitwise_count(q[qi] ^ targets[ti]).astype(np.int64)
        ok = dist <= max_distance
        qi, ti, dist = qi[ok] + start, ti[ok], dist[ok]
        # A pair close in several chunks was found several times.
        pair = qi * len(targets) + ti
        _, first = np.unique(pair, return_index=True)
        found_q.append(qi[first])
        found_t.append(ti[first])
        found_d.append(dist[first])
    if not found_q:
        return empty
    return np.concatenate(found_q), np.concatenate(found_t), np.concatenate(found_d)


def hamming_pairs_bruteforce(queries: np.ndarray, max_distance: int,
                             targets: np.ndarray | None = None
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All-pairs reference of :func:`hamming_pairs` (the benchmark's baseline; tests)."""
    queries = np.asarray(queries, dtype=np.uint64)
    self_join = targets is None
    targets = queries if targets is None else np.asarray(targets, dtype=np.uint64)
    out_q, out_t, out_d = [], [], []
    for start in range(0, len(queries), 256):  # 256 x targets bytes of distances at a time
        q = queries[start : start + 256]
        dist = np.bitwise_count(q[:, None] ^ targets[None, :])
        if self_join:
            dist[np.arange(len(q))[:, None] + start >= np.arange(len(targets))[None, :]] = 255
        qi, ti = np.nonzero(dist <= max_distance)
        out_q.append(qi + start)
        out_t.append(ti)
        out_d.append(dist[qi, ti].astype(np.int64))
    return np.concatenate(out_q), np.concatenate(out_t), np.concatenate(out_d)

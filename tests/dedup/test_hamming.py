"""The multi-index-hashing Hamming join equals the all-pairs join."""

from __future__ import annotations

import numpy as np
import pytest

from datarecipes.dedup.hamming import choose_chunks, hamming_pairs, hamming_pairs_bruteforce


def _hashes(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    h |= rng.integers(0, 2, size=n).astype(np.uint64)
    # Plant neighbours at every distance 0..12 of the first hashes.
    for k, d in enumerate(range(13)):
        bits = rng.choice(64, size=d, replace=False)
        flip = np.uint64(sum(1 << int(b) for b in bits))
        h[n - 1 - k] = h[k] ^ flip
    return h


def _as_set(q, t, d):
    return set(zip(q.tolist(), t.tolist(), d.tolist()))


@pytest.mark.parametrize("max_distance", [0, 3, 6, 10])
def test_self_join_equals_all_pairs(max_distance):
    h = _hashes(3000, max_distance)
    got = hamming_pairs(h, max_distance)
    want = hamming_pairs_bruteforce(h, max_distance)
    assert _as_set(*got) == _as_set(*want)
    assert len(want[0]) >= max_distance + 1  # the planted pairs are among them
    assert (got[0] < got[1]).all()


@pytest.mark.parametrize("chunks", [3, 4, 7])
def test_any_chunking_is_exact_and_cross_join_works(chunks):
    q = _hashes(500, 1)
    t = np.concatenate([q[:50] ^ np.uint64(0b111), _hashes(700, 2)])
    got = hamming_pairs(q, 6, targets=t, chunks=chunks)
    want = hamming_pairs_bruteforce(q, 6, targets=t)
    assert _as_set(*got) == _as_set(*want)
    assert {(i, i) for i in range(50)} <= {(a, b) for a, b, _ in _as_set(*got)}


def test_chunk_choice_prunes_for_large_pools():
    # 100k uniform hashes at distance 8: several chunks, not one (all pairs) or d+1 tiny ones.
    m = choose_chunks(100_000, 100_000, 64, 8)
    assert 2 <= m <= 5
    assert choose_chunks(10, 10, 64, 0) == 1

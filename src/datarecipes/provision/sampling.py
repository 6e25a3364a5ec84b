"""Sampling: rare-concept weights, per-generator budgets, image groups.

ProVision weights each candidate of an image by ``1 / mean(count(v)^3)`` over its metadata
values v (objects, attributes, relations, counts), so questions about rare concepts are
preferred (``base.BaseGenerator._sample``). The reference gets count(v) by enumerating every
candidate of every generator over the dataset, then enumerates everything again to sample.
We count the concepts in the scene graphs themselves (objects per label, objects per
attribute, edges per relation, (image, label) pairs per count) — the same rare-concept
signal from one cheap pass. Draws are without replacement with Efraimidis–Spirakis keys on
a seeded ``random.Random``, so they are cheap and seed-stable.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from datarecipes.provision.base import Candidate

T = TypeVar("T")


def concept_counts(indices: Iterable) -> Counter:
    """(field, value) → occurrences in the graphs (see module docstring)."""
    counts: Counter = Counter()
    for g in indices:
        for label, n in g.label_count.items():
            counts[("object", label)] += n
            counts[("count", n)] += 1
        for attrs in g.attrs:
            for a in attrs:
                counts[("attribute", a)] += 1
        for _, rel, _ in g.relations:
            counts[("relation", rel)] += 1
    return counts


class RareConceptWeight:
    """``meta → 1 / mean(count³)`` (1 for no concepts), memoised per meta tuple."""

    def __init__(self, counts: Counter):
        self.counts = counts
        self._cache: dict[tuple, float] = {}

    def of_meta(self, meta: tuple) -> float:
        w = self._cache.get(meta)
        if w is None:
            if not meta:
                w = 1.0
            else:
                get = self.counts.get
                w = len(meta) / sum(float(max(get(k, 1), 1)) ** 3 for k in meta)
            self._cache[meta] = w
        return w

    def __call__(self, cand: Candidate) -> float:
        return self.of_meta(cand.meta)


def weighted_sample(items: Sequence[T], budget: int, weigh: Callable[[T], float],
                    rng: random.Random) -> list[T]:
    """Up to ``budget`` items without replacement, P ∝ weight (Efraimidis–Spirakis)."""
    if len(items) <= budget:
        return list(items)
    if budget == 1:
        best, best_key = None, -math.inf
        for item in items:
            key = math.log(1.0 - rng.random()) / weigh(item)
            if key > best_key:
                best, best_key = item, key
        return [best]
    # log(u) / w ranks like u ** (1 / w) without underflow for tiny weights
    keyed = sorted(((math.log(1.0 - rng.random()) / weigh(x), i) for i, x in enumerate(items)),
                   reverse=True)
    return [items[i] for _, i in keyed[:budget]]


def image_groups(n_images: int, group_size: int, n_groups: int,
                 rng: random.Random) -> list[tuple[int, ...]]:
    """``n_groups`` distinct groups of ``group_size`` image positions, each in random order
    (the order the images are shown in). Fewer when not enough distinct groups exist."""
    if n_images < group_size or group_size < 1:
        return []
    seen, out = set(), []
    tries = 0
    while len(out) < n_groups and tries < 20 * n_groups + 100:
        tries += 1
        group = tuple(rng.sample(range(n_images), group_size))
        key = tuple(sorted(group))
        if key in seen:
            continue
        seen.add(key)
        out.append(group)
    return out

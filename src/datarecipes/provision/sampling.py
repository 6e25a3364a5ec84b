"""Sampling: rare-concept weights, per-generator draws, image groups.

ProVision weights each candidate of an image by ``1 / mean(count(v)^3)`` over its metadata
values v (objects, attributes, relations, counts), so questions about rare concepts are
preferred. The reference gets count(v) by enumerating every candidate of every generator
over the dataset, then enumerates everything again to sample. We count the concepts in the
scene graphs themselves (objects per label, objects per attribute, edges per relation,
(image, label) pairs per count) — the same rare-concept signal from one cheap pass.

Draws are without replacement with Efraimidis–Spirakis keys ``log(u) / w`` on a seeded
``random.Random`` (one ``u`` per candidate, in enumeration order), so they are cheap and
seed-stable. :func:`draw` works on bare weights: generators that can weigh a candidate from
a cheap key (a label, an object, a pair) never build the candidates they do not draw
(``base.KeyedGenerator``), and still draw exactly what :func:`weighted_sample` would.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from datarecipes.provision.base import Candidate

T = TypeVar("T")


def concept_counts(indices: Iterable) -> Counter:
    """(field, value) → occurrences in the graphs (see module docstring)."""
    counts: Counter = Counter()
    for index in indices:
        for label, n in index.label_count.items():
            counts[("object", label)] += n
            counts[("count", n)] += 1
        for attrs in index.attrs:
            for a in attrs:
                counts[("attribute", a)] += 1
        for _, rel, _ in index.relations:
            counts[("relation", rel)] += 1
    return counts


def rare_weight(cubes: Sequence[float]) -> float:
    """``1 / mean(count³)`` from the concepts' cubed counts (1 for no concepts). The one
    place the formula lives, so a weight computed from a key equals the candidate's."""
    return len(cubes) / sum(cubes) if cubes else 1.0


_NONE: dict = {}


class RareConceptWeight:
    """``meta → 1 / mean(count³)``, memoised per meta tuple.

    ``cube[field]`` maps a concept's plain value to its cubed count (``.get(v, 1.0)`` for
    unseen ones). Generators weighing many keys look values up there: building a candidate
    and its meta tuple for every candidate, only to weigh it, is what made
    enumerate-then-sample slow.
    """

    def __init__(self, counts: Counter):
        self.counts = counts
        self.cube: dict[str, dict] = {k: {} for k in ("object", "attribute", "relation", "count")}
        for (name, value), n in counts.items():
            self.cube.setdefault(name, {})[value] = float(max(n, 1)) ** 3
        self._cache: dict[tuple, float] = {}

    def of_meta(self, meta: tuple) -> float:
        w = self._cache.get(meta)
        if w is None:
            cube = self.cube
            w = rare_weight([cube.get(name, _NONE).get(value, 1.0) for name, value in meta])
            self._cache[meta] = w
        return w

    def __call__(self, cand: Candidate) -> float:
        return self.of_meta(cand.meta)


def _keys(weights: Sequence[float], rng: random.Random) -> list[float]:
    # log(u) / w ranks like u ** (1 / w) without underflow for tiny weights
    rand, log = rng.random, math.log
    return [log(1.0 - rand()) / w for w in weights]


def draw(weights: Sequence[float], budget: int, rng: random.Random) -> list[int]:
    """Positions of up to ``budget`` items drawn without replacement, P ∝ weight
    (Efraimidis–Spirakis; all of them, and no random numbers used, when they fit)."""
    n = len(weights)
    if n <= budget:
        return list(range(n))
    keys = _keys(weights, rng)
    if budget == 1:
        return [max(range(n), key=keys.__getitem__)]  # first of equal keys, as a scan
    return [i for _, i in sorted(zip(keys, range(n)), reverse=True)[:budget]]


def draw_order(weights: Sequence[float], rng: random.Random) -> Iterator[int]:
    """Every position, lazily, in the order of a weighted draw without replacement — for
    generators whose drawn unit may turn out empty, so the next one is needed. Usually only
    the first is: it is the largest key (the last of equal ones); a heap gives the rest
    without sorting all (order as ``sorted(zip(keys, positions), reverse=True)``)."""
    keys = _keys(weights, rng)
    if not keys:
        return
    first = len(keys) - 1 - keys[::-1].index(max(keys))
    yield first
    heap = [(-k, -i) for i, k in enumerate(keys) if i != first]
    heapq.heapify(heap)
    while heap:
        yield -heapq.heappop(heap)[1]


def weighted_sample(items: Sequence[T], budget: int, weigh: Callable[[T], float],
                    rng: random.Random) -> list[T]:
    """Up to ``budget`` items without replacement, P ∝ weight (see :func:`draw`)."""
    if len(items) <= budget:
        return list(items)
    return [items[i] for i in draw([weigh(x) for x in items], budget, rng)]


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

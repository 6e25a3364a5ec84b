"""Sampling draws only true candidates: for every generator the sampled candidates are a
subset of ``enumerate``'s (the set the oracle tests check), the weights computed from keys
equal the candidates' own rare-concept weights, and keyed generators draw exactly what
enumerate-then-sample draws."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datarecipes.provision import (
    MULTI_IMAGE,
    SINGLE_IMAGE,
    GeneratorParams,
    GraphIndex,
    build_generators,
)
from datarecipes.provision.base import KeyedGenerator, RowGenerator, UnitGenerator
from datarecipes.provision.sampling import (
    RareConceptWeight,
    concept_counts,
    draw,
    draw_order,
    weighted_sample,
)
from tests.provision.oracle import check_multi, check_single
from tests.provision.strategies import image_groups, scene_graphs

SETTINGS = GeneratorParams(depth_threshold=40, point_pairs=3)
FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Slots holding a random choice made while building a candidate (the order the two compared
#: objects are named in): not part of which candidate it is.
RANDOM_SLOTS = {"object1", "object2"}


def _frozen(value):
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, set | frozenset):
        return frozenset(value)
    return value


#: Generators whose candidates are found by random search (points on a mask): whether an
#: object yields one depends on the draw, so a sampled one is checked by the oracle alone.
RANDOM_SEARCH = {"SameObjectSeg", "DiffObjectSeg"}


def signature(c) -> tuple:
    """Which question a candidate is, with its random presentation choices left out."""
    if c.generator in RANDOM_SEARCH:
        return (c.generator, c.slots["object"])
    slots = {k: _frozen(v) for k, v in c.slots.items() if k not in RANDOM_SLOTS}
    if c.generator.startswith(("Closer", "Farther")) and "objects" in slots:
        objects = slots["objects"]  # the compared pair is named in random order
        slots["objects"] = (objects[0], frozenset(objects[1:])) if "Anchor" in c.generator \
            else frozenset(objects)
    return (c.generator, tuple(sorted(slots.items(), key=str)), _frozen(c.answer),
            _frozen(c.mcq_answer), c.exclude, _frozen(c.pool), tuple(sorted(c.meta, key=str)),
            c.open_ok)


def _copy(rng: random.Random) -> random.Random:
    twin = random.Random()
    twin.setstate(rng.getstate())
    return twin


def _weigh(indices, seed: int) -> RareConceptWeight:
    """Counts from the graphs, scaled at random so that weights differ between concepts."""
    rng = random.Random(seed)
    counts = concept_counts(indices)
    for key in counts:
        counts[key] *= rng.randint(1, 5)
    return RareConceptWeight(counts)


def check_sampling(gen, graph, weigh, seed: int, check) -> None:
    rng = random.Random(seed)
    full = gen.enumerate(graph, _copy(rng))
    everything = {signature(c) for c in full}
    if gen.name in RANDOM_SEARCH:
        everything = {(gen.name, i) for i in gen.units(graph)}
    for budget in (1, 2, 5):
        picked = gen.sample(graph, _copy(rng), budget, weigh)
        assert len(picked) <= budget and (picked or not full or gen.name in RANDOM_SEARCH)
        assert len({signature(c) for c in picked}) == len(picked)  # without replacement
        for c in picked:
            assert signature(c) in everything, f"{gen.name} sampled a non-candidate {c}"
            check(c)
        if isinstance(gen, KeyedGenerator):  # exactly enumerate-then-sample's draw
            twin = _copy(rng)
            same = weighted_sample(gen.enumerate(graph, twin), budget, weigh, twin)
            assert [signature(c) for c in picked] == [signature(c) for c in same]
    # weights computed from keys (no candidate built) are the candidates' own weights
    if isinstance(gen, KeyedGenerator):
        keys = gen.keys(graph)
        for w, key in zip(gen.weights(graph, keys, weigh), keys, strict=True):
            assert w == weigh(gen.build(graph, key))
    elif isinstance(gen, UnitGenerator):
        units = gen.units(graph)
        for w, unit in zip(gen.weights(graph, units, weigh), units, strict=True):
            for c in gen.expand(graph, unit, random.Random(seed)):
                assert w == weigh(c)
    elif isinstance(gen, RowGenerator):
        objects, extra = gen.rows(graph)
        if len(objects):
            weights = gen.row_weights(graph, objects, weigh)
            for i in range(len(objects)):
                c = gen.make(graph, i, objects, extra, random.Random(seed))
                assert weights[i] == pytest.approx(weigh(c), rel=1e-12)


@pytest.mark.parametrize("name", SINGLE_IMAGE)
@FAST
@given(graph=scene_graphs(layers_optional=False), seed=st.integers(0, 10_000))
def test_single_image_samples_are_candidates(name, graph, seed):
    [gen] = build_generators([name], SETTINGS)
    index = GraphIndex(graph)
    check_sampling(gen, index, _weigh([index], seed), seed,
                   lambda c: check_single(name, graph, c, SETTINGS.depth_threshold))


@pytest.mark.parametrize("name", MULTI_IMAGE)
@FAST
@given(graphs=image_groups(), seed=st.integers(0, 10_000))
def test_multi_image_samples_are_candidates(name, graphs, seed):
    [gen] = build_generators([name], SETTINGS)
    group = [GraphIndex(g) for g in graphs]
    check_sampling(gen, group, _weigh(group, seed), seed, lambda c: check_multi(name, graphs, c))


@given(weights=st.lists(st.floats(1e-9, 1e3), min_size=0, max_size=40),
       budget=st.integers(1, 6), seed=st.integers(0, 10_000))
@settings(max_examples=200, deadline=None)
def test_draw_and_draw_order_agree(weights, budget, seed):
    picked = draw(weights, budget, random.Random(seed))
    assert len(set(picked)) == len(picked) == min(budget, len(weights))
    if len(weights) > budget:  # draw_order's first `budget` positions are the same draw
        assert list(draw_order(weights, random.Random(seed)))[:budget] == picked
    assert sorted(draw_order(weights, random.Random(seed))) == list(range(len(weights)))


def test_draw_follows_the_weights():
    weights = [1.0, 2.0, 7.0]
    rng = random.Random(0)
    firsts = np.bincount([draw(weights, 1, rng)[0] for _ in range(20_000)], minlength=3)
    assert np.allclose(firsts / 20_000, np.array(weights) / 10.0, atol=0.015)

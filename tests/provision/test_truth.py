"""Property tests: every generator's answers are true by construction (checked against the
independent oracle in ``oracle.py``), multiple-choice options hold the answer exactly once,
and the solution's final answer is the answer."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datarecipes.provision import (
    MULTI_IMAGE,
    SINGLE_IMAGE,
    GeneratorParams,
    GraphIndex,
    Vocabulary,
    build_generators,
    render,
)
from tests.provision.oracle import check_multi, check_single
from tests.provision.strategies import image_groups, scene_graphs

SETTINGS = GeneratorParams(depth_threshold=40, point_pairs=3)
FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BOXED = re.compile(r"### Final Answer: \\boxed\{(.*)\} <end>$")


def check_rendered(gen, cand, graph, vocab, seed):
    for mcq in (False, True):
        qa = render(gen, cand, graph, random.Random(seed), mcq, vocab, SETTINGS.n_choice)
        if qa is None:
            assert not cand.open_ok  # only an undetermined open form may yield nothing
            continue
        assert "{" not in qa["question"] and "[among]" not in qa["question"]
        m = BOXED.search(qa["solution"])
        assert m and m.group(1) == qa["bare_answer"]
        assert qa["solution"].startswith("### Step1: ")
        if qa["format"] == "mcq":
            opts = qa["options"]
            assert opts.count(qa["bare_answer"]) == 1 and len(opts) == len(set(opts)) >= 2
            letter = qa["answer_letter"]
            assert opts["ABCDEFGHIJ".index(letter)] == qa["bare_answer"]
            bare = qa["bare_answer"]
            assert qa["answer"] in (f"{letter}. {bare}", f"({letter}) {bare}")
            assert qa["answer"] in qa["question"]
            for o in opts:
                if o != qa["bare_answer"]:
                    assert o not in {str(x) for x in cand.exclude}
        else:
            assert cand.open_ok and qa["answer"] == qa["bare_answer"] and qa["options"] == []


@pytest.mark.parametrize("name", SINGLE_IMAGE)
@FAST
@given(graph=scene_graphs(layers_optional=False), seed=st.integers(0, 10_000))
def test_single_image_answers_are_true(name, graph, seed):
    [gen] = build_generators([name], SETTINGS)
    index = GraphIndex(graph)
    vocab = Vocabulary.from_indices([index])
    for cand in gen.enumerate(index, random.Random(seed)):
        check_single(name, graph, cand, SETTINGS.depth_threshold)
        check_rendered(gen, cand, index, vocab, seed)


@pytest.mark.parametrize("name", MULTI_IMAGE)
@FAST
@given(graphs=image_groups(), seed=st.integers(0, 10_000))
def test_multi_image_answers_are_true(name, graphs, seed):
    [gen] = build_generators([name], SETTINGS)
    group = [GraphIndex(g) for g in graphs]
    vocab = Vocabulary.from_indices(group)
    for cand in gen.enumerate(group, random.Random(seed)):
        check_multi(name, graphs, cand)
        check_rendered(gen, cand, group, vocab, seed)
        if cand.answer.__class__ is str and cand.answer.startswith("Image "):
            assert sorted(cand.pool + [cand.answer]) == [f"Image {i}" for i in range(len(group))]

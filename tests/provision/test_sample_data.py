"""The real ProVision sample (two baseball images, all layers): every applicable generator
runs on it without error, and the answers hold (checked by the independent oracle)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from datarecipes.provision import (
    MULTI_IMAGE,
    SINGLE_IMAGE,
    GeneratorParams,
    GraphIndex,
    ProvisionParams,
    Vocabulary,
    build_generators,
    generate_questions,
    render,
)
from tests.provision.oracle import check_multi, check_single

SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "provision_sample"

pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason="shared provision sample absent")


@pytest.fixture(scope="module")
def graphs():
    from datarecipes.annotations import load_provision

    # The sample's masks are pickles; this test opts in explicitly (the default refuses).
    return load_provision(SAMPLE, image_root=SAMPLE / "images", allow_pickle=True)


def test_every_applicable_generator_runs_on_the_sample(graphs):
    assert len(graphs) == 2
    indices = [GraphIndex(g) for g in graphs.values()]
    assert all({"attributes", "relations", "depth", "masks"} <= g.layers for g in indices)
    vocab = Vocabulary.from_indices(indices)
    produced = set()
    for gen in build_generators("all", GeneratorParams()):
        units = [indices] if gen.multi else indices
        for unit in units:
            for seed in range(3):
                for cand in gen.enumerate(unit, random.Random(seed)):
                    produced.add(gen.name)
                    if gen.multi:
                        check_multi(gen.name, [g.graph for g in unit], cand)
                    else:
                        check_single(gen.name, unit.graph, cand)
                    qa = render(gen, cand, unit, random.Random(seed), seed % 2 == 0, vocab)
                    assert qa is None or qa["solution"].endswith(f"{{{qa['bare_answer']}}} <end>")
    # what the two images support (e.g. relation questions need unique labels, which these
    # images have; LeftMost needs 3 separated uniquely-labelled objects)
    for name in ("ExistsObject", "AttributeBBox", "TypedAttributeBBox", "RelationBBox",
                 "HeadRelation", "CloserPoint", "FartherPoint", "SameObjectSeg",
                 "DiffObjectSeg", "SceneGraphObjectQA", "HasObject", "CountObject"):
        assert name in produced, name
    assert set(produced) <= set(SINGLE_IMAGE + MULTI_IMAGE)


def test_sample_pipeline_output(graphs):
    recs = generate_questions(graphs, ProvisionParams(seed=0, groups_per_split=1))
    assert len(recs) > 20
    assert {r["image"][0].rsplit("/", 1)[-1] for r in recs if r["type"] == "single"} == {
        "baseball_1.png", "baseball_2.png"}
    assert all(Path(p).is_file() for r in recs for p in r["image"])

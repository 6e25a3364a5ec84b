"""ProVision: a planted reworded duplicate question is dropped and recorded in the ledger."""

from __future__ import annotations

import pandas as pd
import pytest

from datarecipes.annotations.validate import ValidationParams
from datarecipes.ledger import stage_counts, why
from datarecipes.pipelines.provision.nodes import (
    dedup_provision_questions,
    generate_provision_questions,
    validate_scene_graphs,
)
from datarecipes.pipelines.scenes.nodes import generate_scenes
from datarecipes.provision import ProvisionParams
from datarecipes.provision.dedup import ProvisionDedupParams
from datarecipes.scenes import ScenesParams


@pytest.fixture(scope="module")
def generated():
    _, graphs, metadata = generate_scenes(ScenesParams(n_scenes=6, seed=0))
    valid, report = validate_scene_graphs(graphs, ValidationParams())
    questions, conversations = generate_provision_questions(valid, metadata,
                                                            ProvisionParams(groups_per_split=0))
    return questions, conversations, report


def plant(questions: pd.DataFrame, conversations: list[dict]):
    long = questions[questions["question"].str.split().str.len() >= 10].iloc[0]
    other_image = questions[questions["image"].map(tuple) != tuple(long["image"])].iloc[0]
    reworded = long.to_dict() | {"id": "planted-reworded",
                                 "question": "Please " + long["question"][0].lower()
                                 + long["question"][1:]}
    elsewhere = other_image.to_dict() | {"id": "planted-other-image",
                                         "question": long["question"],
                                         "answer": long["answer"],
                                         "bare_answer": long["bare_answer"]}
    table = pd.concat([questions, pd.DataFrame([reworded, elsewhere])], ignore_index=True)
    convs = conversations + [{"id": "planted-reworded", "conversations": []},
                             {"id": "planted-other-image", "conversations": []}]
    return table, convs, long["id"]


def test_a_reworded_duplicate_is_dropped_and_recorded(generated):
    questions, conversations, report = generated
    table, convs, original = plant(questions, conversations)
    kept, kept_convs, ledger, metrics, plot = dedup_provision_questions(table, convs, report,
                                                                        ProvisionDedupParams())
    dedup = ledger[ledger["stage"] == "questions.dedup"].set_index("sample_id")
    dropped = dict(dedup.loc[~dedup["kept"], "ref"])
    # Exactly the planted duplicate, linked to the question it rewords (nothing of the
    # generated set itself, and not the same question about another image).
    assert dropped == {"planted-reworded": original}
    assert "planted-reworded" not in set(kept["id"]) and "planted-other-image" in set(kept["id"])
    assert [c["id"] for c in kept_convs] == list(kept["id"])
    assert len(kept) == len(table) - 1
    assert metrics["stage/questions.dedup/dropped"] == 1
    # validation's per-object decisions come first, one row per object
    counts = stage_counts(ledger).set_index("stage")
    assert counts.loc["objects.validation", "seen"] == report["objects"]
    answer = why(ledger, "planted-reworded")
    assert f"near-identical question to {original}" in answer and "same answer" in answer
    assert "representative of 1 duplicate" in why(ledger, original)


def test_flag_keeps_every_question(generated):
    questions, conversations, report = generated
    table, convs, _ = plant(questions, conversations)
    kept, _, ledger, _, _ = dedup_provision_questions(table, convs, report,
                                                        ProvisionDedupParams(action="flag"))
    assert len(kept) == len(table)
    assert (~ledger.loc[ledger["sample_id"] == "planted-reworded", "kept"]).sum() == 0


def test_validation_refusals_are_ledger_rows():
    import dataclasses

    import numpy as np

    from datarecipes.provision.dedup import provision_ledger

    _, graphs, _ = generate_scenes(ScenesParams(n_scenes=2, seed=0))
    image_id, graph = next(iter(graphs.items()))
    boxes = graph.bboxes.astype(float).copy()
    boxes[0] = [np.nan, 0, 1, 1]
    graphs = dict(graphs) | {image_id: dataclasses.replace(graph, bboxes=boxes)}
    _, report = validate_scene_graphs(graphs, ValidationParams())
    empty = pd.DataFrame({"id": [], "image": [], "question": [], "bare_answer": []})
    from datarecipes.provision.dedup import dedup_questions, dedup_rows

    params = ProvisionDedupParams()
    ledger = provision_ledger(report, dedup_rows(dedup_questions(empty, params), empty, params))
    objects = ledger[ledger["stage"] == "objects.validation"].set_index("sample_id")
    assert len(objects) == sum(g.n_objects for g in graphs.values())
    refused = objects[~objects["kept"]]
    assert list(refused.index) == [f"{image_id}/object0"]
    assert "refused (nan_box)" in refused["reason"].iloc[0]
    assert report["objects_refused"] == 1

"""ProVision input validation: labels, duplicate detections and unusable boxes (issue 13)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datarecipes.annotations.validate import (
    ValidationParams,
    normalise_label,
    validate_graphs,
)
from datarecipes.pipelines.provision.nodes import provision_stats, validate_scene_graphs
from datarecipes.provision import (
    SINGLE_IMAGE,
    ProvisionParams,
    assign_ids,
    generate_questions,
    to_table,
)
from datarecipes.scenegraph import SceneGraph
from tests.provision.strategies import scene_graphs


def _graph(labels, boxes, **kw) -> SceneGraph:
    return SceneGraph(image_id=kw.pop("image_id", "img1"), width=100, height=80,
                      labels=list(labels), bboxes=np.asarray(boxes, dtype=float), **kw)


def _count_answers(graph: SceneGraph) -> dict[str, str]:
    params = ProvisionParams(generators=("ExistsObject",), budget_per_generator=10,
                             mcq_fraction=0.0)
    records = generate_questions({graph.image_id: graph}, params)
    return {re.sub(r"\W+", " ", r["question"]).strip(): r["bare_answer"] for r in records}


def test_labels_that_differ_in_case_or_whitespace_are_one_label():
    boxes = [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]]
    graph = _graph(["ball", "Ball", "ball "], boxes)
    checked, report = validate_graphs({"img1": graph})
    g = checked["img1"]
    assert g.labels == ["ball"] * 3
    assert g.extra["original_labels"] == ["ball", "Ball", "ball "]  # kept for display
    assert report.relabelled == 2
    answers = _count_answers(g)
    assert len(answers) == 1 and next(iter(answers.values())) in ("3", "three")
    assert normalise_label("  Toy\tBox ") == "toy box"


def test_a_duplicated_detection_is_merged_and_counted():
    boxes = [[5, 5, 30, 40], [5, 5, 30, 40], [60, 10, 90, 30], [5.5, 5, 30, 40]]
    graph = _graph(["bat", "bat", "glove", "Bat"], boxes,
                   attributes=[["wooden"], ["brown"], ["leather"], []],
                   relations=[(1, "next to", 2), (0, "next to", 2), (2, "near", 3)],
                   extra={"det_scores": [0.4, 0.9, 0.8, 0.3]})
    checked, report = validate_graphs({"img1": graph})
    g = checked["img1"]
    assert report.merged_duplicates == 2 and g.labels == ["bat", "glove"]
    assert g.extra["det_scores"] == [0.9, 0.8]  # the strongest detection is kept
    assert g.attributes[0] == ["brown", "wooden"]  # union of the merged ones
    assert g.relations == [(0, "next to", 1), (1, "near", 0)]  # redirected, deduplicated
    assert next(iter(_count_answers(g).values())) != "2" and "bats" not in _count_answers(g)
    # a lower threshold is configurable: distinct but overlapping boxes stay apart at 0.99
    apart, rep = validate_graphs({"img1": graph}, ValidationParams(duplicate_iou=0.99))
    assert rep.merged_duplicates == 1 and apart["img1"].n_objects == 3


@pytest.mark.parametrize("box,reason,text", [
    ([float("nan"), 0, 10, 10], "nan_box", "NaN"),
    ([10, 10, 10, 30], "zero_area_box", "zero area"),
    ([30, 10, 10, 30], "inverted_box", "inverted"),
    ([90, 70, 130, 95], "out_of_image_box", "leaves the 100x80 image"),
    ([-20, -20, -5, -5], "out_of_image_box", "leaves"),
])
def test_unusable_boxes_are_refused_per_object_naming_file_image_and_index(box, reason, text):
    graph = _graph(["cup", "plate", "cup"], [[0, 0, 20, 20], box, [40, 40, 60, 60]],
                   attributes=[["red"], ["blue"], []], relations=[(1, "on", 0), (2, "near", 0)],
                   masks=np.ones((3, 80, 100), dtype=bool), image_id="kitchen_7")
    checked, report = validate_graphs({"kitchen_7": graph})
    g = checked["kitchen_7"]
    assert g.labels == ["cup", "cup"] and g.relations == [(1, "near", 0)]
    assert g.masks.shape == (2, 80, 100) and g.attributes == [["red"], []]
    assert report.refused[reason] == 1
    (message,) = report.messages
    assert message.startswith("object-detection-annotations.json: image 'kitchen_7': object 1 "
                              "('plate')") and text in message
    assert report.metrics()[f"validation_refused_{reason}"] == 1.0
    questions = generate_questions(checked, ProvisionParams(generators=SINGLE_IMAGE,
                                                            budget_per_generator=3))
    assert questions and not any("plate" in json.dumps(q) for q in questions)


def test_a_box_just_past_the_edge_is_clipped_not_refused():
    graph = _graph(["cup"], [[-0.5, 2, 100.8, 80.4]])
    checked, report = validate_graphs({"img1": graph})
    assert checked["img1"].bboxes.tolist() == [[0.0, 2.0, 100.0, 80.0]]
    assert report.clipped == 1 and not report.refused


def test_the_nodes_put_the_counts_in_the_provision_metrics():
    graph = _graph(["cup", "cup", "Cup"], [[0, 0, 20, 20], [0, 0, 20, 20], [1, 1, 0, 9]])
    graphs, report = validate_scene_graphs({"img1": graph}, ValidationParams())
    assert graphs["img1"].n_objects == 1
    records = generate_questions(graphs, ProvisionParams(generators=("ExistsObject",)))
    assign_ids(records)
    questions = to_table(records)
    metrics, _ = provision_stats(questions, report)
    assert metrics["validation_duplicates_merged"] == 1.0
    assert metrics["validation_refused_inverted_box"] == 1.0
    assert metrics["validation_objects_refused"] == 1.0


BAD_BOXES = st.sampled_from([
    [float("nan"), 1, 5, 5], [1, 1, float("inf"), 5], [3, 3, 3, 9], [3, 3, 9, 3],
    [9, 3, 3, 9], [3, 9, 9, 3], [-50, -50, -10, -10], [5, 5, 500, 9], [5, 5, 9, 500],
])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=scene_graphs(max_objects=6), bad=st.lists(BAD_BOXES, min_size=1, max_size=3),
       data=st.data())
def test_no_generated_question_is_about_a_refused_object(graph, bad, data):
    """Refused objects carry a label and an attribute found nowhere else; after validation
    no question, option, answer or solution of any generator mentions either."""
    n = graph.n_objects
    labels = graph.labels + [f"zzrefused{i}" for i in range(len(bad))]
    boxes = np.concatenate([graph.bboxes, np.asarray(bad, dtype=float)])
    attributes = None if graph.attributes is None else \
        graph.attributes + [["zzattr"] for _ in bad]
    relations = None
    if graph.relations is not None:
        relations = list(graph.relations) + [
            (n + i, "zzrel", data.draw(st.integers(0, n - 1))) for i in range(len(bad)) if n]
    masks = None
    if graph.masks is not None:
        masks = np.concatenate([graph.masks, np.ones((len(bad),) + graph.masks.shape[1:],
                                                     dtype=bool)])
    dirty = SceneGraph(image_id=graph.image_id, width=graph.width, height=graph.height,
                       labels=labels, bboxes=boxes, attributes=attributes,
                       relations=relations, depth=graph.depth, masks=masks,
                       image_path=graph.image_path)
    clean_twin = SceneGraph(image_id="twin", width=graph.width, height=graph.height,
                            labels=list(graph.labels), bboxes=graph.bboxes.copy(),
                            attributes=graph.attributes, relations=graph.relations,
                            depth=graph.depth, masks=graph.masks, image_path="twin.png")
    checked, report = validate_graphs({dirty.image_id: dirty, "twin": clean_twin})
    assert sum(report.refused.values()) == len(bad)
    records = generate_questions(checked, ProvisionParams(budget_per_generator=4,
                                                          groups_per_split=4, mcq_fraction=0.5))
    text = json.dumps(records)
    assert "zzrefused" not in text and "zzattr" not in text and "zzrel" not in text

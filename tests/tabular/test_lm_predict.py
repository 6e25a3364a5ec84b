"""Parsing LM answers and merging shuffle runs."""

from __future__ import annotations

import numpy as np

from datarecipes.tabular.lm_predict import majority_vote, parse_predictions
from datarecipes.tabular.metrics import classification_metrics


def test_plain_json():
    assert parse_predictions('[{"id":0,"label":1},{"id":1,"label":0}]', [0, 1]) == {0: 1, 1: 0}


def test_surrounding_text_fences_and_trailing_commas():
    text = ('Sure! Here you go:\n```json\n[\n {"id": 0, "label": 2},\n'
            ' {"id": 1, "label": 1},\n]\n```')
    assert parse_predictions(text, [0, 1]) == {0: 2, 1: 1}


def test_string_ids_and_labels_like_the_reference_example():
    assert parse_predictions('[{"id": "0", "label": "1"}]', [0]) == {0: 1}


def test_missing_and_unknown_ids():
    parsed = parse_predictions('[{"id":0,"label":1},{"id":7,"label":1}]', [0, 1, 2])
    assert parsed == {0: 1, 1: None, 2: None}


def test_cut_off_answer_keeps_complete_objects():
    parsed = parse_predictions('[{"id":0,"label":1},{"id":1,"label":0},{"id":2,"lab', [0, 1, 2])
    assert parsed == {0: 1, 1: 0, 2: None}


def test_garbage_gives_no_labels():
    assert parse_predictions("I cannot classify these rows.", [0, 1]) == {0: None, 1: None}
    assert parse_predictions("", [0]) == {0: None}


def test_majority_vote_ties_go_to_the_first_run_and_missing_is_wrong():
    runs = [[1, 0, None, 2], [1, 1, None, None], [0, 1, None, None]]
    labels, shares = majority_vote(runs, n_classes=3)
    assert labels.tolist() == [1, 1, -1, 2]
    assert np.allclose(shares[0], [1 / 3, 2 / 3, 0])
    two = majority_vote([[0, 1], [1, 1]], n_classes=2)[0]
    assert two.tolist() == [0, 1]  # tie 0 vs 1 -> run 0's answer


def test_metrics_count_missing_as_wrong_and_auc_from_shares():
    y = np.array([0, 0, 1, 1])
    m = classification_metrics(y, np.array([0, -1, 1, 1]), None, 2)
    assert m["accuracy"] == 0.75 and np.isnan(m["auc"])
    shares = np.array([[1, 0], [0.5, 0.5], [0, 1], [0.5, 0.5]])
    m = classification_metrics(y, np.array([0, 0, 1, 1]), shares, 2)
    assert m["accuracy"] == 1.0 and 0.8 < m["auc"] < 1.0
    m3 = classification_metrics(np.array([0, 1, 2, 2]), np.array([0, 1, 2, 0]),
                                np.eye(3)[[0, 1, 2, 0]], 3)
    assert m3["accuracy"] == 0.75 and 0.5 < m3["auc"] < 1.0
    assert np.isnan(classification_metrics(np.array([1, 1]), np.array([1, 1]),
                                           np.eye(2)[[1, 1]], 2)["auc"])

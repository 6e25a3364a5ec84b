"""Evaluation round trip: a 1-NN that reads only the prompt text scores like a real 1-NN."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from datarecipes.tabular.evaluate import (
    class_covering_order,
    evaluate_baselines,
    evaluate_icl,
    summary_metrics,
)
from datarecipes.tabular.plots import accuracy_figure, accuracy_grid
from datarecipes.tabular.tables import load_table

SHARED = "../shared/data/tabular"


def nearest_neighbour_from_prompt(prompts):
    """Parse each prompt's training and test lines and answer with a 1-NN (L1) in JSON."""
    answers = []
    for messages in prompts:
        user = messages[1]["content"]
        train = re.search(r"\[Training set\].*?rows:\n(.*?)\n\n", user, re.S).group(1)
        test = re.search(r"\[Test set\].*?rows:\n(.*?)\n\n", user, re.S).group(1)
        rows = [line.split("|") for line in train.split("\n")]
        x = np.array([[int(v) for v in r[0].split(",")] for r in rows])
        y = [int(r[1]) for r in rows]
        out = []
        for line in test.split("\n"):
            ident, values = line.split(":")
            v = np.array([int(a) for a in values.split(",")])
            out.append({"id": int(ident), "label": y[int(np.abs(x - v).sum(axis=1).argmin())]})
        answers.append("Answer:\n```json\n" + json.dumps(out) + "\n```")
    return answers


@pytest.fixture(scope="module")
def rice():
    # rice_cammeo_and_osmancik: two well-separated classes (RF ~ 0.92). Note the shared
    # banknote_authentication copy is at chance for every model (its labels do not follow its
    # features: 3-fold RF 0.50), so it cannot show a round trip.
    return load_table(f"{SHARED}/rice_cammeo_and_osmancik.csv")


def test_prompt_round_trip_carries_the_table(rice):
    lm, preds = evaluate_icl(nearest_neighbour_from_prompt, [rice], [8, 32, 128],
                             max_test_rows=200)
    majority = np.bincount(rice.y).max() / len(rice.y)
    assert list(lm["shots"]) == [8, 32, 128]
    assert (lm["accuracy"] > majority + 0.2).all()  # ~0.9 vs 0.57
    assert set(preds["seed"]) == {40, 41} and (preds["label"] >= 0).all()
    assert lm["n_test"].iloc[0] == 200


def test_lm_scores_match_the_same_model_outside_the_prompt(rice):
    """A 1-NN on the codes equals a 1-NN fitted on the shots directly (same shots, same rows)."""
    lm, _ = evaluate_icl(nearest_neighbour_from_prompt, [rice], [32], max_test_rows=100,
                         shuffle_seeds=[40])
    base = evaluate_baselines([rice], [32], ["knn"], max_test_rows=100)
    # different models (1-NN on codes vs 5-NN on raw values) but the same information
    assert abs(lm["accuracy"].iloc[0] - base["accuracy"].iloc[0]) < 0.1


def test_tables_may_be_given_as_csv_paths():
    lm, _ = evaluate_icl(nearest_neighbour_from_prompt, [f"{SHARED}/website_phishing.csv"],
                         [16], max_test_rows=50, shuffle_seeds=[40])
    assert lm["dataset"].tolist() == ["website_phishing"] and lm["accuracy"].iloc[0] > 0.5


def test_unanswered_rows_count_as_wrong(rice):
    def silent(prompts):
        return ["no idea"] * len(prompts)

    lm, preds = evaluate_icl(silent, [rice], [8], max_test_rows=60)
    assert lm["accuracy"].iloc[0] == 0.0 and (preds["label"] == -1).all()


def test_predict_fn_must_answer_every_prompt(rice):
    with pytest.raises(ValueError, match="returned 0 answers for 2 prompts"):
        evaluate_icl(lambda p: [], [rice], [8], max_test_rows=60)


def test_too_long_prompts_stop_before_the_model_runs(rice):
    called = []

    def spy(prompts):
        called.append(len(prompts))
        return nearest_neighbour_from_prompt(prompts)

    refused, _ = evaluate_icl(spy, [rice], [128], max_test_rows=50, max_length=2000)
    assert not called  # refused before the model runs
    assert refused["refused"].iloc[0].startswith("table rice_cammeo_and_osmancik (128 shots")
    assert np.isnan(refused["accuracy"].iloc[0])
    lm, _ = evaluate_icl(spy, [rice], [128], max_test_rows=50, max_length=4000,
                         on_too_long="fewer_shots")
    assert lm["shots_used"].iloc[0] < 128 and called


def test_shot_order_is_nested_and_covers_classes():
    y = np.array([0] * 50 + [1] * 5 + [2] * 2)
    order = class_covering_order(y, np.arange(len(y)), seed=42)
    assert set(y[order[:3]]) == {0, 1, 2}
    assert sorted(order) == list(range(len(y)))


def test_baselines_report_and_plots():
    tables = [load_table(f"{SHARED}/{n}.csv") for n in ("blood", "car_evaluation")]
    table = evaluate_baselines(tables, [8, 64, 4096], max_test_rows=120)
    assert set(table["method"]) == {"random_forest", "gradient_boosting", "knn",
                                    "logistic_regression", "majority"}
    assert set(table["shots"]) == {8, 64}  # 4096 exceeds both training sets
    car = table[(table.dataset == "car_evaluation") & (table.method == "random_forest")]
    assert car.set_index("shots")["accuracy"][64] > car.set_index("shots")["accuracy"][8]
    # the majority class of the shots: one label for every test row, no ranking (AUC 0.5),
    # and below what a forest learns from the same 64 shots
    floor = table[(table.dataset == "car_evaluation") & (table.method == "majority")]
    assert np.allclose(floor["auc"], 0.5)
    assert floor.set_index("shots")["accuracy"][64] < car.set_index("shots")["accuracy"][64]
    assert table["auc"].notna().all()
    metrics = summary_metrics(table)
    assert metrics["max_shots"] == 64 and metrics["tables"] == 2
    assert 0 < metrics["random_forest_accuracy_at_max_shots"] <= 1
    fig = accuracy_grid(table)
    assert len([a for a in fig.axes if a.has_data()]) == 3  # average + 2 tables
    assert accuracy_figure(table, "blood").axes[0].get_title() == "blood"

"""The comparison node on planted per-run numbers, the parameters and the wiring (fast: no
model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog

from datarecipes.config import ParameterError, from_params
from datarecipes.experiments.filtering_params import FilteringExperimentParams, design, sweep_arm
from datarecipes.filtering.clip_train import EncodedPairs
from datarecipes.filtering.params import FilterParams, PretrainParams
from datarecipes.hooks import child_run_pattern
from datarecipes.pipelines.filtering_experiment.nodes import (
    arm_pairs,
    compare_runs,
    pretrain_arm,
    run_key,
    run_parameters,
    select_arms,
    with_mean_recall,
)
from datarecipes.pipelines.filtering_experiment.pipeline import create_pipeline, namespace
from tests.helpers import PROJECT_ROOT

SEEDS = [0, 1, 2, 3, 4, 5]
FRACTIONS = [0.25, 0.5]
ARMS = ["unfiltered", "filtered", "top_25", "top_50"]
HELDOUT = 200


def experiment(**changes: object) -> FilteringExperimentParams:
    """The section as the start-up hook hands it to the nodes."""
    params = {"seeds": SEEDS, "kept_fractions": FRACTIONS, "bootstrap_resamples": 2000,
              **changes}
    return from_params(FilteringExperimentParams, params, where="filtering_experiment")


FILTERS = FilterParams()
PRETRAIN = PretrainParams()


def selection() -> pd.DataFrame:
    return pd.DataFrame({"arm": ARMS, "pairs": [1000, 700, 250, 500],
                         "kept_fraction": [1.0, 0.7, 0.25, 0.5],
                         "corrupted_share": [0.3, 0.1, 0.05, 0.12]})


def _runs(values: dict[str, list[float]], samples: int = 6400) -> dict[str, dict[str, object]]:
    runs = {}
    for arm in ARMS:
        for seed in SEEDS:
            v = values[arm][seed]
            recall = {"image_to_text_recall_at_1": v / 2, "text_to_image_recall_at_1": v / 2,
                      "image_to_text_recall_at_5": 1.5 * v, "text_to_image_recall_at_5": 1.5 * v}
            runs[run_key(arm, seed)] = {
                **with_mean_recall(recall, (1, 5)), "pairs": 100.0, "steps": 100.0,
                "samples_seen": float(samples), "epochs": 64.0, "final_loss": 3.0,
                "heldout_pairs": float(HELDOUT), "loss": [4.0, 3.0]}
    return runs


def test_planted_gain_is_found_and_equal_arms_straddle_zero():
    luck = [0.0, 0.03, -0.02, 0.025, -0.03, 0.01]  # per-seed luck shared by every arm
    noise = [0.002, -0.002, 0.0, 0.003, -0.003, 0.001]
    values = {"unfiltered": [0.10 + o for o in luck],
              "filtered": [0.13 + o + n for o, n in zip(luck, noise)],
              "top_25": [0.10 + o + n for o, n in zip(luck, noise)],
              "top_50": [0.10 + o - n for o, n in zip(luck, noise)]}
    metrics, summary, per_run, by_metric, plot, page = compare_runs(
        experiment(), selection(), FILTERS, PRETRAIN, **_runs(values))
    assert list(summary["arm"]) == ARMS and len(per_run) == len(ARMS) * len(SEEDS)
    # mean_recall is the mean of the four recalls: (v/2 + 1.5 v) / 2 = v.
    assert metrics["filtered/mean"] == pytest.approx(np.mean(values["filtered"]))
    assert metrics["filtered/diff_excludes_zero"] == 1.0
    assert metrics["filtered/diff_ci_low"] > 0.02
    assert metrics["filtered/diff_vs_baseline"] == pytest.approx(0.03, abs=1e-3)
    for arm in ("top_25", "top_50"):  # equal to the baseline up to noise: around 0
        assert metrics[f"{arm}/diff_ci_low"] < 0 < metrics[f"{arm}/diff_ci_high"]
        assert metrics[f"{arm}/diff_excludes_zero"] == 0.0
    # Unpaired, the seeds' shared luck would swamp the gain; paired it does not.
    assert metrics["filtered/ci_low"] < metrics["unfiltered/ci_high"]
    assert metrics["chance/mean_recall"] == pytest.approx(3 / HELDOUT)
    assert metrics["top_25/kept_fraction"] == 0.25 and metrics["top_25/samples_seen"] == 6400
    at5 = by_metric[(by_metric.metric == "image_to_text_recall_at_5")].set_index("arm")
    assert at5.loc["filtered", "diff_vs_baseline"] == pytest.approx(0.045, abs=2e-3)
    assert metrics["by_metric/image_to_text_recall_at_5/filtered/diff_vs_baseline"] == (
        pytest.approx(at5.loc["filtered", "diff_vs_baseline"]))
    assert "Δ vs unfiltered" in page and "`top_<f>` = the top f" in page
    # One plot: the sweep line (its band) and the recipe's point with its error bars.
    ax = plot.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "top f by clip" and any(t.startswith("filtered: recipe's") for t in labels)
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [0.25, 0.5, 1.0]
    assert list(line.get_ydata()) == pytest.approx(
        [np.mean(values[a]) for a in ("top_25", "top_50", "unfiltered")])


def test_comparison_refuses_runs_the_parameters_do_not_describe_or_unequal_compute():
    runs = _runs({a: [0.1] * len(SEEDS) for a in ARMS})
    with pytest.raises(ValueError, match="pipeline was built with runs"):
        compare_runs(experiment(seeds=SEEDS[:-1]), selection(), FILTERS, PRETRAIN, **runs)
    runs[run_key("top_25", 3)] = {**runs[run_key("top_25", 3)], "samples_seen": 3200.0}
    with pytest.raises(ValueError, match="different numbers of samples"):
        compare_runs(experiment(), selection(), FILTERS, PRETRAIN, **runs)
    with pytest.raises(ParameterError, match="not a retrieval metric"):
        experiment(metric="accuracy")
    with pytest.raises(ParameterError, match="strictly between 0 and 1"):
        experiment(kept_fractions=[0.5, 1.0])
    with pytest.raises(ParameterError, match="strictly increasing"):
        experiment(kept_fractions=[0.5, 0.25])


def _scored_pool() -> tuple[pd.DataFrame, pd.DataFrame]:
    n = 12
    pool = pd.DataFrame({
        "image_id": [f"p{i}" for i in range(n)],
        "clip": [0.9, 0.1, 0.8, 0.85, 0.2, 0.3, 0.7, np.nan, 0.95, 0.4, 0.5, 0.6],
        "clip_status": ["success"] * 7 + ["decode_error"] + ["success"] * 4,
        "drop.contamination": [False] * 8 + [True] + [False] * 3,  # p8: best score, held out
        "corrupted": [False, True, False, False, True, True, False, False, False, True, False,
                      False],
    })
    kept = pool.iloc[[0, 2, 3, 6]].reset_index(drop=True)
    return pool, kept


def test_the_sweep_keeps_the_top_fraction_of_the_eligible_pool_by_score():
    pool, kept = _scored_pool()
    arms, table, metrics = select_arms(pool, kept, experiment(kept_fractions=[0.3, 0.5]))
    # Eligible: decoded (not p7) and not contaminated (not p8): 10 pairs.
    assert metrics["eligible_pairs"] == 10 and metrics["excluded_pairs"] == 2
    chosen = {a: list(arms.loc[arms[f"in.{a}"], "image_id"]) for a in ("top_30", "top_50")}
    assert chosen["top_30"] == ["p0", "p2", "p3"]          # ceil(0.3 × 10) best, p8 excluded
    assert chosen["top_50"] == ["p0", "p2", "p3", "p6", "p11"]
    assert list(arms.loc[arms["in.filtered"], "image_id"]) == ["p0", "p2", "p3", "p6"]
    assert arms["in.unfiltered"].sum() == 10
    table = table.set_index("arm")
    assert table.loc["top_30", "kept_fraction"] == pytest.approx(0.3)
    assert table.loc["top_50", "corrupted_share"] == 0.0
    assert table.loc["unfiltered", "corrupted_share"] == pytest.approx(4 / 10)
    # Without decontamination for every arm, the held-out look-alike p8 tops the sweep.
    arms, _, _ = select_arms(pool, kept, experiment(kept_fractions=[0.3],
                                                    decontaminate_every_arm=False))
    assert list(arms.loc[arms["in.top_30"], "image_id"]) == ["p0", "p2", "p3", "p8"]  # 4 of 11
    with pytest.raises(ValueError, match="score 'su' is not a column"):
        select_arms(pool, kept, experiment(score="su"))


def _encoded(ids: list[str]) -> EncodedPairs:
    n = len(ids)
    return EncodedPairs(ids=np.array(ids, dtype=object), pixels=torch.arange(n).float(),
                        tokens=torch.arange(n), skipped=0)


def test_an_arm_trains_on_its_own_pairs_and_a_run_smaller_than_a_batch_is_refused():
    pool, kept = _scored_pool()
    arms, _, _ = select_arms(pool, kept, experiment(kept_fractions=[0.3]))
    encoded = _encoded(list(pool["image_id"][pool["clip_status"] == "success"]))
    data = arm_pairs(encoded, arms, "top_30")
    assert sorted(data.ids) == ["p0", "p2", "p3"] and data.skipped == 0
    assert torch.equal(data.tokens, torch.tensor([0, 2, 3]))
    with pytest.raises(ValueError, match="fewer than one batch"):
        pretrain_arm(encoded, encoded, arms, PRETRAIN, arm="top_30")  # 3 pairs < 64


def test_run_parameters_give_every_arm_the_experiments_budget_and_the_seed():
    pretrain = from_params(PretrainParams, {"training": {"steps": 300, "batch_size": 64}},
                           where="filtering.pretrain")
    run = run_parameters(experiment(steps=40, batch_size=32), pretrain, seed=3)
    assert (run.training.steps, run.training.batch_size, run.training.seed) == (40, 32, 3)
    assert run.training.learning_rate == pretrain.training.learning_rate
    recipe = run_parameters(experiment(steps=None), pretrain, seed=0)
    assert (recipe.training.steps, recipe.training.batch_size) == (300, 64)
    with pytest.raises(ValueError, match="has no seed 9"):
        run_parameters(experiment(), pretrain, seed=9)


def test_the_shipped_design_builds_every_arm_and_seed_and_logs_each_to_a_child_run():
    arms, seeds = design()
    assert arms == ["unfiltered", "filtered", "top_10", "top_25", "top_50", "top_75"]
    assert seeds == [0, 1, 2, 3, 4]
    names = {n.name for n in create_pipeline().nodes}
    for arm in arms:
        for seed in seeds:
            assert f"{namespace(arm, seed)}.filtering_experiment_pretrain" in names
    assert {"train_scoring_clip", "apply_filters", "filtering_experiment_compare"} <= names
    assert "pretrain_comparison" not in names  # the recipe's own single-seed comparison
    assert sweep_arm(0.125) == "top_12p5"
    config = yaml.safe_load((PROJECT_ROOT / "conf/base/tracking.yml").read_text())
    patterns = [child_run_pattern(t) for t in config["mlflow"]["child_runs"]]
    matches = [p.match(namespace("top_10", 3)) for p, t in patterns
               if t == "filtering_experiment.{arm}.seed_{seed}"]
    assert len(matches) == 1 and matches[0]["arm"] == "top_10" and matches[0]["seed"] == "3"
    assert not any(p.match("filtering_experiment_compare") for p, _ in patterns)


def test_each_run_has_its_own_files():
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base",
                               default_run_env="local")
    catalog = DataCatalog.from_config(loader["catalog"])
    described = catalog.get(f"{namespace('top_25', 2)}.pretrain_metrics")._describe()
    assert str(described["filepath"]) == (
        "data/08_reporting/filtering_experiment/top_25/seed_2/pretrain_metrics.json")
    assert str(catalog.get("filtering_experiment_markdown")._describe()["filepath"]) == (
        "data/08_reporting/filtering_experiment.md")

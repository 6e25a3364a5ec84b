"""The comparison node on planted per-run numbers (fast: no model)."""

from __future__ import annotations

import pandas as pd
import pytest

from datarecipes.config import ParameterError, from_params
from datarecipes.experiments.params import ExperimentParams
from datarecipes.pipelines.thinklite_experiment.nodes import compare_runs, run_key, run_parameters
from datarecipes.pipelines.thinklite_experiment.pipeline import create_pipeline, design
from datarecipes.training.grpo import GRPOParams

ARMS = ["mcts", "random", "all"]
SEEDS = [0, 1, 2, 3, 4, 5]
PARAMS = {"arms": ARMS, "seeds": SEEDS, "baseline": "random", "bootstrap_resamples": 2000,
          "selection": {"mcts": {"strategy": "mcts"}, "random": {"strategy": "random"},
                        "all": {"strategy": "all"}}}


def experiment(**changes: object) -> ExperimentParams:
    """The section as the start-up hook hands it to the nodes."""
    return from_params(ExperimentParams, {**PARAMS, **changes}, where="thinklite_experiment")


def _runs(accuracy: dict[str, list[float]]) -> dict[str, object]:
    runs: dict[str, object] = {}
    for arm in ARMS:
        for seed in SEEDS:
            runs[run_key("eval", arm, seed)] = {"accuracy": accuracy[arm][seed], "n": 64.0}
            runs[run_key("selection", arm, seed)] = {"num_selected": 3.0}
            ids = {"mcts": ["a", "b", "c"], "random": ["a", "x", "y"],
                   "all": ["a", "b", "c", "x", "y"]}[arm]
            runs[run_key("selected", arm, seed)] = pd.DataFrame({"sample_id": ids})
    return runs


def test_planted_gain_is_found_and_no_gain_straddles_zero():
    offsets = [0.0, 0.2, -0.1, 0.15, -0.2, 0.05]  # per-seed luck shared by every arm
    noise = [0.01, -0.01, 0.0, 0.02, -0.02, 0.005]
    accuracy = {"random": [0.4 + o for o in offsets],
                "mcts": [0.5 + o + n for o, n in zip(offsets, noise)],
                "all": [0.4 + o + n for o, n in zip(offsets, noise)]}
    metrics, summary, per_run, overlap, *_, page = compare_runs(experiment(), {"accuracy": 0.3},
                                                                **_runs(accuracy))
    assert len(per_run) == len(ARMS) * len(SEEDS)
    assert set(zip(per_run["arm"], per_run["seed"])) == {(a, s) for a in ARMS for s in SEEDS}
    assert metrics["mcts/diff_excludes_zero"] == 1.0 and metrics["mcts/diff_ci_low"] > 0.05
    assert metrics["all/diff_ci_low"] < 0 < metrics["all/diff_ci_high"]
    assert metrics["warm_start/accuracy"] == 0.3
    assert metrics["overlap/mcts-vs-random/jaccard"] == pytest.approx(1 / 5)
    assert metrics["overlap/mcts-vs-all/shared"] == 3
    assert len(overlap) == len(SEEDS) * 3
    assert list(summary["arm"]) == ARMS
    assert "Δ vs random" in page


def test_comparison_refuses_runs_the_parameters_do_not_describe():
    runs = _runs({a: [0.5] * len(SEEDS) for a in ARMS})
    with pytest.raises(ValueError, match="pipeline was built with runs"):
        compare_runs(experiment(seeds=SEEDS[:-1]), {}, **runs)
    with pytest.raises(ValueError, match="metric 'f1' is not in run"):
        compare_runs(experiment(metric="f1"), {}, **runs)
    with pytest.raises(ParameterError, match="baseline 'accuracy' is not one of the arms"):
        compare_runs(experiment(baseline="accuracy"), {}, **runs)


def test_run_parameters_seed_both_the_selection_and_grpo():
    grpo = from_params(GRPOParams, {"max_steps": 3, "seed": 0}, where="thinklite_grpo")
    selection, grpo = run_parameters(experiment(), grpo, arm="random", seed=4)
    assert selection.strategy == "random" and selection.seed == 4
    assert grpo == from_params(GRPOParams, {"max_steps": 3, "seed": 4}, where="thinklite_grpo")


def test_the_shipped_design_builds_every_arm_and_seed():
    arms, seeds = design()
    assert arms == ["mcts", "random", "accuracy", "all", "diverse"] and len(seeds) >= 5
    names = {n.name for n in create_pipeline().nodes}
    for arm in arms:
        for seed in seeds:
            assert f"thinklite_experiment.{arm}.seed_{seed}.thinklite_grpo" in names

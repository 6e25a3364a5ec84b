"""Experiment results read back from MLflow equal what the tracking hook logged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datarecipes.experiments import mlflow_results as mr
from tests.experiments.mlflow_store import plant_scm, plant_thinklite, scm_table

ARMS = ["mcts", "random", "all"]
SEEDS = [0, 1, 2]
#: mcts = random + 0.05 at every seed (a planted gain), all = random − 0.1 + a seed wobble.
VALUES = {(a, s): 0.4 + 0.02 * s + {"mcts": 0.05, "random": 0.0, "all": -0.1}[a]
          + (0.01 * s * s if a == "all" else 0.0) for a in ARMS for s in SEEDS}


def test_child_runs_and_tables_are_the_logged_ones(uri):
    plant_thinklite({k: v - 0.2 for k, v in VALUES.items()})  # an older run
    plant_thinklite(VALUES)
    results = mr.load_experiment(uri, "thinklite_experiment")

    # The latest finished parent, its 9 child runs with their arm, seed and metric.
    assert results.run.data.tags["pipeline"] == "thinklite_experiment"
    runs = results.runs
    assert sorted(zip(runs["arm"], runs["seed"])) == sorted(VALUES)
    assert runs["seed"].dtype.kind in "iu" or str(runs["seed"].dtype) == "Int64"
    got = {(r["arm"], int(r["seed"])): r["metrics.thinklite_eval.accuracy"]
           for _, r in runs.iterrows()}
    assert got == pytest.approx(VALUES)
    assert (runs["metrics.thinklite_selection.num_selected"]
            == np.where(runs["arm"] == "all", 64.0, 20.0)).all()
    assert set(runs["status"]) == {"FINISHED"}
    assert "params.arm" not in runs.columns  # the fields are columns of their own

    # The parent's CSV tables, as the comparison node returned them.
    assert {"thinklite_experiment_table", "thinklite_experiment_runs_table",
            "thinklite_experiment_overlap_table"} <= set(results.tables)
    per_run = results.table("thinklite_experiment_runs_table")
    assert dict(zip(zip(per_run["arm"], per_run["seed"]), per_run["accuracy"])) == (
        pytest.approx(VALUES))
    assert "plots/thinklite_experiment_means_plot.png" in results.plots
    assert results.param("thinklite_experiment.arms") == ARMS
    assert results.param("thinklite_experiment.baseline") == "random"
    with pytest.raises(KeyError, match="thinklite_experiment_table"):
        results.table("no_such_table")


def test_arm_comparison_from_child_runs_equals_the_logged_table(uri):
    plant_thinklite(VALUES)
    results = mr.load_experiment(uri, "thinklite_experiment")
    per_arm = mr.arm_comparison(results)
    logged = results.table("thinklite_experiment_table")
    assert list(per_arm["arm"]) == ARMS == list(logged["arm"])
    for column in ["mean", "ci_low", "ci_high", "diff_vs_baseline"]:
        np.testing.assert_allclose(per_arm[column], logged[column], equal_nan=True)
    means = per_arm.set_index("arm")["mean"]
    for arm in ARMS:
        assert means[arm] == pytest.approx(np.mean([VALUES[arm, s] for s in SEEDS]))
    # The planted constant gain is found exactly, with a degenerate interval at it.
    mcts = per_arm.set_index("arm").loc["mcts"]
    assert (mcts["diff_vs_baseline"], mcts["diff_ci_low"], mcts["diff_ci_high"]) == (
        pytest.approx((0.05, 0.05, 0.05)))
    assert bool(mcts["diff_excludes_zero"])


def test_scm_child_runs_hold_each_seed_and_the_curve_its_points(uri):
    seeds = [0, 1]
    tables = {(suite, seed): scm_table(
        lambda m, t, shots, seed=seed: 0.5 + 0.1 * seed + (0.002 * shots if m == "lm" else 0.0))
        for suite in ("heldout_prior", "real_tables") for seed in seeds}
    plant_scm(tables)
    results = mr.load_experiment(uri, "scm_experiment")
    runs = results.runs
    assert list(runs["seed"]) == seeds and "arm" not in runs.columns
    # lm at its largest shot count (32): 0.5 + 0.1 seed + 0.064, over both tables.
    assert list(runs["metrics.scm_real_tables.lm_accuracy_at_max_shots"]) == pytest.approx(
        [0.564, 0.664])
    curve = results.table("scm_experiment_curve_table")
    lm = curve[(curve["panel"] == "real_tables") & (curve["arm"] == "lm")].set_index("x")
    assert lm["mean"].to_dict() == pytest.approx({8: 0.566, 16: 0.582, 32: 0.614})
    means = mr.seed_means(runs, {"lm": "metrics.scm_real_tables.lm_accuracy_at_max_shots"})
    assert means.loc[0, "mean"] == pytest.approx(lm.loc[32, "mean"])


def test_no_run_names_the_uri_and_the_pipeline(tmp_path, uri):
    missing = f"sqlite:///{tmp_path / 'nothing.db'}"
    with pytest.raises(mr.NoRunError, match="nothing.db does not exist") as err:
        mr.load_experiment(missing, "thinklite_experiment")
    assert "thinklite_experiment" in str(err.value)
    assert not (tmp_path / "nothing.db").exists()  # reading never creates a store

    plant_thinklite({("mcts", 0): 0.5, ("random", 0): 0.4})
    with pytest.raises(mr.NoRunError, match=r"no finished scm_experiment run in experiment "
                       r"'datarecipes' at sqlite:///.*mlflow\.db; run `kedro run "
                       r"--pipelines=scm_experiment`"):
        mr.load_experiment(uri, "scm_experiment")
    with pytest.raises(mr.NoRunError, match=r"no finished thinklite_experiment run of env "
                       r"'gpu' .*run `kedro run -e gpu --pipelines=thinklite_experiment`"):
        mr.load_experiment(uri, "thinklite_experiment", env="gpu")
    assert mr.latest_parent_run(uri, "thinklite_experiment", env="local").data.tags[
        "kedro_env"] == "local"
    with pytest.raises(mr.NoRunError, match="there is no experiment 'other'"):
        mr.latest_parent_run(uri, "thinklite_experiment", experiment="other")


def test_an_unfinished_run_is_not_read(uri):
    import mlflow

    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.set_experiment("datarecipes")
        client = mlflow.tracking.MlflowClient(uri)
        run = client.create_run(experiment.experiment_id, tags={"pipeline": "scm_experiment"})
        client.set_terminated(run.info.run_id, status="FAILED")
    finally:
        mlflow.set_tracking_uri(None)
    with pytest.raises(mr.NoRunError, match=r"\(only FAILED ones\)"):
        mr.latest_parent_run(uri, "scm_experiment")


def test_metric_column_is_unambiguous():
    runs = pd.DataFrame(columns=["arm", "seed", "metrics.eval.accuracy", "metrics.train.loss",
                                 "metrics.other.accuracy"])
    assert mr.metric_column(runs, "train.loss") == "metrics.train.loss"
    assert mr.metric_column(runs, "loss") == "metrics.train.loss"
    with pytest.raises(KeyError, match="several"):
        mr.metric_column(runs, "accuracy")
    with pytest.raises(KeyError, match="no child-run metric"):
        mr.metric_column(runs, "f1")


def test_the_tracking_uri_is_resolved_as_the_hook_resolves_it(tmp_path, monkeypatch):
    from datarecipes.hooks import project_tracking_config, tracking_uri
    from tests.helpers import PROJECT_ROOT

    config = project_tracking_config(PROJECT_ROOT)
    assert "thinklite_experiment.{arm}.seed_{seed}" in config["child_runs"]
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert config["tracking_uri"] is None
    assert tracking_uri(config, tmp_path) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert tracking_uri({"tracking_uri": "sqlite:///elsewhere.db"}, tmp_path) == (
        "sqlite:///elsewhere.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///from-env.db")
    assert tracking_uri({"tracking_uri": "sqlite:///elsewhere.db"}, tmp_path) == (
        "sqlite:///from-env.db")


def test_the_module_imports_neither_kedro_nor_mlflow_until_used():
    import os
    import subprocess
    import sys

    from tests.helpers import PROJECT_ROOT

    code = ("import sys, datarecipes.experiments.mlflow_results; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'kedro', 'mlflow'}))")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")}  # this checkout's package
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.strip() == "[]"

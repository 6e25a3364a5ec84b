"""The comparison node on planted per-seed evaluation tables (fast: no model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.figure import Figure

from datarecipes.config import ParameterError, from_params
from datarecipes.experiments.scm_params import ScmExperimentParams
from datarecipes.hooks import child_run_pattern
from datarecipes.pipelines.scm_experiment.nodes import (
    SUITES,
    compare_seeds,
    lm_answer_spread,
    run_key,
    run_parameters,
)
from datarecipes.pipelines.scm_experiment.pipeline import create_pipeline, design, namespace
from datarecipes.tabular.params import ScmParams, ScmTrainingParams
from tests.helpers import PROJECT_ROOT

SEEDS = [0, 1, 2, 3, 4, 5]
SHOTS = [8, 16, 32]
TABLES = ["t1", "t2", "t3"]
PARAMS = {"seeds": SEEDS, "eval_shots": SHOTS, "bootstrap_resamples": 2000,
          "baselines": ["majority", "knn", "random_forest"],
          "compared_to": ["random_forest", "majority"]}


def experiment(**changes: object) -> ScmExperimentParams:
    """The section as the start-up hook hands it to the nodes."""
    return from_params(ScmExperimentParams, {**PARAMS, **changes}, where="scm_experiment")


def _table(accuracy, refused=None) -> pd.DataFrame:
    """One seed's evaluation table: ``accuracy(method, table, shots)``."""
    rows = []
    for method in ["lm", "majority", "knn", "random_forest"]:
        for name in TABLES:
            for shots in SHOTS:
                reason = (refused or {}).get((method, name, shots), "")
                rows.append({"dataset": name, "method": method, "shots": shots,
                             "shots_used": shots, "n_test": 20,
                             "accuracy": np.nan if reason else accuracy(method, name, shots),
                             "f1": np.nan, "auc": np.nan, "refused": reason})
    return pd.DataFrame(rows)


def _runs(gain: dict[str, float], refused=None) -> dict[str, pd.DataFrame]:
    """Per seed: a luck shared by every method, RF = majority + 0.2, LM = majority +
    gain[suite] plus a small per-seed noise of its own."""
    luck = [0.0, 0.1, -0.05, 0.08, -0.1, 0.03]
    noise = [0.01, -0.01, 0.0, 0.015, -0.015, 0.005]
    runs = {}
    for suite in SUITES:
        for seed in SEEDS:
            def accuracy(method, name, shots, seed=seed, suite=suite):
                base = 0.5 + luck[seed] + 0.01 * TABLES.index(name)
                return {"majority": base, "knn": base + 0.1, "random_forest": base + 0.2,
                        "lm": base + gain[suite] + noise[seed]}[method]
            runs[run_key(suite, seed)] = _table(accuracy, refused if suite == "real_tables"
                                                else None)
    return runs


def test_planted_advantage_is_found_and_no_difference_straddles_zero():
    # real tables: LM beats RF by 0.1; held-out prior: LM equals majority.
    runs = _runs({"real_tables": 0.3, "heldout_prior": 0.0})
    metrics, curve, diffs, points, excluded, plot, page = compare_seeds(experiment(), **runs)
    assert len(points) == len(SUITES) * len(SHOTS) * 4 * len(SEEDS)
    assert excluded.empty and isinstance(plot, Figure)
    for shots in SHOTS:
        real = f"real_tables/lm-vs-random_forest/shots_{shots}"
        noise = np.mean([0.01, -0.01, 0.0, 0.015, -0.015, 0.005])
        assert metrics[f"{real}/diff"] == pytest.approx(0.1 + noise)
        assert metrics[f"{real}/diff_excludes_zero"] == 1.0
        assert metrics[f"{real}/diff_ci_low"] > 0.05
        prior = f"heldout_prior/lm-vs-majority/shots_{shots}"
        assert metrics[f"{prior}/diff_ci_low"] < 0 < metrics[f"{prior}/diff_ci_high"]
        assert metrics[f"{prior}/diff_excludes_zero"] == 0.0
        # RF is ahead of the LM on the prior: a planted deficit is found too.
        assert metrics[f"heldout_prior/lm-vs-random_forest/shots_{shots}/diff_ci_high"] < 0
    # The curve's mean is the mean over seeds of the mean over tables.
    lm8 = curve[(curve.panel == "real_tables") & (curve.arm == "lm") & (curve.x == 8)]
    expected = np.mean([runs[run_key("real_tables", s)].query("method == 'lm' and shots == 8")
                        ["accuracy"].mean() for s in SEEDS])
    assert lm8["mean"].iloc[0] == pytest.approx(expected)
    assert lm8["ci_low"].iloc[0] < expected < lm8["ci_high"].iloc[0]
    assert set(diffs["baseline"]) == {"random_forest", "majority"}
    assert "lm − random_forest" in page and "Command: `kedro run -e smollm2" in page
    assert "does not show" in page


def test_a_table_the_lm_could_not_score_leaves_the_point_for_every_method():
    reason = "table t3 (32 shots, seed 40): the prompt with 32 shots needs 5000 tokens"
    runs = _runs({"real_tables": 0.3, "heldout_prior": 0.0},
                 refused={("lm", "t3", 32): reason})
    _, curve, _, points, excluded, _, page = compare_seeds(experiment(), **runs)
    at32 = points[(points.panel == "real_tables") & (points.x == 32)]
    assert set(at32["tables"]) == {2}
    rf = at32[(at32.arm == "random_forest") & (at32.seed == 0)]["accuracy"].iloc[0]
    assert rf == pytest.approx(0.5 + 0.2 + 0.005)  # mean over t1, t2 only
    assert set(points[(points.panel == "real_tables") & (points.x == 16)]["tables"]) == {3}
    assert list(excluded["dataset"]) == ["t3"] and excluded["reason"].iloc[0] == reason
    assert "lm@seed0" in excluded["missing"].iloc[0]
    assert "Excluded" in page


def test_comparison_refuses_runs_the_parameters_do_not_describe():
    runs = _runs({"real_tables": 0.0, "heldout_prior": 0.0})
    with pytest.raises(ValueError, match="pipeline was built with runs"):
        compare_seeds(experiment(seeds=SEEDS[:-1]), **runs)
    with pytest.raises(ParameterError, match="compared_to names"):
        experiment(compared_to=["gradient_boosting"])
    with pytest.raises(ParameterError, match="heldout_seed 3 is also a training seed"):
        experiment(heldout_seed=3)


def test_run_parameters_seed_the_prior_the_corpus_training_and_the_split():
    scm = from_params(ScmParams, {"eval_shots": [8], "on_too_long": "fewer_shots"}, where="scm")
    training = from_params(ScmTrainingParams, {"max_steps": 3}, where="scm_training")
    corpus, evaluation, trained = run_parameters(experiment(), scm, training, seed=4)
    assert corpus.seed == evaluation.seed == trained.seed == 4
    assert corpus.on_too_long == "fewer_shots" and corpus.eval_shots == [8]
    assert evaluation.on_too_long == "error" and evaluation.eval_shots == SHOTS
    assert evaluation.split_seed == scm.split_seed + 4
    assert evaluation.baselines == ["majority", "knn", "random_forest"]
    _, fixed, _ = run_parameters(experiment(reseed_split=False), scm, training, seed=4)
    assert fixed.split_seed == scm.split_seed
    assert trained.max_steps == 3


def test_the_shipped_design_builds_every_seed():
    seeds = design()
    assert seeds == [0, 1, 2]
    names = {n.name for n in create_pipeline().nodes}
    for seed in seeds:
        assert f"{namespace(seed)}.scm_experiment_train_tabular_lm" in names
        assert f"{namespace(seed)}.scm_experiment_evaluate_lm_heldout_prior" in names


def test_each_seed_logs_into_its_own_child_run():
    config = yaml.safe_load((PROJECT_ROOT / "conf/base/tracking.yml").read_text())
    patterns = [child_run_pattern(t) for t in config["mlflow"]["child_runs"]]
    for seed in (0, 12):
        ns = namespace(seed)
        matches = [p.match(ns) for p, template in patterns
                   if template == "scm_experiment.seed_{seed}"]
        assert len(matches) == 1 and matches[0]["seed"] == str(seed)
    assert not any(p.match("scm_experiment_compare") for p, _ in patterns)


def test_answer_spread_counts_the_cells_the_lm_answered_with_one_label():
    # Seed 0 answers label 0 on every row of every real table; seed 1 varies its answers on
    # t2 only; the held-out suite varies everywhere.
    def predictions(suite: str, seed: int) -> pd.DataFrame:
        rows = []
        for name in TABLES:
            for shots in SHOTS:
                varied = suite == "heldout_prior" or (seed == 1 and name == "t2")
                rows += [{"dataset": name, "method": "lm", "shots": shots, "seed": 40,
                          "row": i, "label": i % 2 if varied else 0} for i in range(10)]
        return pd.DataFrame(rows)

    two = experiment(seeds=[0, 1])
    metrics, table = lm_answer_spread(
        two, **{run_key(s, seed): predictions(s, seed) for s in SUITES for seed in [0, 1]})
    real = table[table.suite == "real_tables"].set_index(["shots", "seed"])
    assert (real.xs(0, level="seed")["one_label_cells"] == 3).all()
    assert (real.xs(1, level="seed")["one_label_cells"] == 2).all()
    assert (real["cells"] == 3).all()
    assert metrics["real_tables/shots_8/one_label_share"] == pytest.approx((1 + 2 / 3) / 2)
    assert metrics["real_tables/one_label_share"] == pytest.approx(5 / 6)
    assert metrics["heldout_prior/one_label_share"] == 0.0
    assert table[table.suite == "heldout_prior"]["top_label_share"].eq(0.5).all()
    with pytest.raises(ValueError, match="built with runs"):
        lm_answer_spread(two, **{run_key("real_tables", 0): predictions("real_tables", 0)})

"""A miniature MLflow store of the three experiments, logged by the real tracking hook.

Each ``plant_*`` runs a Kedro pipeline shaped like the experiment's — planted per arm × seed
evaluation nodes in the experiment's namespaces, then the experiment's real comparison node
(each pipeline's ``compare_runs`` / ``compare_seeds``) — with
:class:`datarecipes.hooks.MlflowTrackingHook` registered on the runner and the pipeline
start/end called as ``kedro run`` calls them. So the parent run, its child runs, their metrics
and the CSV tables are exactly what a tracked ``kedro run`` logs.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from datarecipes.config import from_params
from datarecipes.experiments.filtering_params import (
    FILTERED,
    UNFILTERED,
    FilteringExperimentParams,
)
from datarecipes.experiments.params import ExperimentParams
from datarecipes.experiments.scm_params import ScmExperimentParams
from datarecipes.filtering.params import FilterParams, PretrainParams
from datarecipes.hooks import MlflowTrackingHook, child_run_pattern, project_tracking_config
from datarecipes.pipelines.filtering_experiment.nodes import compare_runs as filtering_compare
from datarecipes.pipelines.filtering_experiment.nodes import run_key as filtering_run_key
from datarecipes.pipelines.scm_experiment.nodes import SUITES, compare_seeds
from datarecipes.pipelines.scm_experiment.nodes import run_key as scm_run_key
from datarecipes.pipelines.thinklite_experiment.nodes import compare_runs, run_key
from datarecipes.tabular.evaluate import summary_metrics as scm_summary_metrics
from tests.helpers import PROJECT_ROOT

RESAMPLES = 1000


def _hook() -> MlflowTrackingHook:
    hook = MlflowTrackingHook()
    hook._project_path = PROJECT_ROOT
    hook._config = project_tracking_config(PROJECT_ROOT)
    hook._child_patterns = [child_run_pattern(t) for t in hook._config.get("child_runs") or []]
    return hook


def _run(pipeline_name: str, pipeline: Pipeline, params: Mapping[str, Any],
         sources: Mapping[str, Any] | None = None) -> None:
    """``kedro run --pipelines=<pipeline_name>`` of ``pipeline`` with tracking on (the URI is
    ``$MLFLOW_TRACKING_URI``, which the caller sets)."""
    sources = dict(sources or {})
    catalog = DataCatalog({name: MemoryDataset(copy_mode="assign")
                           for name in pipeline.datasets()
                           if not name.startswith("params:") and name not in sources})
    for name, value in sources.items():
        catalog[name] = MemoryDataset(value, copy_mode="assign")
    for key, value in params.items():
        catalog[f"params:{key}"] = MemoryDataset(value, copy_mode="assign")
    hook = _hook()
    manager = _create_hook_manager()
    manager.register(hook)
    hook.before_pipeline_run({"pipeline_names": [pipeline_name], "env": "local",
                              "session_id": "test"}, pipeline, catalog)
    try:
        SequentialRunner().run(pipeline, catalog, manager)
    except Exception:
        hook.on_pipeline_error()
        raise
    hook.after_pipeline_run()


def _node(func, outputs: Sequence[str], name: str, namespace: str | None = None) -> Node:
    outs = outputs[0] if len(outputs) == 1 else list(outputs)  # one output: not a list
    return Node(func, None, outs, name=name, namespace=namespace)


def plant_thinklite(values: Mapping[tuple[str, int], float], *, baseline: str = "random",
                    pool: int = 64) -> None:
    """A ``thinklite_experiment`` run whose arm × seed held-out accuracies are ``values``."""
    arms = list(dict.fromkeys(a for a, _ in values))
    seeds = sorted({s for _, s in values})
    nodes, inputs = [], {"params": "params:thinklite_experiment",
                         "warm_start_eval": "thinklite_warm_start_eval_metrics"}
    for (arm, seed), accuracy in values.items():
        ns = f"thinklite_experiment.{arm}.seed_{seed}"
        kept = pool if arm == "all" else 20
        selected = pd.DataFrame({"sample_id": [f"q{(i * (seed + 2)) % pool}"
                                               for i in range(kept)]})
        nodes.append(_node(
            lambda a=accuracy, k=kept, s=selected: (
                {"accuracy": a, "n": 256.0}, {"num_selected": float(k)}, s),
            [f"{ns}.thinklite_eval_metrics", f"{ns}.thinklite_selection_metrics",
             f"{ns}.thinklite_selected"], "evaluate", ns))
        inputs[run_key("eval", arm, seed)] = f"{ns}.thinklite_eval_metrics"
        inputs[run_key("selection", arm, seed)] = f"{ns}.thinklite_selection_metrics"
        inputs[run_key("selected", arm, seed)] = f"{ns}.thinklite_selected"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        nodes.append(Node(compare_runs, inputs, [
            "thinklite_experiment_metrics", "thinklite_experiment_table",
            "thinklite_experiment_runs_table", "thinklite_experiment_overlap_table",
            "thinklite_experiment_means_plot", "thinklite_experiment_differences_plot",
            "thinklite_experiment_markdown"], name="thinklite_experiment_compare"))
    selection = {a: {"strategy": "all" if a == "all" else "random" if a == "random"
                     else "mcts"} for a in arms}
    params = from_params(ExperimentParams, {
        "arms": arms, "seeds": seeds, "baseline": baseline, "bootstrap_resamples": RESAMPLES,
        "selection": selection}, where="thinklite_experiment")
    _run("thinklite_experiment", Pipeline(nodes), {"thinklite_experiment": params},
         {"thinklite_warm_start_eval_metrics": {"accuracy": 0.1}})


def scm_table(accuracy) -> pd.DataFrame:
    """One seed's evaluation table of one suite: ``accuracy(method, table, shots)``."""
    rows = []
    for method in ["lm", "majority", "knn", "random_forest"]:
        for name in ["t1", "t2"]:
            for shots in [8, 16, 32]:
                rows.append({"dataset": name, "method": method, "shots": shots,
                             "shots_used": shots, "n_test": 20,
                             "accuracy": accuracy(method, name, shots), "f1": np.nan,
                             "auc": np.nan, "refused": ""})
    return pd.DataFrame(rows)


def plant_scm(tables: Mapping[tuple[str, int], pd.DataFrame]) -> None:
    """A ``scm_experiment`` run whose (suite, seed) evaluation tables are ``tables``."""
    seeds = sorted({s for _, s in tables})
    nodes, inputs = [], {"experiment": "params:scm_experiment"}
    for seed in seeds:
        ns = f"scm_experiment.seed_{seed}"
        for suite in SUITES:
            table = tables[suite, seed]
            nodes.append(_node(
                lambda t=table: (t, scm_summary_metrics(t)),
                [f"{ns}.scm_{suite}_eval_table", f"{ns}.scm_{suite}_metrics"],
                f"report_{suite}", ns))
            inputs[scm_run_key(suite, seed)] = f"{ns}.scm_{suite}_eval_table"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        nodes.append(Node(compare_seeds, inputs, [
            "scm_experiment_metrics", "scm_experiment_curve_table",
            "scm_experiment_differences_table", "scm_experiment_points_table",
            "scm_experiment_excluded_table", "scm_experiment_accuracy_plot",
            "scm_experiment_markdown"], name="scm_experiment_compare"))
    params = from_params(ScmExperimentParams, {
        "seeds": seeds, "eval_shots": [8, 16, 32], "bootstrap_resamples": RESAMPLES},
        where="scm_experiment")
    _run("scm_experiment", Pipeline(nodes), {"scm_experiment": params})


def plant_filtering(values: Mapping[tuple[str, int], float], *,
                    kept_fractions: Sequence[float] = (0.5,), heldout: int = 100) -> None:
    """A ``filtering_experiment`` run whose arm × seed held-out ``mean_recall`` are ``values``
    (arms ``unfiltered``, ``filtered`` and the ``top_<f>`` of ``kept_fractions``), compared
    by the pipeline's own ``compare_runs``; every arm saw the same 640 samples."""
    experiment = FilteringExperimentParams(
        seeds=sorted({s for _, s in values}), kept_fractions=list(kept_fractions),
        bootstrap_resamples=RESAMPLES)
    assert {a for a, _ in values} == set(experiment.arms), experiment.arms
    fraction = {**experiment.sweep, FILTERED: 0.7, UNFILTERED: 1.0}
    selection = pd.DataFrame({"arm": experiment.arms,
                              "pairs": [round(200 * fraction[a]) for a in experiment.arms],
                              "kept_fraction": [fraction[a] for a in experiment.arms],
                              "corrupted_share": [0.3 * fraction[a] for a in experiment.arms]})
    nodes = [_node(lambda: selection, ["filtering_experiment_selection_table"], "select")]
    inputs = {"experiment": "params:filtering_experiment",
              "selection": "filtering_experiment_selection_table",
              "filters": "params:filtering.filter", "pretrain": "params:filtering.pretrain"}
    for (arm, seed), value in values.items():
        ns = f"filtering_experiment.{arm}.seed_{seed}"
        metrics = {"mean_recall": value, "pairs": float(selection.set_index("arm").loc[
            arm, "pairs"]), "steps": 10.0, "samples_seen": 640.0, "epochs": 1.0,
                   "final_loss": 1.0, "heldout_pairs": float(heldout)}
        nodes.append(_node(lambda m=metrics: m, [f"{ns}.pretrain_metrics"], "pretrain", ns))
        inputs[filtering_run_key(arm, seed)] = f"{ns}.pretrain_metrics"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        nodes.append(Node(filtering_compare, inputs, [
            "filtering_experiment_metrics", "filtering_experiment_table",
            "filtering_experiment_runs_table", "filtering_experiment_by_metric_table",
            "filtering_experiment_retrieval_plot", "filtering_experiment_markdown"],
            name="filtering_experiment_compare"))
    _run("filtering_experiment", Pipeline(nodes), {
        "filtering_experiment": experiment, "filtering.filter": FilterParams(),
        "filtering.pretrain": PretrainParams()})

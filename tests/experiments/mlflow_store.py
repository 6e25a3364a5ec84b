"""A miniature MLflow store of the three experiments, logged by the real tracking hook.

Each ``plant_*`` runs a Kedro pipeline shaped like the experiment's — planted per arm × seed
evaluation nodes in the experiment's namespaces, then the experiment's real comparison node
(``compare_runs``, ``compare_seeds``; filtering's by its conventions: ``compare_arms`` and
``curve_summary``) — with :class:`datarecipes.hooks.MlflowTrackingHook` registered on the
runner and the pipeline start/end called as ``kedro run`` calls them. So the parent run, its
child runs, their metrics and the CSV tables are exactly what a tracked ``kedro run`` logs.
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
from datarecipes.experiments import compare_arms, summary_metrics
from datarecipes.experiments.curves import curve_plot, curve_summary
from datarecipes.experiments.params import ExperimentParams
from datarecipes.experiments.scm_params import ScmExperimentParams
from datarecipes.hooks import MlflowTrackingHook, child_run_pattern, project_tracking_config
from datarecipes.pipelines.scm_experiment.nodes import SUITES, compare_seeds
from datarecipes.pipelines.scm_experiment.nodes import run_key as scm_run_key
from datarecipes.pipelines.thinklite_experiment.nodes import compare_runs, run_key
from datarecipes.tabular.evaluate import summary_metrics as scm_summary_metrics
from tests.helpers import PROJECT_ROOT

#: filtering_experiment's child runs, by the same convention as the others (added to the
#: hook's templates here in case conf/base/tracking.yml does not list it yet).
FILTERING_TEMPLATE = "filtering_experiment.{arm}.seed_{seed}"
RESAMPLES = 1000


def _hook() -> MlflowTrackingHook:
    hook = MlflowTrackingHook()
    hook._project_path = PROJECT_ROOT
    hook._config = project_tracking_config(PROJECT_ROOT)
    templates = list(hook._config.get("child_runs") or [])
    if FILTERING_TEMPLATE not in templates:
        templates.append(FILTERING_TEMPLATE)
    hook._config["child_runs"] = templates
    hook._child_patterns = [child_run_pattern(t) for t in templates]
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


def _filtering_compare(params: Mapping[str, Any], **runs: Mapping[str, Any]):
    """filtering_experiment's comparison by the experiments' conventions: the per-arm table
    (``compare_arms``) and retrieval vs kept fraction (``curve_summary``, one arm)."""
    metric = params["metric"]
    rows, sweep = [], []
    for key, metrics in runs.items():
        _, arm, seed = key.split("__")
        rows.append({"arm": arm, "seed": int(seed), metric: metrics[metric]})
        for fraction, value in metrics["sweep"].items():
            sweep.append({"panel": "held-out retrieval", "x": fraction, "arm": "filtered",
                          "seed": int(seed), metric: value})
    per_run, sweep = pd.DataFrame(rows), pd.DataFrame(sweep)
    summary = compare_arms(per_run, metric, params["baseline"], arms=params["arms"],
                           resamples=params["bootstrap_resamples"])
    curve = curve_summary(sweep, metric, ["filtered"], resamples=params["bootstrap_resamples"])
    return (summary_metrics(summary), summary, per_run, sweep, curve,
            curve_plot(curve, metric, "kept fraction", log_x=False))


def plant_filtering(values: Mapping[tuple[str, int], float],
                    sweep: Mapping[int, Mapping[float, float]], *,
                    metric: str = "recall_at_5") -> None:
    """A ``filtering_experiment`` run: arm × seed retrieval ``values`` and, per seed, the
    retrieval at each kept fraction (``sweep``)."""
    arms = list(dict.fromkeys(a for a, _ in values))
    nodes, inputs = [], {"params": "params:filtering_experiment"}
    for (arm, seed), value in values.items():
        ns = f"filtering_experiment.{arm}.seed_{seed}"
        out = {metric: value, "sweep": dict(sweep[seed])} if arm == "filtered" else \
            {metric: value, "sweep": {}}
        nodes.append(_node(lambda o=out: {metric: o[metric]}, [f"{ns}.filtering_eval_metrics"],
                           "evaluate", ns))
        nodes.append(_node(lambda o=out: o, [f"{ns}.run_result"], "result", ns))
        inputs[f"run__{arm}__{seed}"] = f"{ns}.run_result"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        nodes.append(Node(_filtering_compare, inputs, [
            "filtering_experiment_metrics", "filtering_experiment_table",
            "filtering_experiment_runs_table", "filtering_experiment_points_table",
            "filtering_experiment_sweep_table",
            "filtering_experiment_sweep_plot"], name="filtering_experiment_compare"))
    params = {"arms": arms, "seeds": sorted({s for _, s in values}), "metric": metric,
              "baseline": "unfiltered", "bootstrap_seed": 0, "bootstrap_resamples": RESAMPLES}
    _run("filtering_experiment", Pipeline(nodes), {"filtering_experiment": params})

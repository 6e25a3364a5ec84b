"""Nodes of ``thinklite_experiment``: per-run parameters and the comparison of all runs.

Parameters arrive built (the start-up hook turns each ``params:`` input into its dataclass);
the per-run sections are built objects too, handed to ``thinklite``'s strategy nodes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from datarecipes.experiments import (
    compare_arms,
    comparison_markdown,
    differences_plot,
    means_plot,
    selection_overlap,
    summary_metrics,
)
from datarecipes.experiments.params import FILE, ExperimentParams
from datarecipes.mcts import SelectionParams
from datarecipes.training.grpo import GRPOParams

COMMAND = "kedro run --pipelines=thinklite_experiment"


def run_parameters(
    params: ExperimentParams,
    grpo: GRPOParams,
    *,
    arm: str,
    seed: int,
) -> tuple[SelectionParams, GRPOParams]:
    """The ``hard_sample_selection`` and ``thinklite_grpo`` sections of run ``arm`` × ``seed``:
    the arm's entry of ``thinklite_experiment.selection`` and the shared GRPO budget, both
    with ``seed`` (so two arms at one seed differ only in what they train on)."""
    if arm not in params.selection:
        raise ValueError(f"{FILE}: thinklite_experiment.selection has no arm {arm!r}")
    return (dataclasses.replace(params.selection[arm], seed=seed),
            dataclasses.replace(grpo, seed=seed))


def accuracy_arm_selection(params: ExperimentParams) -> SelectionParams:
    """The accuracy arm's selection section, with its own seed: the seed of the answers
    sampled once for every run of the arm."""
    if "accuracy" not in params.selection:
        raise ValueError(f"{FILE}: thinklite_experiment.selection has no arm 'accuracy'")
    return params.selection["accuracy"]


def run_key(kind: str, arm: str, seed: int) -> str:
    """The keyword under which :func:`compare_runs` receives one run's ``kind`` output."""
    return f"{kind}__{arm}__{seed}"


def compare_runs(
    params: ExperimentParams,
    warm_start_eval: Mapping[str, float],
    **runs: Any,
) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame, pd.DataFrame, Figure, Figure, str]:
    """Every arm × seed compared: metrics, the per-arm table, the per-run table, the overlap
    table, the means plot, the paired-differences plot and the markdown page.

    ``runs`` holds, per arm and seed (:func:`run_key`), the run's ``eval`` and ``selection``
    metrics and its ``selected`` table.
    """
    built = {tuple(k.split("__", 2)[1:]) for k in runs if k.startswith("eval__")}
    wanted = {(a, str(s)) for a in params.arms for s in params.seeds}
    if built != wanted:
        raise ValueError(
            f"{FILE}: thinklite_experiment asks for arms {params.arms} × seeds {params.seeds}, "
            f"but the pipeline was built with runs {sorted(built)}; the pipeline reads its "
            "arms and seeds from conf/base/" + FILE + " when it is created, so change them "
            "there rather than with --params or another environment"
        )
    rows, selected = [], {}
    for arm in params.arms:
        for seed in params.seeds:
            evaluation = runs[run_key("eval", arm, seed)]
            if params.metric not in evaluation:
                raise ValueError(f"{FILE}: metric {params.metric!r} is not in run {arm} × "
                                 f"seed {seed}'s evaluation metrics {sorted(evaluation)}")
            chosen = runs[run_key("selected", arm, seed)]
            selected[arm, seed] = chosen["sample_id"].astype(str).tolist()
            rows.append({"arm": arm, "seed": seed,
                         params.metric: float(evaluation[params.metric]),
                         "num_selected": float(runs[run_key("selection", arm, seed)]
                                               ["num_selected"])})
    per_run = pd.DataFrame(rows)
    summary = compare_arms(per_run, params.metric, params.baseline, arms=params.arms,
                           seed=params.bootstrap_seed, resamples=params.bootstrap_resamples)
    counts = per_run.groupby("arm", sort=False)["num_selected"].mean()
    summary["mean_num_selected"] = summary["arm"].map(counts)
    overlap = selection_overlap(selected)
    metrics = summary_metrics(summary, overlap)
    for arm, count in counts.items():
        metrics[f"{arm}/mean_num_selected"] = float(count)
    if params.metric in warm_start_eval:
        metrics[f"warm_start/{params.metric}"] = float(warm_start_eval[params.metric])
    page = comparison_markdown("ThinkLite: hard-sample selection at equal GRPO budget",
                               summary, per_run, params.metric, params.baseline,
                               overlap=overlap, command=COMMAND)
    return (metrics, summary, per_run, overlap, means_plot(summary, per_run, params.metric),
            differences_plot(summary, params.baseline, params.metric), page)

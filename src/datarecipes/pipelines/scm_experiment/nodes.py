"""Nodes of ``scm_experiment``: per-seed parameters, the held-out prior tables, and the
comparison of every seed's evaluation (statistics from :mod:`datarecipes.experiments`).

Parameters arrive built (the start-up hook turns each ``params:`` input into its dataclass);
the per-seed sections are built objects too, handed to ``scm``'s nodes unchanged."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from datarecipes.experiments.curves import curve_differences, curve_plot, curve_summary
from datarecipes.experiments.scm_params import FILE, LM, ScmExperimentParams
from datarecipes.experiments.stats import CONFIDENCE
from datarecipes.tabular.metrics import answer_spread
from datarecipes.tabular.params import ScmParams, ScmTrainingParams
from datarecipes.tabular.prior import generate_tasks
from datarecipes.tabular.tables import Table

COMMAND = "kedro run -e smollm2 --pipelines=scm_experiment"

#: The evaluation suites, in the order of every table and plot.
SUITES = ("heldout_prior", "real_tables")


def run_parameters(
    experiment: ScmExperimentParams,
    scm: ScmParams,
    training: ScmTrainingParams,
    *,
    seed: int,
) -> tuple[ScmParams, ScmParams, ScmTrainingParams]:
    """Seed ``seed``'s sections: ``scm`` for the prior and the SFT corpus (its ``seed``
    replaced), ``scm`` for the evaluation (also the experiment's shot counts and baselines,
    prompts over the context refused rather than shortened — a point of the curve is
    measured at its shot count or not at all — and, with ``reseed_split``, split seed
    ``scm.split_seed + seed``), and ``scm_training`` with that seed."""
    if seed not in experiment.seeds:
        raise ValueError(f"{FILE}: scm_experiment.seeds {experiment.seeds} has no seed {seed}")
    corpus = dataclasses.replace(scm, seed=seed)
    evaluation = dataclasses.replace(
        corpus, eval_shots=list(experiment.eval_shots), baselines=list(experiment.baselines),
        on_too_long="error",
        split_seed=scm.split_seed + seed if experiment.reseed_split else scm.split_seed)
    return corpus, evaluation, dataclasses.replace(training, seed=seed)


def heldout_prior_tables(experiment: ScmExperimentParams, scm: ScmParams) -> dict[str, Table]:
    """``heldout_tasks`` prior tasks of seed ``heldout_seed`` (never a training seed, so none
    is a training task) as tables, evaluated like the real ones."""
    tasks = generate_tasks(experiment.heldout_tasks, experiment.heldout_seed, scm.prior,
                           workers=scm.workers)
    tables = {}
    for task in tasks:
        name = f"prior_{experiment.heldout_seed}_{task.index}"
        tables[name] = Table(
            name=name, X=np.asarray(task.X, dtype=float), y=np.asarray(task.y),
            feature_names=[f"x{j}" for j in range(task.X.shape[1])],
            classes=[str(c) for c in range(task.n_classes)], categorical={}, notes=[],
            target_column="y", rows_read=len(task.y))
    return tables


def run_key(suite: str, seed: int) -> str:
    """The keyword under which :func:`compare_seeds` receives one seed's ``suite`` table."""
    return f"{suite}__{seed}"


def _long_table(experiment: ScmExperimentParams, runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    built = {k for k in runs}
    wanted = {run_key(s, seed) for s in SUITES for seed in experiment.seeds}
    if built != wanted:
        raise ValueError(
            f"{FILE}: scm_experiment asks for seeds {experiment.seeds}, but the pipeline was "
            f"built with runs {sorted(built)}; the pipeline reads its seeds from conf/base/"
            f"{FILE} when it is created, so change them there rather than with --params or "
            "another environment")
    parts = []
    for suite in SUITES:
        for seed in experiment.seeds:
            table = runs[run_key(suite, seed)].copy()
            table["suite"], table["seed"] = suite, seed
            parts.append(table)
    return pd.concat(parts, ignore_index=True)


def scored_points(experiment: ScmExperimentParams, long: pd.DataFrame
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per suite × shots × method × seed: the metric's mean over the *common* tables, and the
    excluded (suite, table, shots) with why).

    A table counts at a shot count only when every method scored it at every seed: the
    methods and seeds of one point are then averaged over the same tables, and a table the
    LM's context refused (or too small for that many shots) drops out for all of them."""
    methods, metric = experiment.methods, experiment.metric
    refused = long["refused"].fillna("").astype(str)
    ok = (refused == "") & np.isfinite(long[metric].astype(float)) & (long["shots"] > 0)
    scored = long[ok]
    rows, excluded = [], []
    need = {(m, s) for m in methods for s in experiment.seeds}
    for suite in SUITES:
        tables = sorted(set(long.loc[long["suite"] == suite, "dataset"]))
        for shots in experiment.eval_shots:
            point = scored[(scored["suite"] == suite) & (scored["shots"] == shots)]
            common = []
            for name in tables:
                got = set(point.loc[point["dataset"] == name, ["method", "seed"]]
                          .itertuples(index=False, name=None))
                if need <= got:
                    common.append(name)
                    continue
                here = long[(long["suite"] == suite) & (long["dataset"] == name)
                            & (long["shots"].isin([shots, -1]))]
                reasons = sorted(set(here.loc[here["refused"].fillna("").astype(str) != "",
                                              "refused"].astype(str)))
                lacking = sorted(need - got)
                excluded.append({
                    "suite": suite, "dataset": name, "shots": shots,
                    "missing": ", ".join(f"{m}@seed{s}" for m, s in lacking[:6])
                    + (" …" if len(lacking) > 6 else ""),
                    "reason": "; ".join(reasons) if reasons else
                    "not evaluated: fewer training rows than shots"})
            if not common:
                continue
            for method in methods:
                for seed in experiment.seeds:
                    cell = point[(point["dataset"].isin(common)) & (point["method"] == method)
                                 & (point["seed"] == seed)]
                    rows.append({"panel": suite, "x": shots, "arm": method, "seed": seed,
                                 metric: float(cell[metric].mean()), "tables": len(common)})
    columns = ["panel", "x", "arm", "seed", metric, "tables"]
    return (pd.DataFrame(rows, columns=columns),
            pd.DataFrame(excluded, columns=["suite", "dataset", "shots", "missing", "reason"]))


def _fmt(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:.3f}"


def _ci(low: float, high: float) -> str:
    return f"[{_fmt(low)}, {_fmt(high)}]"


def comparison_page(experiment: ScmExperimentParams, curve: pd.DataFrame,
                    differences: pd.DataFrame, points: pd.DataFrame,
                    excluded: pd.DataFrame) -> str:
    """The markdown page: what was run, the curves, the paired differences, what the numbers
    do and do not show, and every excluded (table, shot count)."""
    metric = experiment.metric
    lines = [
        "## MachineLearningLM: accuracy vs shots, SCM-prior LoRA fine-tuning over seeds", "",
        f"Command: `{COMMAND}`", "",
        f"Seeds {experiment.seeds}: each seed draws its own SCM-prior tasks and SFT records "
        "and fine-tunes `models.tabular_lm` from the same base weights (`scm_training`, seed "
        "replaced); each is then evaluated on "
        f"{experiment.heldout_tasks} held-out prior tasks (prior seed "
        f"{experiment.heldout_seed}) and on the real tables at shots {experiment.eval_shots}, "
        f"beside the baselines {experiment.baselines} fitted on exactly the LM's shots"
        + (" (split seed `scm.split_seed + seed`)." if experiment.reseed_split else "."), "",
        f"Metric `{metric}`: per point the mean over the tables every method scored at every "
        f"seed (column `tables`), then the mean over seeds with its {CONFIDENCE:.0%} "
        "percentile-bootstrap interval; differences are paired by seed.", "",
        "What this shows: whether the fine-tuned LM at this size and budget is above the "
        "majority floor and how it compares with the classical baselines, shot count by shot "
        "count, on the same rows. What it does not show: the paper's setting (Qwen2.5-7B, "
        "millions of prior tasks, up to 1,024 shots in a 32k context); a bootstrap over "
        f"{len(experiment.seeds)} seeds describes these seeds and under-covers; a table that "
        "no method could score at a shot count (context, size) is absent from that point, "
        "so points of different shot counts can average different tables.", "",
    ]
    for suite in SUITES:
        part = curve[curve["panel"] == suite]
        if part.empty:
            lines += [f"### {suite}", "", "No point was scored.", ""]
            continue
        tables = points[points["panel"] == suite].groupby("x")["tables"].first()
        wide = pd.DataFrame({"shots": sorted(part["x"].unique())})
        wide["tables"] = wide["shots"].map(tables)
        for method in experiment.methods:
            m = part[part["arm"] == method].set_index("x")
            wide[method] = [
                f"{_fmt(m.loc[s, 'mean'])} {_ci(m.loc[s, 'ci_low'], m.loc[s, 'ci_high'])}"
                if s in m.index else "–" for s in wide["shots"]]
        lines += [f"### {suite}: {metric} (mean over seeds, {CONFIDENCE:.0%} interval)", "",
                  wide.to_markdown(index=False), ""]
        d = differences[differences["panel"] == suite]
        if not d.empty:
            table = pd.DataFrame({
                "shots": d["x"], "difference": [f"{LM} − {b}" for b in d["baseline"]],
                "mean": d["diff"].map(_fmt),
                "95% CI": [_ci(lo, hi) for lo, hi in zip(d["diff_ci_low"], d["diff_ci_high"])],
                "excludes 0": d["diff_excludes_zero"].map(lambda b: "yes" if b else "no"),
            })
            lines += [f"### {suite}: paired per-seed differences", "",
                      table.to_markdown(index=False), ""]
    if len(excluded):
        lines += ["### Excluded (table, shot count)", "",
                  excluded.to_markdown(index=False), ""]
    return "\n".join(lines)


def compare_seeds(
    experiment: ScmExperimentParams, **runs: pd.DataFrame
) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, Figure,
           str]:
    """Every seed's evaluation compared: (metrics, curve table, differences table, per-seed
    points table, excluded table, accuracy-vs-shots plot, markdown page).

    ``runs`` holds, per suite and seed (:func:`run_key`), that seed's evaluation table (the
    ``scm`` pipeline's columns: dataset, method, shots, accuracy, ..., refused)."""
    long = _long_table(experiment, runs)
    points, excluded = scored_points(experiment, long)
    kw: dict[str, Any] = {"seed": experiment.bootstrap_seed,
                          "resamples": experiment.bootstrap_resamples}
    curve = curve_summary(points, experiment.metric, experiment.methods, **kw)
    differences = curve_differences(points, experiment.metric, LM, experiment.compared_to,
                                    **kw)
    metrics: dict[str, float] = {}
    for row in curve.itertuples(index=False):
        for stat in ("mean", "ci_low", "ci_high"):
            value = getattr(row, stat)
            if np.isfinite(value):
                metrics[f"{row.panel}/{row.arm}/shots_{row.x}/{stat}"] = float(value)
    for row in differences.itertuples(index=False):
        key = f"{row.panel}/{LM}-vs-{row.baseline}/shots_{row.x}"
        for stat in ("diff", "diff_ci_low", "diff_ci_high"):
            value = getattr(row, stat)
            if np.isfinite(value):
                metrics[f"{key}/{stat}"] = float(value)
        metrics[f"{key}/diff_excludes_zero"] = float(row.diff_excludes_zero)
    metrics["excluded_points"] = float(len(excluded))
    page = comparison_page(experiment, curve, differences, points, excluded)
    plot = curve_plot(curve, experiment.metric, "shots")
    return metrics, curve, differences, points, excluded, plot, page


def lm_answer_spread(
    experiment: ScmExperimentParams, **predictions: pd.DataFrame
) -> tuple[dict[str, float], pd.DataFrame]:
    """How often the LM answered a whole prompt set with one label: (metrics, table).

    ``predictions`` holds, per suite and seed (:func:`run_key`), that seed's LM predictions
    (dataset, shots, seed = row order, row, label). The table has one row per suite, shot
    count and seed: ``cells`` (table × row order evaluated), ``one_label_cells`` (every row
    given the same label) and ``top_label_share`` (mean share of a cell's rows given its most
    frequent label). The metrics are, per suite and shot count, the share of one-label cells
    averaged over seeds. An LM that sits at one accuracy whatever its training and shots is
    often answering one label everywhere; this says whether it does."""
    long = _long_table(experiment, {k: v.rename(columns={"seed": "row_order"})
                                    for k, v in predictions.items()})
    cells = answer_spread(long, by=["suite", "seed", "dataset", "shots", "row_order"])
    table = (cells.groupby(["suite", "shots", "seed"], sort=True)
             .agg(cells=("one_label", "size"), one_label_cells=("one_label", "sum"),
                  top_label_share=("top_label_share", "mean"))
             .reset_index())
    table["one_label_cells"] = table["one_label_cells"].astype(int)
    metrics: dict[str, float] = {}
    for (suite, shots), part in table.groupby(["suite", "shots"], sort=True):
        share = (part["one_label_cells"] / part["cells"]).mean()
        metrics[f"{suite}/shots_{shots}/one_label_share"] = float(share)
    for suite, part in table.groupby("suite", sort=True):
        metrics[f"{suite}/one_label_share"] = float(
            part["one_label_cells"].sum() / part["cells"].sum())
    return metrics, table

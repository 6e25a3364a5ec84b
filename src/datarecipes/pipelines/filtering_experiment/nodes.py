"""Nodes of ``filtering_experiment``: the pairs each arm trains on, one arm × seed's
pretraining, and the comparison of every run (statistics from :mod:`datarecipes.experiments`).

Parameters arrive built (the start-up hook turns each ``params:`` input into its dataclass).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from datarecipes.executors import ExecutorParams
from datarecipes.experiments import compare_arms, comparison_markdown, summary_metrics
from datarecipes.experiments.curves import curve_plot, curve_summary
from datarecipes.experiments.filtering_params import (
    FILE,
    FILTERED,
    METRIC_PATTERN,
    UNFILTERED,
    FilteringExperimentParams,
)
from datarecipes.experiments.stats import CONFIDENCE
from datarecipes.filtering.clip_train import (
    EncodedPairs,
    encode_pairs,
    pretrain_clip,
    subset_pairs,
)
from datarecipes.filtering.evaluation import CORRUPTED_COLUMN
from datarecipes.filtering.inputs import ID_COLUMN, SUCCESS
from datarecipes.filtering.params import FilterParams, PretrainParams
from datarecipes.filtering.rules import Top
from datarecipes.models.clip import load_clip

COMMAND = "kedro run --pipelines=filtering_experiment"
#: The column of the arms table that says whether a pool pair is in an arm's training set.
IN = "in."


def _eligible(scored_pool: pd.DataFrame, experiment: FilteringExperimentParams) -> np.ndarray:
    """Pool pairs any arm may train on: decoded, and not dropped by decontamination when
    ``decontaminate_every_arm``."""
    ok = (scored_pool["clip_status"] == SUCCESS).to_numpy(dtype=bool, copy=True)
    if experiment.decontaminate_every_arm and "drop.contamination" in scored_pool:
        ok &= ~scored_pool["drop.contamination"].fillna(False).to_numpy(dtype=bool)
    return ok


def select_arms(scored_pool: pd.DataFrame, kept_pairs: pd.DataFrame,
                experiment: FilteringExperimentParams
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """(per pool pair: its score and ``in.<arm>`` for every arm; per arm: pairs, fraction of
    the eligible pool, corrupted share, score range; metrics).

    ``unfiltered``: every eligible pair; ``filtered``: the recipe's kept pairs
    (``filtering_kept_pairs``, its ``filter.apply`` rule); ``top_<f>``: the top ``f`` of the
    eligible pairs by ``score`` (the rule language's ``top(score, f)``: ``ceil(f × n)`` pairs,
    ties in pool order).
    """
    score = experiment.score
    if score not in scored_pool:
        raise ValueError(f"{FILE}: filtering_experiment.score {score!r} is not a column of the "
                         f"scored pool (scores: clip, dup.*, and the MLLM's with mllm.enabled)")
    ids = scored_pool[ID_COLUMN].astype(str)
    unknown = sorted(set(kept_pairs[ID_COLUMN].astype(str)) - set(ids))
    if unknown:
        raise ValueError(f"filtering_kept_pairs has {len(unknown)} pair(s) not in the scored "
                         f"pool, e.g. {unknown[:3]}: the two come from different runs")
    eligible = _eligible(scored_pool, experiment)
    arms = pd.DataFrame({ID_COLUMN: ids.to_numpy(), score: scored_pool[score].to_numpy()})
    if CORRUPTED_COLUMN in scored_pool:
        arms[CORRUPTED_COLUMN] = scored_pool[CORRUPTED_COLUMN].astype(bool).to_numpy()
    arms[IN + UNFILTERED] = eligible
    arms[IN + FILTERED] = ids.isin(set(kept_pairs[ID_COLUMN].astype(str))).to_numpy() & eligible
    candidates = scored_pool[eligible].reset_index(drop=True)
    for arm, fraction in experiment.sweep.items():
        top, _known = Top(score, fraction).evaluate(candidates)
        member = np.zeros(len(arms), dtype=bool)
        member[np.flatnonzero(eligible)[top]] = True
        arms[IN + arm] = member
    n_eligible = int(eligible.sum())
    rows = []
    for arm in experiment.arms:
        member = arms[IN + arm].to_numpy()
        if member.sum() < 2:
            raise ValueError(
                f"{FILE}: arm {arm!r} keeps {int(member.sum())} of {n_eligible} eligible pool "
                "pairs; contrastive pretraining needs at least 2 (raise the kept fraction or "
                "the pool)")
        values = pd.to_numeric(arms.loc[member, score], errors="coerce")
        rows.append({
            "arm": arm,
            "nominal_fraction": experiment.sweep.get(arm, 1.0 if arm == UNFILTERED else np.nan),
            "pairs": int(member.sum()),
            "kept_fraction": member.sum() / n_eligible,
            "corrupted_share": (float(arms.loc[member, CORRUPTED_COLUMN].mean())
                                if CORRUPTED_COLUMN in arms else np.nan),
            f"min_{score}": float(values.min()),
            f"mean_{score}": float(values.mean()),
        })
    table = pd.DataFrame(rows)
    metrics = {"pool_pairs": float(len(arms)), "eligible_pairs": float(n_eligible),
               "excluded_pairs": float(len(arms) - n_eligible)}
    for row in table.itertuples(index=False):
        metrics[f"{row.arm}/pairs"] = float(row.pairs)
        metrics[f"{row.arm}/kept_fraction"] = float(row.kept_fraction)
        if np.isfinite(row.corrupted_share):
            metrics[f"{row.arm}/corrupted_share"] = float(row.corrupted_share)
    return arms, table, metrics


def encode_experiment_pairs(pool: pd.DataFrame, heldout_pairs: pd.DataFrame,
                            pretrain: PretrainParams, executor: ExecutorParams
                            ) -> tuple[EncodedPairs, EncodedPairs]:
    """The pool and the held-out pairs decoded once into model inputs, for every run (the
    preprocessing of ``pretrain.model`` is the same whatever its weights)."""
    if len(heldout_pairs) == 0:
        raise ValueError(
            "filtering_experiment measures held-out retrieval, and these pairs have no "
            "held-out split: a user's pairs have none (run it on the built-in world, or "
            "compare filters on your pairs with `kedro run --pipelines=filtering`)")
    preprocessing = load_clip(pretrain.model)
    return (encode_pairs(pool, preprocessing, num_workers=executor.num_workers),
            encode_pairs(heldout_pairs, preprocessing, num_workers=executor.num_workers))


def run_parameters(experiment: FilteringExperimentParams, pretrain: PretrainParams, *,
                   seed: int) -> PretrainParams:
    """``filtering.pretrain`` of one run: the experiment's budget (``steps``, ``batch_size``,
    each null = the recipe's) and ``seed`` (initialisation and batch order)."""
    if seed not in experiment.seeds:
        raise ValueError(f"{FILE}: filtering_experiment.seeds {experiment.seeds} has no seed "
                         f"{seed}")
    training = pretrain.training
    training = dataclasses.replace(
        training, seed=seed,
        steps=experiment.steps if experiment.steps is not None else training.steps,
        batch_size=(experiment.batch_size if experiment.batch_size is not None
                    else training.batch_size))
    return dataclasses.replace(pretrain, training=training)


def arm_pairs(encoded_pool: EncodedPairs, arms: pd.DataFrame, arm: str) -> EncodedPairs:
    """The encoded pool pairs of ``arm`` (``in.<arm>``), in pool order."""
    column = IN + arm
    if column not in arms:
        raise ValueError(f"filtering_experiment_arms has no arm {arm!r} "
                         f"(arms: {[c[len(IN):] for c in arms if c.startswith(IN)]})")
    return subset_pairs(encoded_pool, arms.loc[arms[column].to_numpy(dtype=bool), ID_COLUMN])


def with_mean_recall(metrics: Mapping[str, float], recall_at: tuple[int, ...]
                     ) -> dict[str, float]:
    """``metrics`` plus ``mean_recall_at_k`` (image→text and text→image) per k and
    ``mean_recall`` over both directions and every k (retrieval papers' R-sum divided by
    2 × the number of k)."""
    out = dict(metrics)
    for k in recall_at:
        out[f"mean_recall_at_{k}"] = (out[f"image_to_text_recall_at_{k}"]
                                      + out[f"text_to_image_recall_at_{k}"]) / 2
    out["mean_recall"] = float(np.mean([out[f"mean_recall_at_{k}"] for k in recall_at]))
    return out


def pretrain_arm(encoded_pool: EncodedPairs, encoded_heldout: EncodedPairs, arms: pd.DataFrame,
                 pretrain: PretrainParams, *, arm: str) -> dict[str, Any]:
    """Train ``pretrain.model`` from scratch on ``arm``'s pairs for the run's budget and
    measure held-out retrieval; the loss per step is the ``loss`` history.

    Refuses an arm with fewer pairs than a batch: its steps would see fewer samples than the
    other arms' (DataComp holds the samples seen equal; a smaller set is seen for more
    epochs, never for fewer samples).
    """
    data = arm_pairs(encoded_pool, arms, arm)
    batch = pretrain.training.batch_size
    if len(data.ids) < batch:
        raise ValueError(
            f"{FILE}: arm {arm!r} has {len(data.ids)} pairs, fewer than one batch "
            f"({batch}): it would see fewer samples than the other arms; raise its kept "
            "fraction or lower filtering_experiment.batch_size")
    run, losses = pretrain_clip(pretrain.model, data, encoded_heldout, pretrain.training,
                                pretrain.recall_at)
    metrics: dict[str, Any] = with_mean_recall(run, pretrain.recall_at)
    metrics["epochs"] = metrics["samples_seen"] / metrics["pairs"]
    metrics["unencoded_pairs"] = float(data.skipped)
    metrics["heldout_pairs"] = float(len(encoded_heldout.ids))
    metrics["seed"] = float(pretrain.training.seed)
    metrics["loss"] = losses
    return metrics


def run_key(arm: str, seed: int) -> str:
    """The keyword under which :func:`compare_runs` receives one run's metrics."""
    return f"pretrain__{arm}__{seed}"


def _chance(metric: str, heldout: int, recall_at: tuple[int, ...]) -> float:
    """Recall of a random ranking of ``heldout`` candidates: ``k / n`` per k."""
    if metric == "mean_recall":
        return float(np.mean([min(k, heldout) / heldout for k in recall_at]))
    return min(int(metric.rsplit("_", 1)[1]), heldout) / heldout


def _fmt(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:.3f}"


def retrieval_plot(summary: pd.DataFrame, per_run: pd.DataFrame,
                   experiment: FilteringExperimentParams, rule: str, chance: float,
                   heldout: int) -> Figure:
    """Held-out retrieval vs the kept fraction: the sweep (``unfiltered`` at 1.0) as a line
    with its interval band, the recipe's ``filtered`` arm as a point with error bars at its
    own kept fraction, and the chance level."""
    metric, label = experiment.metric, f"top f by {experiment.score}"
    x = {**experiment.sweep, UNFILTERED: 1.0}
    sweep = per_run[per_run["arm"].isin(list(x))]
    points = pd.DataFrame({"panel": f"held-out retrieval ({heldout} pairs)",
                           "x": sweep["arm"].map(x).to_numpy(), "arm": label,
                           "seed": sweep["seed"].to_numpy(),
                           metric: sweep[metric].to_numpy()})
    curve = curve_summary(points, metric, [label], seed=experiment.bootstrap_seed,
                          resamples=experiment.bootstrap_resamples)
    fig = curve_plot(curve, metric, f"kept fraction of the pool (top by {experiment.score})",
                     log_x=False)
    ax = fig.axes[0]
    recipe = summary.set_index("arm").loc[FILTERED]
    low = recipe["mean"] - recipe["ci_low"] if np.isfinite(recipe["ci_low"]) else 0.0
    high = recipe["ci_high"] - recipe["mean"] if np.isfinite(recipe["ci_high"]) else 0.0
    ax.errorbar([recipe["kept_fraction"]], [recipe["mean"]], yerr=[[low], [high]], fmt="s",
                color="tab:red", capsize=4, zorder=4,
                label=f"{FILTERED}: recipe's {rule} ({recipe['kept_fraction']:.2f})")
    ax.axhline(chance, color="gray", linestyle=":", linewidth=1, label="chance")
    ax.legend(fontsize=7)
    return fig


def _page(experiment: FilteringExperimentParams, summary: pd.DataFrame, per_run: pd.DataFrame,
          by_metric: pd.DataFrame, selection: pd.DataFrame, filters: FilterParams,
          pretrain: PretrainParams, chance: float, heldout: int) -> str:
    metric = experiment.metric
    first = per_run.iloc[0]
    eligible = int(selection.set_index("arm").loc[UNFILTERED, "pairs"])
    lines = [comparison_markdown(
        "Open-Qwen2VL / MLM-Filter: filtered vs unfiltered pretraining over seeds and kept "
        "fractions", summary, per_run, metric, UNFILTERED, command=COMMAND), ""]
    lines += [
        "### Design", "",
        f"Every arm trains `{pretrain.model}` from scratch for {int(first['steps'])} steps of "
        f"{int(first['samples_seen'] // first['steps'])} pairs "
        f"({int(first['samples_seen'])} samples seen, the same for every arm: a smaller set is "
        f"seen for more epochs); seed *s* ({experiment.seeds}) sets the initialisation and the "
        "batch order of every arm, so the differences are paired by seed. Arms: "
        f"`{UNFILTERED}` = every eligible pool pair ({eligible}); `{FILTERED}` = the recipe's "
        f"kept pairs (rule `{filters.apply}`: `{filters.rules[filters.apply]}`); `top_<f>` = "
        f"the top f of the eligible pairs by `{experiment.score}`. Eligible: decoded"
        + (", and not dropped by decontamination against the held-out pairs (in every arm)"
           if experiment.decontaminate_every_arm else "") + ". "
        f"Metric `{metric}` on {heldout} held-out clean pairs (chance {chance:.3f}).", "",
        "### Training sets", "",
    ]
    sel = selection.copy()
    sel["epochs"] = sel["pairs"].map(lambda n: f"{float(first['samples_seen']) / n:.1f}")
    for column in sel.columns:
        if sel[column].dtype.kind == "f":
            sel[column] = sel[column].map(_fmt)
    lines += [sel.to_markdown(index=False), ""]
    others = [m for m in dict.fromkeys(by_metric["metric"]) if m != metric]
    if others:
        wide = pd.DataFrame({"arm": experiment.arms})
        for m in others:
            part = by_metric[by_metric["metric"] == m].set_index("arm")
            wide[m] = [
                f"{_fmt(part.loc[a, 'mean'])} (Δ {_fmt(part.loc[a, 'diff_vs_baseline'])} "
                f"[{_fmt(part.loc[a, 'diff_ci_low'])}, {_fmt(part.loc[a, 'diff_ci_high'])}])"
                if a != UNFILTERED else _fmt(part.loc[a, "mean"]) for a in experiment.arms]
        lines += [f"### Other retrieval metrics (mean over seeds; Δ vs {UNFILTERED} with its "
                  f"{CONFIDENCE:.0%} interval)", "", wide.to_markdown(index=False), ""]
    lines += [
        "What this shows: whether, at this world, scorer and budget, training on the CLIP-"
        "filtered pairs retrieves held-out pairs better than training on the whole pool, and "
        "how that depends on how much is kept. What it does not show: DataComp's scale "
        "(12.8M–12.8B pairs, ViT-B/32 and larger) or a real web pool; a bootstrap over "
        f"{len(experiment.seeds)} seeds describes these seeds (one world, one scorer, one "
        "held-out set) and under-covers.", "",
    ]
    return "\n".join(lines)


def compare_runs(experiment: FilteringExperimentParams, selection: pd.DataFrame,
                 filters: FilterParams, pretrain: PretrainParams, **runs: Mapping[str, Any]
                 ) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame, pd.DataFrame, Figure,
                            str]:
    """Every arm × seed compared: (metrics, the per-arm table of ``metric``, the per-run
    table, the per-arm table of every retrieval metric, the retrieval-vs-kept-fraction plot,
    the markdown page).

    ``runs`` holds each run's :func:`pretrain_arm` metrics under :func:`run_key`.
    """
    wanted = {run_key(a, s) for a in experiment.arms for s in experiment.seeds}
    if set(runs) != wanted:
        raise ValueError(
            f"{FILE}: filtering_experiment asks for arms {experiment.arms} × seeds "
            f"{experiment.seeds}, but the pipeline was built with runs {sorted(runs)}; the "
            f"pipeline reads its seeds and kept fractions from conf/base/{FILE} when it is "
            "created, so change them there rather than with --params or another environment")
    metric = experiment.metric
    rows = []
    for arm in experiment.arms:
        for seed in experiment.seeds:
            run = runs[run_key(arm, seed)]
            if metric not in run:
                raise ValueError(f"{FILE}: metric {metric!r} is not in run {arm} × seed {seed}'s "
                                 f"metrics {sorted(k for k in run if 'recall' in k)}")
            row = {"arm": arm, "seed": seed}
            row.update({k: float(v) for k, v in run.items()
                        if METRIC_PATTERN.fullmatch(k) or k in (
                            "pairs", "steps", "samples_seen", "epochs", "final_loss",
                            "heldout_pairs")})
            rows.append(row)
    per_run = pd.DataFrame(rows)
    kw = {"seed": experiment.bootstrap_seed, "resamples": experiment.bootstrap_resamples}
    info = selection.set_index("arm")[["pairs", "kept_fraction", "corrupted_share"]]
    samples = per_run.groupby("arm", sort=False)["samples_seen"].agg(["min", "max"])
    unequal = samples[samples["min"] != samples["max"]]
    if len(unequal) or samples["min"].nunique() != 1:
        raise ValueError(f"the arms saw different numbers of samples: {samples.to_dict('index')}"
                         "; every arm must train for the same steps × batch size")

    def table(m: str) -> pd.DataFrame:
        out = compare_arms(per_run, m, UNFILTERED, arms=experiment.arms, **kw)
        return out.join(info, on="arm")

    summary = table(metric)
    summary["samples_seen"] = summary["arm"].map(samples["min"])
    recall = [m for m in per_run.columns if METRIC_PATTERN.fullmatch(m)]
    by_metric = pd.concat([table(m).assign(metric=m) for m in recall], ignore_index=True)
    by_metric = by_metric[["metric", *[c for c in by_metric.columns if c != "metric"]]]
    heldouts = set(per_run["heldout_pairs"].astype(int))
    if len(heldouts) != 1:
        raise ValueError(f"the runs were evaluated on different held-out sets: {heldouts}")
    heldout = heldouts.pop()
    chance = _chance(metric, heldout, pretrain.recall_at)

    metrics = summary_metrics(summary[[c for c in summary.columns if c not in info.columns
                                       and c != "samples_seen"]])
    for row in summary.itertuples(index=False):
        metrics[f"{row.arm}/kept_fraction"] = float(row.kept_fraction)
        metrics[f"{row.arm}/pairs"] = float(row.pairs)
        metrics[f"{row.arm}/samples_seen"] = float(row.samples_seen)
    for row in by_metric.itertuples(index=False):
        for stat in ("mean", "ci_low", "ci_high", "diff_vs_baseline", "diff_ci_low",
                     "diff_ci_high"):
            value = getattr(row, stat)
            if np.isfinite(value):
                metrics[f"by_metric/{row.metric}/{row.arm}/{stat}"] = float(value)
    metrics[f"chance/{metric}"] = chance
    metrics["heldout_pairs"] = float(heldout)

    plot = retrieval_plot(summary, per_run, experiment, filters.apply, chance, heldout)
    page = _page(experiment, summary, per_run, by_metric, selection, filters, pretrain, chance,
                 heldout)
    return metrics, summary, per_run, by_metric, plot, page

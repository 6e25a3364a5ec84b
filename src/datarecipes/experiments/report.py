"""An experiment's comparison: per-arm table, selected-set overlap, plots and a markdown page.

``runs`` is the long table every function here reads: one row per arm × seed with the columns
``arm``, ``seed`` and the compared metric (plus any others, e.g. ``num_selected``).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from datarecipes.experiments.stats import (
    CONFIDENCE,
    bootstrap_mean,
    paired_difference,
    per_seed_values,
)

SUMMARY_COLUMNS = ["arm", "seeds", "mean", "ci_low", "ci_high",
                   "diff_vs_baseline", "diff_ci_low", "diff_ci_high", "diff_excludes_zero"]


def compare_arms(
    runs: pd.DataFrame,
    metric: str,
    baseline: str,
    *,
    arms: Sequence[str] | None = None,
    seed: int = 0,
    resamples: int = 10_000,
) -> pd.DataFrame:
    """One row per arm: mean of ``metric`` over seeds with its interval, and the paired
    per-seed difference to ``baseline`` with its interval (0 and no interval for the baseline
    itself). ``arms`` fixes the row order (default: order of first appearance)."""
    table = per_seed_values(runs, metric)
    arms = list(arms) if arms is not None else list(dict.fromkeys(runs["arm"]))
    unknown = [a for a in [*arms, baseline] if a not in table.columns]
    if unknown:
        raise ValueError(f"no runs for arm(s) {sorted(set(unknown))}; have {list(table.columns)}")
    missing = table[arms].isna()
    if missing.to_numpy().any():
        holes = [(a, int(s)) for s in table.index for a in arms if missing.loc[s, a]]
        raise ValueError(f"arm × seed runs missing: {holes[:10]}; every arm needs every seed "
                         "for the paired comparison")
    rows = []
    for arm in arms:
        mean = bootstrap_mean(table[arm].to_numpy(), seed=seed, resamples=resamples)
        if arm == baseline:
            diff_mean, low, high, excl = 0.0, float("nan"), float("nan"), False
        else:
            diff = paired_difference(table[arm], table[baseline], seed=seed,
                                     resamples=resamples)
            diff_mean, low, high, excl = diff.mean, diff.low, diff.high, diff.excludes_zero()
        rows.append([arm, mean.n, mean.mean, mean.low, mean.high, diff_mean, low, high, excl])
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def selection_overlap(selected: Mapping[tuple[str, int], Collection[str]]) -> pd.DataFrame:
    """Per seed and pair of arms: both set sizes, the shared count and the Jaccard index.

    ``selected`` maps (arm, seed) → the sample ids that arm trained on at that seed; arms
    are only compared within a seed (across seeds the random draws differ by design).
    """
    rows = []
    seeds = sorted({s for _, s in selected})
    for seed in seeds:
        arms = [a for a, s in selected if s == seed]
        for a, b in itertools.combinations(arms, 2):
            sa, sb = set(map(str, selected[a, seed])), set(map(str, selected[b, seed]))
            union = len(sa | sb)
            rows.append({"seed": seed, "arm_a": a, "arm_b": b, "size_a": len(sa),
                         "size_b": len(sb), "shared": len(sa & sb),
                         "jaccard": len(sa & sb) / union if union else 1.0})
    return pd.DataFrame(rows, columns=["seed", "arm_a", "arm_b", "size_a", "size_b",
                                       "shared", "jaccard"])


def overlap_summary(overlap: pd.DataFrame) -> pd.DataFrame:
    """:func:`selection_overlap` averaged over seeds, one row per pair of arms."""
    return (overlap.groupby(["arm_a", "arm_b"], sort=False)
            [["size_a", "size_b", "shared", "jaccard"]].mean().reset_index())


def summary_metrics(summary: pd.DataFrame, overlap: pd.DataFrame | None = None
                    ) -> dict[str, float]:
    """Flat ``<arm>/<statistic>`` metrics of :func:`compare_arms` (and the mean Jaccard per
    pair of arms as ``overlap/<a>-vs-<b>/jaccard``, a key MLflow accepts), for the tracking hook."""
    out: dict[str, float] = {}
    for row in summary.itertuples(index=False):
        for column in SUMMARY_COLUMNS[1:]:
            value = getattr(row, column)
            if isinstance(value, (bool, np.bool_)):
                value = float(value)
            if np.isfinite(value):
                out[f"{row.arm}/{column}"] = float(value)
    if overlap is not None and len(overlap):
        for row in overlap_summary(overlap).itertuples(index=False):
            out[f"overlap/{row.arm_a}-vs-{row.arm_b}/jaccard"] = float(row.jaccard)
            out[f"overlap/{row.arm_a}-vs-{row.arm_b}/shared"] = float(row.shared)
    return out


def _errorbars(ax, labels, centre, low, high, color) -> None:
    centre, low, high = (np.asarray(v, dtype=float) for v in (centre, low, high))
    below = np.where(np.isfinite(low), centre - low, 0.0)
    above = np.where(np.isfinite(high), high - centre, 0.0)
    x = np.arange(len(labels))
    ax.errorbar(x, centre, yerr=[below, above], fmt="o", capsize=5, color=color)
    ax.set_xticks(x)
    ax.set_xticklabels(labels)


def means_plot(summary: pd.DataFrame, runs: pd.DataFrame, metric: str) -> Figure:
    """Per-arm mean of ``metric`` with its interval, over the per-seed values as dots."""
    fig = Figure(figsize=(7, 3.8))
    ax = fig.add_subplot()
    labels = list(summary["arm"])
    _errorbars(ax, labels, summary["mean"], summary["ci_low"], summary["ci_high"], "tab:blue")
    for i, arm in enumerate(labels):
        values = runs.loc[runs["arm"] == arm, metric].to_numpy(dtype=float)
        ax.scatter(np.full(len(values), i + 0.12), values, s=12, color="tab:gray", zorder=3)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per arm: mean over seeds, {CONFIDENCE:.0%} bootstrap interval")
    return fig


def differences_plot(summary: pd.DataFrame, baseline: str, metric: str) -> Figure:
    """Paired per-seed difference of each arm to ``baseline`` with its interval."""
    others = summary[summary["arm"] != baseline]
    fig = Figure(figsize=(7, 3.8))
    ax = fig.add_subplot()
    _errorbars(ax, list(others["arm"]), others["diff_vs_baseline"], others["diff_ci_low"],
               others["diff_ci_high"], "tab:orange")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_ylabel(f"{metric} − {baseline} (paired by seed)")
    ax.set_title(f"Difference to {baseline}, {CONFIDENCE:.0%} bootstrap interval")
    return fig


def _fmt(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:.3f}"


def comparison_markdown(
    title: str,
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    metric: str,
    baseline: str,
    *,
    overlap: pd.DataFrame | None = None,
    command: str | None = None,
) -> str:
    """The comparison as a markdown section: the per-arm table, every arm × seed value, and
    the overlap of the selected sets."""
    lines = [f"## {title}", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [
        f"Metric: `{metric}`; {CONFIDENCE:.0%} percentile-bootstrap intervals over seeds; "
        f"differences are paired by seed against `{baseline}`.", "",
    ]
    table = pd.DataFrame({
        "arm": summary["arm"],
        "seeds": summary["seeds"],
        "mean": summary["mean"].map(_fmt),
        "95% CI": [f"[{_fmt(lo)}, {_fmt(hi)}]"
                   for lo, hi in zip(summary["ci_low"], summary["ci_high"])],
        f"Δ vs {baseline}": summary["diff_vs_baseline"].map(_fmt),
        "Δ 95% CI": [f"[{_fmt(lo)}, {_fmt(hi)}]"
                     for lo, hi in zip(summary["diff_ci_low"], summary["diff_ci_high"])],
        "Δ excludes 0": summary["diff_excludes_zero"].map(lambda b: "yes" if b else "no"),
    })
    lines += [table.to_markdown(index=False), "", "### Per seed", ""]
    wide = per_seed_values(runs, metric)[list(summary["arm"])]
    wide = wide.map(_fmt).reset_index()
    lines += [wide.to_markdown(index=False), ""]
    if overlap is not None and len(overlap):
        pairs = overlap_summary(overlap)
        pairs["jaccard"] = pairs["jaccard"].map(_fmt)
        for column in ("size_a", "size_b", "shared"):
            pairs[column] = pairs[column].map(lambda v: f"{v:.1f}")
        lines += ["### Overlap of the selected sets (mean over seeds)", "",
                  pairs.to_markdown(index=False), ""]
    return "\n".join(lines)

"""An experiment whose arms are measured along a swept setting (accuracy vs shots, retrieval
vs kept fraction): per point the arms' means over seeds and the paired per-seed differences,
each with the bootstrap interval of :mod:`datarecipes.experiments.stats`, and the curve plot.

``runs`` is the long table every function here reads: one row per panel × point × arm × seed
with the columns ``panel`` (e.g. the evaluation suite), the swept column ``x``, ``arm``,
``seed`` and the compared metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from datarecipes.experiments.stats import CONFIDENCE, bootstrap_mean, paired_difference

CURVE_COLUMNS = ["panel", "x", "arm", "seeds", "mean", "ci_low", "ci_high"]
DIFFERENCE_COLUMNS = ["panel", "x", "arm", "baseline", "seeds", "diff", "diff_ci_low",
                      "diff_ci_high", "diff_excludes_zero"]


def _points(runs: pd.DataFrame, metric: str):
    missing = {"panel", "x", "arm", "seed", metric} - set(runs.columns)
    if missing:
        raise ValueError(f"runs table lacks column(s) {sorted(missing)}")
    dup = runs.duplicated(["panel", "x", "arm", "seed"], keep=False)
    if dup.any():
        cells = runs.loc[dup, ["panel", "x", "arm", "seed"]].drop_duplicates()
        raise ValueError(f"runs table has more than one row for panel × x × arm × seed "
                         f"{cells.to_records(index=False).tolist()[:5]}")
    for (panel, x), part in runs.groupby(["panel", "x"], sort=True):
        yield panel, x, part.pivot(index="seed", columns="arm", values=metric).sort_index()


def curve_summary(runs: pd.DataFrame, metric: str, arms: Sequence[str], *, seed: int = 0,
                  resamples: int = 10_000) -> pd.DataFrame:
    """Per panel, point and arm: the mean of ``metric`` over seeds and its interval."""
    rows = []
    for panel, x, table in _points(runs, metric):
        for arm in arms:
            if arm not in table.columns:
                continue
            values = table[arm].dropna().to_numpy()
            if values.size == 0:
                continue
            iv = bootstrap_mean(values, seed=seed, resamples=resamples)
            rows.append([panel, x, arm, iv.n, iv.mean, iv.low, iv.high])
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def curve_differences(runs: pd.DataFrame, metric: str, arm: str, baselines: Sequence[str], *,
                      seed: int = 0, resamples: int = 10_000) -> pd.DataFrame:
    """Per panel, point and baseline: the mean over seeds of ``arm[s] - baseline[s]`` and its
    interval. A point where either side lacks a seed the other has is an error (pairing)."""
    rows = []
    for panel, x, table in _points(runs, metric):
        if arm not in table.columns:
            continue
        for baseline in baselines:
            if baseline not in table.columns:
                continue
            a, b = table[arm].dropna(), table[baseline].dropna()
            try:
                iv = paired_difference(a, b, seed=seed, resamples=resamples)
            except ValueError as err:
                raise ValueError(f"{panel}, x={x}: {arm} − {baseline}: {err}") from err
            rows.append([panel, x, arm, baseline, iv.n, iv.mean, iv.low, iv.high,
                         iv.excludes_zero()])
    return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS)


def curve_plot(summary: pd.DataFrame, metric: str, xlabel: str, *, log_x: bool = True
               ) -> Figure:
    """One panel per ``panel``: ``metric`` vs ``x``, one line per arm (mean over seeds) with
    its interval as a band."""
    panels = list(dict.fromkeys(summary["panel"])) or [""]
    cols = min(2, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(5.2 * cols, 3.8 * rows))
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        part = summary[summary["panel"] == panel]
        for arm, curve in part.groupby("arm", sort=False):
            curve = curve.sort_values("x")
            x = curve["x"].to_numpy(dtype=float)
            line, = ax.plot(x, curve["mean"], marker="o", ms=3, label=arm)
            low, high = curve["ci_low"].to_numpy(float), curve["ci_high"].to_numpy(float)
            ok = np.isfinite(low) & np.isfinite(high)
            if ok.any():
                ax.fill_between(x[ok], low[ok], high[ok], color=line.get_color(), alpha=0.2,
                                linewidth=0)
        if log_x and len(part) and (part["x"] > 0).all():
            ax.set_xscale("log", base=2)
        ticks = sorted(part["x"].unique())
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])  # the measured points, not 2^k
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.set_title(f"{panel}: mean over seeds, {CONFIDENCE:.0%} bootstrap band", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

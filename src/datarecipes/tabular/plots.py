"""Accuracy-vs-shots figures: one panel per table and one averaged over tables."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # figures are written to files, never shown

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def _draw(ax, part: pd.DataFrame, title: str) -> None:
    for method, curve in part.groupby("method"):
        curve = curve.sort_values("shots")
        ax.plot(curve["shots"], curve["accuracy"], marker="o", ms=3, label=method)
    ax.set_xscale("log", base=2)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("shots", fontsize=8)
    ax.set_ylabel("accuracy", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def average_over_tables(table: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy per (method, shots) over the tables that reach that shot count."""
    return (table.groupby(["method", "shots"], as_index=False)
            .agg(accuracy=("accuracy", "mean"), tables=("dataset", "nunique")))


def accuracy_figure(table: pd.DataFrame, dataset: str | None = None) -> Figure:
    """One figure: the curves of ``dataset``, or the average over tables when None."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    if dataset is None:
        _draw(ax, average_over_tables(table), "mean over tables")
    else:
        _draw(ax, table[table["dataset"] == dataset], dataset)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def accuracy_grid(table: pd.DataFrame) -> Figure:
    """All tables' panels and the averaged panel (first) in one figure."""
    datasets = sorted(table["dataset"].unique())
    n = len(datasets) + 1
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    flat = axes.ravel()
    _draw(flat[0], average_over_tables(table), "mean over tables")
    for ax, name in zip(flat[1:], datasets):
        _draw(ax, table[table["dataset"] == name], name)
    for ax in flat[n:]:
        ax.axis("off")
    flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig

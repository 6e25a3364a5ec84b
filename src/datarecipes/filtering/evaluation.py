"""How well a filter removes known-bad pairs: precision/recall, AUC, and score histograms.

On the synthetic world the corrupted captions are known (``corrupted`` / ``corruption``
columns), so a filter is a classifier of corruption: *removed* is its positive prediction.
Precision is the share of removed pairs that were corrupted (chance = the corrupted share),
recall the share of corrupted pairs removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

CORRUPTED_COLUMN = "corrupted"
CORRUPTION_COLUMN = "corruption"


def removal_quality(removed: np.ndarray, corrupted: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of ``removed`` as a detector of ``corrupted``."""
    removed = np.asarray(removed, dtype=bool)
    corrupted = np.asarray(corrupted, dtype=bool)
    hits = int((removed & corrupted).sum())
    precision = hits / removed.sum() if removed.any() else 0.0
    recall = hits / corrupted.sum() if corrupted.any() else 0.0
    chance = float(corrupted.mean()) if len(corrupted) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "removed_fraction": float(removed.mean()) if len(removed) else 0.0,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        # A filter that removes at random has precision = the corrupted share.
        "chance_precision": chance,
        "precision_lift": float(precision / chance) if chance else 0.0,
    }


def score_auc(scores: np.ndarray, corrupted: np.ndarray) -> float:
    """ROC AUC of ``scores`` ranking clean pairs above corrupted ones (NaN scores ignored)."""
    from sklearn.metrics import roc_auc_score

    scores = np.asarray(scores, dtype=np.float64)
    clean = ~np.asarray(corrupted, dtype=bool)
    known = ~np.isnan(scores)
    if known.sum() == 0 or clean[known].all() or (~clean[known]).all():
        return float("nan")
    return float(roc_auc_score(clean[known], scores[known]))


def evaluate_filters(table: pd.DataFrame, keep: pd.DataFrame, score_columns: Sequence[str]
                     ) -> dict[str, float]:
    """Flat metrics: per rule its removal quality, per score its AUC and per-kind means."""
    corrupted = table[CORRUPTED_COLUMN].to_numpy(dtype=bool)
    metrics: dict[str, float] = {"n_pairs": float(len(table)),
                                 "corrupted_fraction": float(corrupted.mean())}
    for rule in keep.columns:
        removed = ~keep[rule].to_numpy(dtype=bool)
        for key, value in removal_quality(removed, corrupted).items():
            metrics[f"{rule}.{key}"] = value
    for column in score_columns:
        scores = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
        metrics[f"{column}.auc"] = score_auc(scores, corrupted)
        if CORRUPTION_COLUMN in table:
            for kind, group in table.groupby(CORRUPTION_COLUMN):
                values = pd.to_numeric(group[column], errors="coerce")
                metrics[f"{column}.mean.{kind}"] = float(values.mean())
    return metrics


def score_histograms(table: pd.DataFrame, score_columns: Sequence[str], bins: int = 30,
                     thresholds: Mapping[str, float] | None = None) -> Figure:
    """One panel per score: its histogram for clean pairs and for each corruption kind (all
    pairs as one histogram when the table has no corruption ground truth)."""
    columns = list(score_columns)
    fig = Figure(figsize=(5 * max(1, len(columns)), 3.6), layout="constrained")
    axes = fig.subplots(1, max(1, len(columns)), squeeze=False)[0]
    if CORRUPTION_COLUMN in table:
        kinds = table[CORRUPTION_COLUMN]
    elif CORRUPTED_COLUMN in table:
        kinds = table[CORRUPTED_COLUMN].map({True: "corrupted", False: "none"})
    else:
        kinds = pd.Series("all", index=table.index)
    for ax, column in zip(axes, columns):
        scores = pd.to_numeric(table[column], errors="coerce")
        finite = scores.dropna()
        if finite.empty:
            ax.set_title(f"{column}: no scores")
            continue
        edges = np.histogram_bin_edges(finite, bins=bins)
        for kind in sorted(kinds.unique(), key=lambda k: (k != "none", k)):
            values = scores[(kinds == kind).to_numpy()].dropna()
            label = ("clean" if kind == "none" else "pairs" if kind == "all"
                     else f"corrupted: {kind}")
            ax.hist(values, bins=edges, alpha=0.55, label=f"{label} (n={len(values)})")
        if thresholds and column in thresholds:
            ax.axvline(thresholds[column], color="black", linestyle="--", label="threshold")
        ax.set_xlabel(column)
        ax.set_ylabel("pairs")
        ax.legend(fontsize=8)
    return fig

"""Accuracy, macro-F1 and AUC of a table's predictions (the reference's three metrics), and how
varied a method's answers are."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, roc_auc_score


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None, n_classes: int
) -> dict[str, float]:
    """``accuracy``, ``f1`` (macro over the classes in truth or prediction) and ``auc``.

    ``scores`` is a (rows, n_classes) matrix (probabilities, or vote shares when the LM gives
    labels only). AUC is one-vs-rest macro over the classes present in ``y_true``, with the
    scores renormalised over those classes; NaN where undefined (one class in ``y_true``, or
    no scores). A prediction of -1 (no answer) is wrong.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    accuracy = float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")
    labels = np.union1d(np.unique(y_true), np.unique(y_pred[y_pred >= 0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f1 = float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
    auc = float("nan")
    present = np.unique(y_true)
    if scores is not None and len(present) >= 2:
        s = np.asarray(scores, dtype=np.float64)[:, present]
        try:
            if len(present) == 2:
                auc = float(roc_auc_score(y_true == present[1], s[:, 1] - s[:, 0]))
            else:
                total = s.sum(axis=1, keepdims=True)
                s = np.where(total > 0, s / np.where(total > 0, total, 1), 1.0 / len(present))
                auc = float(roc_auc_score(y_true, s, multi_class="ovr", labels=present))
        except ValueError:
            auc = float("nan")
    return {"accuracy": accuracy, "f1": f1, "auc": auc}


def answer_spread(predictions: pd.DataFrame,
                  by: Sequence[str] = ("dataset", "shots", "seed")) -> pd.DataFrame:
    """How varied a method's answers are, per cell ``by`` of its predictions (by default one
    table at one shot count and row order: the columns of the ``*_lm_predictions`` tables are
    dataset, shots, seed, row, label).

    One row per cell: ``rows`` answered, ``labels`` (distinct labels given, an unanswered -1
    counted as one), ``top_label_share`` (share of rows given the most frequent one) and
    ``one_label`` (every row got the same label). A model whose accuracy does not move with
    training or shots is often answering one label everywhere; this tells that apart from a
    model that answers but answers wrong."""
    keys = list(by)
    missing = sorted(set(keys + ["label"]) - set(predictions.columns))
    if missing:
        raise ValueError(f"answer_spread: predictions lack the columns {missing}")
    columns = [*keys, "rows", "labels", "top_label_share", "one_label"]
    if predictions.empty:
        return pd.DataFrame(columns=columns)
    grouped = predictions.groupby(keys, sort=True)["label"]
    out = pd.DataFrame({
        "rows": grouped.size(),
        "labels": grouped.nunique(dropna=False),
        "top_label_share": grouped.agg(lambda s: s.value_counts(dropna=False).iloc[0] / len(s)),
    }).reset_index()
    out["one_label"] = out["labels"] == 1
    return out[columns]

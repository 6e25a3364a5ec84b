"""Test helper: greedy evaluation of a model on held-out records (accuracy overall, per group).

Moved out of ``src/`` (#14): only the training tests evaluate this way; the pipelines grade with
:func:`datarecipes.training.evaluation.grade` through ``thinklite/report.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from datarecipes.config import require  # noqa: E402
from datarecipes.models.factory import LoadedModel  # noqa: E402
from datarecipes.models.generation import generate  # noqa: E402
from datarecipes.training.data import OnBadSample, prompt_dataset  # noqa: E402
from datarecipes.training.evaluation import grade  # noqa: E402


@dataclass(frozen=True)
class EvalParams:
    """How to evaluate a model on held-out question records."""

    max_new_tokens: int = 256  #: Greedy generation budget per answer (ThinkLite: 2048).
    batch_size: int = 16  #: Conversations per generation batch.
    #: Columns to break accuracy down by (those present in the data are used).
    group_by: tuple[str, ...] = ("question_type", "generator")

    def __post_init__(self) -> None:
        require(self.max_new_tokens > 0, "max_new_tokens must be > 0")
        require(self.batch_size > 0, "batch_size must be > 0")


def evaluate(
    loaded: LoadedModel,
    data: Iterable[Mapping[str, Any]] | pd.DataFrame,
    params: EvalParams,
    image_root: str | None = None,
    on_bad_sample: OnBadSample = "skip",
    name: str = "eval",
) -> tuple[pd.DataFrame, Figure, dict[str, float]]:
    """Answer every record greedily; return the per-record table, a bar plot of accuracy per
    group, and flat metrics (``<name>_accuracy``, ``<name>_accuracy_<group>_<value>``, ...)."""
    dataset, bad = prompt_dataset(data, image_root, on_bad_sample, name=f"{name} data")
    rows = dataset.to_list() if "image" not in dataset.column_names else None
    if rows is None:
        # Keep the image paths (not decoded images) for the table.
        paths = dataset.cast_column("image", _path_feature())["image"]
        rows = dataset.remove_columns("image").to_list()
        for row, path in zip(rows, paths, strict=True):
            row["image"] = path["path"]
    predictions: list[str] = []
    batches = range(0, len(rows), params.batch_size)
    for start in tqdm(batches, desc=f"{name}: generating", unit="batch"):
        chunk = rows[start : start + params.batch_size]
        images = [r.get("image") for r in chunk] if "image" in chunk[0] else None
        outs = generate(
            loaded, [r["prompt"] for r in chunk], images,
            max_new_tokens=params.max_new_tokens, temperature=0.0,
        )
        predictions.extend(o[0] for o in outs)
    table = pd.DataFrame(
        {k: [r.get(k) for r in rows] for k in rows[0] if k not in ("prompt",)}
    )
    table["prediction"] = predictions
    options = table["options"] if "options" in table else [None] * len(table)
    table["extracted"], table["correct"] = grade(predictions, table["answer"], options)
    metrics = accuracy_metrics(table, params.group_by, name)
    metrics[f"{name}_skipped_records"] = float(bad.skipped)
    return table, accuracy_plot(table, params.group_by, name), metrics


def _path_feature() -> Any:
    import datasets

    return datasets.Image(decode=False)


def accuracy_metrics(table: pd.DataFrame, group_by: Sequence[str], name: str) -> dict[str, float]:
    """Overall and per-group accuracy as a flat dict of floats."""
    metrics = {f"{name}_accuracy": float(table["correct"].mean()), f"{name}_n": float(len(table))}
    for column in group_by:
        if column not in table:
            continue
        for value, acc in table.groupby(column)["correct"].mean().items():
            metrics[f"{name}_accuracy_{column}_{value}"] = float(acc)
    return metrics


def majority_baseline(answers: Sequence[str]) -> float:
    """Accuracy of always answering the most common answer."""
    series = pd.Series([str(a) for a in answers])
    return float(series.value_counts().iloc[0] / len(series)) if len(series) else 0.0


def accuracy_plot(table: pd.DataFrame, group_by: Sequence[str], name: str) -> Figure:
    """Bar plot: overall accuracy, then accuracy per value of each ``group_by`` column."""
    labels, values = ["overall"], [float(table["correct"].mean())]
    for column in group_by:
        if column in table:
            for value, acc in table.groupby(column)["correct"].mean().items():
                labels.append(f"{column}={value}")
                values.append(float(acc))
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(labels)), 3.5))
    ax.bar(labels, values, color=["#444444"] + ["#4c72b0"] * (len(labels) - 1))
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{name}: accuracy (n={len(table)})")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig

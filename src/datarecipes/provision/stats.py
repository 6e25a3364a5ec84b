"""Summary of a generated question set: counts and answer entropy per generator."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def answer_entropy(answers: pd.Series) -> float:
    """Shannon entropy (bits) of the bare-answer distribution: low means a generator keeps
    giving the same answer (a bias a model could learn instead of looking)."""
    p = answers.value_counts(normalize=True)
    return float(-(p * p.map(math.log2)).sum()) if len(p) else 0.0


def question_metrics(questions: pd.DataFrame) -> dict[str, float]:
    """Flat metrics: total, per type/format, and per generator count and answer entropy."""
    out: dict[str, float] = {"total": float(len(questions))}
    if questions.empty:
        return out
    for col in ("type", "format", "split"):
        for key, n in questions[col].value_counts().sort_index().items():
            out[f"{col}_{key}"] = float(n)
    for name, group in questions.groupby("generator", sort=True):
        out[f"questions_{name}"] = float(len(group))
        out[f"answer_entropy_{name}"] = answer_entropy(group["bare_answer"])
    return out


def generator_plot(questions: pd.DataFrame) -> Figure:
    """Bar plot of questions per generator (single- and multi-image coloured apart)."""
    fig, ax = plt.subplots(figsize=(12, 4.5))
    if questions.empty:
        ax.set_title("ProVision: no questions")
        return fig
    counts = questions.groupby(["generator", "type"]).size().reset_index(name="n")
    counts = counts.sort_values(["type", "generator"])
    colours = counts["type"].map({"single": "tab:blue", "multi": "tab:orange"})
    ax.bar(counts["generator"], counts["n"], color=list(colours))
    ax.set_ylabel("questions")
    ax.set_title("ProVision questions per generator (blue: single-image, orange: multi-image)")
    ax.tick_params(axis="x", labelrotation=75, labelsize=8)
    fig.tight_layout()
    return fig

"""Evaluation and comparison outputs of the ThinkLite pipelines: flat metrics and figures.

Metric keys are short (``accuracy``, ``generator/<name>``, ``benchmark/<name>``) because the
tracking hook prefixes them with the output's name (``thinklite_eval.accuracy``, and under the
ablation's namespaces ``mcts.thinklite_eval.accuracy``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from datarecipes.executors import make_executor
from datarecipes.mcts.prompts import step_user_text
from datarecipes.thinklite.data import _as_list
from datarecipes.thinklite.params import ThinkLiteEvalParams
from datarecipes.thinklite.policy import PolicySource
from datarecipes.training.evaluation import grade

HELDOUT = "heldout"


def answer_questions(
    policy: PolicySource, sets: Mapping[str, pd.DataFrame], params: ThinkLiteEvalParams
) -> dict[str, pd.DataFrame]:
    """Greedy step-format answers to every question of ``sets`` (name → questions) in one pass
    on ``params.executor`` (the policy is loaded once for all sets), graded here with the
    project's one grader (:func:`datarecipes.training.evaluation.grade`: last ``\\boxed{}``,
    :func:`is_correct` with the options). Returns one table per set."""
    frames = {name: questions.reset_index(drop=True) for name, questions in sets.items()}
    rows = pd.concat([q[["question", "image"]] for q in frames.values()], ignore_index=True)
    answers = make_executor(params.executor).map_batches(
        functools.partial(_answerer, policy, params.max_new_tokens), rows,
        batch_size=params.batch_size, desc=f"answering {', '.join(frames)}",
    )
    predictions = answers["prediction"].tolist() if len(answers) else []
    tables: dict[str, pd.DataFrame] = {}
    offset = 0
    for name, questions in frames.items():
        table = questions[["sample_id", "image", "question", "answer", "generator",
                           "question_type"]].rename(columns={"sample_id": "id"})
        table["prediction"] = predictions[offset : offset + len(questions)]
        offset += len(questions)
        options = [_as_list(o) or None for o in questions["options"]]
        table["extracted"], table["correct"] = grade(table["prediction"].tolist(),
                                                     table["answer"], options)
        tables[name] = table
    return tables


def _answerer(policy: PolicySource, max_new_tokens: int
              ) -> Callable[[Mapping[str, Any]], dict[str, np.ndarray]]:
    """The batch function of one executor worker: loads the policy once, answers greedily."""
    generator = policy.generator()

    def answer(batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        prompts = [
            [{"role": "user", "content": [{"type": "image"},
                                          {"type": "text", "text": step_user_text(q)}]}]
            for q in batch["question"]
        ]
        outs = generator.generate(prompts, list(batch["image"]), max_new_tokens=max_new_tokens,
                                  temperature=0.0)
        return {"prediction": np.asarray([o[0] for o in outs], dtype=object)}

    return answer


def evaluate_policy(
    policy: PolicySource,
    heldout: pd.DataFrame,
    benchmarks: Mapping[str, pd.DataFrame],
    params: ThinkLiteEvalParams,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Greedy answers on the held-out questions and the chosen benchmarks.

    Returns the per-question table (``set`` = ``heldout`` or the benchmark's name) and flat
    metrics: ``accuracy`` and ``n`` (held-out), ``generator/<g>`` (held-out, per ProVision
    generator), ``benchmark/<name>`` and ``benchmark_n/<name>``.
    """
    sets: dict[str, pd.DataFrame] = {HELDOUT: heldout}
    names = sorted(benchmarks) if params.benchmarks is None else list(params.benchmarks)
    absent = sorted(set(names) - set(benchmarks))
    if absent:
        raise ValueError(
            f"parameters_thinklite.yml: thinklite_eval.benchmarks: {absent} not found in the "
            f"thinklite_benchmarks directory (found: {sorted(benchmarks)})"
        )
    for name in names:
        table = benchmarks[name]
        if params.benchmark_max_questions:
            table = table.iloc[: params.benchmark_max_questions]
        sets[name] = table
    tables = []
    metrics: dict[str, float] = {}
    for name, table in answer_questions(policy, sets, params).items():
        table.insert(0, "set", name)
        tables.append(table)
        accuracy = float(table["correct"].mean())
        if name == HELDOUT:
            metrics["accuracy"] = accuracy
            metrics["n"] = float(len(table))
            for generator, acc in table.groupby("generator")["correct"].mean().items():
                metrics[f"generator/{generator}"] = float(acc)
        else:
            metrics[f"benchmark/{name}"] = accuracy
            metrics[f"benchmark_n/{name}"] = float(len(table))
    return pd.concat(tables, ignore_index=True), metrics


def eval_plot(table: pd.DataFrame, title: str) -> Figure:
    """Accuracy bars: held-out overall, per held-out generator, then per benchmark."""
    heldout = table[table["set"] == HELDOUT]
    labels = ["held-out"] + [f"{g}" for g in sorted(heldout["generator"].unique())]
    values = [float(heldout["correct"].mean())] + [
        float(heldout.loc[heldout["generator"] == g, "correct"].mean()) for g in labels[1:]
    ]
    colours = ["#444444"] + ["#4c72b0"] * (len(labels) - 1)
    for name, group in table[table["set"] != HELDOUT].groupby("set"):
        labels.append(f"bench:{name}")
        values.append(float(group["correct"].mean()))
        colours.append("#dd8452")
    fig = Figure(figsize=(max(5.0, 0.45 * len(labels)), 3.8))
    ax = fig.add_subplot()
    ax.bar(labels, values, color=colours)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} (held-out n={len(heldout)})")
    ax.tick_params(axis="x", labelrotation=70, labelsize=7)
    fig.tight_layout()
    return fig


def ablation_summary(
    selection: Mapping[str, Mapping[str, float]],
    evaluation: Mapping[str, Mapping[str, float]],
    warm_start: Mapping[str, float] | None = None,
) -> tuple[dict[str, float], Figure]:
    """Per-strategy accuracy and selected count (flat metrics) and the comparison bar plot.

    ``selection[strategy]`` / ``evaluation[strategy]`` are the strategies' selection and
    evaluation metrics; ``warm_start`` the warm-started policy's evaluation (the line the
    strategies start from).
    """
    metrics: dict[str, float] = {}
    strategies = list(evaluation)
    for name in strategies:
        metrics[f"{name}/accuracy"] = float(evaluation[name]["accuracy"])
        metrics[f"{name}/num_selected"] = float(selection[name]["num_selected"])
        for key, value in evaluation[name].items():
            if key.startswith("benchmark/"):
                metrics[f"{name}/{key}"] = float(value)
    if warm_start is not None:
        metrics["warm_start/accuracy"] = float(warm_start["accuracy"])
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.add_subplot()
    values = [metrics[f"{s}/accuracy"] for s in strategies]
    bars = ax.bar(strategies, values, color=["#c44e52", "#4c72b0", "#8c8c8c"][: len(strategies)])
    for bar, name in zip(bars, strategies):
        ax.annotate(f"n={int(metrics[f'{name}/num_selected'])}",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    if warm_start is not None:
        ax.axhline(metrics["warm_start/accuracy"], color="black", linestyle="--",
                   label="warm start (before GRPO)")
        ax.legend(loc="upper right", fontsize=8)
    top = max([*values, metrics.get("warm_start/accuracy", 0.0)])
    ax.set_ylim(0, min(1.0, max(0.1, top * 1.3)) if np.isfinite(top) else 1.0)
    ax.set_ylabel("held-out accuracy after GRPO")
    ax.set_title("Hard-sample selection strategies (same budget and seed)")
    fig.tight_layout()
    return metrics, fig

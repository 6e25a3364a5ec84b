"""Many-shot evaluation on real tables: the LM (pluggable) and the baselines, same shots.

Protocol (reference ``src/evaluation``): 80/20 split with seed 42; shot counts 8..1024
doubling, capped by the training-set size; 50 test rows per prompt; two row-shuffle seeds
(40, 41) whose predictions are merged by majority vote. The shots of ``n`` are the first
``n`` rows of one fixed, class-covering order of the training set (so 8 shots are among the
16, ...), and every method sees exactly those rows; a shuffle seed reorders the shot rows and
the test rows inside the prompts, which is what the vote averages over.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from datarecipes.tabular.baselines import BASELINES, fit_predict_baseline
from datarecipes.tabular.context import fit_to_context
from datarecipes.tabular.lm_predict import majority_vote, parse_predictions
from datarecipes.tabular.metrics import classification_metrics
from datarecipes.tabular.serialize import build_messages, shot_counts
from datarecipes.tabular.tables import Table, load_table, split_table

PredictFn = Callable[[list[list[dict[str, str]]]], list[str]]
COLUMNS = ["dataset", "method", "shots", "shots_used", "n_test", "accuracy", "f1", "auc"]


@dataclasses.dataclass
class TablePlan:
    """A table's split, its nested shot order, and the shot counts it can afford."""

    table: Table
    train: np.ndarray
    test: np.ndarray
    shot_order: np.ndarray  # indices into the table, a class-covering permutation of train
    shots: list[int]
    columns: np.ndarray  # the column order of every prompt of this table


def class_covering_order(y: np.ndarray, rows: np.ndarray, seed: int) -> np.ndarray:
    """A random order of ``rows`` that starts with one row of every class (when possible),
    so that even the smallest shot count sees as many classes as it can."""
    rng = np.random.default_rng(seed)
    perm = rows[rng.permutation(len(rows))]
    _, first = np.unique(y[perm], return_index=True)
    head = np.sort(first)
    rest = np.setdiff1d(np.arange(len(perm)), head, assume_unique=True)
    return perm[np.concatenate([head, rest])]


def plan_table(
    table: Table, shots: Sequence[int], split_seed: int = 42, test_fraction: float = 0.2,
    max_test_rows: int | None = None,
) -> TablePlan:
    """Split ``table`` and fix its shot order; shot counts above the train size are dropped."""
    train, test = split_table(table, test_fraction, split_seed)
    if max_test_rows is not None and len(test) > max_test_rows:
        rng = np.random.default_rng(split_seed)
        test = np.sort(rng.choice(test, size=max_test_rows, replace=False))
    order = class_covering_order(table.y, train, split_seed)
    columns = np.random.default_rng([split_seed, 1]).permutation(table.X.shape[1])
    return TablePlan(table, train, test, order, [s for s in shots if s <= len(train)], columns)


def _prompt_builder(
    t: Table, shot_rows: np.ndarray, test_rows: np.ndarray, columns: np.ndarray
) -> Callable[[int], list[dict[str, str]]]:
    """Messages of a prompt with the first ``k`` of ``shot_rows`` as its training set."""

    def build(k: int) -> list[dict[str, str]]:
        return build_messages(t.X[shot_rows[:k]], t.y[shot_rows[:k]], t.X[test_rows],
                              column_order=columns)

    return build


Tables = Mapping[str, Table] | Sequence[Table | str | Path]


def _as_plans(tables: Tables, shots, **kwargs) -> list[TablePlan]:
    """Plans for ``tables``: Table objects, or CSV paths (loaded with the default cleaning)."""
    items = tables.values() if isinstance(tables, Mapping) else tables
    return [plan_table(t if isinstance(t, Table) else load_table(t), shots, **kwargs)
            for t in items]


def evaluate_icl(
    predict_fn: PredictFn,
    tables: Tables,
    shots: Sequence[int] | None = None,
    test_rows_per_prompt: int = 50,
    shuffle_seeds: Sequence[int] = (40, 41),
    split_seed: int = 42,
    test_fraction: float = 0.2,
    max_test_rows: int | None = None,
    tokenizer: Any = None,
    max_length: int | None = None,
    on_too_long: Literal["error", "fewer_shots"] = "error",
    method: str = "lm",
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate an in-context learner: (metrics table, raw predictions table).

    ``predict_fn(list of chat-message lists) -> list of generated strings`` is called once per
    (table, shot count, shuffle seed) with all that run's prompts. With ``max_length`` every
    prompt (plus room for its answer) is checked against the context (``tokenizer``, or a
    byte count when None) before ``predict_fn`` sees it.
    """
    shots = list(shots) if shots is not None else shot_counts(1024)
    rows, preds = [], []
    plans = _as_plans(tables, shots, split_seed=split_seed, test_fraction=test_fraction,
                      max_test_rows=max_test_rows)
    for plan in tqdm(plans, desc=f"ICL eval ({method})", unit="table", disable=not progress):
        t = plan.table
        for n_shots in plan.shots:
            runs, used_min = [], n_shots
            for seed in shuffle_seeds:
                rng = np.random.default_rng(seed)
                shot_rows = plan.shot_order[:n_shots][rng.permutation(n_shots)]
                test_perm = rng.permutation(len(plan.test))
                prompts, chunk_rows = [], []
                for start in range(0, len(plan.test), test_rows_per_prompt):
                    chunk = test_perm[start : start + test_rows_per_prompt]
                    build = _prompt_builder(t, shot_rows, plan.test[chunk], plan.columns)
                    if max_length is None:
                        messages = build(n_shots)
                    else:
                        messages, used = fit_to_context(
                            build, n_shots, tokenizer, max_length,
                            where=f"table {t.name} ({n_shots} shots, seed {seed})",
                            on_too_long=on_too_long, answer_rows=len(chunk),
                        )
                        used_min = min(used_min, used)
                    prompts.append(messages)
                    chunk_rows.append(chunk)
                outputs = predict_fn(prompts)
                if len(outputs) != len(prompts):
                    raise ValueError(f"predict_fn returned {len(outputs)} answers for "
                                     f"{len(prompts)} prompts (table {t.name})")
                labels: list[int | None] = [None] * len(plan.test)
                for text, chunk in zip(outputs, chunk_rows):
                    parsed = parse_predictions(text, range(len(chunk)))
                    for local, pos in enumerate(chunk):
                        labels[pos] = parsed[local]
                runs.append(labels)
                preds.extend(
                    {"dataset": t.name, "method": method, "shots": n_shots, "seed": seed,
                     "row": int(plan.test[j]), "label": -1 if v is None else int(v)}
                    for j, v in enumerate(labels)
                )
            voted, shares = majority_vote(runs, t.n_classes)
            scores = classification_metrics(t.y[plan.test], voted, shares, t.n_classes)
            rows.append({"dataset": t.name, "method": method, "shots": n_shots,
                         "shots_used": used_min, "n_test": len(plan.test), **scores})
    return pd.DataFrame(rows, columns=COLUMNS), pd.DataFrame(preds)


def evaluate_baselines(
    tables: Tables,
    shots: Sequence[int] | None = None,
    methods: Sequence[str] = BASELINES,
    split_seed: int = 42,
    test_fraction: float = 0.2,
    max_test_rows: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """The baselines on the same splits, test rows and shot rows as :func:`evaluate_icl`."""
    shots = list(shots) if shots is not None else shot_counts(1024)
    rows = []
    plans = _as_plans(tables, shots, split_seed=split_seed, test_fraction=test_fraction,
                      max_test_rows=max_test_rows)
    for plan in tqdm(plans, desc="baselines", unit="table", disable=not progress):
        t = plan.table
        y_test = t.y[plan.test]
        for n_shots in plan.shots:
            shot_rows = plan.shot_order[:n_shots]
            for name in methods:
                labels, proba = fit_predict_baseline(
                    name, t.X[shot_rows], t.y[shot_rows], t.X[plan.test], t.n_classes,
                    seed=split_seed,
                )
                scores = classification_metrics(y_test, labels, proba, t.n_classes)
                rows.append({"dataset": t.name, "method": name, "shots": n_shots,
                             "shots_used": n_shots, "n_test": len(plan.test), **scores})
    return pd.DataFrame(rows, columns=COLUMNS)


def summary_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Flat numbers for MLflow: per method, the mean over tables at each table's largest
    shot count (``<method>_accuracy_at_max_shots`` ...) and over all shot counts."""
    out: dict[str, float] = {}
    if table.empty:
        return out
    for method, part in table.groupby("method"):
        largest = part.loc[part.groupby("dataset")["shots"].idxmax()]
        for metric in ("accuracy", "f1", "auc"):
            value = largest[metric].mean(skipna=True)
            if np.isfinite(value):
                out[f"{method}_{metric}_at_max_shots"] = float(value)
        out[f"{method}_accuracy_mean_over_shots"] = float(part["accuracy"].mean())
    out["tables"] = float(table["dataset"].nunique())
    out["max_shots"] = float(table["shots"].max())
    return out

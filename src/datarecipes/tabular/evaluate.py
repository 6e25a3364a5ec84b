"""Many-shot evaluation on real tables: the LM (pluggable) and the baselines, same shots.

Protocol (reference ``src/evaluation``): 80/20 split with seed 42; shot counts 8..1024
doubling, capped by the training-set size; 50 test rows per prompt; two row-shuffle seeds
(40, 41) whose predictions are merged by majority vote. :class:`EvalProtocolParams` chooses, item by
item, between the reference's way and ours:

* ``split``: ``random`` (the reference's ``train_test_split(df, test_size, random_state)``) or
  ``stratified`` (ours: small classes keep their share of the test set);
* ``shot_sampling``: ``per_chunk`` (the reference's ``data_chunk_prep.py``: each 50-row test
  chunk ``i`` draws fresh shots, ``train_df.sample(n, random_state=split_seed + i)``, shuffled
  with ``sample(frac=1, random_state=row_shuffle_seed)``, no class guarantee) or ``nested``
  (ours: the shots of ``n`` are the first ``n`` rows of one fixed, class-covering order, so 8
  shots are among the 16 and every method sees the same rows; a shuffle seed reorders the shot
  and test rows inside the prompts). The class guarantee raises small-shot accuracy, so
  numbers comparable to the paper need ``per_chunk``;
* ``column_shuffle``: ``per_seed`` (the reference's ``col_shuffle``: Python
  ``random.seed(row_shuffle_seed)`` + ``random.shuffle``) or ``per_table`` (ours: one order).

A (table, shot count) whose prompt cannot fit the context, or a table that cannot be used at
all (:class:`RefusedTable`), is refused: its rows carry the reason in ``refused`` and NaN
scores, and the other tables go on.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from datarecipes.tabular.baselines import BASELINES, fit_predict_baseline
from datarecipes.tabular.context import PromptTooLongError, fit_to_context
from datarecipes.tabular.lm_predict import majority_vote, parse_predictions
from datarecipes.tabular.metrics import classification_metrics
from datarecipes.tabular.serialize import OURS, PromptFormatParams, build_messages, shot_counts
from datarecipes.tabular.tables import Table, TableError, load_table, split_table

PredictFn = Callable[[list[list[dict[str, str]]]], list[Any]]
COLUMNS = ["dataset", "method", "shots", "shots_used", "n_test", "accuracy", "f1", "auc",
           "refused"]


@dataclasses.dataclass(frozen=True)
class EvalProtocolParams:
    """The evaluation protocol's choices (see the module docstring); defaults are ours."""

    split: Literal["stratified", "random"] = "stratified"
    shot_sampling: Literal["nested", "per_chunk"] = "nested"
    column_shuffle: Literal["per_table", "per_seed"] = "per_table"
    #: ``votes``: AUC from the seeds' vote shares; ``probabilities``: from the mean over seeds
    #: of the per-class probabilities a predictor returns (the reference's AUC from the LM's
    #: label log-probs, ``dl_utils.extract_probabilities_*``); vote shares where it gives none.
    auc_from: Literal["votes", "probabilities"] = "votes"

    @classmethod
    def reference(cls) -> EvalProtocolParams:
        return cls(split="random", shot_sampling="per_chunk", column_shuffle="per_seed",
                   auc_from="probabilities")


@dataclasses.dataclass(frozen=True)
class RefusedTable:
    """A table that cannot be evaluated; it appears in the results with its reason."""

    name: str
    reason: str


@dataclasses.dataclass(frozen=True)
class Answer:
    """A predictor's answer with per-row class probabilities (``probs[j][c]``), for the AUC."""

    text: str
    probs: list[list[float]] | None = None


@dataclasses.dataclass
class TablePlan:
    """A table's split, its nested shot order, and the shot counts it can afford."""

    table: Table
    train: np.ndarray  # in the split's order (the reference samples shots by position in it)
    test: np.ndarray  # in the split's order (the reference chunks it as it comes)
    shot_order: np.ndarray  # indices into the table, a class-covering permutation of train
    shots: list[int]
    columns: np.ndarray  # the column order of every prompt of this table (per_table)


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One prompt's rows: shots, test rows (positions into ``plan.test``), column order."""

    shot_rows: np.ndarray
    test_pos: np.ndarray
    columns: np.ndarray


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
    max_test_rows: int | None = None, protocol: EvalProtocolParams = EvalProtocolParams(),
) -> TablePlan:
    """Split ``table`` and fix its shot order; shot counts above the train size are dropped."""
    if protocol.split == "random":
        train, test = train_test_split(np.arange(len(table.y)), test_size=test_fraction,
                                       random_state=split_seed)
    else:
        train, test = split_table(table, test_fraction, split_seed)
    if max_test_rows is not None and len(test) > max_test_rows:
        if protocol.shot_sampling == "per_chunk":
            test = test[:max_test_rows]  # the first chunks, as the reference writes them
        else:
            rng = np.random.default_rng(split_seed)
            test = np.sort(rng.choice(test, size=max_test_rows, replace=False))
    order = class_covering_order(table.y, np.sort(train), split_seed)
    columns = np.random.default_rng([split_seed, 1]).permutation(table.X.shape[1])
    return TablePlan(table, np.asarray(train), np.asarray(test), order,
                     [s for s in shots if s <= len(train)], columns)


def reference_column_order(n_columns: int, seed: int) -> np.ndarray:
    """``data_utils.col_shuffle``: ``random.seed(seed)`` then ``random.shuffle`` of 0..k-1."""
    order = list(range(n_columns))
    random.Random(seed).shuffle(order)
    return np.asarray(order)


def reference_shots(train: np.ndarray, n_shots: int, chunk: int, split_seed: int,
                    seed: int) -> np.ndarray:
    """``data_chunk_prep.py``'s shots of test chunk ``chunk``: ``train_df.sample(n,
    random_state=split_seed + chunk)`` then ``.sample(frac=1, random_state=seed)`` (pandas
    draws both with ``RandomState(s).choice(len, size, replace=False)``)."""
    if n_shots <= len(train):
        rows = train[np.random.RandomState(split_seed + chunk).choice(len(train), n_shots,
                                                                     replace=False)]
    else:
        rows = train
    return rows[np.random.RandomState(seed).choice(len(rows), len(rows), replace=False)]


def prompt_chunks(plan: TablePlan, n_shots: int, seed: int, rows_per_prompt: int,
                  protocol: EvalProtocolParams, split_seed: int = 42) -> Iterator[Chunk]:
    """The prompts of one (table, shot count, shuffle seed) under ``protocol``."""
    n_test = len(plan.test)
    if protocol.shot_sampling == "per_chunk":
        test_order = np.arange(n_test)
        shots = None
    else:
        rng = np.random.default_rng(seed)
        shots = plan.shot_order[:n_shots][rng.permutation(n_shots)]
        test_order = rng.permutation(n_test)
    if protocol.column_shuffle == "per_seed":
        columns = reference_column_order(plan.table.X.shape[1], seed)
    else:
        columns = plan.columns
    for i, start in enumerate(range(0, n_test, rows_per_prompt)):
        pos = test_order[start : start + rows_per_prompt]
        rows = shots if shots is not None else reference_shots(plan.train, n_shots, i,
                                                               split_seed, seed)
        yield Chunk(rows, pos, columns)


def _prompt_builder(
    t: Table, shot_rows: np.ndarray, test_rows: np.ndarray, columns: np.ndarray,
    fmt: PromptFormatParams = OURS,
) -> Callable[[int], list[dict[str, str]]]:
    """Messages of a prompt with the first ``k`` of ``shot_rows`` as its training set."""

    def build(k: int) -> list[dict[str, str]]:
        return build_messages(t.X[shot_rows[:k]], t.y[shot_rows[:k]], t.X[test_rows],
                              column_order=columns, fmt=fmt)

    return build


Tables = Mapping[str, Table | RefusedTable] | Sequence[Table | RefusedTable | str | Path]


def _as_plans(tables: Tables, shots, **kwargs) -> list[TablePlan | RefusedTable]:
    """Plans for ``tables``: Table objects, or CSV paths (loaded with the default cleaning); an
    unusable table (a :class:`RefusedTable`, a CSV that does not load, no affordable shot
    count) becomes a :class:`RefusedTable`."""
    items = tables.values() if isinstance(tables, Mapping) else tables
    plans: list[TablePlan | RefusedTable] = []
    for t in items:
        if isinstance(t, RefusedTable):
            plans.append(t)
            continue
        if not isinstance(t, Table):
            try:
                t = load_table(t)
            except TableError as err:
                plans.append(RefusedTable(Path(t).stem, str(err)))
                continue
        try:
            plan = plan_table(t, shots, **kwargs)
        except ValueError as err:
            plans.append(RefusedTable(t.name, f"{t.name}: cannot be split ({err})"))
            continue
        if not plan.shots:
            plans.append(RefusedTable(t.name, f"{t.name}: {len(plan.train)} training rows, "
                                              f"fewer than the smallest shot count {min(shots)}"))
            continue
        plans.append(plan)
    return plans


def _refused_row(name: str, method: str, shots: int | None, reason: str, n_test: int = 0):
    return {"dataset": name, "method": method, "shots": -1 if shots is None else shots,
            "shots_used": 0, "n_test": n_test, "accuracy": np.nan, "f1": np.nan,
            "auc": np.nan, "refused": reason}


def _text_and_probs(output: Any) -> tuple[str, list[list[float]] | None]:
    if isinstance(output, Answer):
        return output.text, output.probs
    if hasattr(output, "text") and hasattr(output, "probs"):
        return output.text, output.probs
    return str(output), None


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
    protocol: EvalProtocolParams = EvalProtocolParams(),
    fmt: PromptFormatParams = OURS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate an in-context learner: (metrics table, raw predictions table).

    ``predict_fn(list of chat-message lists) -> list of answers`` (strings, or :class:`Answer`
    with per-row class probabilities) is called once per (table, shot count, shuffle seed)
    with all that run's prompts. With ``max_length`` every prompt (plus room for its answer)
    is checked against the context (``tokenizer``, or a byte count when None) before
    ``predict_fn`` sees it; a (table, shot count) that does not fit is refused (a row with
    the reason in ``refused``), and the run goes on with the rest.
    """
    shots = list(shots) if shots is not None else shot_counts(1024)
    rows, preds = [], []
    plans = _as_plans(tables, shots, split_seed=split_seed, test_fraction=test_fraction,
                      max_test_rows=max_test_rows, protocol=protocol)
    for plan in tqdm(plans, desc=f"ICL eval ({method})", unit="table", disable=not progress):
        if isinstance(plan, RefusedTable):
            rows.append(_refused_row(plan.name, method, None, plan.reason))
            continue
        t = plan.table
        for n_shots in plan.shots:
            try:
                row, table_preds = _evaluate_shots(
                    predict_fn, plan, n_shots, test_rows_per_prompt, shuffle_seeds,
                    split_seed, tokenizer, max_length, on_too_long, method, protocol, fmt)
            except PromptTooLongError as err:
                rows.append(_refused_row(t.name, method, n_shots, str(err), len(plan.test)))
                continue
            rows.append(row)
            preds.extend(table_preds)
    return pd.DataFrame(rows, columns=COLUMNS), pd.DataFrame(preds)


def _evaluate_shots(predict_fn, plan, n_shots, test_rows_per_prompt, shuffle_seeds, split_seed,
                    tokenizer, max_length, on_too_long, method, protocol, fmt):
    t = plan.table
    runs, probs_runs, used_min, preds = [], [], n_shots, []
    prepared = []
    # every prompt of every seed is built and checked first: a refusal costs no model call
    for seed in shuffle_seeds:
        prompts, chunk_rows = [], []
        for chunk in prompt_chunks(plan, n_shots, seed, test_rows_per_prompt, protocol,
                                   split_seed):
            build = _prompt_builder(t, chunk.shot_rows, plan.test[chunk.test_pos],
                                    chunk.columns, fmt)
            k = len(chunk.shot_rows)
            if max_length is None:
                messages = build(k)
            else:
                messages, used = fit_to_context(
                    build, k, tokenizer, max_length,
                    where=f"table {t.name} ({n_shots} shots, seed {seed})",
                    on_too_long=on_too_long, answer_rows=len(chunk.test_pos), fmt=fmt,
                )
                used_min = min(used_min, used)
            prompts.append(messages)
            chunk_rows.append(chunk.test_pos)
        prepared.append((seed, prompts, chunk_rows))
    for seed, prompts, chunk_rows in prepared:
        outputs = predict_fn(prompts)
        if len(outputs) != len(prompts):
            raise ValueError(f"predict_fn returned {len(outputs)} answers for "
                             f"{len(prompts)} prompts (table {t.name})")
        labels: list[int | None] = [None] * len(plan.test)
        probs = np.full((len(plan.test), t.n_classes), np.nan)
        for output, chunk in zip(outputs, chunk_rows):
            text, chunk_probs = _text_and_probs(output)
            parsed = parse_predictions(text, range(len(chunk)))
            for local, pos in enumerate(chunk):
                labels[pos] = parsed[local]
                if chunk_probs is not None and local < len(chunk_probs):
                    p = np.asarray(chunk_probs[local], dtype=np.float64)[: t.n_classes]
                    probs[pos, : len(p)] = p
        runs.append(labels)
        probs_runs.append(probs)
        preds.extend(
            {"dataset": t.name, "method": method, "shots": n_shots, "seed": seed,
             "row": int(plan.test[j]), "label": -1 if v is None else int(v)}
            for j, v in enumerate(labels)
        )
    voted, shares = majority_vote(runs, t.n_classes)
    scores_for_auc = shares
    if protocol.auc_from == "probabilities":
        stacked = np.stack(probs_runs)
        if np.isfinite(stacked).all(axis=2).any():
            with np.errstate(all="ignore"):
                mean = np.nanmean(stacked, axis=0)
            scores_for_auc = np.where(np.isfinite(mean), mean, shares)
    scores = classification_metrics(t.y[plan.test], voted, scores_for_auc, t.n_classes)
    row = {"dataset": t.name, "method": method, "shots": n_shots, "shots_used": used_min,
           "n_test": len(plan.test), **scores, "refused": ""}
    return row, preds


def evaluate_baselines(
    tables: Tables,
    shots: Sequence[int] | None = None,
    methods: Sequence[str] = BASELINES,
    split_seed: int = 42,
    test_fraction: float = 0.2,
    max_test_rows: int | None = None,
    progress: bool = False,
    protocol: EvalProtocolParams = EvalProtocolParams(),
    hyperparameters: Literal["ours", "reference"] = "ours",
    shuffle_seeds: Sequence[int] = (40, 41),
    test_rows_per_prompt: int = 50,
    random_state: int | None = None,
) -> pd.DataFrame:
    """Every baseline on every table and shot count.

    ``nested`` shots: each baseline is fit once on the LM's first ``n`` shots and scored on
    the whole test set. ``per_chunk`` shots (the reference): fit per test chunk on that
    chunk's shots, for each shuffle seed (rows and columns reordered as the LM's prompts),
    merged by majority vote with the seeds' mean probabilities for the AUC, as the reference's
    ``ml_model_pred.py`` + evaluator do. ``random_state`` defaults to ``split_seed``.
    """
    shots = list(shots) if shots is not None else shot_counts(1024)
    seed_of_model = split_seed if random_state is None else random_state
    rows = []
    plans = _as_plans(tables, shots, split_seed=split_seed, test_fraction=test_fraction,
                      max_test_rows=max_test_rows, protocol=protocol)
    for plan in tqdm(plans, desc="baselines", unit="table", disable=not progress):
        if isinstance(plan, RefusedTable):
            rows.extend(_refused_row(plan.name, name, None, plan.reason) for name in methods)
            continue
        t = plan.table
        y_test = t.y[plan.test]
        for n_shots in plan.shots:
            for name in methods:
                if protocol.shot_sampling == "nested":
                    shot_rows = plan.shot_order[:n_shots]
                    labels, proba = fit_predict_baseline(
                        name, t.X[shot_rows], t.y[shot_rows], t.X[plan.test], t.n_classes,
                        seed=seed_of_model, hyperparameters=hyperparameters,
                    )
                else:
                    runs, probas = [], []
                    for seed in shuffle_seeds:
                        labels = np.full(len(plan.test), -1, dtype=np.int64)
                        proba = np.zeros((len(plan.test), t.n_classes))
                        for chunk in prompt_chunks(plan, n_shots, seed, test_rows_per_prompt,
                                                   protocol, split_seed):
                            c = chunk.columns
                            lab, pr = fit_predict_baseline(
                                name, t.X[chunk.shot_rows][:, c], t.y[chunk.shot_rows],
                                t.X[plan.test[chunk.test_pos]][:, c], t.n_classes,
                                seed=seed_of_model, hyperparameters=hyperparameters,
                                y_test=t.y[plan.test[chunk.test_pos]],
                            )
                            labels[chunk.test_pos], proba[chunk.test_pos] = lab, pr
                        runs.append(list(labels))
                        probas.append(proba)
                    labels, _ = majority_vote(runs, t.n_classes)
                    proba = np.mean(probas, axis=0)
                scores = classification_metrics(y_test, labels, proba, t.n_classes)
                rows.append({"dataset": t.name, "method": name, "shots": n_shots,
                             "shots_used": n_shots, "n_test": len(plan.test), **scores,
                             "refused": ""})
    return pd.DataFrame(rows, columns=COLUMNS)


def summary_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Flat numbers for MLflow: per method, the mean over tables at each table's largest
    shot count (``<method>_accuracy_at_max_shots`` ...) and over all shot counts, and the
    refusals (``<method>_refused``: refused (table, shot count) rows; ``tables_refused``:
    tables with no scored row at all)."""
    out: dict[str, float] = {}
    if table.empty:
        return out
    refused = table["refused"].fillna("").astype(bool) if "refused" in table else \
        pd.Series(False, index=table.index)
    scored = table[~refused]
    for method, part in table[refused].groupby("method"):
        out[f"{method}_refused"] = float(len(part))
    for method, part in scored.groupby("method"):
        largest = part.loc[part.groupby("dataset")["shots"].idxmax()]
        for metric in ("accuracy", "f1", "auc"):
            value = largest[metric].mean(skipna=True)
            if np.isfinite(value):
                out[f"{method}_{metric}_at_max_shots"] = float(value)
        out[f"{method}_accuracy_mean_over_shots"] = float(part["accuracy"].mean())
    out["tables"] = float(scored["dataset"].nunique())
    out["tables_refused"] = float(len(set(table["dataset"]) - set(scored["dataset"])))
    if not scored.empty:
        out["max_shots"] = float(scored["shots"].max())
    return out

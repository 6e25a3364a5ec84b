"""Nodes of the ``scm`` pipeline: thin wrappers over :mod:`datarecipes.tabular`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from datarecipes.tabular.evaluate import (
    PredictFn,
    RefusedTable,
    evaluate_baselines,
    evaluate_icl,
    summary_metrics,
)
from datarecipes.tabular.params import ScmParams
from datarecipes.tabular.plots import accuracy_grid
from datarecipes.tabular.prior import SCMTask, generate_tasks, prior_summary
from datarecipes.tabular.sft import build_sft_records
from datarecipes.tabular.tables import Table, TableError, parse_table

log = logging.getLogger(__name__)


def generate_prior_tasks(
    scm: ScmParams,
) -> tuple[list[SCMTask], list[dict[str, Any]], dict[str, float]]:
    """Draw ``n_tasks`` SCM-prior tables: (tasks, their configurations, prior metrics)."""
    start = time.perf_counter()
    tasks = generate_tasks(scm.n_tasks, scm.seed, scm.prior, workers=scm.workers, progress=True)
    seconds = time.perf_counter() - start
    metrics = prior_summary(tasks)
    metrics["tables_per_second"] = scm.n_tasks / max(seconds, 1e-9)
    return tasks, [t.config for t in tasks], metrics


def _records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=["messages", "meta"])


def build_sft_corpus(
    tasks: list[SCMTask], scm: ScmParams, tokenizer: Any = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, val) SFT records (``messages`` + ``meta``), each prompt checked against the
    context with ``tokenizer`` (a byte-count upper bound when None)."""
    train, val = build_sft_records(
        tasks, scm.sft_shots, scm.sft_test_rows, scm.seed, val_fraction=scm.val_fraction,
        progress=True, tokenizer=tokenizer, max_length=scm.max_prompt_tokens,
        on_too_long=scm.on_too_long, teacher=scm.rf_teacher, prompt_format=scm.prompt,
    )
    return _records_frame(train), _records_frame(val)


def load_real_tables(
    raw_tables: Mapping[str, Callable[[], bytes]], scm: ScmParams
) -> dict[str, Table | RefusedTable]:
    """Clean the selected CSVs of the ``scm_real_tables`` folder (all when ``tables`` is null),
    the class in ``target_column`` (the last column when null).

    A CSV that cannot be used (empty, one class, no feature, ...) becomes a
    :class:`RefusedTable` with the reason: it is reported in the evaluation table and the
    metrics, and the other tables go on."""
    names = sorted(raw_tables) if scm.tables is None else list(scm.tables)
    missing = [n for n in names if n not in raw_tables]
    if missing:
        raise ValueError(
            f"parameters_scm.yml: scm.tables names {missing}, not in the scm_real_tables folder "
            f"(found {sorted(raw_tables)})"
        )
    tables: dict[str, Table | RefusedTable] = {}
    for name in names:
        try:
            table = parse_table(raw_tables[name](), name, label_column=scm.target_column,
                                max_classes=scm.max_classes,
                                encoding_fallback=scm.encoding_fallback,
                                source=f"scm_real_tables/{name}.csv")
        except TableError as err:
            log.warning("scm: table %s refused: %s", name, err)
            tables[name] = RefusedTable(name, str(err))
            continue
        tables[name] = table
        for note in table.notes:
            log.info(note)
    if tables and all(isinstance(t, RefusedTable) for t in tables.values()):
        reasons = "; ".join(t.reason for t in tables.values())
        raise ValueError(f"scm: no usable table among {len(tables)}: {reasons}")
    return tables


def real_tables_report(tables: Mapping[str, Table | RefusedTable]) -> pd.DataFrame:
    """``scm_input_table``: per real table, the class column, rows read, rows used and the
    data rows dropped for a missing class (so every input row is accounted for); a refused
    table has its reason in ``refused``."""
    columns = ["table", "target_column", "classes", "features", "rows_read", "rows_used",
               "rows_dropped", "dropped_rows", "refused"]
    rows = []
    for name, t in sorted(tables.items()):
        if isinstance(t, RefusedTable):
            rows.append({"table": name, "refused": t.reason})
            continue
        rows.append({
            "table": name,
            "target_column": t.target_column,
            "classes": len(t.classes),
            "features": len(t.feature_names),
            "rows_read": t.rows_read,
            "rows_used": len(t.y),
            "rows_dropped": len(t.dropped_rows),
            "dropped_rows": ",".join(map(str, t.dropped_rows)),
            "refused": "",
        })
    return pd.DataFrame(rows, columns=columns)


def evaluate_baselines_node(
    tables: dict[str, Table | RefusedTable], scm: ScmParams
) -> pd.DataFrame:
    """Baselines on every table and shot count (same splits and shots as the LM)."""
    return evaluate_baselines(tables, scm.eval_shots, scm.baselines, split_seed=scm.split_seed,
                              test_fraction=scm.test_fraction, max_test_rows=scm.max_test_rows,
                              progress=True, protocol=scm.protocol,
                              hyperparameters=scm.baseline_hyperparameters,
                              shuffle_seeds=scm.shuffle_seeds,
                              test_rows_per_prompt=scm.test_rows_per_prompt,
                              random_state=scm.baseline_random_state)


def evaluate_lm(
    tables: dict[str, Table | RefusedTable], predict_fn: PredictFn,
    scm: ScmParams,
    tokenizer: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The LM (``predict_fn``: prompts -> generations) on every table: (metrics, predictions)."""
    return evaluate_icl(
        predict_fn, tables, scm.eval_shots, test_rows_per_prompt=scm.test_rows_per_prompt,
        shuffle_seeds=scm.shuffle_seeds, split_seed=scm.split_seed, test_fraction=scm.test_fraction,
        max_test_rows=scm.max_test_rows, tokenizer=tokenizer, max_length=scm.max_prompt_tokens,
        on_too_long=scm.on_too_long, progress=True, protocol=scm.protocol, fmt=scm.prompt,
    )


def scm_report(*method_tables: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float], Figure]:
    """Merge the per-method tables: (eval table, flat metrics, accuracy-vs-shots figure)."""
    table = pd.concat([t for t in method_tables if t is not None and not t.empty],
                      ignore_index=True)
    table = table.sort_values(["dataset", "method", "shots"]).reset_index(drop=True)
    return table, summary_metrics(table), accuracy_grid(table)

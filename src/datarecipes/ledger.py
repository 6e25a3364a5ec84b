"""One decision ledger per run: for every sample and every stage that saw it, what was decided.

A ledger is a DataFrame (written as parquet) with one row per (sample, stage):

=============== ==================================================================
``sample_id``   the sample's own id (never replaced by ours), as a string
``stage``       the stage that decided (``dedup.phash``, ``filter``, ``mcts``, ...)
``stage_index`` the stage's position in the run (0, 1, ...), set by :func:`append`
``rule``        the rule or strategy that decided (``!dup.phash & top(clip, 0.7)``)
``kept``        whether the sample went on past this stage
``reason``      a sentence: why (``near duplicate of scene_000012 (phash distance 2)``)
``ref``         a related sample's id when there is one (the kept duplicate, the eval
                sample it matches), else null
``scores``      the scores the decision read, as a JSON object
=============== ==================================================================

Stages only append; a sample dropped at one stage is simply absent from later ones.
``python -m datarecipes.ledger why <ledger.parquet> <sample_id>`` answers "why was X
dropped?"; ``... counts <ledger.parquet>`` prints the funnel.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

COLUMNS: tuple[str, ...] = ("sample_id", "stage", "stage_index", "rule", "kept", "reason",
                            "ref", "scores")


class LedgerError(ValueError):
    """A ledger (or rows appended to it) does not have the ledger's schema."""


def empty_ledger() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: [] for c in COLUMNS}))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[list(COLUMNS)].copy()
    for col in ("sample_id", "stage", "rule", "reason", "ref", "scores"):
        out[col] = out[col].astype("string")
    out["stage_index"] = out["stage_index"].astype("int64")
    out["kept"] = out["kept"].astype(bool)
    return out.reset_index(drop=True)


def _json_value(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(float(v)) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (np.ndarray, list, tuple)):
        return [_json_value(x) for x in v]
    return v if isinstance(v, (int, str, bool)) else str(v)


def decisions(sample_ids: Sequence[Any] | pd.Series, *, stage: str, rule: str,
              kept: Sequence[bool] | np.ndarray | pd.Series,
              reason: str | Sequence[str] | pd.Series | None = None,
              scores: pd.DataFrame | None = None,
              ref: Sequence[Any] | pd.Series | None = None) -> pd.DataFrame:
    """One stage's decisions as ledger rows (``stage_index`` is set by :func:`append`).

    ``reason`` is one sentence for all rows, one per row, or ``None`` (then ``kept`` /
    ``dropped by <rule>``). ``scores`` columns become each row's JSON ``scores``.
    """
    ids = pd.Series(np.asarray(sample_ids, dtype=object)).astype(str)
    n = len(ids)
    kept_arr = np.asarray(kept, dtype=bool)
    if len(kept_arr) != n:
        raise LedgerError(f"stage {stage!r}: {len(kept_arr)} decisions for {n} samples")
    if ids.duplicated().any():
        raise LedgerError(f"stage {stage!r}: sample_id {ids[ids.duplicated()].iloc[0]!r} "
                          "occurs more than once")
    if reason is None:
        reasons = np.where(kept_arr, "kept", f"dropped by {rule}")
    elif isinstance(reason, str):
        reasons = np.full(n, reason, dtype=object)
    else:
        reasons = np.asarray(reason, dtype=object)
        if len(reasons) != n:
            raise LedgerError(f"stage {stage!r}: {len(reasons)} reasons for {n} samples")
    if scores is not None:
        if len(scores) != n:
            raise LedgerError(f"stage {stage!r}: {len(scores)} score rows for {n} samples")
        records = scores.to_dict("records")
        score_text = [json.dumps({str(k): _json_value(v) for k, v in r.items()}, sort_keys=True)
                      for r in records]
    else:
        score_text = ["{}"] * n
    refs = [None] * n if ref is None else [
        None if (r is None or (isinstance(r, float) and math.isnan(r)) or r is pd.NA) else str(r)
        for r in np.asarray(ref, dtype=object)]
    return _typed(pd.DataFrame({
        "sample_id": ids, "stage": stage, "stage_index": 0, "rule": rule, "kept": kept_arr,
        "reason": reasons, "ref": refs, "scores": score_text,
    }))


def append(ledger: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """``ledger`` with one more stage's ``rows``; a stage may be appended only once."""
    validate(ledger)
    validate(rows)
    stages = set(rows["stage"].unique())
    if len(stages) > 1:
        raise LedgerError(f"append one stage at a time, got {sorted(stages)}")
    clash = stages & set(ledger["stage"].unique())
    if clash:
        raise LedgerError(f"stage {sorted(clash)[0]!r} is already in the ledger")
    rows = rows.copy()
    rows["stage_index"] = int(ledger["stage_index"].max()) + 1 if len(ledger) else 0
    return _typed(pd.concat([ledger, rows], ignore_index=True))


def validate(ledger: pd.DataFrame) -> None:
    missing = [c for c in COLUMNS if c not in ledger.columns]
    if missing:
        raise LedgerError(f"not a ledger: missing column(s) {missing}; a ledger has "
                          f"{list(COLUMNS)}")
    if ledger.duplicated(["sample_id", "stage"]).any():
        row = ledger.loc[ledger.duplicated(["sample_id", "stage"])].iloc[0]
        raise LedgerError(f"sample {row['sample_id']!r} has two decisions at stage "
                          f"{row['stage']!r}")


def stage_counts(ledger: pd.DataFrame) -> pd.DataFrame:
    """Per stage, in run order: samples seen, kept and dropped."""
    validate(ledger)
    g = ledger.groupby(["stage_index", "stage"], sort=True)["kept"]
    out = pd.DataFrame({"seen": g.size(), "kept": g.sum().astype(int)}).reset_index()
    out["dropped"] = out["seen"] - out["kept"]
    return out[["stage_index", "stage", "seen", "kept", "dropped"]]


def stage_metrics(ledger: pd.DataFrame, prefix: str = "ledger") -> dict[str, float]:
    """Flat MLflow metrics ``<prefix>/<stage>/{seen,kept,dropped}``."""
    metrics: dict[str, float] = {}
    for row in stage_counts(ledger).itertuples(index=False):
        for what in ("seen", "kept", "dropped"):
            metrics[f"{prefix}/{row.stage}/{what}"] = float(getattr(row, what))
    return metrics


def why(ledger: pd.DataFrame, sample_id: Any) -> str:
    """A few lines answering "what happened to ``sample_id``?", stage by stage."""
    validate(ledger)
    sid = str(sample_id)
    rows = ledger.loc[ledger["sample_id"] == sid].sort_values("stage_index")
    if rows.empty:
        return f"{sid}: not in the ledger (no stage saw it)"
    lines = []
    for r in rows.itertuples(index=False):
        verdict = "kept" if r.kept else "DROPPED"
        line = f"  [{r.stage_index}] {r.stage}: {verdict} — {r.reason} (rule: {r.rule})"
        if isinstance(r.scores, str) and r.scores not in ("{}", ""):
            line += f"; scores {r.scores}"
        lines.append(line)
    last = rows.iloc[-1]
    if bool(last["kept"]):
        head = f"{sid}: kept by every stage that saw it ({len(rows)})"
    else:
        head = f"{sid}: dropped at stage {last['stage']!r}: {last['reason']}"
    return "\n".join([head, *lines])


def kept_ids(ledger: pd.DataFrame) -> set[str]:
    """Samples whose last decision was ``kept``."""
    last = ledger.sort_values("stage_index").groupby("sample_id").tail(1)
    return set(last.loc[last["kept"], "sample_id"].astype(str))


def funnel_figure(ledger: pd.DataFrame, title: str = "samples per stage"):
    """A matplotlib figure: samples seen and kept at each stage, in run order."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    counts = stage_counts(ledger)
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * max(1, len(counts))))
    y = np.arange(len(counts))[::-1]
    ax.barh(y, counts["seen"], color="#c9d6e3", label="seen")
    ax.barh(y, counts["kept"], color="#2f6690", label="kept")
    for yi, seen, kept in zip(y, counts["seen"], counts["kept"]):
        ax.text(seen, yi, f" {kept}/{seen}", va="center", fontsize=8)
    ax.set_yticks(y, counts["stage"])
    ax.set_xlabel("samples")
    ax.set_xlim(0, max(1, int(counts["seen"].max()) if len(counts) else 1) * 1.15)
    ax.set_title(title, pad=18)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def before_after_table(pool: pd.DataFrame, kept: np.ndarray | pd.Series, column: str,
                       bins: int = 10) -> pd.DataFrame:
    """Share of ``pool`` vs its kept rows per value (categorical) or per bin (numeric)."""
    if column not in pool:
        raise KeyError(f"before/after: no column {column!r}; columns are {list(pool.columns)}")
    mask = np.asarray(kept, dtype=bool)
    values = pool[column]
    order: dict[str, float] | None = None  # numeric columns: rows in numeric order, not text
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        if values.nunique() > bins:
            finite = values.dropna()
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1))) if len(finite) \
                else np.array([0.0, 1.0])
            intervals = pd.cut(values, edges, include_lowest=True)
            order = {str(i): i.left for i in intervals.cat.categories}
            values = intervals.astype(str)
        else:
            order = {str(v): float(v) for v in values.dropna().unique()}
    values = values.astype(str)
    pool_share = values.value_counts(normalize=True)
    kept_share = values[mask].value_counts(normalize=True)
    out = pd.DataFrame({"pool": pool_share, "kept": kept_share}).fillna(0.0)
    out.index.name = column
    out = out.reset_index()
    if order is None:
        return out.sort_values(column).reset_index(drop=True)
    rank = out[column].map(order).fillna(np.inf)  # "nan" (missing values) last
    return out.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)


def before_after_figure(pool: pd.DataFrame, kept: np.ndarray | pd.Series, column: str,
                        bins: int = 10, title: str | None = None):
    """Bars of :func:`before_after_table`: the pool's composition next to the kept rows'."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    table = before_after_table(pool, kept, column, bins)
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(table)), 3.5))
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["pool"], width=0.4, label=f"pool (n={len(pool)})", color="#c9d6e3")
    ax.bar(x + 0.2, table["kept"], width=0.4, label=f"kept (n={int(np.sum(kept))})",
           color="#2f6690")
    ax.set_xticks(x, table[column], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share")
    ax.set_title(title or f"{column}: pool vs kept")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_ledger(ledger: pd.DataFrame, path: str | Path) -> None:
    """Write ``ledger`` to parquet atomically."""
    from datarecipes.io.atomic import atomic_path

    validate(ledger)
    with atomic_path(path) as tmp:
        _typed(ledger).to_parquet(tmp, index=False)


def read_ledger(path: str | Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise LedgerError(f"{path}: cannot be read as a ledger parquet: {err}") from err
    try:
        validate(frame)
    except LedgerError as err:
        raise LedgerError(f"{path}: {err}") from None
    return _typed(frame)


def scores_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The ``scores`` JSON of one ledger row as a dict."""
    text = row.get("scores")
    return json.loads(text) if isinstance(text, str) and text else {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datarecipes.ledger",
                                     description="Answer questions about a decision ledger.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_why = sub.add_parser("why", help="what happened to one sample, stage by stage")
    p_why.add_argument("ledger", type=Path)
    p_why.add_argument("sample_id")
    p_counts = sub.add_parser("counts", help="samples seen/kept/dropped per stage")
    p_counts.add_argument("ledger", type=Path)
    args = parser.parse_args(argv)
    try:
        ledger = read_ledger(args.ledger)
    except LedgerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "why":
        answer = why(ledger, args.sample_id)
        print(answer)
        return 0 if "not in the ledger" not in answer.splitlines()[0] else 1
    print(stage_counts(ledger).to_string(index=False))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The decision table: what happened to every input pair, keyed by the input's own key.

One row per pair the source held (nothing is dropped silently): its ``key`` and ``source``
file as the input names them, the scores, ``kept`` (it is in the packed shards), the
``rule`` applied, the score ``status`` and a ``reason`` for every pair not kept — the decode
failure, the rule that was false, or the packing capacity it exceeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from datarecipes.filtering.inputs import ID_COLUMN, KEY_COLUMN, SOURCE_COLUMN, SUCCESS

#: Reason fragments → the reason class counted in the metrics (first match wins).
REASON_CLASSES: tuple[tuple[str, str], ...] = (
    ("damaged shard", "damaged_shard"),
    ("not UTF-8", "caption_not_utf8"),
    ("empty caption", "empty_caption"),
    ("no caption", "no_caption"),
    ("not valid JSON", "bad_metadata"),
    ("not a JSON object", "bad_metadata"),
    ("no file_name", "bad_metadata"),
    ("missing file", "missing_image"),
    ("no image", "missing_image"),
    ("missing image path", "missing_image"),
    ("corrupt image", "corrupt_image"),
    ("unreadable image", "corrupt_image"),
)


def reason_class(reason: str) -> str:
    """The class of a decode-error reason (``corrupt_image``, ``empty_caption``...)."""
    for fragment, name in REASON_CLASSES:
        if fragment in reason:
            return name
    return "other"


def decision_table(scored_pool: pd.DataFrame, packing_index: pd.DataFrame, rule: str,
                   expression: str, capacity: int) -> pd.DataFrame:
    """One decision per row of ``scored_pool`` (every input pair)."""
    if scored_pool[ID_COLUMN].duplicated().any():
        raise ValueError("decision table: image ids repeat in the scored pool")
    decoded = (scored_pool["clip_status"] == SUCCESS).to_numpy()
    passed = scored_pool[f"keep.{rule}"].to_numpy(dtype=bool)
    packed = scored_pool[ID_COLUMN].astype(str).isin(
        set(packing_index[ID_COLUMN].astype(str))).to_numpy()
    clip = pd.to_numeric(scored_pool["clip"], errors="coerce").to_numpy(dtype=np.float64)
    reasons = np.where(
        ~decoded, scored_pool["clip_reason"].fillna("").astype(str).to_numpy(),
        np.where(~passed, [f"{rule}: {expression} is false (clip {c:.4f})" for c in clip],
                 np.where(~packed, f"longer than packing.capacity ({capacity} tokens)", "")))
    keep_columns = [c for c in scored_pool.columns if c.startswith("keep.")]
    score_columns = [c for c in scored_pool.columns
                     if c == "clip" or c in ("itm", "odf", "ctq", "su")]
    table = pd.DataFrame({
        KEY_COLUMN: scored_pool[KEY_COLUMN].astype(str).to_numpy(),
        SOURCE_COLUMN: scored_pool[SOURCE_COLUMN].astype(str).to_numpy(),
        ID_COLUMN: scored_pool[ID_COLUMN].astype(str).to_numpy(),
        "kept": passed & packed,
        "rule": rule,
        "status": scored_pool["clip_status"].astype(str).to_numpy(),
        "reason": reasons.astype(str),
        "packed": packed,
    })
    for column in score_columns + keep_columns:
        table[column] = scored_pool[column].to_numpy()
    return table


def decision_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Counts: pairs, kept, dropped by the rule, by packing, and per decode-error class."""
    decode = table["status"] != SUCCESS
    metrics = {
        "pairs": float(len(table)),
        "kept": float(table["kept"].sum()),
        "decode_error": float(decode.sum()),
        "dropped_by_rule": float((~decode & ~table[f"keep.{table['rule'].iloc[0]}"]).sum())
        if len(table) else 0.0,
        "dropped_by_packing": float((~decode & table[f"keep.{table['rule'].iloc[0]}"]
                                     & ~table["packed"]).sum()) if len(table) else 0.0,
    }
    for name in sorted({n for _, n in REASON_CLASSES} | {"other"}):
        metrics[f"decode_error.{name}"] = 0.0
    for reason in table.loc[decode, "reason"]:
        metrics[f"decode_error.{reason_class(reason)}"] += 1.0
    return metrics

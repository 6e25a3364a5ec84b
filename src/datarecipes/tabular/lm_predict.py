"""Reading the LM's JSON answers and merging the row-shuffle runs by majority vote."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import numpy as np

_FENCE = re.compile(r"```(?:json|JSON)?")
_TRAILING_COMMA = re.compile(r",\s*([\]}])")
_PAIR = re.compile(
    r"\{[^{}]*?[\"']?id[\"']?\s*:\s*[\"']?(-?\d+)[\"']?\s*,\s*"
    r"[\"']?label[\"']?\s*:\s*[\"']?(-?\d+)[\"']?[^{}]*?\}"
)


def _as_int(value: object) -> int | None:
    try:
        as_float = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return int(as_float) if as_float.is_integer() else None


def parse_predictions(text: str, ids: Sequence[int]) -> dict[int, int | None]:
    """Label per requested id from a generated answer; ``None`` where the answer has none.

    Tolerates text around the JSON, code fences, trailing commas, ids and labels written as
    strings, and answers cut short (the complete ``{"id":..,"label":..}`` objects count).
    Unknown ids are ignored; the first answer for an id wins.
    """
    found: dict[int, int] = {}
    cleaned = _TRAILING_COMMA.sub(r"\1", _FENCE.sub("", text or ""))
    start, end = cleaned.find("["), cleaned.rfind("]")
    items = None
    if start != -1 and end > start:
        try:
            items = json.loads(cleaned[start : end + 1])
        except json.JSONDecodeError:
            items = None
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                key, label = _as_int(item.get("id")), _as_int(item.get("label"))
                if key is not None and label is not None:
                    found.setdefault(key, label)
    else:
        for key, label in _PAIR.findall(cleaned):
            found.setdefault(int(key), int(label))
    return {int(i): found.get(int(i)) for i in ids}


def majority_vote(
    runs: Sequence[Sequence[int | None]], n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-run predictions of the same rows: (labels, vote shares).

    ``runs[r][j]`` is run ``r``'s label for row ``j`` (``None``: no answer). The label with
    most votes wins; a tie goes to the label of the earliest run among the tied ones (the
    reference's seed order 40, 41). A row nobody answered gets -1, which is always wrong.
    Shares are votes / number of runs, a (rows, n_classes) matrix used for the AUC.
    """
    n_rows = len(runs[0]) if runs else 0
    shares = np.zeros((n_rows, n_classes))
    labels = np.full(n_rows, -1, dtype=np.int64)
    for j in range(n_rows):
        votes = [r[j] for r in runs if r[j] is not None and 0 <= r[j] < n_classes]
        if not votes:
            continue
        counts = np.bincount(votes, minlength=n_classes)
        shares[j] = counts / len(runs)
        best = counts.max()
        labels[j] = next(v for v in votes if counts[v] == best)
    return labels, shares

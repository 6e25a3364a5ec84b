"""MCTS-side batch inference on an :class:`~datarecipes.executors.Executor` (local or Ray).

The difficulty search and the accuracy baseline hand their question rows to an executor as one
JSON column (``row``): rows are ragged (options lists, missing images, NaN question types) and
must reach the batch function exactly as given, whichever executor moves them — a JSON string
is one value that neither a ``DataLoader`` collate nor Arrow changes. The model is never part
of the rows: workers build it from a *factory* (``Callable[[], Policy]``), once per worker.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd

ROW = "row"
T = TypeVar("T")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is pd.NA or value is pd.NaT:  # missing values of nullable columns
        return None
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _row_json(row: Mapping[str, Any]) -> str:
    try:
        return json.dumps(dict(row), default=_json_default)
    except (TypeError, ValueError) as err:
        raise ValueError(f"sample_id {row.get('sample_id')!r}: a value cannot be passed to the "
                         f"executor ({err})") from err


def rows_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``[sample_id, row]``: each row as one JSON string (see the module docstring)."""
    return pd.DataFrame(
        {
            "sample_id": [str(r.get("sample_id")) for r in rows],
            ROW: [_row_json(r) for r in rows],
        }
    )


def batch_rows(batch: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of an executor batch built from :func:`rows_frame`."""
    return [json.loads(text) for text in batch[ROW]]


def _given(value: T) -> T:
    return value


def as_factory(value: T | Callable[[], T] | None, method: str) -> Callable[[], T | None]:
    """A zero-argument factory for ``value``: ``value`` itself when it is one (it has no
    ``method``), else a picklable factory returning ``value``."""
    if value is not None and callable(value) and not hasattr(value, method):
        return value  # type: ignore[return-value]
    return functools.partial(_given, value)

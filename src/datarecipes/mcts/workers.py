"""MCTS-side batch inference on an :class:`~datarecipes.executors.Executor` (local or Ray).

The difficulty search and the accuracy baseline hand their question rows to an executor as one
column (``row``) of :class:`~datarecipes.executors.Carried` mappings: rows are ragged (options
lists, missing images, NaN question types) and must reach the batch function exactly as given,
whichever executor moves them; a carried cell is one Python object that neither a
``DataLoader`` collate nor Arrow changes. Results come back the same way (record objects), and
are serialised only where they are written to a file. The model is never part of the rows:
workers build it from a *factory* (``Callable[[], Policy]``), once per worker.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from datarecipes.executors import carried_column, uncarried

ROW = "row"
T = TypeVar("T")


def plain(value: Any) -> Any:
    """``value`` with numpy and pandas scalars and arrays as plain Python values (lists,
    ``int``, ``float``, ``None`` for a missing value of a nullable column), as a row read
    from JSON would hold them; anything that is not data raises ``TypeError``."""
    if isinstance(value, np.generic):  # before the builtins: np.float64 is a float
        return value.item()
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if value is pd.NA or value is pd.NaT:
        return None
    raise TypeError(f"{type(value).__name__} is not a plain data value")


def _plain_row(row: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return plain(dict(row))
    except TypeError as err:
        raise ValueError(f"sample_id {row.get('sample_id')!r}: a value cannot be passed to the "
                         f"executor ({err})") from err


def rows_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``[sample_id, row]``: each row as one carried mapping (see the module docstring)."""
    return pd.DataFrame(
        {
            "sample_id": [str(r.get("sample_id")) for r in rows],
            ROW: carried_column([_plain_row(r) for r in rows]),
        }
    )


def batch_rows(batch: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of an executor batch built from :func:`rows_frame`."""
    return uncarried(batch[ROW])


def _given(value: T) -> T:
    return value


def as_factory(value: T | Callable[[], T] | None, method: str) -> Callable[[], T | None]:
    """A zero-argument factory for ``value``: ``value`` itself when it is one (it has no
    ``method``), else a picklable factory returning ``value``."""
    if value is not None and callable(value) and not hasattr(value, method):
        return value  # type: ignore[return-value]
    return functools.partial(_given, value)

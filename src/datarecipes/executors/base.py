"""The executor interface and the helpers every executor shares.

The shape is Ray Data's, so a Ray executor is a drop-in (``ray.data.from_pandas(rows)
.map(preprocess).map_batches(ActorClass(fn_factory), batch_size=..., concurrency=...)``):

* ``rows`` is a pandas DataFrame, one row per item;
* ``preprocess(row) -> row`` is per-row CPU work (decoding, resizing, validating), run in
  parallel workers (locally a torch ``DataLoader``; under Ray, ``Dataset.map`` tasks);
* ``fn_factory()`` loads the model **once per worker** (locally once per call; under Ray, once
  per actor) and returns ``fn(batch) -> columns``, where ``batch`` maps column names to
  stacked arrays / tensors (or lists for ragged values) and the result maps output column
  names to sequences of the batch's length;
* the result is a DataFrame with one row per input row, in input order.

A cell that must reach the batch function exactly as given (a ragged mapping, a record
object) travels wrapped in :class:`Carried`: both executors move it as one Python object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

Batch = dict[str, Any]
BatchFn = Callable[[Batch], Mapping[str, Sequence[Any]]]
RowFn = Callable[[dict[str, Any]], dict[str, Any]]


class Executor(Protocol):
    """Runs ``fn_factory()``'s batch function over ``rows``; see the module docstring."""

    def map_batches(
        self,
        fn_factory: Callable[[], BatchFn],
        rows: pd.DataFrame,
        *,
        batch_size: int,
        preprocess: RowFn | None = None,
        desc: str = "",
    ) -> pd.DataFrame: ...

    def iter_batches(
        self,
        fn_factory: Callable[[], BatchFn],
        rows: pd.DataFrame,
        *,
        batch_size: int,
        preprocess: RowFn | None = None,
        desc: str = "",
    ) -> Iterator[tuple[int, pd.DataFrame]]:
        """``map_batches`` streamed: ``(position of the batch's first row, its result frame)``
        as each batch finishes, so a caller can write results before the last batch is done."""
        ...


@dataclass(frozen=True)
class Carried:
    """One cell value that an executor moves as an opaque Python object, unchanged.

    Neither a ``DataLoader`` collate nor Arrow looks inside it (Arrow would turn a mapping
    into a struct, a list into an array, a DataFrame with ``__array__`` into a tensor), so a
    ragged row or a result object arrives as it was put in, without being serialised to
    text on the way.
    """

    value: Any


def carried_column(values: Sequence[Any]) -> np.ndarray:
    """``values`` as an object column of :class:`Carried` cells."""
    column = np.empty(len(values), dtype=object)
    column[:] = [Carried(v) for v in values]
    return column


def uncarried(column: Sequence[Any]) -> list[Any]:
    """The values of a column of :class:`Carried` cells (a batch's or a result frame's)."""
    return [cell.value for cell in column]


def collate_columns(rows: list[dict[str, Any]]) -> Batch:
    """Rows → columns: equal-shape tensors/arrays are stacked, anything else stays a list."""
    import torch

    batch: Batch = {}
    for key in rows[0]:
        values = [row[key] for row in rows]
        first = values[0]
        if isinstance(first, torch.Tensor) and all(
            isinstance(v, torch.Tensor) and v.shape == first.shape for v in values
        ):
            batch[key] = torch.stack(values)
        elif isinstance(first, np.ndarray) and all(
            isinstance(v, np.ndarray) and v.shape == first.shape for v in values
        ):
            batch[key] = np.stack(values)
        else:
            batch[key] = values
    return batch


def output_frame(out: Mapping[str, Sequence[Any]], n_rows: int, where: str) -> pd.DataFrame:
    """A batch function's columns as a frame, built the same way by every executor."""
    part = pd.DataFrame(
        {k: v if isinstance(v, np.ndarray) else list(v) for k, v in out.items()}
    )
    if len(part) != n_rows:
        raise ValueError(
            f"{where}: the batch function returned {len(part)} rows for a batch of {n_rows}"
        )
    return part


def call_once(factory: Callable[[], BatchFn]) -> Callable[[], BatchFn]:
    """``factory`` that builds its batch function on the first call only (one model load for
    every shard of a local run; under Ray each actor unpickles its own, empty, copy)."""
    cache: list[BatchFn] = []

    def get() -> BatchFn:
        if not cache:
            cache.append(factory())
        return cache[0]

    return get

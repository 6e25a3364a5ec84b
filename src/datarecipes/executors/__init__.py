"""Batch-inference executors: one interface for running a model over a table of rows.

* :mod:`~datarecipes.executors.base`: the :class:`Executor` protocol and the helpers every
  executor shares (batch collation, result frames, :class:`Carried` cells);
* :mod:`~datarecipes.executors.local`: :class:`LocalExecutor` (this process + DataLoader
  workers);
* :mod:`~datarecipes.executors.ray`: :class:`RayExecutor` (Ray Data actors; Ray imported lazily);
* :mod:`~datarecipes.executors.params`: the ``executor`` parameter sections;
* :mod:`~datarecipes.executors.shards`: resumable, atomically written shards on top of any
  executor (:func:`map_shards`, :func:`resume_shards`).

The modules import downwards only (params, base ← local, ray, shards ← this package).
"""

from __future__ import annotations

from datarecipes.config import ParameterError
from datarecipes.executors.base import (
    Batch,
    BatchFn,
    Carried,
    Executor,
    RowFn,
    call_once,
    carried_column,
    collate_columns,
    output_frame,
    uncarried,
)
from datarecipes.executors.local import LocalExecutor
from datarecipes.executors.params import ExecutorParams, RayExecutorParams
from datarecipes.executors.shards import (
    ShardFormat,
    ShardStats,
    json_lines_format,
    map_shards,
    parquet_format,
    resume_shards,
)


def make_executor(params: ExecutorParams) -> Executor:
    """The executor named by ``params.kind``."""
    if params.kind == "local":
        return LocalExecutor(
            num_workers=params.num_workers, prefetch_batches=params.prefetch_batches
        )
    if params.kind == "ray":
        from datarecipes.executors.ray import RayExecutor

        return RayExecutor(params.ray)
    raise ParameterError(f"executor.kind={params.kind!r} is not supported")


__all__ = [
    "Batch",
    "BatchFn",
    "Carried",
    "Executor",
    "ExecutorParams",
    "LocalExecutor",
    "RayExecutorParams",
    "RowFn",
    "ShardFormat",
    "ShardStats",
    "call_once",
    "carried_column",
    "collate_columns",
    "json_lines_format",
    "make_executor",
    "map_shards",
    "output_frame",
    "parquet_format",
    "resume_shards",
    "uncarried",
]

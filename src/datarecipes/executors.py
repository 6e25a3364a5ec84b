"""Batch-inference executors: one interface for running a model over a table of rows.

The shape is Ray Data's, so a Ray executor is a drop-in (``ray.data.from_pandas(rows)
.map(preprocess).map_batches(ActorClass(fn_factory), batch_size=..., concurrency=...)``):

* ``rows`` is a pandas DataFrame, one row per item;
* ``preprocess(row) -> row`` is per-row CPU work (decoding, resizing, validating), run in
  parallel workers (here a torch ``DataLoader``; under Ray, ``Dataset.map`` tasks);
* ``fn_factory()`` loads the model **once per worker** (here once per call; under Ray, once
  per actor) and returns ``fn(batch) -> columns``, where ``batch`` maps column names to
  stacked arrays / tensors (or lists for ragged values) and the result maps output column
  names to sequences of the batch's length;
* the result is a DataFrame with one row per input row, in input order.

:func:`map_shards` adds resumability on top of any executor: rows are cut into shards whose
results are written atomically, one parquet file per shard, and a restarted run skips the
shards already written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from datarecipes.config import ParameterError, require
from datarecipes.executors_ray import RayExecutorParams, output_frame

logger = logging.getLogger(__name__)

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
class ExecutorParams:
    """Which executor runs batch inference, and how wide."""

    #: ``local``: this process plus torch DataLoader workers; ``ray``: Ray Data on a cluster
    #: (settings in ``ray``; docs/scaling.md).
    kind: Literal["local", "ray"] = "local"
    #: DataLoader worker processes for ``preprocess`` (image decoding); 0 decodes in-process.
    num_workers: int = 0
    #: Batches each worker prepares ahead of the model (DataLoader ``prefetch_factor``).
    prefetch_batches: int = 2
    #: Ray cluster and actor-pool settings, used when ``kind`` is ``ray``.
    ray: RayExecutorParams = field(default_factory=RayExecutorParams)

    def __post_init__(self) -> None:
        require(self.num_workers >= 0, f"executor.num_workers must be >= 0, got {self.num_workers}")
        require(
            self.prefetch_batches >= 1,
            f"executor.prefetch_batches must be >= 1, got {self.prefetch_batches}",
        )


def make_executor(params: ExecutorParams) -> Executor:
    """The executor named by ``params.kind``."""
    if params.kind == "local":
        return LocalExecutor(
            num_workers=params.num_workers, prefetch_batches=params.prefetch_batches
        )
    if params.kind == "ray":
        from datarecipes.executors_ray import RayExecutor

        return RayExecutor(params.ray)
    raise ParameterError(f"executor.kind={params.kind!r} is not supported")


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


class _RowDataset:
    """Map-style dataset over a DataFrame's rows, applying ``preprocess`` in the worker."""

    def __init__(self, rows: pd.DataFrame, preprocess: RowFn | None) -> None:
        self._records = rows.to_dict("records")
        self._preprocess = preprocess

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self._records[index]
        return self._preprocess(row) if self._preprocess is not None else row


class LocalExecutor:
    """This process runs the model; ``num_workers`` DataLoader processes run ``preprocess``."""

    def __init__(self, num_workers: int = 0, prefetch_batches: int = 2) -> None:
        self.num_workers = num_workers
        self.prefetch_batches = prefetch_batches

    def map_batches(
        self,
        fn_factory: Callable[[], BatchFn],
        rows: pd.DataFrame,
        *,
        batch_size: int,
        preprocess: RowFn | None = None,
        desc: str = "",
    ) -> pd.DataFrame:
        parts = [part for _, part in self.iter_batches(
            fn_factory, rows, batch_size=batch_size, preprocess=preprocess, desc=desc)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def iter_batches(
        self,
        fn_factory: Callable[[], BatchFn],
        rows: pd.DataFrame,
        *,
        batch_size: int,
        preprocess: RowFn | None = None,
        desc: str = "",
    ) -> Iterator[tuple[int, pd.DataFrame]]:
        from torch.utils.data import DataLoader
        from tqdm.auto import tqdm

        if len(rows) == 0:
            return
        loader = DataLoader(
            _RowDataset(rows, preprocess),  # type: ignore[arg-type]
            batch_size=batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=collate_columns,
            prefetch_factor=self.prefetch_batches if self.num_workers else None,
        )
        fn = fn_factory()
        done = 0
        for batch in tqdm(loader, desc=desc or "map_batches", unit="batch", leave=False):
            n = len(next(iter(batch.values())))
            where = f"{desc or 'map_batches'} (rows {done}..{done + n - 1})"
            part = output_frame(fn(batch), n, where)
            yield done, part
            done += n


@dataclass(frozen=True)
class ShardStats:
    """What :func:`map_shards` computed and what it found already done."""

    shards: int
    computed: int
    reused: int


def call_once(factory: Callable[[], BatchFn]) -> Callable[[], BatchFn]:
    """``factory`` that builds its batch function on the first call only (one model load for
    every shard of a local run; under Ray each actor unpickles its own, empty, copy)."""
    cache: list[BatchFn] = []

    def get() -> BatchFn:
        if not cache:
            cache.append(factory())
        return cache[0]

    return get


def map_shards(
    executor: Executor,
    fn_factory: Callable[[], BatchFn],
    rows: pd.DataFrame,
    *,
    id_column: str,
    name: str,
    shard_size: int,
    batch_size: int,
    directory: str | Path | None,
    preprocess: RowFn | None = None,
) -> tuple[pd.DataFrame, ShardStats]:
    """Run ``executor.map_batches`` shard by shard, resuming from results already on disk.

    Shard ``i`` holds rows ``[i*shard_size, (i+1)*shard_size)`` and is written atomically to
    ``directory/{i:08d}_{name}.parquet`` (MLM-Filter's per-tar naming) with ``id_column`` first.
    A shard file is reused only when its ids equal the shard's ids, so a changed input is
    recomputed rather than silently mixed in. Callers put anything else the results depend
    on (the model's weights, prompts) into ``directory``'s name. ``directory=None`` computes
    everything in memory.
    """
    from datarecipes.io.atomic import atomic_path

    if shard_size < 1:
        raise ParameterError(f"{name}: shard_size must be >= 1, got {shard_size}")
    if rows[id_column].duplicated().any():
        dup = rows.loc[rows[id_column].duplicated(), id_column].iloc[0]
        raise ValueError(f"{name}: {id_column} {dup!r} occurs more than once")
    fn_once = call_once(fn_factory)  # load the model once for all shards, and only if needed
    n_shards = max(1, -(-len(rows) // shard_size))
    parts: list[pd.DataFrame] = []
    computed = reused = 0
    for shard in range(n_shards):
        chunk = rows.iloc[shard * shard_size : (shard + 1) * shard_size].reset_index(drop=True)
        path = Path(directory) / f"{shard:08d}_{name}.parquet" if directory is not None else None
        if path is not None and path.is_file():
            done = pd.read_parquet(path)
            if done[id_column].astype(str).tolist() == chunk[id_column].astype(str).tolist():
                parts.append(done)
                reused += 1
                continue
            logger.warning("%s: %s holds other ids than this shard; recomputing it", name, path)
        result = executor.map_batches(
            fn_once, chunk, batch_size=batch_size, preprocess=preprocess,
            desc=f"{name} shard {shard + 1}/{n_shards}",
        )
        if id_column not in result:
            result.insert(0, id_column, chunk[id_column].to_numpy())
        if path is not None:
            with atomic_path(path) as tmp:
                result.to_parquet(tmp, index=False)
        parts.append(result)
        computed += 1
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({id_column: []})
    return out, ShardStats(shards=n_shards, computed=computed, reused=reused)

"""Ray Data executor: the :class:`~datarecipes.executors.Executor` interface on a Ray cluster.

``ray.data.from_pandas(blocks).map(preprocess).map_batches(_BatchActor, compute=
ActorPoolStrategy(size=num_actors), num_gpus=...)``: ``preprocess`` runs as CPU tasks anywhere
in the cluster, the model runs in a fixed pool of actors that each call ``fn_factory()`` once
(so a checkpoint is loaded once per actor, not per batch), and killed actors are restarted
and their batches retried by Ray (``max_restarts`` / ``max_task_retries``).

Results equal :class:`~datarecipes.executors.LocalExecutor`'s, row for row and dtype for dtype,
so :func:`~datarecipes.executors.map_shards` writes the same shard files under either:

* batches hold the same rows: the input is cut into blocks of whole batches and Ray's block
  splitting is switched off for this dataset, so batch ``i`` is rows ``[i*bs, (i+1)*bs)`` as
  in the local ``DataLoader`` (batch composition matters: padding, batched kernels);
* the batch function sees the same types: per-row scalars and strings as lists, per-row
  arrays stacked, and columns that ``preprocess`` returned as torch tensors as torch tensors
  again (Ray moves them as numpy arrays, so the column names travel alongside);
* outputs keep their dtypes: each actor turns a batch's output into a pandas frame exactly as
  the local executor does and returns it whole, as one Python object (a round trip through
  Arrow would turn ``str`` into ``string[pyarrow]``); the driver concatenates the frames;
* order: a row-index column travels with every row, the plan preserves block order, and the
  frames are put in index order and checked to hold every row exactly once.

Ray is imported lazily: the package installs and the local path runs without it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from datarecipes.executors.base import BatchFn, Carried, RowFn, output_frame
from datarecipes.executors.params import RayExecutorParams

logger = logging.getLogger(__name__)

#: Row-index column carried through the Ray plan (results are sorted back by it).
ROW_INDEX = "__datarecipes_row__"
#: Comma-separated names of the columns ``preprocess`` returned as torch tensors.
TORCH_COLUMNS = "__datarecipes_torch__"
_HIDDEN = (ROW_INDEX, TORCH_COLUMNS)
#: Output column of the actors: one cell per batch holding the batch's result frame.
_PART = "__datarecipes_part__"


def ensure_ray(address: str | None) -> None:
    """Connect to (or start) Ray once per process; a second call is a no-op."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True)


class _Preprocess:
    """Row task: ``preprocess`` the row, remember which outputs were torch tensors."""

    def __init__(self, preprocess: RowFn | None) -> None:
        self.preprocess = preprocess

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        row = {k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()}
        index = row.pop(ROW_INDEX)
        out = dict(self.preprocess(row)) if self.preprocess is not None else row
        torch_columns = []
        for key, value in out.items():
            if _is_tensor(value):
                out[key] = value.numpy(force=True)
                torch_columns.append(key)
        out[ROW_INDEX] = index
        out[TORCH_COLUMNS] = ",".join(torch_columns)
        return out


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def _protocol_batch(batch: Mapping[str, np.ndarray], torch_columns: set[str]) -> dict[str, Any]:
    """Ray's numpy batch → the batch ``LocalExecutor`` would give (``collate_columns``)."""
    import torch

    out: dict[str, Any] = {}
    for key, values in batch.items():
        if key in torch_columns and values.dtype != object:
            out[key] = torch.from_numpy(np.array(values))  # writable copy, as torch.stack gives
        elif values.dtype == object or values.ndim == 1:
            # Per-row scalars and strings reach a local batch function as lists, ragged
            # values too; only equal-shape per-row arrays are stacked.
            out[key] = list(values) if values.dtype == object else values.tolist()
        else:
            out[key] = values
    return out


class _BatchActor:
    """One model per actor: ``fn_factory()`` runs in ``__init__``, batches run in ``__call__``."""

    def __init__(self, fn_factory: Callable[[], BatchFn], desc: str) -> None:
        self.fn = fn_factory()
        self.desc = desc

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        index = np.asarray(batch.pop(ROW_INDEX))
        marks = batch.pop(TORCH_COLUMNS, None)
        torch_columns: set[str] = set()
        if marks is not None:  # torch only where every row's value was a tensor, as locally
            sets = [set(str(m).split(",")) - {""} for m in np.unique(marks.astype(str))]
            torch_columns = set.intersection(*sets)
        out = self.fn(_protocol_batch(batch, torch_columns))
        where = f"{self.desc or 'map_batches'} (rows {index.min()}..{index.max()})"
        clash = sorted(set(out) & set(_HIDDEN))
        if clash:
            raise ValueError(f"{where}: the batch function returned reserved column(s) {clash}")
        part = output_frame(out, len(index), where)
        part[ROW_INDEX] = index
        # The batch's frame travels whole, as one object: converting it to Arrow and back
        # would change dtypes (pandas' ``str`` → ``string[pyarrow]``, float32 → ``float[pyarrow]``)
        # and the result would no longer equal the local executor's concatenation of frames.
        # (A bare DataFrame would not survive either: it has ``__array__``, so Ray would turn
        # an all-numeric frame into a tensor of its values.)
        cell = np.empty(1, dtype=object)
        cell[0] = Carried(part)
        return {_PART: cell}


class RayExecutor:
    """Runs ``preprocess`` as Ray tasks and the model in a pool of Ray actors."""

    def __init__(self, params: RayExecutorParams | None = None) -> None:
        self.params = params or RayExecutorParams()

    def map_batches(
        self,
        fn_factory: Callable[[], BatchFn],
        rows: pd.DataFrame,
        *,
        batch_size: int,
        preprocess: RowFn | None = None,
        desc: str = "",
    ) -> pd.DataFrame:
        if len(rows) == 0:
            return pd.DataFrame()
        ds = self._dataset(fn_factory, rows, batch_size, preprocess, desc)
        parts = [row[_PART].value for row in ds.take_all()]
        return _restore_order(parts, len(rows), desc)

    def iter_batches(
        self,
        fn_factory: Callable[[], BatchFn],
        rows: pd.DataFrame,
        *,
        batch_size: int,
        preprocess: RowFn | None = None,
        desc: str = "",
    ) -> Iterator[tuple[int, pd.DataFrame]]:
        """Batches as Ray's streaming executor finishes them (one actor pool for the whole
        input, so the model is loaded once per actor however long the stream)."""
        if len(rows) == 0:
            return
        ds = self._dataset(fn_factory, rows, batch_size, preprocess, desc)
        seen = 0
        for row in ds.iter_rows():
            part = row[_PART].value
            start = int(part[ROW_INDEX].iloc[0])
            seen += len(part)
            yield start, part.drop(columns=ROW_INDEX).reset_index(drop=True)
        if seen != len(rows):
            raise RuntimeError(
                f"{desc or 'iter_batches'}: Ray returned {seen} rows for {len(rows)} inputs"
            )

    def _dataset(
        self,
        fn_factory: Callable[[], BatchFn],
        rows: pd.DataFrame,
        batch_size: int,
        preprocess: RowFn | None,
        desc: str,
    ) -> Any:
        """The lazy Ray dataset of per-batch result frames (see the module docstring)."""
        import ray

        if batch_size < 1:
            raise ValueError(f"{desc or 'map_batches'}: batch_size must be >= 1, got {batch_size}")
        clash = sorted(set(map(str, rows.columns)) & set(_HIDDEN))
        if clash:
            raise ValueError(f"{desc or 'map_batches'}: input has reserved column(s) {clash}")
        p = self.params
        ensure_ray(p.address)
        indexed = rows.reset_index(drop=True).assign(**{ROW_INDEX: np.arange(len(rows))})
        # Blocks of whole batches, so that Ray's batches are the local executor's batches.
        block_rows = batch_size * p.batches_per_block
        blocks = [indexed.iloc[i : i + block_rows] for i in range(0, len(indexed), block_rows)]
        ds = ray.data.from_pandas(blocks)
        ds.context.target_max_block_size = None  # never re-split a block (keeps batches whole)
        ds.context.execution_options.preserve_order = True
        # Per-batch result frames and ragged values travel as Python objects, by design.
        ds.context.enable_fallback_to_arrow_object_ext_type = True
        if preprocess is not None:
            ds = ds.map(_Preprocess(preprocess), num_cpus=p.num_cpus_per_preprocess_task)
        with warnings.catch_warnings():
            # Ray 2.60 deprecates passing actor options through ``**ray_remote_args`` and names
            # no replacement for max_restarts / max_task_retries yet; Ray Data's own defaults
            # are unlimited restarts and retries, which loop forever on a batch that always
            # kills its worker (OOM), hence explicit limits.
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*is deprecated")
            ds = ds.map_batches(
                _BatchActor,
                fn_constructor_args=(fn_factory, desc),
                batch_size=batch_size,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=p.num_actors),
                num_cpus=p.num_cpus_per_actor,
                num_gpus=p.num_gpus_per_actor,
                max_restarts=p.max_restarts,
                max_task_retries=p.max_task_retries,
            )
        logger.info("%s: %d rows on Ray, %d actor(s)", desc or "map_batches", len(rows),
                    p.num_actors)
        return ds


def _restore_order(parts: list[pd.DataFrame], n_rows: int, desc: str) -> pd.DataFrame:
    """Concatenate the batches' frames in row order; check every row came back exactly once."""
    parts = sorted(parts, key=lambda part: int(part[ROW_INDEX].iloc[0]))
    result = pd.concat(parts, ignore_index=True)
    index = result[ROW_INDEX].to_numpy()
    if len(index) != n_rows or not np.array_equal(index, np.arange(n_rows)):
        counts = np.bincount(index.astype(np.int64), minlength=n_rows)
        lost = np.flatnonzero(counts == 0)[:5].tolist()
        doubled = np.flatnonzero(counts > 1)[:5].tolist()
        raise RuntimeError(
            f"{desc or 'map_batches'}: Ray returned {len(index)} rows for {n_rows} inputs "
            f"(missing rows {lost}, repeated rows {doubled})"
        )
    return result.drop(columns=[ROW_INDEX])

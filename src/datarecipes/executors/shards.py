"""Resumable shard writing: results are written atomically shard by shard as they complete,
and a restarted run computes only the shards not yet on disk.

One writer, :func:`resume_shards`, serves every resumable job (filtering's scoring through
:func:`map_shards`, the MCTS difficulty search); a :class:`ShardFormat` says how a shard is
named, stored and identified. A shard file is reused only when it holds exactly the ids of its
shard, so a changed input is never silently mixed in; callers put anything else the results
depend on (model weights, prompts, settings) into the directory's name or a manifest.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pandas as pd

from datarecipes.config import ParameterError
from datarecipes.executors.base import BatchFn, Executor, RowFn, call_once

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: Called with (file, ids it holds, ids of its shard) when a shard file holds other ids;
#: raise to refuse the directory, return to recompute the shard.
OnMismatch = Callable[[Path, list[str], list[str]], None]


@dataclass(frozen=True)
class ShardStats:
    """What a resumable run computed and what it found already done."""

    shards: int
    computed: int
    reused: int


@dataclass(frozen=True)
class ShardFormat(Generic[T]):
    """How one shard's results (a ``T``) are stored."""

    #: File name of shard ``i`` inside the directory.
    filename: Callable[[int], str]
    #: Writes a shard's results to a (temporary) path.
    write: Callable[[Path, T], None]
    #: Reads a shard file back.
    read: Callable[[Path], T]
    #: The row ids a shard's results hold, as strings, in order.
    ids: Callable[[T], list[str]]


def parquet_format(name: str, id_column: str) -> ShardFormat[pd.DataFrame]:
    """Frames as ``{i:08d}_{name}.parquet`` (MLM-Filter's per-tar naming), ids in ``id_column``."""
    return ShardFormat(
        filename=lambda i: f"{i:08d}_{name}.parquet",
        write=lambda path, frame: frame.to_parquet(path, index=False),
        read=pd.read_parquet,
        ids=lambda frame: frame[id_column].astype(str).tolist(),
    )


def _write_json_lines(path: Path, records: list[dict[str, Any]]) -> None:
    with open(path, "wb") as fh:
        fh.write("".join(f"{json.dumps(r)}\n" for r in records).encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


def _read_json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def json_lines_format(
    filename: Callable[[int], str], id_key: str
) -> ShardFormat[list[dict[str, Any]]]:
    """Records (JSON-able mappings) as one JSON line each; ids in ``id_key``."""
    return ShardFormat(
        filename=filename,
        write=_write_json_lines,
        read=_read_json_lines,
        ids=lambda records: [str(r[id_key]) for r in records],
    )


def check_unique_ids(ids: Sequence[str], name: str, id_name: str) -> None:
    """Refuse an input whose ids repeat (its shards could not be told apart on resume)."""
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise ValueError(f"{name}: {id_name} {value!r} occurs more than once in the input")
        seen.add(value)


def _recompute(path: Path, found: list[str], expected: list[str]) -> None:
    logger.warning("%s holds other ids than its shard (%s… instead of %s…); recomputing it",
                   path, found[:3], expected[:3])


def resume_shards(
    ids: Sequence[str],
    compute: Callable[[list[int]], Iterable[tuple[int, T]]],
    fmt: ShardFormat[T],
    *,
    shard_size: int,
    directory: str | Path | None,
    name: str,
    min_shards: int = 0,
    on_mismatch: OnMismatch = _recompute,
) -> tuple[list[T], ShardStats]:
    """Every shard's results, in shard order: read from ``directory`` where finished, else
    computed and written there atomically the moment they arrive.

    Shard ``i`` holds the rows ``ids[i*shard_size : (i+1)*shard_size]`` (at least
    ``min_shards`` shards, the last ones possibly empty). ``compute(todo)`` gets the indices of
    the unfinished shards, in order, and yields ``(index, results)`` as each finishes; its
    results must hold exactly the shard's ids. An interruption loses only the shards being
    computed. ``directory=None`` computes everything in memory.
    """
    if shard_size < 1:
        raise ParameterError(f"{name}: shard_size must be >= 1, got {shard_size}")
    ids = [str(i) for i in ids]
    check_unique_ids(ids, name, "id")
    n_shards = max(min_shards, -(-len(ids) // shard_size))
    expected = [ids[i * shard_size : (i + 1) * shard_size] for i in range(n_shards)]
    root = Path(directory) if directory is not None else None
    paths = [root / fmt.filename(i) if root is not None else None for i in range(n_shards)]
    done: dict[int, T] = {}
    for index, path in enumerate(paths):
        if path is not None and path.is_file():
            results = fmt.read(path)
            found = fmt.ids(results)
            if found == expected[index]:
                done[index] = results
                continue
            on_mismatch(path, found, expected[index])
    reused = len(done)
    todo = [i for i in range(n_shards) if i not in done]
    if todo:
        from datarecipes.io.atomic import atomic_path

        pending = set(todo)
        for index, results in compute(todo):
            found = fmt.ids(results)
            if index not in pending or found != expected[index]:
                # an executor that split, merged or repeated batches
                raise RuntimeError(f"{name} shard {index}: got results for {found[:3]}… but "
                                   f"the shard holds {expected[index][:3]}…")
            if paths[index] is not None:
                with atomic_path(paths[index]) as tmp:
                    fmt.write(tmp, results)
            done[index] = results
            pending.discard(index)
        if pending:
            raise RuntimeError(f"{name}: no result came back for shards {sorted(pending)[:5]} "
                               f"of {directory}; rerun to resume them")
    stats = ShardStats(shards=n_shards, computed=len(todo), reused=reused)
    return [done[i] for i in range(n_shards)], stats


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
    if shard_size < 1:
        raise ParameterError(f"{name}: shard_size must be >= 1, got {shard_size}")
    ids = rows[id_column].astype(str).tolist()
    check_unique_ids(ids, name, id_column)
    fn_once = call_once(fn_factory)  # load the model once for all shards, and only if needed
    n_shards = max(1, -(-len(rows) // shard_size))

    def compute(todo: list[int]) -> Iterable[tuple[int, pd.DataFrame]]:
        for shard in todo:
            chunk = rows.iloc[shard * shard_size : (shard + 1) * shard_size].reset_index(drop=True)
            result = executor.map_batches(
                fn_once, chunk, batch_size=batch_size, preprocess=preprocess,
                desc=f"{name} shard {shard + 1}/{n_shards}",
            )
            if id_column not in result:
                result.insert(0, id_column, chunk[id_column].to_numpy())
            yield shard, result

    parts, stats = resume_shards(
        ids, compute, parquet_format(name, id_column), shard_size=shard_size,
        directory=directory, name=name, min_shards=1,
    )
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({id_column: []})
    return out, stats

"""Resumable MCTS scoring: results are written per partition as they complete.

Scoring 70k samples with up to 50 iterations each takes days on a GPU (the reference shards it
over 8 GPUs and writes only at the very end, so a crash loses a shard). Here the input is cut
into partitions of ``batch_size`` samples, each partition is searched in lock step and written
atomically to ``<output_dir>/part-NNNNN.jsonl``; a restarted run reads the finished partitions
and searches only the rest. Seeds derive from (seed, sample id, iteration), so a resumed run
gives the same table as an uninterrupted one. ``manifest.json`` records the settings a
directory was started with; resuming with different ones is refused rather than mixed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from datarecipes.executors import Executor, LocalExecutor
from datarecipes.executors.shards import check_unique_ids, json_lines_format, resume_shards
from datarecipes.fingerprint import digest
from datarecipes.io.atomic import atomic_write_text
from datarecipes.mcts.policy import Policy
from datarecipes.mcts.samples import parse_samples
from datarecipes.mcts.search import MctsParams, MctsRecord, Reward, mcts_difficulty
from datarecipes.mcts.workers import as_factory, batch_rows, rows_frame

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
RECORD_COLUMNS = [f.name for f in dataclasses.fields(MctsRecord)]
#: Executor output column: one :class:`MctsRecord` per searched row.
RECORD = "record"


class ResumeError(ValueError):
    """An output directory holds results that do not belong to this run."""


def partition_name(index: int) -> str:
    """File name of partition ``index`` in the output directory."""
    return f"part-{index:05d}.jsonl"


def partition_path(output_dir: Path, index: int) -> Path:
    return output_dir / partition_name(index)


def _refuse_partition(path: Path, found: list[str], expected: list[str]) -> None:
    raise ResumeError(f"{path}: holds samples {found[:3]}… but this partition is {expected[:3]}…")


def _manifest(config: MctsParams, batch_size: int, ids: Sequence[str], reward: str) -> dict:
    ids_digest = digest("\n".join(ids), length=None)
    return {
        "config": dataclasses.asdict(config),
        "batch_size": batch_size,
        "reward": reward,
        "num_samples": len(ids),
        "sample_ids_sha256": ids_digest,
    }


def _check_manifest(output_dir: Path, manifest: dict) -> None:
    path = output_dir / MANIFEST
    if not path.exists():
        atomic_write_text(path, json.dumps(manifest, indent=2, sort_keys=True))
        return
    old = json.loads(path.read_text(encoding="utf-8"))
    if old != manifest:
        keys = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
        raise ResumeError(
            f"{path}: this directory was started with different settings ({', '.join(keys)} "
            "differ); use a new output directory or delete it to start over"
        )


def run_mcts_difficulty(
    rows: Sequence[Mapping[str, Any]],
    policy: Policy | Callable[[], Policy],
    config: MctsParams,
    output_dir: str | Path,
    *,
    batch_size: int = 16,
    reward: Reward | Callable[[], Reward] | None = None,
    strict: bool = False,
    progress: bool = True,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Score every row by MCTS difficulty, resuming from finished partitions in ``output_dir``.

    ``rows``: mappings with ``sample_id``, ``question``, ``answer`` and optionally ``image``,
    ``options``, ``question_type`` (see :mod:`datarecipes.mcts.samples`). Bad rows are kept in
    the table with a ``skip_reason`` (or raise with ``strict``). Returns one row per input row,
    in input order, with the :class:`MctsRecord` columns.

    ``policy`` and ``reward`` are objects, or zero-argument factories that build them where the
    search runs. ``executor`` (default: this process) gets every unfinished partition in one
    stream, one partition per batch, and each partition is written the moment its batch
    returns: a crash loses only the partitions being searched, and a pool of Ray actors loads
    the policy once per actor for the whole search. The partition files do not depend on the
    executor, so one executor can resume another's run.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    ids = [str(r.get("sample_id")) for r in rows]
    check_unique_ids(ids, "MCTS difficulty", "sample_id")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    _check_manifest(output_dir, _manifest(config, batch_size, ids, _reward_name(reward)))

    executor = executor if executor is not None else LocalExecutor()
    fn_factory = functools.partial(
        _partition_scorer, as_factory(policy, "generate_steps"), config,
        as_factory(reward, "score"), strict,
    )
    bar = tqdm(total=len(rows), desc="MCTS difficulty", unit="sample", disable=not progress)
    searched = 0

    def search(todo: list[int]) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        nonlocal searched
        # Only the last partition can be short, and it is always the last one here, so the
        # executor's batches of ``batch_size`` rows are exactly the unfinished partitions.
        chunk = [rows[i] for p in todo
                 for i in range(p * batch_size, min((p + 1) * batch_size, len(rows)))]
        bar.update(len(rows) - len(chunk))  # resumed
        stream = executor.iter_batches(fn_factory, rows_frame(chunk), batch_size=batch_size,
                                       desc=f"MCTS: {len(todo)} partitions")
        for start, out in stream:
            # Record objects until here; the shard writer serialises them to the file.
            records = [dataclasses.asdict(r) for r in out[RECORD]]
            searched += len(records)
            bar.update(len(records))
            yield todo[start // batch_size], records

    parts, _ = resume_shards(
        ids, search, json_lines_format(partition_name, "sample_id"), shard_size=batch_size,
        directory=output_dir, name="MCTS difficulty", on_mismatch=_refuse_partition,
    )
    bar.update(len(rows) - bar.n)  # everything resumed: the search never ran
    bar.close()
    records = [r for part in parts for r in part]
    resumed = len(records) - searched
    skipped = sum(r["skip_reason"] is not None for r in records)
    logger.info(
        "MCTS difficulty: %d samples (%d resumed from %s, %d searched, %d skipped as bad input)",
        len(records), resumed, output_dir, len(records) - resumed, skipped,
    )
    return pd.DataFrame(records, columns=RECORD_COLUMNS).astype({"iters": "Int64"})


def _reward_name(reward: Any) -> str:
    """What the manifest records of the reward (a factory names it in ``reward_name``)."""
    if reward is None:
        return "AnswerMatchReward"
    return getattr(reward, "reward_name", type(reward).__name__)


def _partition_scorer(
    policy_factory: Callable[[], Policy],
    config: MctsParams,
    reward_factory: Callable[[], Reward | None],
    strict: bool,
) -> Callable[[Mapping[str, Any]], dict[str, np.ndarray]]:
    """The batch function of one executor worker: builds policy and reward once."""
    policy, reward = policy_factory(), reward_factory()

    def score(batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        records = _score_partition(batch_rows(batch), policy, config, reward, strict)
        column = np.empty(len(records), dtype=object)
        column[:] = records
        return {RECORD: column}

    return score


def _score_partition(
    rows: Sequence[Mapping[str, Any]],
    policy: Policy,
    config: MctsParams,
    reward: Reward | None,
    strict: bool,
) -> list[MctsRecord]:
    samples, reasons = parse_samples(list(rows), strict=strict)
    valid = [s for s in samples if s is not None]
    found = iter(mcts_difficulty(valid, policy, config, reward) if valid else [])
    out = []
    for row, sample, reason in zip(rows, samples, reasons):
        if sample is not None:
            out.append(next(found))
            continue
        qtype = row.get("question_type")
        out.append(
            MctsRecord(
                sample_id=str(row.get("sample_id")), solved=False, iters=None,
                iterations_run=0, generated_tokens=0, solution=None,
                question_type=None if pd.isna(qtype) else str(qtype), skip_reason=reason,
            )
        )
    return out

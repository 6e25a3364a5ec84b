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
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from datarecipes.io.atomic import atomic_write_text
from datarecipes.mcts.policy import Policy
from datarecipes.mcts.samples import parse_samples
from datarecipes.mcts.search import MctsConfig, MctsRecord, Reward, mcts_difficulty

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
RECORD_COLUMNS = [f.name for f in dataclasses.fields(MctsRecord)]


class ResumeError(ValueError):
    """An output directory holds results that do not belong to this run."""


def partition_path(output_dir: Path, index: int) -> Path:
    return output_dir / f"part-{index:05d}.jsonl"


def _manifest(config: MctsConfig, batch_size: int, ids: Sequence[str], reward: str) -> dict:
    digest = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()
    return {
        "config": dataclasses.asdict(config),
        "batch_size": batch_size,
        "reward": reward,
        "num_samples": len(ids),
        "sample_ids_sha256": digest,
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


def _read_partition(path: Path, ids: Sequence[str]) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    found = [r["sample_id"] for r in records]
    if found != list(ids):
        raise ResumeError(f"{path}: holds samples {found[:3]}… but this partition is {ids[:3]}…")
    return records


def run_mcts_difficulty(
    rows: Sequence[Mapping[str, Any]],
    policy: Policy,
    config: MctsConfig,
    output_dir: str | Path,
    *,
    batch_size: int = 16,
    reward: Reward | None = None,
    strict: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Score every row by MCTS difficulty, resuming from finished partitions in ``output_dir``.

    ``rows``: mappings with ``sample_id``, ``question``, ``answer`` and optionally ``image``,
    ``options``, ``question_type`` (see :mod:`datarecipes.mcts.samples`). Bad rows are kept in
    the table with a ``skip_reason`` (or raise with ``strict``). Returns one row per input row,
    in input order, with the :class:`MctsRecord` columns.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    ids = [str(r.get("sample_id")) for r in rows]
    seen: set[str] = set()
    for sid in ids:
        if sid in seen:
            raise ValueError(f"sample_id {sid!r} occurs more than once in the input")
        seen.add(sid)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    reward_name = type(reward).__name__ if reward is not None else "AnswerMatchReward"
    _check_manifest(output_dir, _manifest(config, batch_size, ids, reward_name))

    starts = range(0, len(rows), batch_size)
    records: list[dict[str, Any]] = []
    done = computed = skipped = 0
    bar = tqdm(total=len(rows), desc="MCTS difficulty", unit="sample", disable=not progress)
    for index, start in enumerate(starts):
        part_rows = rows[start : start + batch_size]
        part_ids = ids[start : start + batch_size]
        path = partition_path(output_dir, index)
        if path.exists():
            part = _read_partition(path, part_ids)
            done += len(part)
        else:
            part = _score_partition(part_rows, policy, config, reward, strict)
            atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in part))
            computed += len(part)
        skipped += sum(r["skip_reason"] is not None for r in part)
        records.extend(part)
        bar.update(len(part))
    bar.close()
    logger.info(
        "MCTS difficulty: %d samples (%d resumed from %s, %d searched, %d skipped as bad input)",
        len(records), done, output_dir, computed, skipped,
    )
    return pd.DataFrame(records, columns=RECORD_COLUMNS).astype({"iters": "Int64"})


def _score_partition(
    rows: Sequence[Mapping[str, Any]],
    policy: Policy,
    config: MctsConfig,
    reward: Reward | None,
    strict: bool,
) -> list[dict[str, Any]]:
    samples, reasons = parse_samples(list(rows), strict=strict)
    valid = [s for s in samples if s is not None]
    found = iter(mcts_difficulty(valid, policy, config, reward) if valid else [])
    out = []
    for row, sample, reason in zip(rows, samples, reasons):
        if sample is not None:
            out.append(dataclasses.asdict(next(found)))
            continue
        qtype = row.get("question_type")
        out.append(
            dataclasses.asdict(
                MctsRecord(
                    sample_id=str(row.get("sample_id")), solved=False, iters=None,
                    iterations_run=0, generated_tokens=0, solution=None,
                    question_type=None if pd.isna(qtype) else str(qtype), skip_reason=reason,
                )
            )
        )
    return out

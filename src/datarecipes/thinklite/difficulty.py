"""MCTS difficulty of the pool, resumable across runs of the pipeline.

:func:`datarecipes.mcts.run_mcts_difficulty` resumes from the partitions in its output
directory and refuses a directory started with other settings. The pipeline owns one work
directory (a catalog entry) and gives every distinct search its own sub-directory, named by a
digest of what decides the results (policy weights, search settings, pool, reward): rerunning
an interrupted run resumes it, while changing a parameter or retraining the warm start starts
a fresh search instead of failing or, worse, reusing another policy's scores.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import pandas as pd

from datarecipes.mcts import HFPolicy, JudgeReward, MctsConfig, Reward, run_mcts_difficulty
from datarecipes.models import LoadedModel
from datarecipes.thinklite.data import mcts_rows
from datarecipes.thinklite.params import ThinkLiteMctsParams
from datarecipes.thinklite.policy import policy_fingerprint

logger = logging.getLogger(__name__)


def search_key(
    fingerprint: str, config: MctsConfig, run: ThinkLiteMctsParams, sample_ids: list[str],
    judge_fingerprint: str | None = None,
) -> str:
    """Digest naming the sub-directory of one search."""
    payload = {
        "policy": fingerprint,
        "judge": judge_fingerprint,
        "config": dataclasses.asdict(config),
        "run": dataclasses.asdict(run),
        "ids": sample_ids,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def pool_difficulty(
    pool: pd.DataFrame,
    policy: LoadedModel,
    config: MctsConfig,
    run: ThinkLiteMctsParams,
    work_dir: str | Path,
    judge: LoadedModel | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """The :class:`~datarecipes.mcts.MctsRecord` table of ``pool``, searched (or resumed)
    under ``work_dir/<search key>``."""
    reward: Reward | None = None
    judge_print = None
    if run.reward == "judge":
        if judge is None:
            raise ValueError("parameters_thinklite.yml: thinklite_mcts.reward is 'judge' but no "
                             "judge model was given")
        reward = JudgeReward(HFPolicy.from_loaded(judge), run.judge_max_new_tokens)
        judge_print = policy_fingerprint(judge.model)
    ids = pool["sample_id"].astype(str).tolist()
    key = search_key(policy_fingerprint(policy.model), config, run, ids, judge_print)
    out_dir = Path(work_dir) / key
    logger.info("MCTS difficulty of %d questions in %s", len(ids), out_dir)
    return run_mcts_difficulty(
        mcts_rows(pool), HFPolicy.from_loaded(policy), config, out_dir,
        batch_size=run.batch_size, reward=reward, strict=run.strict, progress=progress,
    )

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
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from datarecipes.executors import make_executor
from datarecipes.fingerprint import json_digest
from datarecipes.mcts import JudgeReward, MctsParams, Reward, run_mcts_difficulty
from datarecipes.mcts.decoding import checkpoint_sampling
from datarecipes.thinklite.data import mcts_rows
from datarecipes.thinklite.params import ThinkLiteMctsParams
from datarecipes.thinklite.policy import PolicySource

#: ``thinklite_mcts`` settings that say where the search runs, not what it finds.
PLACEMENT_FIELDS = ("executor",)

logger = logging.getLogger(__name__)


def search_key(
    fingerprint: str, config: MctsParams, run: ThinkLiteMctsParams, sample_ids: list[str],
    judge_fingerprint: str | None = None,
) -> str:
    """Digest naming the sub-directory of one search: what decides its results, not where it
    runs (the executor settings are left out, so a Ray run resumes a local one and back)."""
    settings = dataclasses.asdict(run)
    for name in PLACEMENT_FIELDS:
        settings.pop(name)
    payload = {
        "policy": fingerprint,
        "judge": judge_fingerprint,
        "config": dataclasses.asdict(config),
        "run": settings,
        "ids": sample_ids,
    }
    return json_digest(payload)


@dataclass(frozen=True)
class JudgeRewardFactory:
    """Builds ThinkLite's judge reward where the search runs (picklable for Ray actors)."""

    judge: PolicySource
    max_new_tokens: int
    #: ``greedy`` or ``checkpoint`` (the judge checkpoint's sampling defaults, ThinkLite's).
    decoding: str = "greedy"
    prompt: str = "ours"  #: Judge prompt style (``reference`` | ``ours``).
    verdict: str = "ours"  #: Verdict rule (``reference`` | ``ours``).
    #: What the resume manifest records (the reward the factory builds).
    reward_name: ClassVar[str] = "JudgeReward"

    def __call__(self) -> Reward:
        temperature, top_p = self.sampling()
        return JudgeReward(self.judge.step_policy(), self.max_new_tokens,
                           temperature=temperature, top_p=top_p, prompt=self.prompt,
                           verdict=self.verdict)

    def sampling(self) -> tuple[float, float]:
        """``(temperature, top_p)`` of the judge's verdicts under ``decoding``."""
        if self.decoding == "greedy":
            return 0.0, 1.0
        return checkpoint_sampling(judge_generation_config(self.judge))


def judge_generation_config(judge: PolicySource) -> Any:
    """The judge checkpoint's ``GenerationConfig`` (its generation_config.json, else the one
    transformers derives from its config, which is greedy)."""
    if judge.loaded is not None:
        return getattr(judge.loaded.model, "generation_config", None)
    from transformers import GenerationConfig

    from datarecipes.models.factory import _from_pretrained_kwargs, resolve_path

    path = resolve_path(judge.spec)
    kwargs = _from_pretrained_kwargs(judge.spec, path)
    kwargs.pop("trust_remote_code", None)
    try:
        return GenerationConfig.from_pretrained(path, **kwargs)
    except OSError:  # no generation_config.json: transformers' defaults (greedy)
        return None


def pool_difficulty(
    pool: pd.DataFrame,
    policy: PolicySource,
    config: MctsParams,
    run: ThinkLiteMctsParams,
    work_dir: str | Path,
    judge: PolicySource | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """The :class:`~datarecipes.mcts.MctsRecord` table of ``pool``, searched (or resumed)
    under ``work_dir/<search key>`` on ``run.executor``. The policy (and judge) are loaded
    where the search runs, and only when some partition is left to search."""
    reward: JudgeRewardFactory | None = None
    judge_print = None
    if run.reward == "judge":
        if judge is None:
            raise ValueError("parameters_thinklite.yml: thinklite_mcts.reward is 'judge' but no "
                             "judge model was given")
        reward = JudgeRewardFactory(judge, run.judge_max_new_tokens, run.judge_decoding,
                                    run.judge_prompt, run.judge_verdict)
        judge_print = judge.fingerprint()
    ids = pool["sample_id"].astype(str).tolist()
    key = search_key(policy.fingerprint(), config, run, ids, judge_print)
    out_dir = Path(work_dir) / key
    logger.info("MCTS difficulty of %d questions in %s (%s executor)", len(ids), out_dir,
                run.executor.kind)
    return run_mcts_difficulty(
        mcts_rows(pool), policy.step_policy, config, out_dir,
        batch_size=run.batch_size, reward=reward, strict=run.strict, progress=progress,
        executor=make_executor(run.executor),
    )

"""ThinkLite-VL's MCTS difficulty score (batched, resumable) and hard-sample selection."""

from datarecipes.mcts.policy import Generation, HFPolicy, Policy, StepRequest, derive_seed
from datarecipes.mcts.resume import run_mcts_difficulty
from datarecipes.mcts.samples import BadSampleError, MctsSample, parse_samples
from datarecipes.mcts.search import (
    AnswerMatchReward,
    JudgeReward,
    MctsParams,
    MctsRecord,
    Reward,
    mcts_difficulty,
)
from datarecipes.mcts.selection import (
    SelectionParams,
    answer_accuracy,
    select_hard_samples,
    selection_report,
)

__all__ = [
    "AnswerMatchReward",
    "BadSampleError",
    "Generation",
    "HFPolicy",
    "JudgeReward",
    "MctsParams",
    "MctsRecord",
    "MctsSample",
    "Policy",
    "Reward",
    "SelectionParams",
    "StepRequest",
    "answer_accuracy",
    "derive_seed",
    "mcts_difficulty",
    "parse_samples",
    "run_mcts_difficulty",
    "select_hard_samples",
    "selection_report",
]

"""ThinkLite-VL glue: question sets from ProVision, resumable MCTS difficulty of the pool,
evaluation and ablation reports. The search and selection live in :mod:`datarecipes.mcts`,
the trainers in :mod:`datarecipes.training`; ``pipelines/thinklite`` wires them."""

from datarecipes.thinklite.data import (
    SplitOverlapError,
    check_disjoint,
    mcts_rows,
    prompt_records,
    provision_to_questions,
    sft_records,
    split_questions,
)
from datarecipes.thinklite.difficulty import pool_difficulty
from datarecipes.thinklite.params import (
    ABLATION_STRATEGIES,
    AblationParams,
    ThinkLiteDataParams,
    ThinkLiteEvalParams,
    ThinkLiteMctsParams,
)
from datarecipes.thinklite.policy import PolicySource, load_policy, policy_fingerprint
from datarecipes.thinklite.report import ablation_summary, eval_plot, evaluate_policy

__all__ = [
    "ABLATION_STRATEGIES",
    "AblationParams",
    "PolicySource",
    "SplitOverlapError",
    "ThinkLiteDataParams",
    "ThinkLiteEvalParams",
    "ThinkLiteMctsParams",
    "ablation_summary",
    "check_disjoint",
    "eval_plot",
    "evaluate_policy",
    "load_policy",
    "mcts_rows",
    "policy_fingerprint",
    "pool_difficulty",
    "prompt_records",
    "provision_to_questions",
    "sft_records",
    "split_questions",
]

"""SFT and GRPO on TRL, for any model the factory loads."""

from datarecipes.training.grpo import GRPOParams, train_grpo
from datarecipes.training.rewards import (
    accuracy_reward,
    format_reward,
    majority_vote_reward,
    weighted_rewards,
)
from datarecipes.training.sft import SFTParams, train_sft

__all__ = [
    "GRPOParams",
    "SFTParams",
    "accuracy_reward",
    "format_reward",
    "majority_vote_reward",
    "train_grpo",
    "train_sft",
    "weighted_rewards",
]

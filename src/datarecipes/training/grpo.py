"""GRPO with TRL's ``GRPOTrainer``: EasyR1-style format + accuracy rewards, or MM-UPT's
majority-vote self-reward for unlabeled data. The policy and reference log-probabilities of the
loss go through the project's chunked LM-head kernel (:mod:`datarecipes.kernels`) by default."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd
from trl import GRPOConfig, GRPOTrainer

from datarecipes.config import require
from datarecipes.engines import GenerationParams, check_grpo_rollouts, grpo_vllm_kwargs
from datarecipes.kernels import ChunkedLogprobsGRPOMixin
from datarecipes.models.checkpoint import merge_lora
from datarecipes.models.factory import LoadedModel, load_model, lora_config
from datarecipes.models.spec import ModelParams
from datarecipes.training.callbacks import StepMetricsCallback
from datarecipes.training.data import OnBadSample, prompt_dataset
from datarecipes.training.rewards import MajorityRule, majority_vote, weighted_rewards

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GRPOParams:
    """GRPO hyperparameters. All but the fields in :data:`PROJECT_FIELDS` pass unchanged to
    TRL's ``GRPOConfig``. Reference values (MM-UPT / EasyR1, methods.md §5, docs/fidelity.md):
    10 rollouts per prompt, KL 1e-2, temperature 0.7 (top_p 0.99), full fine-tuning at learning
    rate 1e-6 with weight decay 1e-2, clip 0.2 / 0.3, 4 updates per 512-prompt rollout; the
    defaults here are scaled down for the CPU run, ``conf/gpu`` restores them."""

    #: ``accuracy`` = EasyR1 format + accuracy against the ``answer`` column;
    #: ``majority_vote`` = MM-UPT self-reward (labels unused).
    reward: Literal["accuracy", "majority_vote"] = "accuracy"
    #: Majority-vote rule (``reward: majority_vote``): ``reference`` = MM-UPT's (a tie goes to
    #: the answer seen first; a no-box majority, extracted as the string "None", is rewarded);
    #: ``abstain`` = ours (a tied or no-box group gets reward 0 for every rollout).
    majority_rule: MajorityRule = "abstain"
    #: What is trained: ``spec`` = as ``models.policy`` says (its ``lora`` block, or every
    #: weight when that is null); ``full`` = every weight whatever the spec says (MM-UPT:
    #: full fine-tuning under FSDP), the vision tower too unless ``freeze_vision_tower``.
    finetuning: Literal["spec", "full"] = "spec"
    #: With ``finetuning: full``: keep the vision encoder's weights fixed (MM-UPT: false).
    freeze_vision_tower: bool = False
    format_weight: float = 0.1  #: Weight of the format reward in the accuracy reward (EasyR1).
    #: Per-token log-probs of the loss: ``chunked`` = the project's kernel
    #: (``datarecipes.kernels.token_logprobs_and_entropy`` via ``ChunkedLogprobsGRPOMixin``);
    #: ``trl`` = TRL's own fused LM head. Both avoid ``[B, L, V]`` logits and agree to float
    #: rounding.
    lm_head: Literal["chunked", "trl"] = "chunked"
    num_generations: int = 4  #: Rollouts per prompt (the GRPO group size).
    beta: float = 0.01  #: KL coefficient against the reference policy.
    temperature: float = 0.7  #: Rollout sampling temperature.
    top_p: float = 0.99  #: Rollout nucleus sampling.
    learning_rate: float = 1e-5  #: Peak learning rate.
    weight_decay: float = 0.0  #: AdamW weight decay (MM-UPT 1e-2).
    max_grad_norm: float = 1.0  #: Gradient clipping norm (MM-UPT 1.0).
    #: Lower clip of the policy ratio, 1 - epsilon (MM-UPT ``clip_ratio_low`` 0.2).
    epsilon: float = 0.2
    #: Upper clip, 1 + epsilon_high; null = epsilon (MM-UPT ``clip_ratio_high`` 0.3).
    epsilon_high: float | None = None
    #: Cap on the ratio of the unclipped term (TRL's two-sided clip); null = none. MM-UPT's
    #: dual clip (``clip_ratio_dual`` 3.0) bounds a negative-advantage token's loss at 3 x A,
    #: which is what capping the ratio at 3 does.
    delta: float | None = None
    #: Loss aggregation (TRL ``loss_type``): ``dapo`` = token mean over the whole accumulated
    #: batch (TRL's default); ``bnpo`` = token mean per micro-batch, divided by the accumulation
    #: steps (verl's ``masked_mean`` per micro-batch, MM-UPT); ``grpo`` = per-sequence mean;
    #: ``dr_grpo`` = sum over a constant.
    loss_type: Literal["dapo", "bnpo", "grpo", "dr_grpo"] = "dapo"
    #: Policy updates on each generated batch (PPO epochs; MM-UPT ``ppo_epochs`` 1).
    num_iterations: int = 1
    #: Micro-batches generated at once, per process (TRL's ``steps_per_generation``); null =
    #: gradient_accumulation_steps (one rollout per optimizer step). MM-UPT rolls out 512
    #: prompts and takes 4 optimizer steps of 128 on them: 4 x gradient_accumulation_steps.
    steps_per_generation: int | None = None
    #: ``generation.engine: hf`` only: refuse a run whose rollouts per generate call
    #: (per_device_train_batch_size x steps_per_generation) x max_completion_length exceed
    #: this many tokens. transformers' generate holds every rollout's KV cache at once
    #: (~57 KB per token for Qwen2.5-VL-7B in bf16); vLLM pages it.
    hf_max_rollout_tokens: int = 1_048_576
    max_completion_length: int = 64  #: Generated tokens per rollout.
    per_device_train_batch_size: int = 4  #: Completions per micro-batch (multiple of group).
    gradient_accumulation_steps: int = 1  #: Micro-batches per optimizer step.
    num_train_epochs: float = 1.0  #: Passes over the prompts (ignored when max_steps > 0).
    max_steps: int = -1  #: Optimizer steps; -1 = run num_train_epochs.
    lr_scheduler_type: Literal["cosine", "linear", "constant"] = "constant"
    seed: int = 0  #: Seed for data order and sampling.
    logging_steps: int = 1  #: Steps between metric logs.
    bf16: bool = False  #: bf16 mixed precision (GPU).
    gradient_checkpointing: bool = False  #: Recompute activations to save memory.

    def __post_init__(self) -> None:
        require(0.0 <= self.format_weight <= 1.0, "format_weight must be in [0, 1]")
        require(self.num_generations >= 2, "num_generations must be >= 2 (GRPO compares a group)")
        require(self.beta >= 0, "beta must be >= 0")
        require(self.temperature > 0, "temperature must be > 0 (rollouts are sampled)")
        require(0 < self.top_p <= 1, "top_p must be in (0, 1]")
        require(self.learning_rate > 0, "learning_rate must be > 0")
        require(self.max_completion_length > 0, "max_completion_length must be > 0")
        require(
            (self.per_device_train_batch_size * self.gradient_accumulation_steps)
            % self.num_generations == 0,
            "per_device_train_batch_size * gradient_accumulation_steps must be a multiple of "
            f"num_generations ({self.num_generations})",
        )
        require(self.max_steps == -1 or self.max_steps > 0, "max_steps must be -1 or > 0")
        require(self.weight_decay >= 0, "weight_decay must be >= 0")
        require(self.max_grad_norm > 0, "max_grad_norm must be > 0")
        require(0 < self.epsilon < 1, f"epsilon must be in (0, 1), got {self.epsilon}")
        require(self.epsilon_high is None or self.epsilon_high > 0,
                f"epsilon_high must be > 0 or null, got {self.epsilon_high}")
        require(self.delta is None or self.delta > 1 + (self.epsilon_high or self.epsilon),
                f"delta must be null or > 1 + epsilon_high, got {self.delta}")
        require(self.num_iterations >= 1, f"num_iterations must be >= 1, got {self.num_iterations}")
        require(
            self.steps_per_generation is None
            or (self.steps_per_generation >= 1
                and self.steps_per_generation % self.gradient_accumulation_steps == 0),
            "steps_per_generation must be null or a positive multiple of "
            f"gradient_accumulation_steps ({self.gradient_accumulation_steps}): each rollout "
            f"feeds whole optimizer steps; got {self.steps_per_generation}",
        )
        require(self.hf_max_rollout_tokens >= 1, "hf_max_rollout_tokens must be >= 1")
        require(not self.freeze_vision_tower or self.finetuning == "full",
                "freeze_vision_tower needs finetuning: full (LoRA targets follow models.policy)")

    @property
    def rollouts_per_generation(self) -> int:
        """Completions one process generates per rollout phase (one ``generate`` call on hf)."""
        steps = self.steps_per_generation or self.gradient_accumulation_steps
        return self.per_device_train_batch_size * steps


#: GRPOParams fields that are the project's, not ``trl.GRPOConfig``'s.
PROJECT_FIELDS = ("reward", "format_weight", "lm_head", "majority_rule", "finetuning",
                  "freeze_vision_tower", "hf_max_rollout_tokens")


def grpo_config(
    params: GRPOParams, output_dir: str, generation: GenerationParams | None = None
) -> GRPOConfig:
    """TRL config: ``params`` minus the project's own fields, plus fixed project settings, plus
    vLLM rollouts (colocated) when ``generation.engine`` is ``vllm``. Refuses (ParameterError)
    rollouts the ``hf`` engine cannot hold (:func:`check_grpo_rollouts`)."""
    generation = generation or GenerationParams()
    check_grpo_rollouts(params, generation)
    fields = asdict(params) | grpo_vllm_kwargs(generation)
    for name in PROJECT_FIELDS:
        fields.pop(name)
    return GRPOConfig(
        **fields,
        output_dir=output_dir,
        save_strategy="no",
        report_to="none",
        # The dataset's extra columns (answer, id, question_type) must reach the rewards.
        remove_unused_columns=False,
    )


def freeze_vision_tower(model: Any) -> int:
    """Stop gradients into the vision encoder (``model.visual`` / ``vision_tower`` /
    ``vision_model``, whichever the architecture has); returns the parameters frozen."""
    for holder in (model, getattr(model, "model", None)):
        for name in ("visual", "vision_tower", "vision_model"):
            tower = getattr(holder, name, None) if holder is not None else None
            if tower is not None:
                params = list(tower.parameters())
                for param in params:
                    param.requires_grad_(False)
                return sum(p.numel() for p in params)
    raise ValueError("freeze_vision_tower: the policy has no vision tower (visual, "
                     "vision_tower or vision_model)")


class ChunkedGRPOTrainer(ChunkedLogprobsGRPOMixin, GRPOTrainer):
    """TRL's ``GRPOTrainer`` with the policy/reference log-probabilities computed by
    :func:`datarecipes.kernels.token_logprobs_and_entropy` (``lm_head: chunked``)."""


def trainer_class(params: GRPOParams) -> type[GRPOTrainer]:
    """The trainer for ``params.lm_head``."""
    return ChunkedGRPOTrainer if params.lm_head == "chunked" else GRPOTrainer


def reward_functions(params: GRPOParams) -> tuple[list[Any], list[float]]:
    """The reward callables and their weights for ``params.reward``."""
    if params.reward == "majority_vote":
        return [majority_vote(params.majority_rule)], [1.0]
    return weighted_rewards(params.format_weight)


def train_grpo(
    model: ModelParams | LoadedModel,
    data: Iterable[Mapping[str, Any]] | pd.DataFrame,
    params: GRPOParams,
    image_root: str | None = None,
    on_bad_sample: OnBadSample = "skip",
    generation: GenerationParams | None = None,
) -> tuple[LoadedModel, dict[str, float]]:
    """Optimise ``model`` with GRPO on prompt records (LLaVA or chat; ``answer`` column for the
    accuracy reward), rolling out on the ``generation`` engine (TRL's ``use_vllm`` colocate
    mode for ``vllm``). Returns the policy (LoRA merged) and flat metrics."""
    check_grpo_rollouts(params, generation or GenerationParams())  # before loading anything
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    dataset, bad = prompt_dataset(data, image_root, on_bad_sample, name="grpo data")
    if params.reward == "accuracy" and not any(dataset["answer"]):
        raise ValueError("grpo data: reward 'accuracy' needs an 'answer' per record; none found")
    funcs, weights = reward_functions(params)
    if params.finetuning == "full" and params.freeze_vision_tower:
        freeze_vision_tower(loaded.model)
    config = None
    callback = StepMetricsCallback(prefix="grpo")
    with tempfile.TemporaryDirectory(prefix="grpo-") as output_dir:
        config = grpo_config(params, output_dir, generation)
        config.reward_weights = weights
        trainer = trainer_class(params)(
            model=loaded.model,
            reward_funcs=funcs,
            args=config,
            train_dataset=dataset,
            processing_class=loaded.processor,
            peft_config=None if params.finetuning == "full" else lora_config(loaded.spec.lora,
                                                                             loaded.kind),
            callbacks=[callback],
        )
        trainer.train()
        policy = merge_lora(trainer.model)
    policy.eval()
    rewards = [row["reward_mean"] for row in callback.history if "reward_mean" in row]
    metrics = {
        "grpo_prompts": float(len(dataset)),
        "grpo_skipped_records": float(bad.skipped),
        "grpo_steps": float(len(rewards)),
        "grpo_first_reward": rewards[0] if rewards else float("nan"),
        "grpo_last_reward": rewards[-1] if rewards else float("nan"),
        "grpo_mean_reward": sum(rewards) / len(rewards) if rewards else float("nan"),
    }
    return LoadedModel(policy, loaded.processor, loaded.kind, loaded.path, loaded.spec), metrics

"""The LM side of the ``scm`` pipeline: fine-tune the tabular LM, then query it on real tables.

Both go through the project's one model factory and training code, so ``-e gpu`` swaps the
tiny Qwen2 preset for Qwen2.5-7B-Instruct + LoRA with no change here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import pandas as pd

from datarecipes.config import from_params, parameters_section, require
from datarecipes.models import LoadedModel, ModelSpec, generate, load_model
from datarecipes.pipelines.scm.nodes import evaluate_lm
from datarecipes.tabular.evaluate import Answer
from datarecipes.tabular.lm_scoring import label_probabilities, score_answers
from datarecipes.tabular.params import ScmParams
from datarecipes.tabular.tables import Table
from datarecipes.training.sft import SFTParams, train_sft


@dataclass(frozen=True)
class TrainingStage:
    """One stage of a staged SFT schedule (MachineLearningLM ``scripts/train.sh``: warm-up at
    1e-5, stage 0 at 1e-7, stage 1 at 1e-6, one epoch each, warm-up ratio 0.05)."""

    name: str  #: Stage name, the prefix of its metrics (``<name>_loss``, ...).
    learning_rate: float  #: Peak learning rate of the stage.
    num_train_epochs: float = 1.0  #: Passes over the stage's records.
    #: Share of the training records (contiguous, in record order) this stage trains on; the
    #: reference trains each stage on its own corpus (Warmup, All_0, All_1). null: an equal
    #: share of what the stages with a share leave.
    share: float | None = None
    warmup_ratio: float = 0.05  #: Warm-up steps as a share of the stage's steps.

    def __post_init__(self) -> None:
        require(self.learning_rate > 0, f"stage {self.name}: learning_rate must be > 0")
        require(self.num_train_epochs > 0, f"stage {self.name}: num_train_epochs must be > 0")
        require(self.share is None or 0 < self.share <= 1,
                f"stage {self.name}: share must be in (0, 1] or null")
        require(0 <= self.warmup_ratio < 1, f"stage {self.name}: warmup_ratio must be in [0, 1)")


# The SFT hyperparameters of the tabular LM are their own section (MachineLearningLM's
# LLaMA-Factory recipe in conf/gpu), validated before the run like every other section.
@parameters_section("scm_training")
@dataclass(frozen=True)
class ScmTrainingParams(SFTParams):
    """:class:`SFTParams` plus an optional staged schedule; with ``stages`` empty (the CPU
    default) it is one SFT run with the fields above."""

    #: Stages trained one after the other, each on its share of the records at its own
    #: learning rate, each from the previous stage's (LoRA-merged) weights; the other fields
    #: (batch, accumulation, scheduler, max_length, ...) apply to every stage, and
    #: ``max_steps`` / ``num_train_epochs`` / ``learning_rate`` / ``warmup_steps`` are the
    #: stage's. The reference continues one LoRA adapter across stages; merging between
    #: stages and starting a fresh adapter lets each stage add its own rank-r update.
    stages: list[TrainingStage] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        names = [s.name for s in self.stages]
        require(len(set(names)) == len(names), f"stages: duplicate names {names}")
        fixed = sum(s.share for s in self.stages if s.share is not None)
        require(fixed <= 1 + 1e-9, f"stages: shares add up to {fixed} > 1")

    def sft(self) -> SFTParams:
        """The plain SFT parameters (without ``stages``)."""
        return SFTParams(**{f.name: getattr(self, f.name) for f in fields(SFTParams)})

    def plan(self, n_records: int) -> list[tuple[str, slice, SFTParams]]:
        """(name, record slice, SFT parameters) per stage; one unnamed stage when none."""
        if not self.stages:
            return [("", slice(0, n_records), self.sft())]
        free = [s for s in self.stages if s.share is None]
        rest = 1.0 - sum(s.share for s in self.stages if s.share is not None)
        out, start = [], 0
        per_step = self.per_device_train_batch_size * self.gradient_accumulation_steps
        for i, stage in enumerate(self.stages):
            share = stage.share if stage.share is not None else rest / len(free)
            end = n_records if i == len(self.stages) - 1 else min(
                n_records, start + round(share * n_records))
            steps = math.ceil((end - start) / per_step * stage.num_train_epochs)
            params = replace(self.sft(), learning_rate=stage.learning_rate,
                             num_train_epochs=stage.num_train_epochs, max_steps=-1,
                             warmup_steps=math.ceil(stage.warmup_ratio * steps))
            out.append((stage.name, slice(start, end), params))
            start = end
        return out

#: Tokens the LM may write per answered test row: `{"id":123,"label":4},` plus slack.
TOKENS_PER_ANSWER_ROW = 16


@parameters_section("scm_generation")
@dataclass(frozen=True)
class ScmGenerationParams:
    """How the tabular LM answers the evaluation prompts on the real tables."""

    #: ``generate`` = greedy decoding of the JSON answer (MachineLearningLM's way); ``score`` =
    #: the program writes the answer in the trained format and the model only picks each row's
    #: label by log-probability (:mod:`datarecipes.tabular.lm_scoring`), so an LM that is not
    #: yet fluent in the format is still measured on what it predicts.
    mode: Literal["generate", "score"] = "generate"
    batch_size: int = 8  #: Prompts per generate call (``generate`` only).
    #: ``generate`` only; None: TOKENS_PER_ANSWER_ROW per answered test row.
    max_new_tokens: int | None = None

    def __post_init__(self) -> None:
        require(self.batch_size > 0, f"batch_size must be > 0, got {self.batch_size}")
        require(
            self.max_new_tokens is None or self.max_new_tokens > 0,
            f"max_new_tokens must be > 0 or null, got {self.max_new_tokens}",
        )


def prepare_tabular_lm(model: Mapping[str, Any]) -> tuple[LoadedModel, Any]:
    """Load the base LM (a preset is built once, then loaded by path) and its tokenizer, which
    the corpus builder uses to check every prompt against the context."""
    spec = ModelSpec.from_params(model, where="parameters_models.yml: models.tabular_lm")
    loaded = load_model(spec)
    return loaded, loaded.tokenizer


def train_tabular_lm(
    base: LoadedModel, records: pd.DataFrame, training: Mapping[str, Any]
) -> tuple[LoadedModel, dict[str, float]]:
    """LoRA / full SFT of the tabular LM on the serialized SCM-prior tasks, in one run or as
    the staged schedule ``scm_training.stages`` (metrics of stage ``s`` prefixed ``s_``)."""
    params = from_params(ScmTrainingParams, training, where="parameters_scm.yml: scm_training")
    model, metrics = base, {}
    for name, rows, sft in params.plan(len(records)):
        part = records.iloc[rows]
        if part.empty:
            raise ValueError(f"parameters_scm.yml: scm_training.stages: stage {name!r} gets no "
                             f"records of {len(records)}; raise scm.n_tasks or its share")
        model, stage_metrics = train_sft(model, part[["messages"]], sft, on_bad_sample="error")
        metrics.update({f"{name}_{k}" if name else k: v for k, v in stage_metrics.items()})
    return model, metrics


def evaluate_tabular_lm(
    tables: dict[str, Table],
    model: LoadedModel,
    scm: Mapping[str, Any],
    generation: Mapping[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Many-shot prediction on every real table (greedy generation or label scoring, as
    ``scm_generation.mode`` says); parsed, voted and scored."""
    gen = from_params(ScmGenerationParams, generation, where="parameters_scm.yml: scm_generation")
    scm_params = from_params(ScmParams, scm, where="parameters_scm.yml: scm")
    test_rows = scm_params.test_rows_per_prompt
    max_new_tokens = gen.max_new_tokens or test_rows * TOKENS_PER_ANSWER_ROW

    def predict(prompts: list[list[dict[str, Any]]]) -> list[str]:
        if gen.mode == "score":
            return score_answers(model.model, model.tokenizer, prompts, fmt=scm_params.prompt)
        outputs = generate(
            model, prompts, max_new_tokens=max_new_tokens, temperature=0.0,
            batch_size=gen.batch_size,
        )
        texts = [candidates[0] for candidates in outputs]
        if scm_params.protocol.auc_from != "probabilities":
            return texts
        # the reference's AUC uses the label log-probs of the generation: read them with one
        # teacher-forced pass through each generated answer
        scored = label_probabilities(model.model, model.tokenizer, prompts, texts,
                                     fmt=scm_params.prompt)
        return [Answer(text, s.probs) for text, s in zip(texts, scored)]

    return evaluate_lm(tables, predict, scm_params, model.tokenizer)

"""The LM side of the ``scm`` pipeline: fine-tune the tabular LM, then query it on real tables.

Both go through the project's one model factory and training code, so ``-e gpu`` swaps the
tiny Qwen2 preset for Qwen2.5-7B-Instruct + LoRA with no change here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from datarecipes.config import from_params, parameters_section, require
from datarecipes.models import LoadedModel, ModelSpec, generate, load_model
from datarecipes.pipelines.scm.nodes import evaluate_lm
from datarecipes.tabular.lm_scoring import score_answers
from datarecipes.tabular.params import ScmParams
from datarecipes.tabular.tables import Table
from datarecipes.training.sft import SFTParams, train_sft

# The SFT hyperparameters of the tabular LM are their own section (MachineLearningLM's
# LLaMA-Factory recipe in conf/gpu), validated before the run like every other section.
parameters_section("scm_training")(SFTParams)

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
    """LoRA / full SFT of the tabular LM on the serialized SCM-prior tasks."""
    params = from_params(SFTParams, training, where="parameters_scm.yml: scm_training")
    return train_sft(base, records[["messages"]], params, on_bad_sample="error")


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
        return [candidates[0] for candidates in outputs]

    return evaluate_lm(tables, predict, scm_params, model.tokenizer)

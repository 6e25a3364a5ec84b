"""The LM side of the ``scm`` pipeline: fine-tune the tabular LM, then query it on real tables.

Both go through the project's one model factory and training code, so ``-e gpu`` swaps the
tiny Qwen2 preset for Qwen2.5-7B-Instruct + LoRA with no change here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from datarecipes.models import LoadedModel, ModelParams, generate, load_model
from datarecipes.pipelines.scm.nodes import evaluate_lm
from datarecipes.tabular.evaluate import Answer
from datarecipes.tabular.lm_scoring import label_probabilities, score_answers
from datarecipes.tabular.params import (
    TOKENS_PER_ANSWER_ROW,
    ScmGenerationParams,
    ScmParams,
    ScmTrainingParams,
)
from datarecipes.tabular.tables import Table
from datarecipes.training.sft import train_sft


def prepare_tabular_lm(model: ModelParams) -> tuple[LoadedModel, Any]:
    """Load the base LM (a preset is built once, then loaded by path) and its tokenizer, which
    the corpus builder uses to check every prompt against the context."""
    loaded = load_model(model)
    return loaded, loaded.tokenizer


def train_tabular_lm(
    base: LoadedModel, records: pd.DataFrame, training: ScmTrainingParams
) -> tuple[LoadedModel, dict[str, float]]:
    """LoRA / full SFT of the tabular LM on the serialized SCM-prior tasks, in one run or as
    the staged schedule ``scm_training.stages`` (metrics of stage ``s`` prefixed ``s_``)."""
    model, metrics = base, {}
    for name, rows, sft in training.plan(len(records)):
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
    scm: ScmParams,
    generation: ScmGenerationParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Many-shot prediction on every real table (greedy generation or label scoring, as
    ``scm_generation.mode`` says); parsed, voted and scored."""
    max_new_tokens = generation.max_new_tokens or scm.test_rows_per_prompt * TOKENS_PER_ANSWER_ROW

    def predict(prompts: list[list[dict[str, Any]]]) -> list[str]:
        if generation.mode == "score":
            return score_answers(model.model, model.tokenizer, prompts, fmt=scm.prompt)
        outputs = generate(
            model, prompts, max_new_tokens=max_new_tokens, temperature=0.0,
            batch_size=generation.batch_size,
        )
        texts = [candidates[0] for candidates in outputs]
        if scm.protocol.auc_from != "probabilities":
            return texts
        # the reference's AUC uses the label log-probs of the generation: read them with one
        # teacher-forced pass through each generated answer
        scored = label_probabilities(model.model, model.tokenizer, prompts, texts,
                                     fmt=scm.prompt)
        return [Answer(text, s.probs) for text, s in zip(texts, scored)]

    return evaluate_lm(tables, predict, scm, model.tokenizer)

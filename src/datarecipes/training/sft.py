"""Supervised fine-tuning with TRL's ``SFTTrainer`` (+ peft LoRA when the spec has ``lora``)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd
from trl import SFTConfig, SFTTrainer

from datarecipes.config import ParameterError, require
from datarecipes.models.checkpoint import merge_lora
from datarecipes.models.factory import LoadedModel, load_model, lora_config
from datarecipes.models.spec import ModelParams
from datarecipes.training.callbacks import StepMetricsCallback
from datarecipes.training.data import OnBadSample, sft_dataset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SFTParams:
    """SFT hyperparameters; each field is passed unchanged to TRL's ``SFTConfig``."""

    num_train_epochs: float = 1.0  #: Passes over the data (ignored when max_steps > 0).
    max_steps: int = -1  #: Optimizer steps; -1 = run num_train_epochs.
    per_device_train_batch_size: int = 4  #: Examples per device per micro-batch.
    gradient_accumulation_steps: int = 1  #: Micro-batches per optimizer step.
    learning_rate: float = 2e-4  #: Peak learning rate (AdamW).
    lr_scheduler_type: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup_steps: int = 0  #: Linear warm-up steps before the schedule.
    weight_decay: float = 0.0  #: AdamW weight decay.
    max_grad_norm: float = 1.0  #: Gradient clipping norm.
    max_length: int | None = 1024  #: Truncate (or pack) sequences to this many tokens.
    #: Pack several examples per sequence (text-only data: TRL cannot pack images).
    packing: bool = False
    packing_strategy: Literal["bfd", "wrapped"] = "bfd"  #: Best-fit-decreasing or wrapped packing.
    seed: int = 0  #: Seed for data order, dropout and LoRA init.
    logging_steps: int = 10  #: Steps between metric logs.
    bf16: bool = False  #: bf16 mixed precision (GPU); False = the model's own dtype.
    gradient_checkpointing: bool = False  #: Recompute activations to save memory.
    dataloader_num_workers: int = 0  #: Worker processes decoding images.

    def __post_init__(self) -> None:
        require(self.max_steps == -1 or self.max_steps > 0, "max_steps must be -1 or > 0")
        require(self.num_train_epochs > 0, "num_train_epochs must be > 0")
        require(self.per_device_train_batch_size > 0, "per_device_train_batch_size must be > 0")
        require(self.gradient_accumulation_steps > 0, "gradient_accumulation_steps must be > 0")
        require(self.learning_rate > 0, "learning_rate must be > 0")
        require(self.warmup_steps >= 0, "warmup_steps must be >= 0")
        require(self.logging_steps > 0, "logging_steps must be > 0")
        require(self.max_length is None or self.max_length > 0, "max_length must be > 0")
        require(not (self.packing and self.max_length is None), "packing needs max_length")


def sft_config(params: SFTParams, output_dir: str) -> SFTConfig:
    """The TRL config: ``params`` one to one, plus what this project fixes for every run."""
    return SFTConfig(
        **asdict(params),
        output_dir=output_dir,
        # Checkpoints are written by the catalog (CheckpointDataset), MLflow by our callback.
        save_strategy="no",
        report_to="none",
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=False,
        use_cpu=False,
    )


def train_sft(
    model: ModelParams | LoadedModel,
    data: Iterable[Mapping[str, Any]] | pd.DataFrame,
    params: SFTParams,
    image_root: str | None = None,
    on_bad_sample: OnBadSample = "skip",
) -> tuple[LoadedModel, dict[str, float]]:
    """Fine-tune ``model`` on LLaVA / chat records; return the tuned model (LoRA merged) and
    flat metrics (final loss, mean tokens/s, steps, skipped records)."""
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    dataset, bad = sft_dataset(data, image_root, on_bad_sample, name="sft data")
    if params.packing and "images" in dataset.column_names:
        raise ParameterError(
            "packing: TRL's SFTTrainer cannot pack image data; set packing: false for VLM SFT"
        )
    callback = StepMetricsCallback(prefix="sft")
    with tempfile.TemporaryDirectory(prefix="sft-") as output_dir:
        trainer = SFTTrainer(
            model=loaded.model,
            args=sft_config(params, output_dir),
            train_dataset=dataset,
            processing_class=loaded.processor,
            peft_config=lora_config(loaded.spec.lora, loaded.kind),
            callbacks=[callback],
        )
        result = trainer.train()
        tuned = merge_lora(trainer.model)
    tuned.eval()
    metrics = _summary(callback.history, result.metrics, bad.skipped, len(dataset))
    return LoadedModel(tuned, loaded.processor, loaded.kind, loaded.path, loaded.spec), metrics


def _summary(history: list[dict[str, float]], final: dict[str, Any], skipped: int,
             examples: int) -> dict[str, float]:
    losses = [row["loss"] for row in history if "loss" in row]
    speeds = [row["tokens_per_second"] for row in history if "tokens_per_second" in row]
    metrics = {
        "sft_examples": float(examples),
        "sft_skipped_records": float(skipped),
        "sft_train_seconds": float(final.get("train_runtime", 0.0)),
        "sft_final_loss": losses[-1] if losses else float("nan"),
        "sft_first_loss": losses[0] if losses else float("nan"),
    }
    if speeds:
        metrics["sft_tokens_per_second"] = sum(speeds) / len(speeds)
    if "train_tokens_per_second" in final:
        metrics["sft_tokens_per_second_overall"] = float(final["train_tokens_per_second"])
    return metrics

"""The parameter sections of ``conf/base/parameters_scm.yml`` as frozen dataclasses: ``scm``,
``scm_training`` and ``scm_generation`` (library code, so the pipeline layer only uses them)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields, replace
from typing import Literal

from datarecipes.config import ParameterError, parameters_section, require
from datarecipes.tabular.baselines import ALL_BASELINES, BASELINES
from datarecipes.tabular.evaluate import EvalProtocolParams
from datarecipes.tabular.prior_config import PriorParams
from datarecipes.tabular.serialize import PromptFormatParams
from datarecipes.training.sft import SFTParams


def _doubling(values: list[int], key: str) -> None:
    if not values:
        raise ParameterError(f"{key} must not be empty")
    if any(v < 1 for v in values) or sorted(set(values)) != list(values):
        raise ParameterError(f"{key} must be strictly increasing positive integers, got {values}")


@parameters_section("scm")
@dataclasses.dataclass(frozen=True)
class ScmParams:
    """MachineLearningLM: SCM-prior SFT corpus, and many-shot evaluation on real tables."""

    seed: int = 0
    """Seed of the prior; task i depends only on (seed, i)."""
    n_tasks: int = 64
    """Synthetic tables to generate."""
    workers: int = 1
    """Processes generating tasks (the result does not depend on it)."""
    prior: PriorParams = dataclasses.field(default_factory=PriorParams)
    """Fixed settings of the prior (rows, feature and class ranges, MLP/tree mix, ...)."""
    sft_shots: list[int] = dataclasses.field(default_factory=lambda: [8, 16, 32, 64])
    """Shot counts a training prompt draws from (the reference uses 8..1024)."""
    sft_test_rows: int = 16
    """Test rows (answered in the JSON) per training prompt."""
    val_fraction: float = 0.1
    """Share of tasks (the highest indices) whose records form the validation split."""
    rf_teacher: bool = False
    """Warm-up: answers are a random forest's predictions (fit on the shots), not the truth."""
    max_prompt_tokens: int = 32000
    """Context limit every prompt (answer included) is checked against (reference cutoff)."""
    on_too_long: Literal["error", "fewer_shots"] = "error"
    """A prompt over the limit: stop with an error, or use the largest shot count that fits."""
    eval_shots: list[int] = dataclasses.field(default_factory=lambda: [8, 16, 32, 64])
    """Shot counts evaluated on real tables (capped per table by its training-set size)."""
    test_rows_per_prompt: int = 50
    """Test rows per evaluation prompt (reference: 50)."""
    shuffle_seeds: list[int] = dataclasses.field(default_factory=lambda: [40, 41])
    """Row-shuffle seeds whose predictions are merged by majority vote (reference: 40, 41)."""
    split_seed: int = 42
    """Seed of the 80/20 train/test split and of the shot order (reference: 42)."""
    test_fraction: float = 0.2
    """Share of each real table held out for testing."""
    max_test_rows: int | None = None
    """Cap on test rows per table (a seeded subset), to keep LM evaluation short; null: all."""
    tables: list[str] | None = None
    """Names (file stems) of the tables in the scm_real_tables folder to use; null: all."""
    target_column: str | None = None
    """The class column of every real table (after stripping the header); null: the last
    column (the shared tables' ``label`` is last)."""
    max_classes: int | None = None
    """Refuse tables with more classes than this; null keeps them (the prompt lists labels)."""
    encoding_fallback: bool = True
    """Read a non-UTF-8 CSV as Latin-1 with a warning, instead of refusing it."""
    baselines: list[str] = dataclasses.field(default_factory=lambda: list(BASELINES))
    """Classical baselines fitted on the same shots."""
    baseline_hyperparameters: Literal["ours", "reference"] = "ours"
    """``reference``: RF 30 trees, kNN k=8 distance-weighted, XGBoost (ml_utils.py)."""
    baseline_random_state: int = 42
    """Seed of the baselines' models (reference ``--random_state`` 42)."""
    prompt: PromptFormatParams = dataclasses.field(default_factory=PromptFormatParams)
    """How tables become prompt text (serialize.PromptFormatParams): ours or the reference's."""
    protocol: EvalProtocolParams = dataclasses.field(default_factory=EvalProtocolParams)
    """Split, shot draws, column order and AUC source (evaluate.EvalProtocolParams)."""

    def __post_init__(self) -> None:
        if self.n_tasks < 1:
            raise ParameterError("n_tasks must be >= 1")
        if self.workers < 1:
            raise ParameterError("workers must be >= 1")
        _doubling(self.sft_shots, "sft_shots")
        _doubling(self.eval_shots, "eval_shots")
        if self.sft_test_rows < 1 or self.test_rows_per_prompt < 1:
            raise ParameterError("sft_test_rows and test_rows_per_prompt must be >= 1")
        if self.sft_shots[0] + self.sft_test_rows > self.prior.n_rows:
            raise ParameterError(
                f"sft_shots[0] + sft_test_rows ({self.sft_shots[0] + self.sft_test_rows}) must "
                f"fit in prior.n_rows ({self.prior.n_rows})"
            )
        if not 0.0 <= self.val_fraction < 1.0:
            raise ParameterError("val_fraction must be in [0, 1)")
        if not 0.0 < self.test_fraction < 1.0:
            raise ParameterError("test_fraction must be in (0, 1)")
        if self.max_prompt_tokens < 256:
            raise ParameterError("max_prompt_tokens must be >= 256")
        if not self.shuffle_seeds:
            raise ParameterError("shuffle_seeds must not be empty")
        if self.max_test_rows is not None and self.max_test_rows < 1:
            raise ParameterError("max_test_rows must be >= 1 or null")
        if self.max_classes is not None and self.max_classes < 2:
            raise ParameterError("max_classes must be >= 2 or null")
        unknown = sorted(set(self.baselines) - set(ALL_BASELINES))
        if unknown:
            raise ParameterError(
                f"baselines: unknown {unknown}; choose from {list(ALL_BASELINES)}")


@dataclass(frozen=True)
class TrainingStageParams:
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
    stages: list[TrainingStageParams] = field(default_factory=list)

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

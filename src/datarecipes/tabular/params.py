"""The ``scm`` parameter section (``conf/base/parameters_scm.yml``) as a frozen dataclass."""

from __future__ import annotations

import dataclasses
from typing import Literal

from datarecipes.config import ParameterError, parameters_section
from datarecipes.tabular.baselines import ALL_BASELINES, BASELINES
from datarecipes.tabular.evaluate import Protocol
from datarecipes.tabular.prior_config import PriorSettings
from datarecipes.tabular.serialize import PromptFormat


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
    prior: PriorSettings = dataclasses.field(default_factory=PriorSettings)
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
    prompt: PromptFormat = dataclasses.field(default_factory=PromptFormat)
    """How tables become prompt text (serialize.PromptFormat): ours or the reference's."""
    protocol: Protocol = dataclasses.field(default_factory=Protocol)
    """Split, shot draws, column order and AUC source (evaluate.Protocol)."""

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


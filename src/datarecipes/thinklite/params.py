"""Parameter sections of the ``thinklite`` pipeline (``conf/base/parameters_thinklite.yml``).

The MCTS search (``mcts_difficulty``) and the selection rule (``hard_sample_selection``) keep
the sections :mod:`datarecipes.mcts` defines; the warm start and GRPO sections are the trainers'
own dataclasses (:class:`SFTParams`, :class:`GRPOParams`), registered under ThinkLite's names in
:mod:`datarecipes.parameter_sections`, so a key the trainer does not know fails at start-up.
The sections below are the glue's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from datarecipes.config import parameters_section, require
from datarecipes.executors import ExecutorParams
from datarecipes.mcts import SelectionParams


@parameters_section("thinklite_data")
@dataclass(frozen=True)
class ThinkLiteDataParams:
    """How ProVision's questions are cut into warm-start set, MCTS pool and held-out set."""

    #: Seed of the shuffles that draw the three sets (same seed, same sets).
    seed: int = 0
    #: Splits whose questions may be trained on (warm start and pool).
    train_splits: list[str] = field(default_factory=lambda: ["train"])
    #: Splits evaluated on; must share no image with the train splits.
    heldout_splits: list[str] = field(default_factory=lambda: ["validation", "test"])
    #: Training questions used for the SFT warm start (0: no warm start, MCTS on the base model).
    warmstart_size: int = 512
    #: Training questions scored by MCTS (drawn from those not used for the warm start);
    #: 0 = all of them.
    pool_size: int = 0
    #: Held-out questions evaluated on; 0 = all of them.
    heldout_size: int = 0
    #: ProVision generators to keep (empty = all). ThinkLite's policy sees one image per
    #: question, so multi-image questions are always left out.
    generators: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        require(bool(self.train_splits), "train_splits must name at least one split")
        require(bool(self.heldout_splits), "heldout_splits must name at least one split")
        both = sorted(set(self.train_splits) & set(self.heldout_splits))
        require(not both, f"heldout_splits and train_splits share split(s) {both}")
        for name in ("warmstart_size", "pool_size", "heldout_size"):
            value = getattr(self, name)
            require(value >= 0, f"{name} must be >= 0, got {value}")


@parameters_section("thinklite_mcts")
@dataclass(frozen=True)
class ThinkLiteMctsParams:
    """How the difficulty search is run (the search itself is ``mcts_difficulty``)."""

    #: Questions searched in lock step and written as one resumable partition.
    batch_size: int = 16
    #: ``answer_match``: the rollout's final answer against the ground truth (the project's
    #: answer normaliser); ``judge``: ThinkLite's LLM judge, the ``models.judge`` model.
    reward: Literal["answer_match", "judge"] = "answer_match"
    #: Token budget of one judge verdict (ThinkLite: 512; the verdict is its first sentence).
    judge_max_new_tokens: int = 64
    #: How the judge decodes: ``greedy`` (ours: a leaf always gets the same verdict) or
    #: ``checkpoint`` (ThinkLite: the judge checkpoint's own sampling defaults, from its
    #: generation_config.json — a re-visited wrong leaf can be judged right later).
    judge_decoding: Literal["greedy", "checkpoint"] = "greedy"
    #: Judge prompt: ``reference`` (ThinkLite's ``eval_prompt_template``, byte for byte) or
    #: ``ours`` (names the two allowed verdict sentences).
    judge_prompt: Literal["reference", "ours"] = "ours"
    #: Verdict rule: ``reference`` (``'true'`` in the first sentence, case-sensitive) or
    #: ``ours`` (case-insensitive, and ``false`` must be absent).
    judge_verdict: Literal["reference", "ours"] = "ours"
    #: Stop on a bad question (missing answer, unreadable image) instead of skipping it.
    strict: bool = False
    #: Where the search runs: ``local`` (this process) or ``ray`` (an actor pool, one policy
    #: per actor, each partition written as it finishes). Also runs the ``accuracy`` selection
    #: baseline. Not part of the search key: either executor resumes the other's partitions.
    executor: ExecutorParams = field(default_factory=ExecutorParams)

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(
            self.judge_max_new_tokens >= 1,
            f"judge_max_new_tokens must be >= 1, got {self.judge_max_new_tokens}",
        )


@parameters_section("thinklite_eval")
@dataclass(frozen=True)
class ThinkLiteEvalParams:
    """Greedy evaluation on the held-out questions and on optional benchmark parquet files."""

    #: Greedy generation budget per answer (ThinkLite's evaluation: 2048).
    max_new_tokens: int = 256
    #: Questions per generation batch.
    batch_size: int = 16
    #: Benchmarks (file stems under the ``thinklite_benchmarks`` directory) to evaluate;
    #: ``null`` = every parquet file there (none: held-out questions only).
    benchmarks: list[str] | None = None
    #: Questions evaluated per benchmark; 0 = all.
    benchmark_max_questions: int = 0
    #: Where the answers are generated: ``local`` (this process) or ``ray`` (an actor pool).
    executor: ExecutorParams = field(default_factory=ExecutorParams)

    def __post_init__(self) -> None:
        require(self.max_new_tokens > 0, f"max_new_tokens must be > 0, got {self.max_new_tokens}")
        require(self.batch_size > 0, f"batch_size must be > 0, got {self.batch_size}")
        require(
            self.benchmark_max_questions >= 0,
            f"benchmark_max_questions must be >= 0, got {self.benchmark_max_questions}",
        )


#: Strategies compared by ``thinklite_ablation``, one Kedro namespace each.
ABLATION_STRATEGIES: tuple[str, ...] = ("mcts", "accuracy", "random")


@parameters_section("thinklite_ablation")
@dataclass(frozen=True)
class AblationParams:
    """One ``hard_sample_selection`` section per compared strategy (same budget and seed)."""

    mcts: SelectionParams = field(default_factory=lambda: SelectionParams(strategy="mcts"))
    accuracy: SelectionParams = field(
        default_factory=lambda: SelectionParams(strategy="accuracy")
    )
    random: SelectionParams = field(default_factory=lambda: SelectionParams(strategy="random"))

    def __post_init__(self) -> None:
        for name in ABLATION_STRATEGIES:
            got = getattr(self, name).strategy
            require(got == name, f"{name}.strategy must be {name!r}, got {got!r}")
        # The random control draws as many samples as the MCTS rule keeps: same threshold.
        require(
            self.random.iters_threshold == self.mcts.iters_threshold,
            "random.iters_threshold must equal mcts.iters_threshold "
            f"({self.random.iters_threshold} != {self.mcts.iters_threshold}): the random "
            "control keeps as many samples as the MCTS rule",
        )

"""Parameters of the filtering recipe (section ``filtering`` of ``parameters_filtering.yml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from datarecipes.config import parameters_section, require
from datarecipes.dedup.params import DecontaminationParams, DedupParams, EvalSetParams
from datarecipes.executors import ExecutorParams
from datarecipes.filtering.clip_train import ClipTrainParams
from datarecipes.filtering.mllm_score import METRICS
from datarecipes.filtering.rules import RuleError, parse_rule
from datarecipes.filtering.shards import ShardParams


@dataclass(frozen=True)
class SplitRolesParams:
    """Which split of the world plays which part (disjoint images)."""

    #: Clean pairs of this split train the scoring CLIP (the stand-in for a CLIP/DFN
    #: trained on curated data); it never sees the pool it scores.
    scorer: str = "validation"
    #: The noisy "web" pool that is scored, filtered, packed and pretrained on.
    pool: str = "train"
    #: Clean pairs of this split evaluate pretraining by retrieval.
    heldout: str = "test"

    def __post_init__(self) -> None:
        roles = (self.scorer, self.pool, self.heldout)
        require(len(set(roles)) == 3, f"splits: the three roles need distinct splits, got {roles}")


@dataclass(frozen=True)
class ClipParams:
    """The CLIP that scores pairs."""

    #: open_clip architecture (``ViT-B-32``, ``tiny-clip``) or ``local-dir:<checkpoint dir>``.
    model: str = "tiny-clip"
    #: open_clip pretrained tag or weights file; null = random init (then ``train`` it).
    pretrained: str | None = None
    #: Train the scorer contrastively on the scorer split first (needed without weights).
    train: bool = True
    #: Contrastive training of the scorer.
    training: ClipTrainParams = field(default_factory=ClipTrainParams)
    #: Torch device of the scorer.
    device: str = "cpu"


@dataclass(frozen=True)
class ScoringParams:
    """Batched, resumable scoring."""

    #: Pairs per model forward.
    batch_size: int = 128
    #: Pairs per resumable shard (one parquet per shard and score, in the catalog's
    #: ``filtering_scoring_work_dir``; a rerun skips finished shards).
    shard_size: int = 512

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, f"scoring.batch_size must be >= 1, got {self.batch_size}")
        require(self.shard_size >= 1, f"scoring.shard_size must be >= 1, got {self.shard_size}")


@dataclass(frozen=True)
class MllmParams:
    """MLM-Filter scoring by a VLM (the ``models.scorer`` spec)."""

    #: Off by default: a VLM per pair and metric is slow on CPU.
    enabled: bool = False
    #: Metrics to score (itm, odf, ctq, su).
    metrics: tuple[str, ...] = METRICS
    #: Prompt set: ``reference`` (MLM-Filter's, byte for byte: what its checkpoints and
    #: thresholds were made with) or ``ours`` (short paraphrases for a general instruct VLM).
    prompts: Literal["reference", "ours"] = "ours"
    #: Greedy new tokens per answer (the reference generates 1–2).
    max_new_tokens: int = 3
    #: Score only the first N pool pairs (0: all); unscored pairs have no MLLM score.
    max_pairs: int = 0
    #: Pairs per generate call (each pair makes one prompt per metric).
    batch_size: int = 8

    def __post_init__(self) -> None:
        unknown = sorted(set(self.metrics) - set(METRICS))
        require(not unknown, f"mllm.metrics: unknown {unknown}; known {list(METRICS)}")
        require(self.max_new_tokens >= 1, f"mllm.max_new_tokens must be >= 1, got "
                f"{self.max_new_tokens}")
        require(self.max_pairs >= 0, f"mllm.max_pairs must be >= 0, got {self.max_pairs}")
        require(self.batch_size >= 1, f"mllm.batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class FilterParams:
    """Named filter rules; ``apply`` picks the one whose survivors are packed and pretrained."""

    #: Rule name → expression (``clip >= 0.28``, ``top(clip, 0.7)``, ``su >= 85 | dfn``,
    #: or a preset name: open_qwen2vl, mlm_filter_best, laion2b_clip).
    rules: dict[str, str] = field(default_factory=lambda: {"clip_top70": "top(clip, 0.7)"})
    #: Names usable inside rules (e.g. ``dfn``), each an expression.
    definitions: dict[str, str] = field(default_factory=dict)
    #: The rule applied downstream.
    apply: str = "clip_top70"

    def __post_init__(self) -> None:
        require(self.apply in self.rules,
                f"filter.apply={self.apply!r} is not one of filter.rules {sorted(self.rules)}")
        for name, text in self.rules.items():
            try:
                parse_rule(text, self.definitions)
            except RuleError as err:
                raise RuleError(f"filter.rules.{name}: {err}") from None


@dataclass(frozen=True)
class PackingParams:
    """First-fit-decreasing packing of the kept pairs into sequences."""

    #: Tokens per packed sequence (the reference hard-codes 4096).
    capacity: int = 4096
    #: Tokens per image, as the target processor counts them (the reference: 144).
    image_tokens: int = 144
    #: Tokenizer that counts caption tokens: null = the CLIP's (the CPU default trains a CLIP);
    #: a hub id or local directory = the trained model's, counted as Open-Qwen2VL does
    #: (BOS + "\n" + caption + EOS; its packing uses Qwen/Qwen2.5-1.5B-Instruct's).
    tokenizer: str | None = None
    #: Shard layout (the shards are the catalog's ``filtering_packed_shards``).
    shards: ShardParams = field(default_factory=ShardParams)

    def __post_init__(self) -> None:
        require(self.capacity >= 1, f"packing.capacity must be >= 1, got {self.capacity}")
        require(self.image_tokens >= 0,
                f"packing.image_tokens must be >= 0, got {self.image_tokens}")


@dataclass(frozen=True)
class PretrainParams:
    """The point of filtering: pretrain on unfiltered vs filtered pool, compare retrieval."""

    #: ``both`` trains both in one run; ``filtered`` / ``unfiltered`` one (two tracked runs).
    data: Literal["both", "filtered", "unfiltered"] = "both"
    #: Architecture trained from scratch (same init for every variant).
    model: str = "tiny-clip"
    #: Training; the same steps and seed for every variant.
    training: ClipTrainParams = field(default_factory=ClipTrainParams)
    #: Recall@k values reported on the held-out split.
    recall_at: tuple[int, ...] = (1, 5)


@parameters_section("filtering")
@dataclass(frozen=True)
class FilteringParams:
    """CLIP/MLLM-score filtering, evaluation, packing and pretraining (Open-Qwen2VL)."""

    #: Split roles.
    splits: SplitRolesParams = field(default_factory=SplitRolesParams)
    #: Executor of batch inference.
    executor: ExecutorParams = field(default_factory=ExecutorParams)
    #: The scoring CLIP.
    clip: ClipParams = field(default_factory=ClipParams)
    #: Batched scoring.
    scoring: ScoringParams = field(default_factory=ScoringParams)
    #: MLLM scoring.
    mllm: MllmParams = field(default_factory=MllmParams)
    #: Filter rules.
    filter: FilterParams = field(default_factory=FilterParams)
    #: Packing.
    packing: PackingParams = field(default_factory=PackingParams)
    #: Pretraining comparison.
    pretrain: PretrainParams = field(default_factory=PretrainParams)
    #: Dedup of the pool as scores (``dup.<kind>`` columns that rules read), issue 16. Not
    #: ``semantic`` by default: the tiny scorer's embeddings do not separate the world's
    #: scenes (add it with a real CLIP).
    dedup: DedupParams = field(default_factory=lambda: DedupParams(
        kinds=("exact_image", "phash", "minhash")))
    #: The pool against the held-out pairs (built-in world only). Captions are not matched
    #: by n-grams by default: the world's templated captions repeat across distinct scenes.
    decontamination: DecontaminationParams = field(default_factory=lambda: DecontaminationParams(
        match=EvalSetParams(ngram=None)))

"""Parameters of dedup and decontamination (sections ``dedup`` and ``decontamination``).

A pipeline maps its YAML section onto :class:`DedupParams` / :class:`DecontaminationParams`
with :func:`datarecipes.config.from_params`; every range is checked here, naming the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from datarecipes.config import parameters_section, require

#: Eval-set names become column names (``contaminated.<name>``) that filter rules read, so
#: they must be rule-language names.
EVAL_SET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class KeepParams:
    """Which member of a duplicate group is kept (the group's representative)."""

    #: ``highest_score``: the best ``score_column``; ``first``: input order; ``random``: seeded.
    policy: Literal["highest_score", "first", "random"] = "first"
    #: Score column ranked by ``highest_score`` (e.g. ``clip``); rows without one rank last.
    score_column: str = "clip"
    #: Seed of ``random``.
    seed: int = 0

    def __post_init__(self) -> None:
        require(bool(self.score_column), "keep.score_column must be a non-empty column name")
        require(self.seed >= 0, f"keep.seed must be >= 0, got {self.seed}")


@dataclass(frozen=True)
class TextNormParams:
    """How text is normalised before hashing (shared by exact and MinHash dedup)."""

    #: Unicode NFKC, then case-folding.
    casefold: bool = True
    #: Replace punctuation by spaces.
    strip_punctuation: bool = True
    #: Collapse runs of whitespace (always on for word shingles).
    collapse_whitespace: bool = True


@dataclass(frozen=True)
class ImageHashParams:
    """Near-duplicate images by perceptual hash (imagehash) and a Hamming threshold."""

    #: Perceptual hashes computed and compared: ``phash`` (DCT) and/or ``dhash`` (gradient).
    kinds: tuple[str, ...] = ("phash", "dhash")
    #: Side of the hash grid: hash_size² bits (8 → 64 bits, imagehash's default).
    hash_size: int = 8
    #: Largest Hamming distance that counts as a near duplicate, per hash kind. Measured on
    #: the scenes world: re-encoded/resized copies are within 2 (pHash) / 4 (dHash) bits,
    #: distinct scenes at least 10 / 13 apart (tests/dedup/test_images.py).
    max_distance: dict[str, int] = field(default_factory=lambda: {"phash": 6, "dhash": 6})

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - {"phash", "dhash"})
        require(not unknown, f"images.kinds: unknown {unknown}; known ['dhash', 'phash']")
        require(len(self.kinds) >= 1, "images.kinds must name at least one hash")
        # The index works on one 64-bit machine word per hash.
        require(2 <= self.hash_size <= 8, f"images.hash_size must be in [2, 8], got "
                f"{self.hash_size}")
        bits = self.hash_size**2
        for kind in self.kinds:
            require(kind in self.max_distance, f"images.max_distance has no entry for {kind!r}")
        for kind, d in self.max_distance.items():
            require(0 <= d < bits, f"images.max_distance.{kind} must be in [0, {bits}), got {d}")


@dataclass(frozen=True)
class MinHashParams:
    """Near-duplicate text by MinHash-LSH (datasketch) with a Jaccard threshold."""

    #: Shingles: ``word`` n-grams or ``char`` n-grams of the normalised text.
    shingle: Literal["word", "char"] = "word"
    #: n of the n-grams (texts shorter than n are one shingle).
    ngram: int = 2
    #: Permutations of the MinHash signature.
    num_perm: int = 128
    #: Estimated Jaccard similarity at or above which two texts are near duplicates.
    threshold: float = 0.7
    #: Seed of the MinHash permutations (datasketch's; same seed, same signatures).
    seed: int = 1
    #: Weight of false negatives when datasketch picks the LSH bands (false positives only
    #: cost a verification): 0.5, datasketch's default, finds a pair at Jaccard 0.7 with
    #: probability 0.44 for 128 permutations; 0.9 with 0.92.
    false_negative_weight: float = 0.9

    def __post_init__(self) -> None:
        require(1 <= self.ngram <= 64, f"text.ngram must be in [1, 64], got {self.ngram}")
        require(16 <= self.num_perm <= 1024,
                f"text.num_perm must be in [16, 1024], got {self.num_perm}")
        require(0.0 < self.threshold <= 1.0,
                f"text.threshold must be in (0, 1], got {self.threshold}")
        require(self.seed >= 0, f"text.seed must be >= 0, got {self.seed}")
        require(0.0 < self.false_negative_weight < 1.0,
                f"text.false_negative_weight must be in (0, 1), got "
                f"{self.false_negative_weight}")


@dataclass(frozen=True)
class SemanticParams:
    """SemDeDup: k-means clusters of embeddings, a cosine threshold inside each cluster."""

    #: k-means clusters; 0 picks ~sqrt(n), with at least 100 members per cluster.
    n_clusters: int = 0
    #: Cosine similarity at or above which two samples are semantic duplicates (SemDeDup's
    #: 1 - eps).
    threshold: float = 0.95
    #: k-means implementation: ``faiss`` (faiss-cpu) or ``sklearn`` (MiniBatchKMeans).
    backend: Literal["faiss", "sklearn"] = "faiss"
    #: k-means iterations.
    iterations: int = 20
    #: k-means seed.
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.n_clusters >= 0, f"semantic.n_clusters must be >= 0, got {self.n_clusters}")
        require(0.0 < self.threshold <= 1.0,
                f"semantic.threshold must be in (0, 1], got {self.threshold}")
        require(self.iterations >= 1, f"semantic.iterations must be >= 1, got {self.iterations}")
        require(self.seed >= 0, f"semantic.seed must be >= 0, got {self.seed}")


@parameters_section("dedup")
@dataclass(frozen=True)
class DedupParams:
    """Dedup as scores: which kinds run, their thresholds, and which duplicate is kept."""

    #: Kinds that run: exact_image, exact_text, phash, dhash, minhash, semantic.
    kinds: tuple[str, ...] = ("exact_image", "phash", "minhash")
    #: Which member of a group is kept.
    keep: KeepParams = field(default_factory=KeepParams)
    #: Text normalisation (exact_text and minhash).
    normalise: TextNormParams = field(default_factory=TextNormParams)
    #: Perceptual hashes.
    images: ImageHashParams = field(default_factory=ImageHashParams)
    #: MinHash-LSH.
    text: MinHashParams = field(default_factory=MinHashParams)
    #: SemDeDup.
    semantic: SemanticParams = field(default_factory=SemanticParams)
    #: Rows per shard of the hashing step (resumable per shard on the executor).
    shard_size: int = 4096
    #: Rows per batch of the hashing step.
    batch_size: int = 256

    def __post_init__(self) -> None:
        known = ("exact_image", "exact_text", "phash", "dhash", "minhash", "semantic")
        unknown = sorted(set(self.kinds) - set(known))
        require(not unknown, f"dedup.kinds: unknown {unknown}; known {list(known)}")
        for kind in ("phash", "dhash"):
            require(kind not in self.kinds or kind in self.images.kinds,
                    f"dedup.kinds has {kind!r} but dedup.images.kinds does not compute it")
        require(self.shard_size >= 1, f"dedup.shard_size must be >= 1, got {self.shard_size}")
        require(self.batch_size >= 1, f"dedup.batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class EvalSetParams:
    """How a training pool is matched against evaluation sets."""

    #: Largest pHash Hamming distance that counts as the same image (null: not checked).
    image_max_distance: int | None = 6
    #: Embedding cosine at or above which a pool sample matches an eval sample (null: off).
    embedding_threshold: float | None = None
    #: Word n-gram size of the question overlap (GPT-3 used 13-grams; null: off).
    ngram: int | None = 13
    #: Shared n-grams that make a question contaminated.
    min_shared_ngrams: int = 1

    def __post_init__(self) -> None:
        require(self.image_max_distance is None or 0 <= self.image_max_distance < 64,
                f"image_max_distance must be in [0, 64), got {self.image_max_distance}")
        require(self.embedding_threshold is None or 0.0 < self.embedding_threshold <= 1.0,
                f"embedding_threshold must be in (0, 1], got {self.embedding_threshold}")
        require(self.ngram is None or 1 <= self.ngram <= 64,
                f"ngram must be in [1, 64], got {self.ngram}")
        require(self.min_shared_ngrams >= 1,
                f"min_shared_ngrams must be >= 1, got {self.min_shared_ngrams}")
        require(not (self.image_max_distance is None and self.embedding_threshold is None
                     and self.ngram is None),
                "decontamination: every method is off (image, embedding and n-gram)")


@parameters_section("decontamination")
@dataclass(frozen=True)
class DecontaminationParams:
    """Training pool vs every evaluation set a run uses: flag, drop, or stop the run."""

    #: Matching.
    match: EvalSetParams = field(default_factory=EvalSetParams)
    #: ``flag``: columns only; ``drop``: contaminated rows are dropped; ``stop``: raise when
    #: more than ``stop_above`` of the pool is contaminated (and drop below it).
    action: Literal["flag", "drop", "stop"] = "drop"
    #: Fraction of the pool above which ``stop`` raises.
    stop_above: float = 0.0
    #: Text normalisation of the questions.
    normalise: TextNormParams = field(default_factory=TextNormParams)

    def __post_init__(self) -> None:
        require(0.0 <= self.stop_above <= 1.0,
                f"decontamination.stop_above must be in [0, 1], got {self.stop_above}")


# Module-level defaults for function signatures (frozen, so safe to share).
DEFAULT_KEEP = KeepParams()
DEFAULT_NORM = TextNormParams()
DEFAULT_IMAGES = ImageHashParams()
DEFAULT_MINHASH = MinHashParams()
DEFAULT_SEMANTIC = SemanticParams()
DEFAULT_DECONTAMINATION = DecontaminationParams()

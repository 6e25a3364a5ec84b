"""Dedup as scores, decontamination, and their ledger rows (issue 16).

Per-shard steps (fit :meth:`datarecipes.executors.Executor.map_batches`):
:func:`hash_images_batch` / :func:`hash_images` (SHA-256, pHash, dHash of each image) and
:func:`text_signatures_batch` (normalised digest + MinHash signature of each text).

Whole-pool steps (build an index over those columns, resolve groups): :func:`dedup_exact`,
:func:`dedup_phash`, :func:`dedup_text_exact`, :func:`dedup_minhash`, :func:`dedup_semantic`
(precomputed embeddings), :func:`run_dedup` (all configured kinds + ``dup.any``), and
:func:`contamination` / :func:`apply_contamination` against named evaluation sets.

Each dedup kind returns one row per sample, keyed by the samples' own key, with
``dup.<kind>``, ``dup_cluster.<kind>``, ``dup_of.<kind>`` and ``dup_distance.<kind>``, which
filter rules read directly (``!dup.phash & top(clip, 0.7)``, or
``top(clip, 0.7, !dup.any)`` to rank only the non-duplicates).

A node wires it as (the start-up hook hands it the built ``DedupParams``; the resume folder
is a catalog directory, e.g. ``filtering_scoring_work_dir``)::

    # inside a node (pool, clip_embeddings, work_dir: str, params: DedupParams, executor):
    hashes, _ = hash_images(pool, params.images, executor, key="image_id",
                            resume_dir=work_dir)          # per shard, resumable
    texts, _ = sign_texts(pool.rename(columns={"caption": "text"}), params.text, executor,
                          key="image_id", normalise=params.normalise, resume_dir=work_dir)
    table = pool.merge(hashes, on="image_id").merge(texts, on="image_id")
    dups = run_dedup(table, params, key="image_id", embeddings=clip_embeddings)
    ledger = ledger.append(ledger, dedup_decisions(dups, key="image_id", kind="any"))
"""

from datarecipes.dedup.combine import (
    combine_dedup,
    contamination_decisions,
    dedup_decisions,
    run_dedup,
)
from datarecipes.dedup.decontam import (
    ContaminationError,
    EvalSet,
    apply_contamination,
    contamination,
    contamination_counts,
)
from datarecipes.dedup.hamming import hamming_pairs, hamming_pairs_bruteforce
from datarecipes.dedup.images import (
    dedup_exact,
    dedup_hamming,
    dedup_phash,
    hash_images,
    hash_images_batch,
    image_hash_fn_factory,
)
from datarecipes.dedup.params import (
    DecontaminationParams,
    DedupParams,
    EvalSetParams,
    ImageHashParams,
    KeepParams,
    MinHashParams,
    SemanticParams,
    TextNormParams,
)
from datarecipes.dedup.semantic import assign_clusters, dedup_semantic, kmeans_centroids
from datarecipes.dedup.text import (
    dedup_minhash,
    dedup_text_exact,
    minhash_signatures,
    sign_texts,
    signatures,
    text_signature_fn_factory,
    text_signatures_batch,
)
from datarecipes.dedup.text_norm import normalise_text

__all__ = [
    "ContaminationError",
    "DecontaminationParams",
    "DedupParams",
    "EvalSet",
    "EvalSetParams",
    "ImageHashParams",
    "KeepParams",
    "MinHashParams",
    "SemanticParams",
    "TextNormParams",
    "apply_contamination",
    "assign_clusters",
    "combine_dedup",
    "contamination",
    "contamination_counts",
    "contamination_decisions",
    "dedup_decisions",
    "dedup_exact",
    "dedup_hamming",
    "dedup_minhash",
    "dedup_phash",
    "dedup_semantic",
    "dedup_text_exact",
    "hamming_pairs",
    "hamming_pairs_bruteforce",
    "hash_images",
    "hash_images_batch",
    "image_hash_fn_factory",
    "kmeans_centroids",
    "minhash_signatures",
    "normalise_text",
    "run_dedup",
    "sign_texts",
    "signatures",
    "text_signature_fn_factory",
    "text_signatures_batch",
]

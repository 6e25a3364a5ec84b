"""The ``filtering`` pipeline.

source (``filtering_source``: a user's pairs, read-only, or ``builtin``) → the built-in world
(the scenes world under namespace ``filtering_world``, 30 % corrupted captions; generated only
without a source) → pool (+ scorer / held-out pairs of the world) → train the scoring CLIP →
CLIP scores (+ image embeddings) → dedup (exact, pHash, caption MinHash, SemDeDup)
→ decontamination against the held-out pairs → MLLM scores (off by default) → filter
rules → evaluation against the known corruption → FFD packing into WebDataset shards →
the decision table and ledger → pretraining on unfiltered vs filtered pool.
Training, evaluation and pretraining are skipped (logged, a ``skipped`` metric) when their
inputs do not exist, as for a user's pairs.

Each node reads only the sub-sections of ``filtering`` it uses (``params:filtering.clip``,
...), so the DAG shows which settings feed which step. The scoring passes (CLIP, MLLM,
hashes, MinHash) resume from ``filtering_scoring_work_dir``; the packed tar shards are the
output ``filtering_packed_shards``.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from datarecipes.pipelines.filtering.nodes import (
    apply_filters,
    build_world,
    compute_clip_scores,
    compute_dedup,
    compute_mllm_scores,
    decontaminate,
    evaluate_filtering,
    pack_kept_pairs,
    prepare_pairs,
    pretrain_comparison,
    record_decisions,
    record_ledger,
    train_scoring_clip,
    world_metrics,
)

#: Namespace of this recipe's own world: datasets ``filtering_world.scene_*`` and the
#: parameters ``filtering_world.scenes`` (in parameters_filtering.yml).
WORLD = "filtering_world"
#: The resumable per-shard results of every scoring pass (a directory from the catalog).
WORK_DIR = "filtering_scoring_work_dir"


def _p(*sections: str) -> list[str]:
    """``params:filtering.<section>`` inputs."""
    return [f"params:filtering.{s}" for s in sections]


def create_pipeline(**kwargs) -> Pipeline:
    world = Pipeline(
        [
            # The scenes world's generator, but only without a user's source.
            Node(
                build_world,
                inputs=["filtering_source", f"params:{WORLD}.scenes"],
                outputs=[f"{WORLD}.scene_images", f"{WORLD}.scene_metadata"],
                name=f"{WORLD}.generate_scenes",
            ),
            Node(
                world_metrics,
                inputs=f"{WORLD}.scene_metadata",
                outputs=f"{WORLD}.scenes_metrics",
                name=f"{WORLD}.scenes_metrics",
            ),
        ]
    )
    recipe = Pipeline(
        [
            Node(
                prepare_pairs,
                inputs=["filtering_source", f"{WORLD}.scene_metadata",
                        *_p("splits")],
                outputs=["filtering_pool", "filtering_scorer_pairs", "filtering_heldout_pairs"],
                name="prepare_pairs",
            ),
            Node(
                train_scoring_clip,
                inputs=["filtering_scorer_pairs", *_p("clip", "executor")],
                outputs=["filtering_scoring_clip", "filtering_clip_loss_table",
                         "filtering_clip_train_metrics"],
                name="train_scoring_clip",
            ),
            Node(
                compute_clip_scores,
                inputs=["filtering_pool", "filtering_scoring_clip", WORK_DIR,
                        *_p("scoring", "executor")],
                outputs=["filtering_clip_scores", "filtering_clip_embeddings",
                         "filtering_clip_score_metrics"],
                name="compute_clip_scores",
            ),
            Node(
                compute_dedup,
                inputs=["filtering_pool", "filtering_clip_scores", "filtering_clip_embeddings",
                        WORK_DIR, *_p("dedup", "executor")],
                outputs=["filtering_dedup", "filtering_dedup_metrics"],
                name="compute_dedup",
            ),
            Node(
                decontaminate,
                inputs=["filtering_pool", "filtering_heldout_pairs", "filtering_dedup", WORK_DIR,
                        *_p("decontamination", "dedup", "executor")],
                outputs=["filtering_contamination", "filtering_contamination_metrics"],
                name="decontaminate",
            ),
            Node(
                compute_mllm_scores,
                inputs=["filtering_pool", WORK_DIR, *_p("mllm", "scoring", "executor"),
                        "params:models.scorer", "params:generation"],
                outputs=["filtering_mllm_scores", "filtering_mllm_score_metrics"],
                name="compute_mllm_scores",
            ),
            Node(
                apply_filters,
                inputs=["filtering_pool", "filtering_clip_scores", "filtering_mllm_scores",
                        "filtering_dedup", "filtering_contamination", *_p("filter")],
                outputs=["filtering_scored_pool", "filtering_kept_pairs",
                         "filtering_filter_metrics"],
                name="apply_filters",
            ),
            Node(
                evaluate_filtering,
                inputs=["filtering_scored_pool", *_p("filter", "mllm")],
                outputs=["filtering_eval_metrics", "filtering_scores_plot"],
                name="evaluate_filtering",
            ),
            Node(
                pack_kept_pairs,
                inputs=["filtering_kept_pairs", *_p("packing")],
                outputs=["filtering_packing_index", "filtering_packed_shards",
                         "filtering_packing_metrics"],
                name="pack_kept_pairs",
            ),
            Node(
                record_decisions,
                inputs=["filtering_scored_pool", "filtering_packing_index",
                        *_p("filter", "packing")],
                outputs=["filtering_decisions", "filtering_decision_metrics"],
                name="record_decisions",
            ),
            Node(
                record_ledger,
                inputs=["filtering_scored_pool", "filtering_decisions", "filtering_dedup",
                        *_p("filter", "decontamination")],
                outputs=["filtering_ledger", "filtering_ledger_metrics", "filtering_funnel_plot",
                         "filtering_before_after_table", "filtering_before_after_plot"],
                name="record_ledger",
            ),
            Node(
                pretrain_comparison,
                inputs=["filtering_pool", "filtering_kept_pairs", "filtering_heldout_pairs",
                        *_p("pretrain", "executor")],
                outputs="filtering_pretrain_metrics",
                name="pretrain_comparison",
            ),
        ],
        namespace=None,
    )
    return world + recipe

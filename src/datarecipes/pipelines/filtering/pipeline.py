"""The ``filtering`` pipeline.

source (``filtering_source``: a user's pairs, read-only, or ``builtin``) → the built-in world
(the scenes world under namespace ``filtering_world``, 30 % corrupted captions; generated only
without a source) → pool (+ scorer / held-out pairs of the world) → train the scoring CLIP →
CLIP scores → MLLM scores (off by default) → filter rules → evaluation against the known
corruption → FFD packing into WebDataset shards → the decision table → pretraining on
unfiltered vs filtered pool. Training, evaluation and pretraining are skipped (logged, a
``skipped`` metric) when their inputs do not exist, as for a user's pairs.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from datarecipes.pipelines.filtering.nodes import (
    apply_filters,
    build_world,
    compute_clip_scores,
    compute_mllm_scores,
    evaluate_filtering,
    pack_kept_pairs,
    prepare_pairs,
    pretrain_comparison,
    record_decisions,
    train_scoring_clip,
    world_metrics,
)

#: Namespace of this recipe's own world: datasets ``filtering_world.scene_*`` and the
#: parameters ``filtering_world.scenes`` (in parameters_filtering.yml).
WORLD = "filtering_world"


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
                inputs=["filtering_source", f"{WORLD}.scene_metadata", "params:filtering"],
                outputs=["filtering_pool", "filtering_scorer_pairs", "filtering_heldout_pairs"],
                name="prepare_pairs",
            ),
            Node(
                train_scoring_clip,
                inputs=["filtering_scorer_pairs", "params:filtering"],
                outputs=["filtering_scoring_clip", "filtering_clip_loss_table",
                         "filtering_clip_train_metrics"],
                name="train_scoring_clip",
            ),
            Node(
                compute_clip_scores,
                inputs=["filtering_pool", "filtering_scoring_clip", "params:filtering"],
                outputs=["filtering_clip_scores", "filtering_clip_score_metrics"],
                name="compute_clip_scores",
            ),
            Node(
                compute_mllm_scores,
                inputs=["filtering_pool", "params:filtering", "params:models.scorer",
                        "params:generation"],
                outputs=["filtering_mllm_scores", "filtering_mllm_score_metrics"],
                name="compute_mllm_scores",
            ),
            Node(
                apply_filters,
                inputs=["filtering_pool", "filtering_clip_scores", "filtering_mllm_scores",
                        "params:filtering"],
                outputs=["filtering_scored_pool", "filtering_kept_pairs",
                         "filtering_filter_metrics"],
                name="apply_filters",
            ),
            Node(
                evaluate_filtering,
                inputs=["filtering_scored_pool", "params:filtering"],
                outputs=["filtering_eval_metrics", "filtering_scores_plot"],
                name="evaluate_filtering",
            ),
            Node(
                pack_kept_pairs,
                inputs=["filtering_kept_pairs", "params:filtering"],
                outputs=["filtering_packing_index", "filtering_packing_metrics"],
                name="pack_kept_pairs",
            ),
            Node(
                record_decisions,
                inputs=["filtering_scored_pool", "filtering_packing_index", "params:filtering"],
                outputs=["filtering_decisions", "filtering_decision_metrics"],
                name="record_decisions",
            ),
            Node(
                pretrain_comparison,
                inputs=["filtering_pool", "filtering_kept_pairs", "filtering_heldout_pairs",
                        "params:filtering"],
                outputs="filtering_pretrain_metrics",
                name="pretrain_comparison",
            ),
        ],
        namespace=None,
    )
    return world + recipe

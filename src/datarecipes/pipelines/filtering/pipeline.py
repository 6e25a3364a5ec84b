"""The ``filtering`` pipeline.

world (the ``scenes`` pipeline under namespace ``filtering_world``, 30 % corrupted captions)
→ split into scorer / pool / held-out → train the scoring CLIP → CLIP scores → MLLM scores
(off by default) → filter rules → evaluation against the known corruption → FFD packing into
WebDataset shards → pretraining on unfiltered vs filtered pool.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from datarecipes.pipelines.filtering.nodes import (
    apply_filters,
    compute_clip_scores,
    compute_mllm_scores,
    evaluate_filtering,
    pack_kept_pairs,
    pretrain_comparison,
    split_pairs,
    train_scoring_clip,
)
from datarecipes.pipelines.scenes import create_pipeline as create_scenes_pipeline

#: Namespace of this recipe's own world: datasets ``filtering_world.scene_*`` and the
#: parameters ``filtering_world.scenes`` (in parameters_filtering.yml).
WORLD = "filtering_world"


def create_pipeline(**kwargs) -> Pipeline:
    world = Pipeline(create_scenes_pipeline(), namespace=WORLD)
    recipe = Pipeline(
        [
            Node(
                split_pairs,
                inputs=[f"{WORLD}.scene_metadata", "params:filtering"],
                outputs=["filtering_scorer_pairs", "filtering_pool", "filtering_heldout_pairs"],
                name="split_pairs",
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

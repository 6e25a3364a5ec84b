"""The ``thinklite`` pipeline: ProVision questions → SFT warm start → pool dedup and
decontamination → MCTS difficulty of the kept pool → hard-sample selection → GRPO → held-out
evaluation, with one decision ledger (``thinklite_ledger``) of every stage that saw a sample.

``create_pipeline`` returns only ThinkLite's own nodes; the registry prepends scenes and
provision. The pool and held-out set are the world's or, with ``--params
thinklite_pool_source=...`` / ``thinklite_heldout_source=...``, a user's (read-only; node
``thinklite_inputs``). :func:`shared_nodes` (sets, warm start, MCTS, warm-start evaluation) and
:func:`strategy_nodes` (select → GRPO → evaluate) are reused by ``thinklite_ablation``, which
runs the strategy nodes once per strategy in its own namespace.

Each node names the part of a section it reads (``params:models.policy``, not the whole
``params:models``), so the DAG, the MLflow parameters and the DVC stage's ``params`` say which
settings feed which node; the start-up hook builds every one into its dataclass.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from datarecipes.pipelines.thinklite.nodes import (
    answer_accuracy_table,
    benchmark_sets,
    build_ledger,
    build_question_sets,
    choose_question_sets,
    curate_pool,
    evaluate_checkpoint,
    grpo_on_selection,
    score_pool_difficulty,
    select_training_set,
    selected_in_own_formats,
    warm_start_policy,
)

#: Datasets the strategy nodes read from the shared part (left un-namespaced).
SHARED_INPUTS = {
    "thinklite_pool", "thinklite_difficulty", "thinklite_warm_start_checkpoint",
    "thinklite_heldout", "thinklite_benchmarks", "thinklite_pool_ledger",
    "thinklite_candidate_pool", "thinklite_pool_hashes",
}
#: Parameters every strategy shares (the same budget and seed); all the strategy nodes read
#: but ``params:hard_sample_selection``, which each namespace replaces with its own.
SHARED_PARAMETERS = {"params:models.policy", "params:generation", "params:thinklite_mcts",
                     "params:thinklite_grpo", "params:thinklite_eval"}


def shared_nodes() -> Pipeline:
    """Question sets, warm start, MCTS difficulty, and the warm start's evaluation."""
    return Pipeline(
        [
            Node(
                build_question_sets,
                inputs=["provision_questions", "thinklite_scene_root", "params:thinklite_data"],
                outputs=["thinklite_warm_start_set", "thinklite_world_pool",
                         "thinklite_world_heldout", "thinklite_data_metrics"],
                name="thinklite_question_sets",
            ),
            Node(
                choose_question_sets,
                inputs=["thinklite_warm_start_set", "thinklite_world_pool",
                        "thinklite_world_heldout", "thinklite_pool_source",
                        "thinklite_heldout_source", "thinklite_source_image_dir"],
                outputs=["thinklite_candidate_pool", "thinklite_heldout",
                         "thinklite_source_images", "thinklite_input_refusals_table",
                         "thinklite_inputs_metrics"],
                name="thinklite_inputs",
            ),
            Node(
                benchmark_sets,
                inputs="thinklite_benchmark_sources",
                outputs=["thinklite_benchmarks", "thinklite_benchmark_images"],
                name="thinklite_benchmark_sets",
            ),
            Node(
                curate_pool,
                inputs=["thinklite_candidate_pool", "thinklite_heldout", "thinklite_benchmarks",
                        "thinklite_input_refusals_table", "thinklite_dedup_work_dir",
                        "params:thinklite_dedup", "params:thinklite_decontamination",
                        "params:thinklite_eval"],
                outputs=["thinklite_pool", "thinklite_pool_ledger", "thinklite_pool_hashes",
                         "thinklite_contamination_table", "thinklite_curation_metrics"],
                name="thinklite_curate_pool",
            ),
            Node(
                warm_start_policy,
                inputs=["thinklite_warm_start_set", "params:models.policy",
                        "params:thinklite_warm_start"],
                outputs=["thinklite_warm_start_checkpoint", "thinklite_warm_start_metrics"],
                name="thinklite_warm_start",
            ),
            Node(
                score_pool_difficulty,
                inputs=["thinklite_pool", "thinklite_warm_start_checkpoint",
                        "thinklite_mcts_work_dir", "params:models.policy",
                        "params:models.judge", "params:generation", "params:mcts_difficulty",
                        "params:thinklite_mcts"],
                outputs=["thinklite_difficulty", "thinklite_mcts_metrics",
                         "thinklite_difficulty_plot"],
                name="thinklite_mcts_difficulty",
            ),
            Node(
                evaluate_checkpoint,
                inputs=["thinklite_warm_start_checkpoint", "thinklite_heldout",
                        "thinklite_benchmarks", "params:models.policy", "params:generation",
                        "params:thinklite_eval"],
                outputs=["thinklite_warm_start_eval_table", "thinklite_warm_start_eval_metrics",
                         "thinklite_warm_start_eval_plot"],
                name="thinklite_evaluate_warm_start",
            ),
        ]
    )


def strategy_nodes() -> Pipeline:
    """Select (``params:hard_sample_selection``) → GRPO → evaluate."""
    return Pipeline(
        [
            Node(
                answer_accuracy_table,
                inputs=["thinklite_pool", "thinklite_warm_start_checkpoint",
                        "params:models.policy", "params:generation",
                        "params:hard_sample_selection", "params:thinklite_mcts"],
                outputs="thinklite_accuracy_table",
                name="thinklite_answer_accuracy",
            ),
            Node(
                select_training_set,
                inputs=["thinklite_pool", "thinklite_difficulty", "thinklite_accuracy_table",
                        "params:hard_sample_selection"],
                outputs=["thinklite_selected", "thinklite_selection_metrics",
                         "thinklite_selection_difficulty_plot", "thinklite_selection_type_plot"],
                name="thinklite_select",
            ),
            Node(
                build_ledger,
                inputs=["thinklite_pool_ledger", "thinklite_candidate_pool",
                        "thinklite_pool_hashes", "thinklite_difficulty",
                        "thinklite_accuracy_table", "thinklite_selected",
                        "params:hard_sample_selection"],
                outputs=["thinklite_ledger", "thinklite_ledger_metrics", "thinklite_funnel_plot",
                         "thinklite_before_after_table", "thinklite_before_after_plot"],
                name="thinklite_ledger",
            ),
            Node(
                grpo_on_selection,
                inputs=["thinklite_selected", "thinklite_warm_start_checkpoint",
                        "params:models.policy", "params:generation", "params:thinklite_grpo"],
                outputs=["thinklite_grpo_checkpoint", "thinklite_grpo_metrics"],
                name="thinklite_grpo",
            ),
            Node(
                evaluate_checkpoint,
                inputs=["thinklite_grpo_checkpoint", "thinklite_heldout", "thinklite_benchmarks",
                        "params:models.policy", "params:generation", "params:thinklite_eval"],
                outputs=["thinklite_eval_table", "thinklite_eval_metrics", "thinklite_eval_plot"],
                name="thinklite_evaluate",
            ),
        ]
    )


def export_nodes() -> Pipeline:
    """The selected hard set in ThinkLite's parquet columns and as LLaVA JSON, for another
    trainer (thinklite only; the ablation's per-strategy sets stay in the internal schema)."""
    return Pipeline(
        [
            Node(
                selected_in_own_formats,
                inputs="thinklite_selected",
                outputs=["thinklite_selected_thinklite", "thinklite_selected_llava"],
                name="thinklite_export_selected",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    return shared_nodes() + strategy_nodes() + export_nodes()

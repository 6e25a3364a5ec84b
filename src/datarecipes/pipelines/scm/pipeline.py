"""The ``scm`` pipeline: prior -> SFT records; real tables -> baselines [+ LM] -> report.

With ``lm=True`` (the default) the tabular LM (``models.tabular_lm``) is fine-tuned on the
serialized prior tasks and evaluated on the real tables next to the baselines; the LM's
tokenizer checks every prompt against its context. ``lm=False`` leaves the prior, the corpus
and the baselines (no model needed).
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from datarecipes.pipelines.scm.lm_nodes import (
    evaluate_tabular_lm,
    prepare_tabular_lm,
    train_tabular_lm,
)
from datarecipes.pipelines.scm.nodes import (
    build_sft_corpus,
    evaluate_baselines_node,
    generate_prior_tasks,
    load_real_tables,
    real_tables_report,
    scm_report,
)


def create_pipeline(lm: bool = True, **kwargs) -> Pipeline:
    extra = ["scm_lm_tokenizer"] if lm else []
    nodes = []
    if lm:
        nodes.append(
            Node(
                prepare_tabular_lm,
                inputs="params:models.tabular_lm",
                outputs=["scm_base_lm", "scm_lm_tokenizer"],
                name="scm_prepare_tabular_lm",
            )
        )
    nodes += [
        Node(
            generate_prior_tasks,
            inputs="params:scm",
            outputs=["scm_prior_tasks", "scm_task_configs", "scm_prior_metrics"],
            name="scm_generate_prior_tasks",
        ),
        Node(
            build_sft_corpus,
            inputs=["scm_prior_tasks", "params:scm", *extra],
            outputs=["scm_sft_records", "scm_sft_records_val"],
            name="scm_build_sft_corpus",
        ),
        Node(
            load_real_tables,
            inputs=["scm_real_tables", "params:scm"],
            outputs="scm_tables",
            name="scm_load_real_tables",
        ),
        Node(
            real_tables_report,
            inputs="scm_tables",
            outputs="scm_input_table",
            name="scm_input_report",
        ),
        Node(
            evaluate_baselines_node,
            inputs=["scm_tables", "params:scm"],
            outputs="scm_baseline_table",
            name="scm_evaluate_baselines",
        ),
    ]
    report_inputs = ["scm_baseline_table"]
    if lm:
        nodes += [
            Node(
                train_tabular_lm,
                inputs=["scm_base_lm", "scm_sft_records", "params:scm_training"],
                outputs=["scm_tabular_lm", "scm_training_metrics"],
                name="scm_train_tabular_lm",
            ),
            Node(
                evaluate_tabular_lm,
                inputs=["scm_tables", "scm_tabular_lm", "params:scm", "params:scm_generation"],
                outputs=["scm_lm_table", "scm_lm_predictions"],
                name="scm_evaluate_tabular_lm",
            ),
        ]
        report_inputs.append("scm_lm_table")
    nodes.append(
        Node(
            scm_report,
            inputs=report_inputs,
            outputs=["scm_eval_table", "scm_metrics", "scm_accuracy_plot"],
            name="scm_report",
        )
    )
    return Pipeline(nodes)

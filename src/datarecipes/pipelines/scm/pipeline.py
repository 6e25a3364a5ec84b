"""The ``scm`` pipeline: prior -> SFT records; real tables -> baselines [+ LM] -> report.

The LM side is wired by whoever owns the model: ``create_pipeline(lm=True)`` adds the
``evaluate_lm`` node, which needs ``scm_predict_fn`` (a callable: list of chat-message lists
-> list of generated strings) and, with ``tokenizer="<dataset>"``, a tokenizer for the
context checks of the SFT records and the evaluation prompts.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from datarecipes.pipelines.scm.nodes import (
    build_sft_corpus,
    evaluate_baselines_node,
    evaluate_lm,
    generate_prior_tasks,
    load_real_tables,
    scm_report,
)


def create_pipeline(lm: bool = False, tokenizer: str | None = None, **kwargs) -> Pipeline:
    extra = [tokenizer] if tokenizer else []
    nodes = [
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
            evaluate_baselines_node,
            inputs=["scm_tables", "params:scm"],
            outputs="scm_baseline_table",
            name="scm_evaluate_baselines",
        ),
    ]
    report_inputs = ["scm_baseline_table"]
    if lm:
        nodes.append(
            Node(
                evaluate_lm,
                inputs=["scm_tables", "scm_predict_fn", "params:scm", *extra],
                outputs=["scm_lm_table", "scm_lm_predictions"],
                name="scm_evaluate_lm",
            )
        )
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

"""The ``provision`` pipeline: scene graphs → validation → questions → near-identical
questions dropped (``provision_ledger`` records why) → metrics and plots.

The scene graphs are the built-in world's (``scene_graphs`` / ``scene_metadata``, written by
the scenes pipeline under ``data/``), or a user's read-only ``provision_source`` when
``--params provision_source=...`` names one; ``select_scene_source`` picks.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from datarecipes.pipelines.provision.nodes import (
    dedup_provision_questions,
    generate_provision_questions,
    provision_stats,
    select_scene_source,
    validate_scene_graphs,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                select_scene_source,
                inputs=["scene_graphs", "scene_metadata", "provision_source",
                        "provision_splits_source"],
                outputs=["provision_scene_graphs", "provision_scene_splits",
                         "provision_input_metrics"],
                name="provision_select_source",
            ),
            Node(
                validate_scene_graphs,
                inputs=["provision_scene_graphs", "params:provision.validation"],
                outputs=["provision_valid_graphs", "provision_validation"],
                name="validate_scene_graphs",
            ),
            Node(
                generate_provision_questions,
                inputs=["provision_valid_graphs", "provision_scene_splits", "params:provision"],
                outputs=["provision_generated_questions", "provision_generated_conversations"],
                name="generate_provision_questions",
            ),
            Node(
                dedup_provision_questions,
                inputs=["provision_generated_questions", "provision_generated_conversations",
                        "provision_validation", "params:provision_dedup"],
                outputs=["provision_questions", "provision_conversations", "provision_ledger",
                         "provision_ledger_metrics", "provision_funnel_plot"],
                name="dedup_provision_questions",
            ),
            Node(
                provision_stats,
                inputs=["provision_questions", "provision_validation"],
                outputs=["provision_metrics", "provision_generator_plot"],
                name="provision_stats",
            ),
        ]
    )

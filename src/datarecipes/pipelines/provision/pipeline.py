"""The ``provision`` pipeline: scene graphs → questions → metrics and plot."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from datarecipes.pipelines.provision.nodes import (
    generate_provision_questions,
    provision_stats,
    validate_scene_graphs,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                validate_scene_graphs,
                inputs=["scene_graphs", "params:provision"],
                outputs=["provision_valid_graphs", "provision_validation"],
                name="validate_scene_graphs",
            ),
            Node(
                generate_provision_questions,
                inputs=["provision_valid_graphs", "scene_metadata", "params:provision"],
                outputs=["provision_questions", "provision_conversations"],
                name="generate_provision_questions",
            ),
            Node(
                provision_stats,
                inputs=["provision_questions", "provision_validation"],
                outputs=["provision_metrics", "provision_generator_plot"],
                name="provision_stats",
            ),
        ]
    )

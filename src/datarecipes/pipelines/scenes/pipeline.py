"""The ``scenes`` pipeline: generate the world, then summarise it."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from datarecipes.pipelines.scenes.nodes import generate_scenes, scenes_metrics


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                generate_scenes,
                inputs="params:scenes",
                outputs=["scene_images", "scene_graphs", "scene_metadata"],
                name="generate_scenes",
            ),
            Node(
                scenes_metrics,
                inputs="scene_metadata",
                outputs="scenes_metrics",
                name="scenes_metrics",
            ),
        ]
    )

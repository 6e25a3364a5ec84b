"""Nodes of the ``scenes`` pipeline: thin wrappers over :mod:`datarecipes.scenes`."""

from __future__ import annotations

import pandas as pd

from datarecipes.scenegraph import SceneGraph
from datarecipes.scenes import ScenesParams, generate_world, summarise_world


def generate_scenes(
    scenes: ScenesParams,
) -> tuple[dict[str, bytes], dict[str, SceneGraph], pd.DataFrame]:
    """Generate the world: PNG bytes and scene graphs by image id, and the metadata table."""
    world = generate_world(scenes)
    return world.images, world.graphs, world.metadata


def scenes_metrics(scene_metadata: pd.DataFrame) -> dict[str, float]:
    """Counts per split, mean objects and relations per image, corrupted caption share."""
    return summarise_world(scene_metadata)

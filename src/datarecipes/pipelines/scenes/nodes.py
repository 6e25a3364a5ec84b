"""Nodes of the ``scenes`` pipeline: thin wrappers over :mod:`datarecipes.scenes`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from datarecipes.config import from_params
from datarecipes.scenegraph import SceneGraph
from datarecipes.scenes import ScenesParams, generate_world, summarise_world


def generate_scenes(
    scenes: Mapping[str, Any] | ScenesParams,
) -> tuple[dict[str, bytes], dict[str, SceneGraph], pd.DataFrame]:
    """Generate the world: PNG bytes and scene graphs by image id, and the metadata table."""
    params = (
        scenes
        if isinstance(scenes, ScenesParams)
        else from_params(ScenesParams, scenes, where="parameters_scenes.yml: scenes")
    )
    world = generate_world(params)
    return world.images, world.graphs, world.metadata


def scenes_metrics(scene_metadata: pd.DataFrame) -> dict[str, float]:
    """Counts per split, mean objects and relations per image, corrupted caption share."""
    return summarise_world(scene_metadata)

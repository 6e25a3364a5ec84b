"""A small scenes world with 30 % corrupted captions, written to disk once per session."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from datarecipes.scenes.params import ScenesParams
from datarecipes.scenes.world import generate_world


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> tuple[pd.DataFrame, str]:
    """(metadata with relative image paths, the world root the paths resolve against)."""
    root = tmp_path_factory.mktemp("filtering_world")
    params = ScenesParams(
        n_scenes=900, seed=3, corrupt_fraction=0.3,
        split_fractions={"train": 0.3, "validation": 0.55, "test": 0.15},
    )
    world = generate_world(params, progress=False)
    (root / "images").mkdir()
    for image_id, png in world.images.items():
        (root / "images" / f"{image_id}.png").write_bytes(png)
    return world.metadata, str(root)

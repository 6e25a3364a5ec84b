"""A tiny scenes world with corrupted captions for the experiment's miniature, on disk once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from datarecipes.io.datasets import ImageTableDataset
from datarecipes.scenes.params import ScenesParams
from datarecipes.scenes.world import generate_world


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> tuple[ImageTableDataset, pd.DataFrame]:
    """(the world's metadata as the catalog stores it — image paths relative to its folder,
    loaded resolved — and the metadata itself): 160 pool, ~100 scorer, ~60 held-out pairs."""
    root = tmp_path_factory.mktemp("filtering_experiment_world")
    params = ScenesParams(n_scenes=400, seed=5, corrupt_fraction=0.3,
                          split_fractions={"train": 0.4, "validation": 0.35, "test": 0.25})
    world = generate_world(params, progress=False)
    (root / "images").mkdir()
    for image_id, png in world.images.items():
        (root / "images" / f"{image_id}.png").write_bytes(png)
    dataset = ImageTableDataset(filepath=str(Path(root) / "metadata.parquet"))
    dataset.save(world.metadata)
    return dataset, world.metadata

"""A tiny world on disk and tiny parameters for the ThinkLite pipelines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from datarecipes.pipelines.provision.nodes import generate_provision_questions
from datarecipes.pipelines.scenes.nodes import generate_scenes
from datarecipes.provision import ProvisionParams
from datarecipes.scenes import ScenesParams


def tiny_parameters(preset_cache: str) -> dict[str, object]:
    """Every ThinkLite section at toy size: seconds per node on a CPU."""
    models = {"policy": {"preset": "tiny-vlm", "preset_cache_dir": preset_cache},
              "judge": {"preset": "tiny-lm", "preset_cache_dir": preset_cache}}
    selection = {"strategy": "mcts", "iters_threshold": 0, "num_answers": 2,
                 "max_accuracy": 1.0, "max_answer_tokens": 8}
    return {
        "models": models,
        "generation": {"engine": "hf"},
        "thinklite_data": {"warmstart_size": 8, "pool_size": 6, "heldout_size": 4, "seed": 0},
        "thinklite_warm_start": {"max_steps": 2, "per_device_train_batch_size": 4,
                                 "learning_rate": 0.01, "max_length": 768, "logging_steps": 1},
        "mcts_difficulty": {"max_iterations": 2, "num_children": 2, "max_steps": 2,
                            "max_step_tokens": 8},
        "thinklite_mcts": {"batch_size": 4},
        "hard_sample_selection": selection,
        "thinklite_grpo": {"num_generations": 2, "per_device_train_batch_size": 2,
                           "max_steps": 1, "max_completion_length": 8, "learning_rate": 0.001},
        "thinklite_eval": {"max_new_tokens": 8, "batch_size": 4},
        "thinklite_dedup": {},
        "thinklite_decontamination": {},
        "thinklite_ablation": {
            "mcts": selection,
            "accuracy": {**selection, "strategy": "accuracy"},
            "random": {**selection, "strategy": "random"},
        },
    }


@pytest.fixture(scope="session")
def preset_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.set_num_threads(2)
    return str(tmp_path_factory.mktemp("presets"))


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, str]:
    return make_tiny_world(Path(tmp_path_factory.mktemp("scenes")))


def make_tiny_world(root: Path, n_scenes: int = 20) -> tuple[pd.DataFrame, str]:
    """ProVision questions over ``n_scenes`` scenes, with the images written under ``root``."""
    images, graphs, metadata = generate_scenes(ScenesParams(n_scenes=n_scenes, seed=0))
    (root / "images").mkdir(parents=True)
    for image_id, data in images.items():
        (root / "images" / f"{image_id}.png").write_bytes(data)
    questions, _ = generate_provision_questions(graphs, metadata,
                                                ProvisionParams(groups_per_split=0))
    return questions, str(root)

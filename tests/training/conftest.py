import pytest
import torch


@pytest.fixture(scope="session")
def preset_cache(tmp_path_factory):
    torch.set_num_threads(2)
    return str(tmp_path_factory.mktemp("presets"))

import pytest
import torch
from kedro.io import DatasetError

from datarecipes.io.checkpoints import CheckpointDataset
from datarecipes.models import LoadedModel, ModelParams, load_model
from datarecipes.models.factory import lora_config
from datarecipes.models.spec import LoraParams


def _logits(loaded):
    ids = loaded.tokenizer("### Step1: red <end>", return_tensors="pt")
    with torch.no_grad():
        return loaded.model(**ids).logits


def test_save_then_load_by_path_and_as_model(tmp_path, tiny_lm):
    ds = CheckpointDataset(str(tmp_path / "ckpt"))
    assert not ds.exists()
    ds.save(tiny_lm)
    assert ds.exists() and ds.load() == str(tmp_path / "ckpt")
    loaded = CheckpointDataset(str(tmp_path / "ckpt"), load_as="model").load()
    assert isinstance(loaded, LoadedModel)
    assert torch.equal(_logits(loaded), _logits(tiny_lm))
    assert not list((tmp_path).glob(".ckpt*"))  # no temporary left behind


def test_lora_adapters_are_merged_on_save(tmp_path, preset_cache):
    from peft import get_peft_model

    spec = ModelParams(preset="tiny-lm", preset_cache_dir=preset_cache,
                     lora=LoraParams(r=4, alpha=8, dropout=0.0))
    base = load_model(spec)
    peft_model = get_peft_model(base.model, lora_config(spec.lora, "lm"))
    with torch.no_grad():  # make the adapter non-zero so merging changes the weights
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.fill_(0.01)
    expected = _logits(LoadedModel(peft_model, base.processor, "lm", base.path, spec))
    CheckpointDataset(str(tmp_path / "merged")).save(
        LoadedModel(peft_model, base.processor, "lm", base.path, spec))
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    merged = load_model(ModelParams(name_or_path=str(tmp_path / "merged")))
    assert torch.allclose(_logits(merged), expected, atol=1e-5)


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        CheckpointDataset(str(tmp_path / "nowhere")).load()
    with pytest.raises(DatasetError, match="not a checkpoint"):
        CheckpointDataset(str(tmp_path / "x")).save(str(tmp_path))

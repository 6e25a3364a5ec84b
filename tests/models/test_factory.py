import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from datarecipes.config import ParameterError, from_params
from datarecipes.models import ModelLoadError, ModelParams, ModelsParams, build_preset, load_model
from datarecipes.models.factory import _from_pretrained_kwargs
from datarecipes.models.presets import PresetError, preset_digest


def _vlm_logits(loaded):
    p = loaded.processor
    text = p.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "colour?"}]}],
        tokenize=False, add_generation_prompt=True,
    )
    inputs = p(text=[text], images=[Image.new("RGB", (56, 56), "red")], return_tensors="pt")
    with torch.no_grad():
        return loaded.model(**inputs).logits


def test_preset_round_trip_by_path_gives_same_logits(tiny_vlm):
    by_path = load_model(ModelParams(name_or_path=tiny_vlm.path))
    assert by_path.kind == "vlm" and type(by_path.model).__name__.startswith("Qwen2_5_VL")
    assert torch.equal(_vlm_logits(tiny_vlm), _vlm_logits(by_path))
    assert by_path.processor.chat_template


def test_preset_build_is_deterministic_and_seeded(tmp_path, tiny_lm):
    a = build_preset("tiny-lm", seed=0, cache_dir=tmp_path / "a")
    b = build_preset("tiny-lm", seed=0, cache_dir=tmp_path / "b")
    c = build_preset("tiny-lm", seed=1, cache_dir=tmp_path / "c")
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    assert a.name == preset_digest("tiny-lm", 0) != c.name
    # A second build call reuses the cache instead of rebuilding.
    stamp = (a / "model.safetensors").stat().st_mtime_ns
    assert build_preset("tiny-lm", seed=0, cache_dir=tmp_path / "a") == a
    assert (a / "model.safetensors").stat().st_mtime_ns == stamp


def test_presets_are_small_qwen_architectures(tiny_vlm, tiny_lm):
    assert tiny_lm.kind == "lm" and type(tiny_lm.model).__name__ == "Qwen2ForCausalLM"
    assert sum(p.numel() for p in tiny_vlm.model.parameters()) < 2_000_000
    tok = tiny_vlm.tokenizer
    for special in ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>"):
        assert tok.convert_tokens_to_ids(special) != tok.unk_token_id
    # A 128x128 image is a few dozen tokens at most.
    inputs = tiny_vlm.processor(
        text=["<|vision_start|><|image_pad|><|vision_end|>"],
        images=[Image.new("RGB", (128, 128))], return_tensors="pt",
    )
    assert inputs["input_ids"].shape[1] <= 40


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "neither is set"),
        ({"preset": None, "name_or_path": None}, "neither is set"),
        ({"preset": "tiny-vlm", "name_or_path": " "}, "must not be empty"),
        ({"preset": "tiny-vlm", "dtpye": "float32"}, "unknown key"),
        ({"preset": "tiny-vlm", "dtype": "float64"}, "dtype"),
        ({"preset": "tiny-vlm", "lora": {"r": 0}}, "lora.r"),
        ({"preset": "tiny-vlm", "lora": {"rank": 8}}, "unknown key"),
        ({"preset": "tiny-vlm", "min_pixels": 100, "max_pixels": 10}, "min_pixels"),
        ({"preset": "tiny-vlm", "extra_from_pretrained": {"trust_remote_code": True}},
         "trust_remote_code"),
    ],
)
def test_spec_validation_names_the_key(params, message):
    with pytest.raises(ParameterError, match=message):
        ModelParams.from_params(params, where="parameters_models.yml: models.policy")


def test_name_or_path_replaces_the_preset(caplog, tmp_path, tiny_lm):
    # A soft-merged layer (conf/gpu, conf/local, --params) adds name_or_path beside the base
    # preset: the checkpoint wins and the factory loads it, not the preset.
    with caplog.at_level("INFO", logger="datarecipes.models.spec"):
        spec = ModelParams.from_params(
            {"preset": "tiny-vlm", "name_or_path": tiny_lm.path}, where="models.judge"
        )
    assert spec.preset is None and spec.name_or_path == tiny_lm.path
    assert any("preset 'tiny-vlm' is ignored" in r.getMessage() for r in caplog.records)
    loaded = load_model(spec)
    assert loaded.kind == "lm" and loaded.path == tiny_lm.path


def test_models_section_builds_every_role():
    section = from_params(
        ModelsParams,
        {"policy": {"name_or_path": "Qwen/Qwen2.5-VL-7B-Instruct", "dtype": "bfloat16",
                    "lora": {"r": 64, "alpha": 128}}},
        where="parameters_models.yml: models",
    )
    assert section.policy.lora.target_modules == "all-linear"
    assert section.judge.preset == "smollm2-135m"
    with pytest.raises(ParameterError, match="unknown key"):
        from_params(ModelsParams, {"polcy": {"preset": "tiny-vlm"}}, where="models")


def test_nonexistent_checkpoint_directory_is_named(tmp_path):
    missing = tmp_path / "no" / "such" / "checkpoint"
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(ModelParams(name_or_path=str(missing)))


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(PresetError, match="tiny-vlm"):
        load_model(ModelParams(preset="tiny-giant"))


def test_trust_remote_code_is_off_by_default(tmp_path):
    spec = ModelParams(name_or_path=str(tmp_path))
    assert spec.trust_remote_code is False
    assert _from_pretrained_kwargs(spec, str(tmp_path))["trust_remote_code"] is False
    assert _from_pretrained_kwargs(spec, str(tmp_path))["local_files_only"] is True
    # A checkpoint that needs its own code must not load (nor run that code).
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "evil_arch", "auto_map": {"AutoConfig": "evil.EvilConfig"},
    }))
    (tmp_path / "evil.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_model(spec)


def test_processor_without_chat_template_is_refused(tmp_path, tiny_lm):
    copy = Path(shutil.copytree(tiny_lm.path, tmp_path / "ckpt"))
    config = json.loads((copy / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    (copy / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(ModelLoadError, match="no chat template"):
        load_model(ModelParams(name_or_path=str(copy)))

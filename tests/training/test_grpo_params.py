"""GRPO's optimiser and rollout settings reach TRL's GRPOConfig as MM-UPT's recipe needs, and
the hf engine refuses a rollout batch it cannot hold, naming ``generation.engine``."""

from __future__ import annotations

import sys
import types

import pytest

from datarecipes.config import ParameterError, from_params
from datarecipes.engines import GenerationParams, check_grpo_rollouts
from datarecipes.training.grpo import GRPOParams, grpo_config

# MM-UPT examples/config.yaml + verl/workers/actor/config.py, for one training process.
MM_UPT = dict(num_generations=10, per_device_train_batch_size=10,
              gradient_accumulation_steps=128, steps_per_generation=512,
              max_completion_length=2048, learning_rate=1e-6, weight_decay=1e-2,
              epsilon=0.2, epsilon_high=0.3, num_iterations=1, beta=0.01, delta=3.0,
              loss_type="bnpo")


@pytest.fixture
def vllm_importable(monkeypatch):
    if "vllm" not in sys.modules:
        monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))


def test_mm_upt_batch_maps_onto_trl_generation_and_update_sizes(tmp_path, vllm_importable):
    params = GRPOParams(**MM_UPT)
    config = grpo_config(params, str(tmp_path), GenerationParams(engine="vllm"))
    # 512 prompts x 10 rollouts per generation; 128 prompts x 10 per optimizer step: 4 updates.
    assert config.generation_batch_size == 5120
    assert config.generation_batch_size // config.num_generations == 512
    per_step = config.per_device_train_batch_size * config.gradient_accumulation_steps
    assert per_step // config.num_generations == 128
    assert config.steps_per_generation // config.gradient_accumulation_steps == 4
    assert (config.epsilon, config.epsilon_high, config.num_iterations) == (0.2, 0.3, 1)
    assert (config.delta, config.loss_type) == (3.0, "bnpo")
    assert (config.weight_decay, config.learning_rate, config.beta) == (1e-2, 1e-6, 0.01)
    assert config.use_vllm


def test_hf_engine_refuses_rollouts_it_cannot_hold(tmp_path):
    params = GRPOParams(**MM_UPT)
    assert params.rollouts_per_generation == 5120
    with pytest.raises(ParameterError, match="generation.engine is 'hf'.*10,485,760 tokens"):
        grpo_config(params, str(tmp_path), GenerationParams())
    # The CPU default (4 rollouts x 128 tokens) is far inside the bound.
    check_grpo_rollouts(GRPOParams(max_completion_length=128), GenerationParams())


def test_default_steps_per_generation_is_one_rollout_per_update(tmp_path):
    params = GRPOParams(num_generations=2, per_device_train_batch_size=2,
                        gradient_accumulation_steps=3)
    config = grpo_config(params, str(tmp_path), GenerationParams())
    assert config.steps_per_generation == 3 and config.generation_batch_size == 6
    assert params.rollouts_per_generation == 6


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("steps_per_generation", 3, "multiple of gradient_accumulation_steps"),
     ("epsilon", 1.5, "epsilon must be in"), ("num_iterations", 0, "num_iterations"),
     ("majority_rule", "coin", "not one of"), ("freeze_vision_tower", True, "finetuning: full"),
     ("weight_decay", -1.0, "weight_decay"), ("delta", 1.1, "delta must be"),
     ("loss_type", "sum", "not one of")],
)
def test_new_grpo_fields_are_checked(key, value, message):
    base = {"gradient_accumulation_steps": 2}
    with pytest.raises(ParameterError, match=message):
        from_params(GRPOParams, {**base, key: value}, where="thinklite_grpo")


def test_freeze_vision_tower_stops_only_the_vision_encoder(preset_cache):
    from datarecipes.models import ModelParams, load_model
    from datarecipes.training.grpo import freeze_vision_tower

    model = load_model(ModelParams(preset="tiny-vlm", preset_cache_dir=preset_cache)).model
    before = {n for n, p in model.named_parameters() if p.requires_grad}
    frozen = freeze_vision_tower(model)
    after = {n for n, p in model.named_parameters() if p.requires_grad}
    assert frozen > 0 and after < before
    assert all("visual" in n for n in before - after)
    assert any("lm_head" in n or "embed_tokens" in n for n in after)


@pytest.mark.parametrize("freeze", [False, True])
def test_full_finetuning_ignores_the_spec_lora_and_trains_the_vision_tower(
        tmp_path, preset_cache, freeze):
    """``finetuning: full`` trains the base weights themselves even when ``models.policy`` has a
    LoRA block (no adapters are added), the vision tower included unless frozen. Weight decay
    moves every weight that has a gradient, so this holds even before any reward is earned."""
    import torch

    from datarecipes.models import LoraParams, ModelParams, load_model
    from datarecipes.training.grpo import train_grpo
    from tests.training.synthetic import write_shapes_dataset

    records = write_shapes_dataset(tmp_path, 4, seed=0)
    spec = ModelParams(preset="tiny-vlm", preset_cache_dir=preset_cache, lora=LoraParams(r=4))
    loaded = load_model(spec)
    before = {k: v.detach().clone() for k, v in loaded.model.state_dict().items()}
    params = GRPOParams(finetuning="full", freeze_vision_tower=freeze, max_steps=1,
                        num_generations=2, per_device_train_batch_size=2,
                        max_completion_length=4, learning_rate=1e-3, weight_decay=0.1)
    policy, metrics = train_grpo(loaded, records, params, image_root=str(tmp_path))
    after = policy.model.state_dict()
    assert set(after) == set(before), "full fine-tuning must not add LoRA adapters"
    changed = {k for k, v in after.items() if not torch.equal(v, before[k])}
    vision = {k for k in before if "visual" in k}
    assert vision and changed - vision, "the language model did not train"
    # The token embeddings are no LoRA target: they move only when the base weights train.
    assert any("embed_tokens" in k for k in changed), "only adapter-covered weights moved"
    if freeze:
        assert not changed & vision
    else:
        assert changed & vision
    assert metrics["grpo_steps"] == 1


def test_start_up_check_sees_grpo_sections_against_the_engine():
    """The pre-run check refuses the -e gpu GRPO batch on hf, naming the section and
    generation.engine, and passes the CPU default."""
    from kedro.io import DataCatalog
    from kedro.pipeline import Node, Pipeline

    import datarecipes.thinklite.params  # noqa: F401 - registers thinklite_grpo
    from datarecipes.hooks import check_rollouts

    def problems(params: dict) -> list[str]:
        pipeline = Pipeline([Node(lambda *a: None, [f"params:{k}" for k in params], "out")])
        catalog = DataCatalog()
        for key, value in params.items():
            catalog[f"params:{key}"] = value
        return check_rollouts(pipeline, catalog)

    [problem] = problems({"generation": {"engine": "hf"}, "thinklite_grpo": dict(MM_UPT)})
    assert problem.startswith("thinklite_grpo: generation.engine is 'hf'")
    assert problems({"generation": {"engine": "hf"}, "thinklite_grpo": {}}) == []
    [problem] = problems({"thinklite_grpo": dict(MM_UPT)})  # no block: the hf default
    assert "engine is 'hf'" in problem

"""VllmEngine builds the HF path's prompts, passes sampling settings through, maps results back
to their requests and seeds each request deterministically — checked against a fake engine
with ``vllm.LLM.generate``'s interface (CPU CI has no vllm)."""

from __future__ import annotations

import dataclasses
import sys
import types

import pytest
from PIL import Image

from datarecipes.config import ParameterError, from_params
from datarecipes.engines import (
    GenerationParams,
    HFEngine,
    grpo_vllm_kwargs,
    load_generator,
    load_step_policy,
    vllm_engine_kwargs,
)
from datarecipes.engines.vllm import EngineError, VllmEngine
from datarecipes.mcts.policy import HFPolicy, Policy, StepRequest
from datarecipes.models.factory import load_processor
from datarecipes.models.spec import ModelParams
from tests.scaling.fake_vllm import FakeLLM, FakeSamplingParams, digest


@pytest.fixture
def vllm_importable(monkeypatch):
    """``generation.engine: vllm`` validates only where vllm is installed: stand one in."""
    # TRL probes for vllm when first imported (find_spec, which a stand-in without a spec
    # breaks): import it before the stand-in goes in.
    import trl.trainer.grpo_trainer  # noqa: F401

    if "vllm" not in sys.modules:
        monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    return str(tmp_path_factory.mktemp("presets"))


@pytest.fixture(scope="module")
def lm_processor(presets):
    processor, kind, path = load_processor(ModelParams(preset="tiny-lm", preset_cache_dir=presets))
    assert kind == "lm"
    return processor, path


@pytest.fixture(scope="module")
def vlm_processor(presets):
    processor, kind, path = load_processor(ModelParams(preset="tiny-vlm", preset_cache_dir=presets))
    assert kind == "vlm"
    return processor, path


def engine_for(processor, llm=None) -> tuple[VllmEngine, FakeLLM]:
    llm = llm or FakeLLM()
    return VllmEngine(llm, processor, sampling_params=FakeSamplingParams), llm


def requests() -> list[StepRequest]:
    return [
        StepRequest("q0", "What is 2 + 3?", seed=11),
        StepRequest("q1", "What is 7 - 4?", steps=("### Step1: Seven minus four. <end>",), seed=12),
        StepRequest("q2", "Name a prime.", seed=13),
    ]


def test_policy_prompts_use_the_chat_template_and_settings_pass_through(lm_processor):
    processor, _ = lm_processor
    engine, llm = engine_for(processor)
    assert isinstance(engine, Policy)
    out = engine.generate_steps(requests(), n=3, temperature=0.7, top_p=0.9, max_new_tokens=40)
    (prompts, sampling), = llm.calls
    fresh = processor.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}], tokenize=False, add_generation_prompt=True
    )
    assert prompts[0] == {"prompt": fresh}
    continued = "<|im_start|>assistant\n### Step1: Seven minus four. <end>"
    assert prompts[1]["prompt"].endswith(continued)
    for sp, req in zip(sampling, requests(), strict=True):
        assert (sp.n, sp.temperature, sp.top_p, sp.max_tokens) == (3, 0.7, 0.9, 40)
        assert sp.stop == ["<end>"] and sp.include_stop_str_in_output
        assert sp.seed == req.seed  # per-request seed, as the HF text path
    # each request's samples answer that request's prompt, cut just after the stop string
    for row, prompt in zip(out, prompts, strict=True):
        assert len(row) == 3
        for gen in row:
            assert gen.text.startswith(digest(prompt["prompt"]))
            assert gen.text.endswith("<end>") and "tail" not in gen.text
            assert gen.n_tokens == len(gen.text.split())


def test_policy_samples_depend_on_the_request_seed_not_the_batch(lm_processor):
    processor, _ = lm_processor
    engine, _ = engine_for(processor)
    kwargs = dict(n=4, temperature=1.0, top_p=1.0, max_new_tokens=20)
    first = engine.generate_steps(requests(), **kwargs)
    again = engine.generate_steps(requests(), **kwargs)
    reordered = engine.generate_steps(list(reversed(requests())), **kwargs)
    alone = engine.generate_steps(requests()[1:2], **kwargs)
    assert first == again
    assert reordered == list(reversed(first))
    assert alone[0] == first[1]
    reseeded = engine.generate_steps(
        [dataclasses.replace(r, seed=r.seed + 100) for r in requests()], **kwargs
    )
    assert [[g.text for g in row] for row in reseeded] != [[g.text for g in row] for row in first]
    assert len({g.text for g in first[0]}) > 1  # n samples are not copies of one another


def test_greedy_asks_once_and_repeats(lm_processor):
    processor, _ = lm_processor
    engine, llm = engine_for(processor)
    out = engine.generate_steps(requests(), n=3, temperature=0.0, top_p=0.5, max_new_tokens=8)
    (_, sampling), = llm.calls
    assert all(sp.n == 1 and sp.temperature == 0 and sp.top_p == 1.0 for sp in sampling)
    assert all(len(row) == 3 and len(set(row)) == 1 for row in out)


def test_images_go_in_as_multi_modal_data(vlm_processor, lm_processor, tmp_path):
    processor, _ = vlm_processor
    image = tmp_path / "chart.png"
    Image.new("RGB", (40, 24), "white").save(image)
    engine, llm = engine_for(processor)
    reqs = [StepRequest("v0", "How many bars?", image=str(image), seed=1),
            StepRequest("t0", "What is 1 + 1?", seed=2)]
    out = engine.generate_steps(reqs, n=2, temperature=0.5, top_p=1.0, max_new_tokens=8)
    (prompts, _), = llm.calls
    assert "<|vision_start|><|image_pad|><|vision_end|>" in prompts[0]["prompt"]
    assert prompts[0]["multi_modal_data"]["image"].size == (40, 24)
    assert "multi_modal_data" not in prompts[1] and "<|image_pad|>" not in prompts[1]["prompt"]
    assert all("img40x24" in g.text for g in out[0]) and not any("img" in g.text for g in out[1])
    text_only, _ = engine_for(lm_processor[0])
    with pytest.raises(ValueError, match="sample v0: has an image"):
        text_only.generate_steps(reqs[:1], n=1, temperature=0.5, top_p=1.0, max_new_tokens=8)


def test_generate_matches_the_models_generate_contract(lm_processor):
    processor, _ = lm_processor
    engine, llm = engine_for(processor)
    conversations = [
        [{"role": "user", "content": "Rate this caption."}],
        [{"role": "user", "content": "Solve it."}, {"role": "assistant", "content": "Step 1:"}],
        [{"role": "user", "content": "Rate this caption."}],  # a repeat: its own samples
    ]
    kwargs = dict(max_new_tokens=12, temperature=0.8, top_p=0.95, num_return_sequences=2,
                  stop_strings=["<end>"], seed=7)
    out = engine.generate(conversations, **kwargs)
    (prompts, sampling), = llm.calls
    assert prompts[0]["prompt"] == processor.apply_chat_template(
        conversations[0], tokenize=False, add_generation_prompt=True
    )
    assert prompts[1]["prompt"].endswith("Step 1:")  # the assistant turn is continued
    assert [sp.n for sp in sampling] == [2, 2, 2] and sampling[0].stop == ["<end>"]
    assert len({sp.seed for sp in sampling}) == 3  # the repeated prompt gets another seed
    assert [len(row) for row in out] == [2, 2, 2]
    assert out[0] != out[2]
    # seeded by content: the same conversation gives the same samples wherever it sits
    swapped = engine.generate([conversations[1], conversations[0]], **kwargs)
    assert swapped == [out[1], out[0]]
    assert engine.generate(conversations, **kwargs) == out
    assert engine.generate(conversations, **{**kwargs, "seed": 8}) != out


def test_results_that_do_not_match_the_requests_are_refused(lm_processor):
    processor, _ = lm_processor
    for tamper, message in (("drop", "2 results for 3 prompts"), ("swap", "another prompt")):
        engine, _ = engine_for(processor, FakeLLM(tamper=tamper))
        with pytest.raises(EngineError, match=message):
            engine.generate_steps(requests(), n=1, temperature=1.0, top_p=1.0, max_new_tokens=8)


def test_grpo_switch_maps_onto_real_grpo_config_fields(tmp_path, vllm_importable):
    from trl import GRPOConfig

    params = GenerationParams(engine="vllm", tensor_parallel_size=2, max_model_len=4096,
                              grpo_gpu_memory_utilization=0.4, grpo_sleep_mode=True)
    kwargs = grpo_vllm_kwargs(params)
    assert set(kwargs) <= {f.name for f in dataclasses.fields(GRPOConfig)}
    config = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, **kwargs)
    assert (config.use_vllm, config.vllm_mode) == (True, "colocate")
    assert config.vllm_gpu_memory_utilization == 0.4 and config.vllm_tensor_parallel_size == 2
    assert config.vllm_max_model_length == 4096 and config.vllm_enable_sleep_mode
    assert grpo_vllm_kwargs(GenerationParams()) == {}


def test_thinklite_grpo_config_follows_the_generation_block(tmp_path, vllm_importable):
    """The GRPO node's config: vLLM rollouts exactly when ``generation.engine`` is vllm, with
    the trainer's own settings untouched."""
    from datarecipes.training.grpo import GRPOParams, grpo_config

    params = GRPOParams(num_generations=2, per_device_train_batch_size=2)
    on_vllm = grpo_config(params, str(tmp_path), GenerationParams(engine="vllm",
                                                                  grpo_gpu_memory_utilization=0.4))
    assert (on_vllm.use_vllm, on_vllm.vllm_mode, on_vllm.vllm_gpu_memory_utilization) == (
        True, "colocate", 0.4)
    on_hf = grpo_config(params, str(tmp_path), GenerationParams())
    assert not on_hf.use_vllm
    assert (on_vllm.num_generations, on_vllm.temperature) == (on_hf.num_generations,
                                                              on_hf.temperature)


def test_engine_kwargs_carry_the_spec_and_prefix_caching(vllm_importable):
    spec = ModelParams(name_or_path="Qwen/Qwen2.5-VL-7B-Instruct", dtype="bfloat16",
                     max_pixels=1_003_520, extra_from_pretrained={"revision": "abc"})
    kwargs = vllm_engine_kwargs(spec, "/ckpt", "vlm", GenerationParams(engine="vllm"))
    assert kwargs["model"] == "/ckpt" and kwargs["dtype"] == "bfloat16"
    assert kwargs["enable_prefix_caching"] is True and kwargs["revision"] == "abc"
    assert kwargs["limit_mm_per_prompt"] == {"image": 1}
    assert kwargs["mm_processor_kwargs"] == {"max_pixels": 1_003_520}
    assert kwargs["trust_remote_code"] is False
    lm = vllm_engine_kwargs(ModelParams(preset="tiny-lm"), "/p", "lm", GenerationParams())
    assert "limit_mm_per_prompt" not in lm and "max_model_len" not in lm


def test_engine_switch(presets):
    spec = ModelParams(preset="tiny-lm", preset_cache_dir=presets, device="cpu")
    assert isinstance(load_generator(spec, GenerationParams()), HFEngine)
    assert isinstance(load_step_policy(spec, GenerationParams()), HFPolicy)
    try:
        import vllm  # noqa: F401
    except ImportError:
        # Refused when the parameters are validated (start-up), not at the first model load.
        with pytest.raises(ParameterError, match="generation.engine is 'vllm' but the vllm"):
            GenerationParams(engine="vllm")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("engine", "sglang", "not one of"), ("gpu_memory_utilization", 1.5, "in \\(0, 1\\]"),
     ("tensor_parallel_size", 0, ">= 1"), ("max_model_len", 0, ">= 1 or null"),
     ("prefix_cache", True, "unknown key")],
)
def test_generation_params_are_checked(key, value, message):
    with pytest.raises(ParameterError, match=message):
        from_params(GenerationParams, {key: value}, where="generation")

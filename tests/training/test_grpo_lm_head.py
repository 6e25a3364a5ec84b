"""GRPO's ``lm_head`` choice: the project's chunked kernel really runs inside the loss, and one
step from the same seed and weights gives the same update as TRL's own fused LM head, for the
tiny Qwen2.5-VL (images in the prompts) and the tiny Qwen2, with and without LoRA."""

import pytest
import torch

from datarecipes.kernels import integration
from datarecipes.models import ModelParams, load_model
from datarecipes.models.spec import LoraParams
from datarecipes.training import grpo
from tests.training.synthetic import write_shapes_dataset

LR = 1e-3
#: Adam's first step moves every weight with a non-negligible gradient by about LR, so a wrong
#: log-prob (other hidden states, temperature, missing image) shows as differences ~LR; float
#: rounding between the two heads stays far below this.
WEIGHT_ATOL = LR / 10


def _length_reward(prompts, completions, **_):
    # Varied rewards inside each group, so the advantages (and the policy gradient) are non-zero
    # for a random-init model that never answers correctly.
    return [float(len(c if isinstance(c, str) else c[-1]["content"])) for c in completions]


@pytest.fixture
def kernel_calls(monkeypatch):
    monkeypatch.setattr(grpo, "reward_functions", lambda params: ([_length_reward], [1.0]))
    calls = []
    kernel = integration.token_logprobs_and_entropy

    def spy(hidden, *args, **kwargs):
        calls.append((tuple(hidden.shape), kwargs["temperature"], hidden.requires_grad))
        return kernel(hidden, *args, **kwargs)

    monkeypatch.setattr(integration, "token_logprobs_and_entropy", spy)
    return calls


@pytest.fixture(scope="module")
def image_questions(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return str(root), write_shapes_dataset(root, 4, seed=0)


def _text_questions():
    return [
        {"id": f"q{i}", "messages": [{"role": "user", "content": f"How many sides has shape {i}?"}],
         "answer": str(i)}
        for i in range(4)
    ]


def _one_step(preset, cache, lora, records, image_root, lm_head):
    spec = ModelParams(preset=preset, preset_cache_dir=cache, lora=lora)
    params = grpo.GRPOParams(
        max_steps=1, num_generations=4, per_device_train_batch_size=4, max_completion_length=8,
        learning_rate=LR, temperature=0.9, beta=0.01, seed=0, lm_head=lm_head,
    )
    policy, metrics = grpo.train_grpo(load_model(spec), records, params, image_root=image_root)
    return {k: v.detach().clone() for k, v in policy.model.state_dict().items()}, metrics


@pytest.mark.parametrize(
    ("preset", "lora"),
    [
        ("tiny-vlm", None),
        ("tiny-vlm", LoraParams(r=4, alpha=8, dropout=0.0)),
        ("tiny-lm", None),
        ("tiny-lm", LoraParams(r=4, alpha=8, dropout=0.0)),
    ],
    ids=["vlm-full", "vlm-lora", "lm-full", "lm-lora"],
)
def test_chunked_head_runs_in_the_loss_and_matches_trl(
    preset, lora, kernel_calls, image_questions, preset_cache
):
    torch.manual_seed(0)
    image_root, records = image_questions if preset == "tiny-vlm" else (None, _text_questions())
    base = {k: v.clone() for k, v in load_model(
        ModelParams(preset=preset, preset_cache_dir=preset_cache)).model.state_dict().items()}

    chunked, _ = _one_step(preset, preset_cache, lora, records, image_root, "chunked")
    # the policy (with gradients) and the reference model (beta > 0) both went through the kernel
    assert [t for _, t, _ in kernel_calls] == [0.9, 0.9]
    assert sorted(g for _, _, g in kernel_calls) == [False, True]
    n_calls = len(kernel_calls)
    theirs, _ = _one_step(preset, preset_cache, lora, records, image_root, "trl")
    assert len(kernel_calls) == n_calls, "lm_head: trl must not use the project's kernel"

    moved = [k for k in base if not torch.equal(theirs[k], base[k])]
    assert moved, "the step left every weight unchanged; the comparison would be vacuous"
    if preset == "tiny-vlm" and lora is None:
        # the images reached the backbone: the vision tower got gradients through the kernel
        assert any(k.startswith("model.visual.") for k in moved)
    for key in base:
        torch.testing.assert_close(chunked[key], theirs[key], rtol=0, atol=WEIGHT_ATOL, msg=key)
    assert any(
        not torch.equal(chunked[k], base[k]) for k in moved
    ), "the chunked run did not update the weights the TRL run updated"


def test_lm_head_is_a_validated_parameter_and_not_passed_to_trl():
    from datarecipes.config import ParameterError, from_params

    params = from_params(grpo.GRPOParams, {"lm_head": "trl"}, where="test")
    assert grpo.trainer_class(params) is grpo.GRPOTrainer
    assert issubclass(grpo.trainer_class(grpo.GRPOParams()), integration.ChunkedLogprobsGRPOMixin)
    assert not hasattr(grpo.grpo_config(params, "/tmp/unused"), "lm_head")
    with pytest.raises(ParameterError, match="lm_head"):
        from_params(grpo.GRPOParams, {"lm_head": "fused"}, where="test")

"""The batched search on a real (tiny, random-init) Qwen2 LM with the prefix KV cache."""

from __future__ import annotations

import hashlib

import pytest
import torch

from datarecipes.mcts.policy import HFPolicy, StepRequest
from datarecipes.mcts.prompts import render_prompt, step_user_text
from datarecipes.mcts.samples import MctsSample
from datarecipes.mcts.search import MctsParams, mcts_difficulty


class HashReward:
    """A deterministic stand-in verdict: about one in six traces count as correct."""

    def score(self, samples, traces, seed):
        return [
            1.0 if hashlib.sha256("".join(t).encode()).digest()[0] < 40 else 0.0 for t in traces
        ]


SAMPLES = [
    MctsSample("a", "How many apples are on the table?", "3"),
    MctsSample("b", "What colour is the large cube?", "red"),
    MctsSample("c", "Which shape is left of the circle?", "square"),
]


def test_prompt_continues_the_assistant_turn(tiny_lm):
    _, tok = tiny_lm
    user = step_user_text("What is 2 + 2?")
    fresh = render_prompt(tok, user)
    assert fresh.endswith("<|im_start|>assistant\n")
    steps = ("### Step1: add. <end>", "\n### Step2: four. <end>")
    cont = render_prompt(tok, user, steps)
    assert cont == fresh + "".join(steps)  # no end-of-turn after the steps, nothing cut


@pytest.mark.parametrize("temperature", [0.0, 0.5])
def test_batched_search_equals_one_sample_at_a_time(tiny_lm, temperature):
    model, tok = tiny_lm
    cfg = MctsParams(
        max_iterations=4, num_children=2, max_steps=3, max_step_tokens=6,
        temperature=temperature, seed=3,
    )
    policy = HFPolicy(model, tok)
    batched = mcts_difficulty(SAMPLES, policy, cfg, reward=HashReward())
    # Each sample's prompt prefix was encoded exactly once for the whole search.
    prefix_lens = [
        len(tok(render_prompt(tok, step_user_text(s.question)), add_special_tokens=False)
            ["input_ids"])
        for s in SAMPLES
    ]
    assert policy._decoder.prefill_tokens == sum(prefix_lens)
    sequential = [
        mcts_difficulty([s], HFPolicy(model, tok), cfg, reward=HashReward())[0] for s in SAMPLES
    ]
    assert batched == sequential
    assert all(0 < r.generated_tokens <= 4 * (2 + 3) * 6 for r in batched)
    if temperature > 0:
        assert len({r.iters for r in batched}) >= 2  # solves at different iterations
        assert mcts_difficulty(SAMPLES, HFPolicy(model, tok), cfg, reward=HashReward()) == batched
        other = MctsParams(**{**cfg.__dict__, "seed": 4})
        assert mcts_difficulty(SAMPLES, HFPolicy(model, tok), other, reward=HashReward()) != batched


def test_prefix_cache_matches_plain_generate(tiny_lm):
    model, tok = tiny_lm
    user = step_user_text("How many cubes?")
    requests = [
        StepRequest("a", user, seed=1),
        StepRequest("b", step_user_text("Which colour?"), steps=("### Step1: look <end>",)),
    ]
    kwargs = dict(n=2, temperature=0.0, top_p=1.0, max_new_tokens=8)
    cached = HFPolicy(model, tok).generate_steps(requests, **kwargs)
    plain = HFPolicy(model, tok, prefix_cache=False).generate_steps(requests, **kwargs)
    assert cached == plain
    assert all(g.n_tokens == 8 for gens in cached for g in gens)


def test_text_policy_refuses_images(tiny_lm):
    model, tok = tiny_lm
    with pytest.raises(ValueError, match="sample x: has an image"):
        HFPolicy(model, tok).generate_steps(
            [StepRequest("x", "q", image="a.png")], n=1, temperature=0.0, top_p=1.0,
            max_new_tokens=2,
        )


def test_vlm_policy_batches_image_and_text_requests(tmp_path, monkeypatch):
    """The tiny-vlm preset through the model factory: plain batched generate with images."""
    from PIL import Image

    from datarecipes.models import ModelParams, load_model

    monkeypatch.chdir(tmp_path)  # the preset builds under ./data/06_models
    loaded = load_model(ModelParams(preset="tiny-vlm", device="cpu"))
    loaded.model.to(torch.float64)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(tmp_path / "red.png")
    policy = HFPolicy.from_loaded(loaded)
    assert policy.is_vlm and not policy.prefix_cache
    requests = [
        StepRequest("a", step_user_text("What colour?"), image=str(tmp_path / "red.png")),
        StepRequest("b", step_user_text("How many?"), steps=("### Step1: count <end>",)),
    ]
    kwargs = dict(n=2, temperature=0.0, top_p=1.0, max_new_tokens=5)
    batched = policy.generate_steps(requests, **kwargs)
    assert batched == [policy.generate_steps([r], **kwargs)[0] for r in requests]
    assert all(g.n_tokens == 5 for gens in batched for g in gens)


def test_a_generated_special_token_is_counted_but_never_reaches_the_step_text(tiny_lm):
    from datarecipes.mcts.decoding import cut_at_stop

    _, tok = tiny_lm
    pad = tok.convert_tokens_to_ids("<|image_pad|>")
    ids = tok("### Step1: two", add_special_tokens=False)["input_ids"]
    mixed = ids[:2] + [pad] + ids[2:] + tok(" <end> more", add_special_tokens=False)["input_ids"]
    text, count = cut_at_stop(tok, mixed, "<end>", {tok.eos_token_id})
    # A placeholder left in a step would be one image too many in the next prompt.
    assert "<|image_pad|>" not in text and text.endswith("<end>")
    assert text.replace(" ", "") == "### Step1: two <end>".replace(" ", "")
    assert count == len(mixed)  # no EOS: every generated token counted, the cut tail included

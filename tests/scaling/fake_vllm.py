"""A stand-in for ``vllm.LLM`` with the same ``generate`` interface, for CPU tests.

Each sample's text starts with a digest of the prompt it answers (so tests can check that
results come back to the right request), then a word drawn from a generator seeded by the
request's ``SamplingParams.seed`` and the sample index, then the stop string, then text that
a real engine would not return (it stops there). Samples come back out of order, with their
``index``, as vLLM's ``CompletionOutput``s may.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa")


def digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()[:10]


@dataclass
class FakeSamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 16
    stop: list[str] | None = None
    include_stop_str_in_output: bool = False
    seed: int | None = None


@dataclass
class FakeCompletion:
    index: int
    text: str
    token_ids: list[int]


@dataclass
class FakeRequestOutput:
    prompt: str
    outputs: list[FakeCompletion]


@dataclass
class FakeLLM:
    """Records every call; ``tamper`` lets a test break the contract on purpose."""

    calls: list[tuple[list[dict[str, Any]], list[FakeSamplingParams]]] = field(
        default_factory=list
    )
    tamper: str | None = None

    def generate(self, prompts, sampling_params, use_tqdm=True):
        self.calls.append((list(prompts), list(sampling_params)))
        results = []
        for prompt, sp in zip(prompts, sampling_params, strict=True):
            text = prompt["prompt"]
            outputs = []
            for k in range(sp.n):
                if sp.temperature == 0:
                    word = WORDS[int(digest(text), 16) % len(WORDS)]
                else:
                    seed = sp.seed if sp.seed is not None else random.random()
                    word = random.Random(f"{seed}/{k}/{sp.temperature}").choice(WORDS)
                image = prompt.get("multi_modal_data", {}).get("image")
                size = f" img{image.size[0]}x{image.size[1]}" if image is not None else ""
                raw = f"{digest(text)} {word}{size} <end> ignored tail"
                cut = _apply_stop(raw, sp.stop, sp.include_stop_str_in_output)
                outputs.append(FakeCompletion(k, cut, list(range(len(cut.split())))))
            outputs.reverse()  # out of order, as the index field allows
            results.append(FakeRequestOutput(text, outputs))
        if self.tamper == "drop":
            results = results[:-1]
        elif self.tamper == "swap" and len(results) > 1:
            results[0], results[1] = results[1], results[0]
        return results


def _apply_stop(text: str, stop: list[str] | None, keep: bool) -> str:
    for s in stop or []:
        at = text.find(s)
        if at >= 0:
            return text[: at + len(s)] if keep else text[:at]
    return text

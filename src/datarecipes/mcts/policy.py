"""The policy the search asks for reasoning steps: a protocol and its Hugging Face implementation.

One call serves many search trees: ``generate_steps`` takes a list of requests (each a user turn,
an optional image and the steps so far) and returns ``n`` independent continuations of each.
Any backend that implements :class:`Policy` plugs in (the HF one below, a scripted fake in the
tests, later a vLLM server).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from datarecipes.mcts.decoding import PrefixCachedDecoder, cut_at_stop
from datarecipes.mcts.prompts import STEP_DELIMITER, render_prompt
from datarecipes.models.conversations import load_image


@dataclass(frozen=True)
class StepRequest:
    """One prompt to continue: ``user_text`` (+ ``image``) with ``steps`` as assistant history."""

    #: Sample the request belongs to (errors name it).
    sample_id: str
    #: Full user turn (instruction + question, or a judge prompt).
    user_text: str
    #: Path of the sample's image, or None for text-only questions.
    image: str | None = None
    #: Steps written so far; the model continues the assistant turn after them.
    steps: tuple[str, ...] = ()
    #: Per-request seed; backends that can seed each row use it, so that a request's samples do
    #: not depend on which other requests share the call.
    seed: int = 0


@dataclass(frozen=True)
class Generation:
    """One generated continuation and the number of tokens the model produced for it."""

    text: str
    n_tokens: int


@runtime_checkable
class Policy(Protocol):
    """Anything that can continue a batch of step requests."""

    def generate_steps(
        self,
        requests: Sequence[StepRequest],
        n: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        stop: str | None = STEP_DELIMITER,
        seed: int = 0,
    ) -> list[list[Generation]]:
        """``n`` continuations per request, each cut just after ``stop`` (kept in the text).

        ``temperature == 0`` means greedy decoding. ``seed`` seeds the whole call for backends
        that cannot seed per request.
        """
        ...


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from ``parts`` (run seed, sample id, iteration, phase, …).

    ``hash()`` is salted per process, so a digest is used: the same parts give the same seed
    in every process, which makes resumed and sequential runs reproduce batched ones.
    """
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class HFPolicy:
    """A Hugging Face causal LM or vision-language model as a step policy.

    Text-only models decode with :class:`PrefixCachedDecoder`: each sample's prompt prefix is
    encoded once and its key/value cache reused for every continuation (expansions, rollouts,
    later iterations), and each row is sampled from its own seeded generator, so results do not
    depend on batch composition. Vision-language models use plain batched ``model.generate``:
    their rotary positions depend on the image grid (Qwen2-VL's 3-D M-RoPE keeps per-batch
    ``rope_deltas`` on the model), which makes splicing cached image prefixes of different
    samples into one batch fragile, so there the prefix is re-encoded per call and the call is
    seeded as a whole (deterministic for a given seed and batch composition).
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        prefix_cache: bool | None = None,
        max_cached_prefixes: int = 256,
    ) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.is_vlm = hasattr(processor, "image_processor")
        if prefix_cache is None:
            prefix_cache = not self.is_vlm
        if prefix_cache and self.is_vlm:
            raise ValueError("HFPolicy: prefix_cache is only supported for text-only models")
        self.prefix_cache = prefix_cache
        self._decoder = (
            PrefixCachedDecoder(model, self.tokenizer, max_cached_prefixes)
            if prefix_cache
            else None
        )

    @classmethod
    def from_loaded(cls, loaded: Any, **kwargs: Any) -> HFPolicy:
        """The policy of a :class:`datarecipes.models.LoadedModel` (the model factory's)."""
        return cls(loaded.model, loaded.processor, **kwargs)

    def generate_steps(
        self,
        requests: Sequence[StepRequest],
        n: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        stop: str | None = STEP_DELIMITER,
        seed: int = 0,
    ) -> list[list[Generation]]:
        if not requests:
            return []
        for req in requests:
            if req.image is not None and not self.is_vlm:
                raise ValueError(
                    f"sample {req.sample_id}: has an image but the policy's processor "
                    f"({type(self.processor).__name__}) is text-only"
                )
        if self._decoder is not None:
            prompts = [self._prompt_ids(req) for req in requests]
            rows = self._decoder.generate(
                prompts,
                n=n,
                seeds=[req.seed for req in requests],
                temperature=temperature,
                top_p=top_p,
                max_new_tokens=max_new_tokens,
                stop=stop,
            )
        else:
            rows = self._generate_plain(
                requests, n, temperature, top_p, max_new_tokens, stop, seed
            )
        return [
            [Generation(text, n_tokens) for text, n_tokens in rows[i * n : (i + 1) * n]]
            for i in range(len(requests))
        ]

    def _prompt_ids(self, req: StepRequest) -> tuple[list[int], list[int]]:
        """Token ids of the shared prefix (user turn) and of the full prompt (prefix + steps)."""
        encode = self.tokenizer
        prefix = render_prompt(self.processor, req.user_text, (), False)
        prefix_ids = encode(prefix, add_special_tokens=False)["input_ids"]
        if not req.steps:
            return prefix_ids, prefix_ids
        full = render_prompt(self.processor, req.user_text, req.steps, False)
        return prefix_ids, encode(full, add_special_tokens=False)["input_ids"]

    @torch.no_grad()
    def _generate_plain(
        self,
        requests: Sequence[StepRequest],
        n: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        stop: str | None,
        seed: int,
    ) -> list[tuple[str, int]]:
        # Each request repeated n times (what ``num_return_sequences`` does internally too, and
        # greedy decoding refuses ``num_return_sequences > 1``).
        rows = [r for r in requests for _ in range(n)]
        texts = [
            render_prompt(self.processor, r.user_text, r.steps, r.image is not None) for r in rows
        ]
        # Left padding: generation continues from the right edge of every row.
        encode = dict(padding=True, padding_side="left", add_special_tokens=False)
        if self.is_vlm:
            images = [load_image(r.image) for r in rows if r.image]
            inputs = self.processor(
                text=texts, images=images or None, return_tensors="pt", **encode
            )
        else:
            inputs = self.tokenizer(texts, return_tensors="pt", **encode)
        inputs = inputs.to(self.model.device)
        torch.manual_seed(seed)
        kwargs: dict[str, Any] = {"do_sample": temperature > 0}
        if temperature > 0:
            kwargs.update(temperature=temperature, top_p=top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if stop:
            kwargs.update(stop_strings=[stop], tokenizer=self.tokenizer)
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id
        out = self.model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_id,
            **kwargs,
        )
        generated = out[:, inputs["input_ids"].shape[1] :].tolist()
        eos = _eos_ids(self.model, self.tokenizer) | {pad_id}
        return [cut_at_stop(self.tokenizer, ids, stop, eos) for ids in generated]


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if ids is None:
        ids = tokenizer.eos_token_id
    ids = ids if isinstance(ids, (list, tuple)) else [ids]
    return {int(i) for i in ids if i is not None}

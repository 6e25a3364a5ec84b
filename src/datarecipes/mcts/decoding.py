"""Batched step decoding for text-only causal LMs with a per-sample prompt-prefix KV cache.

An MCTS over one question asks for hundreds of continuations of the same long prompt (2-shot
instruction + question): 3 children per expansion, one rollout step after another, for up to 50
iterations. The prompt is encoded once per sample; its key/value states are kept (LRU) and
spliced into every later batch. Rows of one batch have different prefix and continuation
lengths, so the batch is laid out ``[pad… prefix][pad… continuation]`` with an attention mask
over both gaps and explicit position ids; keys are cached after rotary embedding, so a cached
prefix is valid at any offset in the batch.

Each row draws its uniforms from its own generator (seeded by its request's seed and its index
among the ``n`` samples), so a row's text does not depend on the other rows in the batch: a
batched search reproduces a one-sample-at-a-time search for the same seed.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from transformers import DynamicCache

KV = list[tuple[torch.Tensor, torch.Tensor]]


def cut_at_stop(
    tokenizer: Any, ids: Sequence[int], stop: str | None, eos_ids: set[int]
) -> tuple[str, int]:
    """Text of generated ``ids`` up to and including ``stop``, and the tokens generated for it.

    Generation ends at an end-of-sequence token (counted, not shown) or just after the stop
    string (kept in the text, as ThinkLite's steps keep their ``<end>``). Special tokens are
    counted but left out of the text, as vLLM (ThinkLite's rollout engine) and our other
    decoders do: a generated ``<|image_pad|>`` kept in a step would become one image
    placeholder too many in the next rollout's prompt, which the processor refuses.
    """
    ids = list(ids)
    end = next((i for i, t in enumerate(ids) if t in eos_ids), None)
    real = ids if end is None else ids[:end]
    text = tokenizer.decode(real, skip_special_tokens=True)
    if stop and stop in text:
        return text[: text.index(stop) + len(stop)], len(real)
    return text, len(real) + (0 if end is None else 1)


def sample_next(
    logits: torch.Tensor, uniforms: torch.Tensor | None, temperature: float, top_p: float
) -> torch.Tensor:
    """Next token per row: argmax when ``temperature <= 0``, else top-p sampling.

    Sampling inverts the CDF of the nucleus with one uniform per row, so the randomness of a row
    is exactly its own generator's draw.
    """
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    sorted_p, order = probs.sort(dim=-1, descending=True, stable=True)
    before = sorted_p.cumsum(-1) - sorted_p
    sorted_p = sorted_p * (before < top_p)  # nucleus: the first token is always kept
    cdf = sorted_p.cumsum(-1)
    target = uniforms.to(cdf)[:, None] * cdf[:, -1:]
    pick = torch.searchsorted(cdf, target, right=True).clamp_(max=cdf.shape[-1] - 1)
    return order.gather(1, pick).squeeze(1)


class PrefixCachedDecoder:
    """Decode continuations of many prompts in one batch, reusing cached prompt prefixes."""

    def __init__(self, model: Any, tokenizer: Any, max_cached_prefixes: int = 256) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_cached_prefixes = max_cached_prefixes
        self._prefixes: OrderedDict[tuple[int, ...], KV] = OrderedDict()
        params = inspect.signature(model.forward).parameters
        # transformers 5 renamed ``past_key_values`` to ``cache`` (old name deprecated).
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        ids = getattr(model.generation_config, "eos_token_id", None) or tokenizer.eos_token_id
        ids = ids if isinstance(ids, (list, tuple)) else [ids]
        self.eos_ids = {int(i) for i in ids if i is not None}
        self.prefill_tokens = 0  # prompt tokens actually run through the model (for tests)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _prefix_kv(self, prefix: tuple[int, ...]) -> KV:
        kv = self._prefixes.get(prefix)
        if kv is not None:
            self._prefixes.move_to_end(prefix)
            return kv
        ids = torch.tensor([prefix], device=self.device)
        out = self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
        cache = getattr(out, "cache", None) or out.past_key_values
        kv = [(layer.keys, layer.values) for layer in cache.layers]
        self.prefill_tokens += len(prefix)
        self._prefixes[prefix] = kv
        if len(self._prefixes) > self.max_cached_prefixes:
            self._prefixes.popitem(last=False)
        return kv

    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[tuple[Sequence[int], Sequence[int]]],
        n: int,
        seeds: Sequence[int],
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        stop: str | None,
    ) -> list[tuple[str, int]]:
        """``n`` continuations per ``(prefix_ids, full_ids)`` prompt, request-major order."""
        rows: list[tuple[KV, int, list[int]]] = []
        for prefix, full in prompts:
            full = list(full)
            # Longest shared start of prefix and full prompt (a tokenizer may merge across the
            # boundary), leaving at least one token to feed so the first logits exist.
            shared = 0
            limit = min(len(prefix), len(full) - 1)
            while shared < limit and prefix[shared] == full[shared]:
                shared += 1
            kv = self._prefix_kv(tuple(prefix)) if shared else []
            rows.extend((kv, shared, full[shared:]) for _ in range(n))
        row_seeds = [seeds[i] * 1_000_003 + j for i in range(len(prompts)) for j in range(n)]
        generators = [torch.Generator().manual_seed(s % 2**63) for s in row_seeds]
        tokens = self._decode(rows, generators, temperature, top_p, max_new_tokens, stop)
        return [cut_at_stop(self.tokenizer, t, stop, self.eos_ids) for t in tokens]

    def _decode(
        self,
        rows: list[tuple[KV, int, list[int]]],
        generators: list[torch.Generator],
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        stop: str | None,
    ) -> list[list[int]]:
        dev = self.device
        n_rows = len(rows)
        width_p = max(shared for _, shared, _ in rows)
        width_s = max(len(suffix) for _, _, suffix in rows)
        mask = torch.zeros(n_rows, width_p + width_s, dtype=torch.long, device=dev)
        input_ids = torch.zeros(n_rows, width_s, dtype=torch.long, device=dev)
        positions = torch.zeros(n_rows, width_s, dtype=torch.long, device=dev)
        for r, (_, shared, suffix) in enumerate(rows):
            mask[r, width_p - shared : width_p] = 1
            mask[r, width_p + width_s - len(suffix) :] = 1
            input_ids[r, width_s - len(suffix) :] = torch.tensor(suffix, device=dev)
            positions[r, width_s - len(suffix) :] = torch.arange(
                shared, shared + len(suffix), device=dev
            )
        layers = []
        if width_p:
            template = next(kv for kv, shared, _ in rows if shared)
            for layer, (k0, v0) in enumerate(template):
                keys = k0.new_zeros(n_rows, k0.shape[1], width_p, k0.shape[3])
                values = v0.new_zeros(n_rows, v0.shape[1], width_p, v0.shape[3])
                for r, (kv, shared, _) in enumerate(rows):
                    if shared:
                        keys[r, :, width_p - shared :] = kv[layer][0][0, :, :shared]
                        values[r, :, width_p - shared :] = kv[layer][1][0, :, :shared]
                layers.append((keys, values))
        cache = DynamicCache(ddp_cache_data=layers) if layers else DynamicCache()
        logits = self._forward(input_ids, mask, positions, cache)
        next_pos = positions[:, -1] + 1
        alive = list(range(n_rows))
        out: list[list[int]] = [[] for _ in range(n_rows)]
        tail = len(stop) + 2 if stop else 0
        for step in range(max_new_tokens):
            uniforms = None
            if temperature > 0:
                uniforms = torch.cat([torch.rand(1, generator=generators[r]) for r in alive])
            token = sample_next(logits, uniforms, temperature, top_p)
            keep = []
            for a, (r, t) in enumerate(zip(alive, token.tolist())):
                out[r].append(t)
                finished = t in self.eos_ids or (
                    stop is not None
                    and stop in self.tokenizer.decode(out[r][-tail:], skip_special_tokens=False)
                )
                if not finished:
                    keep.append(a)
            if not keep or step == max_new_tokens - 1:
                break
            if len(keep) < len(alive):
                index = torch.tensor(keep, device=dev)
                cache.batch_select_indices(index)
                mask, token, next_pos = mask[index], token[index], next_pos[index]
                alive = [alive[a] for a in keep]
            mask = torch.cat([mask, mask.new_ones(len(alive), 1)], dim=1)
            logits = self._forward(token[:, None], mask, next_pos[:, None], cache)
            next_pos = next_pos + 1
        return out

    def _forward(
        self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: DynamicCache
    ) -> torch.Tensor:
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_kw: cache},
        )
        return out.logits[:, -1, :]


def checkpoint_sampling(generation_config: Any) -> tuple[float, float]:
    """``(temperature, top_p)`` that ``model.generate()`` without sampling arguments would use
    under ``generation_config`` (a checkpoint's ``generation_config.json``): ``(0.0, 1.0)``
    (greedy) unless it sets ``do_sample``.

    ThinkLite's judge is called that way, so with Qwen2.5-7B-Instruct (``do_sample: true``,
    temperature 0.7, top_p 0.8) it samples. Its ``top_k`` and ``repetition_penalty`` are not
    carried over: the :class:`~datarecipes.mcts.policy.Policy` protocol samples with
    temperature and nucleus mass only.
    """
    if generation_config is None or not getattr(generation_config, "do_sample", False):
        return 0.0, 1.0
    temperature = getattr(generation_config, "temperature", None)
    top_p = getattr(generation_config, "top_p", None)
    return (1.0 if temperature is None else float(temperature),
            1.0 if top_p is None else float(top_p))

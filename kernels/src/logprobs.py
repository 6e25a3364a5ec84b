"""Per-token log-probabilities and entropy of an LM head, computed in tiles.

``logits = hidden @ weight.T (+ bias)`` for 4096 tokens and a 152k vocabulary is 2.5 GB in
float32, and ``log_softmax`` plus autograd keep several copies of it: that is the memory peak of
GRPO's policy loss and of MCTS/evaluation scoring. Here the logits only ever exist as one
``[chunk_size, vocab_chunk_size]`` tile: the forward folds tiles into an online log-sum-exp
(Milakov & Gimelshein 2018, "Online normalizer calculation for softmax"), and the backward
recomputes each tile from the saved ``hidden``/``weight`` and the per-token log-sum-exp, turns it
into d(loss)/d(logits) in place and accumulates ``d hidden`` and ``d weight`` tile by tile.

Conventions (same as TRL's fused LM head, ``trl.trainer.utils.add_fused_lm_head``): logits are
divided by ``temperature`` before the softmax; positions whose target is ``ignore_index`` are not
scored: their log-probability and entropy are 0 and they get no gradient.
"""

from __future__ import annotations

import torch

from datarecipes.kernels import triton_logprobs

IGNORE_INDEX = -100
# Tokens per tile. With the vocabulary tile below, one float32 tile is 1024 x 32768 x 4 B = 128 MiB
# and a forward step holds about three of them; lower both to trade speed for memory.
DEFAULT_CHUNK_SIZE = 1024
DEFAULT_VOCAB_CHUNK_SIZE = 32768
BACKENDS = ("auto", "torch", "triton")
# torch.addmm(..., out_dtype=torch.float32) for bf16/fp16 inputs exists on CUDA since torch 2.8
_MM_OUT_DTYPE = tuple(int(part) for part in torch.__version__.split(".")[:2]) >= (2, 8)


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    # Softmax statistics and gradient sums are kept in at least float32: summing bf16 tiles
    # drifts (TRL observed entropy drifting lower over a few dozen GRPO steps with bf16 sums).
    return torch.promote_types(dtype, torch.float32)


def _compute_dtype(hidden: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    # Under autocast (TRL wraps the loss in accelerator.autocast) the projection runs in the
    # autocast dtype, as the model's own lm_head would.
    if torch.is_autocast_enabled(hidden.device.type):
        return torch.get_autocast_dtype(hidden.device.type)
    return torch.promote_types(hidden.dtype, weight.dtype)


def _logits_tile(
    hidden_chunk: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    v0: int,
    v1: int,
    compute_dtype: torch.dtype,
    acc_dtype: torch.dtype,
    inv_temperature: float,
) -> torch.Tensor:
    """Temperature-scaled logits of one tile, ``[n_tokens, v1 - v0]`` in ``acc_dtype``."""
    z = hidden_chunk @ weight[v0:v1].to(compute_dtype).T
    if bias is not None:
        z += bias[v0:v1].to(compute_dtype)
    z = z.to(acc_dtype)
    if inv_temperature != 1.0:
        z.mul_(inv_temperature)
    return z


def _torch_forward_stats(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    inv_temperature: float,
    chunk_size: int,
    vocab_chunk_size: int,
    compute_entropy: bool,
    compute_dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Per-token (log-sum-exp, target logit, entropy) of the scaled logits, tile by tile."""
    acc = _accumulation_dtype(compute_dtype)
    n_tokens, vocab = hidden.shape[0], weight.shape[0]
    lse = torch.empty(n_tokens, dtype=acc, device=hidden.device)
    target_logit = torch.empty_like(lse)
    entropy = torch.empty_like(lse) if compute_entropy else None
    for t0 in range(0, n_tokens, chunk_size):
        t1 = min(t0 + chunk_size, n_tokens)
        hidden_chunk = hidden[t0:t1].to(compute_dtype)
        local_targets = targets[t0:t1]
        running_max = torch.full((t1 - t0,), float("-inf"), dtype=acc, device=hidden.device)
        sum_exp = torch.zeros_like(running_max)
        z_sum_exp = torch.zeros_like(running_max)  # sum_v exp(z_v - max) * z_v, for the entropy
        chunk_target = torch.zeros_like(running_max)
        for v0 in range(0, vocab, vocab_chunk_size):
            v1 = min(v0 + vocab_chunk_size, vocab)
            z = _logits_tile(
                hidden_chunk, weight, bias, v0, v1, compute_dtype, acc, inv_temperature
            )
            local = local_targets - v0
            in_tile = (local >= 0) & (local < v1 - v0)
            picked = z.gather(1, local.clamp(0, v1 - v0 - 1).unsqueeze(1)).squeeze(1)
            chunk_target = torch.where(in_tile, picked, chunk_target)
            new_max = torch.maximum(running_max, z.amax(dim=1))
            rescale = torch.exp(running_max - new_max)
            e = torch.sub(z, new_max.unsqueeze(1)).exp_()
            sum_exp = sum_exp * rescale + e.sum(dim=1)
            if compute_entropy:
                # batched dot product: no third tile-sized temporary for e * z
                z_sum_exp = z_sum_exp * rescale + (e.unsqueeze(1) @ z.unsqueeze(2)).view(-1)
            running_max = new_max
            del z, e
        chunk_lse = running_max + torch.log(sum_exp)
        lse[t0:t1] = chunk_lse
        target_logit[t0:t1] = chunk_target
        if entropy is not None:
            # H = -sum p log p = lse - sum_v p_v z_v
            entropy[t0:t1] = chunk_lse - z_sum_exp / sum_exp
    return lse, target_logit, entropy


def _accumulate_mm(acc: torch.Tensor, grad_z: torch.Tensor, other: torch.Tensor) -> None:
    """``acc += grad_z @ other`` with ``acc``/``grad_z`` in the accumulation dtype and ``other``
    in the compute dtype.

    On CUDA with 16-bit inputs the product runs on bf16/fp16 tensor cores with a float32 output
    (``out_dtype``, torch >= 2.8), about 3x faster than upcasting ``other``; only ``grad_z`` is
    rounded, each tile's product is not. Elsewhere ``other`` is upcast.
    """
    if other.dtype == acc.dtype:
        acc.addmm_(grad_z, other)
    elif acc.is_cuda and _MM_OUT_DTYPE:
        torch.addmm(acc, grad_z.to(other.dtype), other, out_dtype=acc.dtype, out=acc)
    else:
        acc.addmm_(grad_z, other.to(acc.dtype))


class ChunkedLogprobEntropy(torch.autograd.Function):
    """Autograd function over flat ``hidden [N, d]``, ``weight [V, d]``, ``targets [N]``.

    Returns ``(logprobs [N], entropy [N] or None)``; every target must lie in ``[0, V)`` (the
    dispatcher :func:`token_logprobs_and_entropy` drops ignored positions before calling it).
    Saves only the inputs and the per-token log-sum-exp (and entropy); the backward recomputes the
    logits one tile at a time, always in torch, whichever backend ran the forward.
    """

    @staticmethod
    def forward(
        ctx,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
        temperature: float,
        chunk_size: int,
        vocab_chunk_size: int,
        compute_entropy: bool,
        use_triton: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # Entropy is often requested for logging only; without this, autograd would hand the
        # backward a tensor of zeros and we would spend a pass over the vocabulary on it.
        ctx.set_materialize_grads(False)
        compute_dtype = _compute_dtype(hidden, weight)
        inv_temperature = 1.0 / temperature
        if use_triton:
            lse, target_logit, entropy = triton_logprobs.forward_stats(
                hidden.to(compute_dtype),
                weight.to(compute_dtype),
                None if bias is None else bias.to(compute_dtype),
                targets,
                inv_temperature,
                compute_entropy,
            )
        else:
            lse, target_logit, entropy = _torch_forward_stats(
                hidden,
                weight,
                bias,
                targets,
                inv_temperature,
                chunk_size,
                vocab_chunk_size,
                compute_entropy,
                compute_dtype,
            )
        logprobs = target_logit - lse
        ctx.save_for_backward(
            hidden, weight, bias, targets, lse, lse if entropy is None else entropy
        )
        ctx.compute_dtype = compute_dtype
        ctx.inv_temperature = inv_temperature
        ctx.chunk_size = chunk_size
        ctx.vocab_chunk_size = vocab_chunk_size
        return logprobs, entropy

    @staticmethod
    def backward(ctx, grad_logprobs: torch.Tensor | None, grad_entropy: torch.Tensor | None):
        hidden, weight, bias, targets, lse, entropy = ctx.saved_tensors
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        none_for_rest = (None,) * 6
        if (grad_logprobs is None and grad_entropy is None) or not (need_h or need_w or need_b):
            return (None, None, None) + none_for_rest
        compute_dtype, inv_t = ctx.compute_dtype, ctx.inv_temperature
        acc = _accumulation_dtype(compute_dtype)
        n_tokens, vocab = hidden.shape[0], weight.shape[0]
        grad_h = torch.zeros(hidden.shape, dtype=acc, device=hidden.device) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=acc, device=weight.device) if need_w else None
        grad_b = torch.zeros(vocab, dtype=acc, device=weight.device) if need_b else None
        for t0 in range(0, n_tokens, ctx.chunk_size):
            t1 = min(t0 + ctx.chunk_size, n_tokens)
            hidden_chunk = hidden[t0:t1].to(compute_dtype)
            chunk_lse = lse[t0:t1].unsqueeze(1)
            g_lp = None if grad_logprobs is None else grad_logprobs[t0:t1].to(acc)
            g_ent = None if grad_entropy is None else grad_entropy[t0:t1].to(acc).unsqueeze(1)
            for v0 in range(0, vocab, ctx.vocab_chunk_size):
                v1 = min(v0 + ctx.vocab_chunk_size, vocab)
                log_p = _logits_tile(
                    hidden_chunk, weight, bias, v0, v1, compute_dtype, acc, inv_t
                ).sub_(chunk_lse)
                p = log_p.exp()
                # d(loss)/d(logits) is built in the storage of log_p and p: two tiles at most
                ent_term = None
                if g_ent is not None:
                    # d H / d z_j = -p_j (log p_j + H)
                    ent_term = log_p.add_(entropy[t0:t1].unsqueeze(1)).mul_(p).mul_(g_ent)
                if g_lp is not None:
                    # d log p_target / d z_j = 1[j = target] - p_j
                    grad_z = p.mul_(-g_lp.unsqueeze(1))
                    local = targets[t0:t1] - v0
                    in_tile = (local >= 0) & (local < v1 - v0)
                    grad_z.scatter_add_(
                        1,
                        local.clamp(0, v1 - v0 - 1).unsqueeze(1),
                        torch.where(in_tile, g_lp, 0.0).unsqueeze(1),
                    )
                else:
                    grad_z = p.zero_()
                if ent_term is not None:
                    grad_z.sub_(ent_term)
                del log_p, p, ent_term
                if inv_t != 1.0:
                    grad_z.mul_(inv_t)  # chain rule through z = logits / temperature
                if grad_h is not None:
                    _accumulate_mm(grad_h[t0:t1], grad_z, weight[v0:v1].to(compute_dtype))
                if grad_w is not None:
                    _accumulate_mm(grad_w[v0:v1], grad_z.T, hidden_chunk)
                if grad_b is not None:
                    grad_b[v0:v1] += grad_z.sum(dim=0)
                del grad_z
        return (
            None if grad_h is None else grad_h.to(hidden.dtype),
            None if grad_w is None else grad_w.to(weight.dtype),
            None if grad_b is None else grad_b.to(bias.dtype),
        ) + none_for_rest


def _check_inputs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    bias: torch.Tensor | None,
    temperature: float,
    chunk_size: int,
    vocab_chunk_size: int,
    backend: str,
) -> None:
    if weight.ndim != 2 or hidden.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"hidden [..., d] and weight [V, d] disagree: hidden {tuple(hidden.shape)}, "
            f"weight {tuple(weight.shape)}"
        )
    if tuple(targets.shape) != tuple(hidden.shape[:-1]):
        raise ValueError(
            f"targets must have hidden's leading shape {tuple(hidden.shape[:-1])}, "
            f"got {tuple(targets.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"bias must be [V={weight.shape[0]}], got {tuple(bias.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if chunk_size < 1 or vocab_chunk_size < 1:
        raise ValueError(
            f"chunk_size and vocab_chunk_size must be >= 1, got {chunk_size}, {vocab_chunk_size}"
        )
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def token_logprobs_and_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    temperature: float = 1.0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    vocab_chunk_size: int = DEFAULT_VOCAB_CHUNK_SIZE,
    compute_entropy: bool = True,
    ignore_index: int = IGNORE_INDEX,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``log softmax(h W^T / temperature)[target]`` and the softmax entropy, per token.

    Args:
        hidden: ``[..., d]`` final hidden states (already shifted: position i predicts target i).
        weight: ``[V, d]`` LM head weight; ``bias``: optional ``[V]``.
        targets: ``[...]`` token ids in ``[0, V)`` or ``ignore_index`` (not scored: 0, no grad).
        temperature: logits are divided by it (GRPO samples and scores at the same temperature).
        chunk_size / vocab_chunk_size: tile shape of the torch path (tokens x vocabulary).
        compute_entropy: if False the second output is None and nothing is spent on it.
        backend: ``"torch"`` (chunked, any device), ``"triton"`` (fused forward kernel on CUDA,
            or on CPU under ``TRITON_INTERPRET=1``; backward is always the chunked torch one), or
            ``"auto"``: Triton for CUDA float16/bfloat16 inputs when importable, else torch (float32
            stays on torch: an IEEE-exact Triton dot ran 5x slower than cuBLAS on an H200).

    Returns:
        ``(logprobs, entropy)`` with the shape of ``targets``, float32 (float64 for float64 inputs).
        Differentiable w.r.t. ``hidden``, ``weight`` and ``bias``.
    """
    _check_inputs(hidden, weight, targets, bias, temperature, chunk_size, vocab_chunk_size, backend)
    vocab = weight.shape[0]
    flat_hidden = hidden.reshape(-1, hidden.shape[-1])
    flat_targets = targets.reshape(-1)
    scored = flat_targets != ignore_index
    bad = scored & ((flat_targets < 0) | (flat_targets >= vocab))
    if bool(bad.any()):
        position = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"target {int(flat_targets[position])} at flat position {position} is outside the "
            f"vocabulary [0, {vocab}) and is not ignore_index={ignore_index}"
        )
    use_triton = backend == "triton" or (
        backend == "auto"
        and hidden.is_cuda
        and triton_logprobs.is_available()
        and _compute_dtype(hidden, weight) in triton_logprobs.AUTO_DTYPES
    )
    if use_triton and not triton_logprobs.is_available():
        raise RuntimeError("backend='triton' requested but triton cannot be imported")
    # Only scored positions are projected: prompts and padding cost nothing.
    all_scored = bool(scored.all())
    index = None if all_scored else scored.nonzero().squeeze(1)
    logprobs, entropy = ChunkedLogprobEntropy.apply(
        flat_hidden if index is None else flat_hidden.index_select(0, index),
        weight,
        bias,
        flat_targets if index is None else flat_targets.index_select(0, index),
        float(temperature),
        int(chunk_size),
        int(vocab_chunk_size),
        bool(compute_entropy),
        bool(use_triton),
    )
    outputs = []
    for value in (logprobs, entropy):
        if value is not None and index is not None:
            # index_copy keeps the graph connected even when no position is scored
            value = value.new_zeros(flat_targets.shape).index_copy(0, index, value)
        outputs.append(None if value is None else value.view(targets.shape))
    return outputs[0], outputs[1]


def reference_token_logprobs_and_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    temperature: float = 1.0,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The naive computation that materialises ``[..., V]`` logits: the baseline for tests and
    benchmarks, same conventions as :func:`token_logprobs_and_entropy`."""
    logits = hidden @ weight.T
    if bias is not None:
        logits = logits + bias
    log_p = torch.log_softmax(logits.to(_accumulation_dtype(logits.dtype)) / temperature, dim=-1)
    scored = targets != ignore_index
    logprobs = log_p.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    entropy = -(log_p.exp() * log_p).sum(dim=-1)
    return logprobs * scored, entropy * scored

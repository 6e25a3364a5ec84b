"""Fused Triton forward: LM-head projection + online log-sum-exp + entropy, no logits in memory.

Each program owns a block of ``BLOCK_T`` tokens and one slice of the vocabulary. It computes the
``[BLOCK_T, BLOCK_V]`` logits block in registers with ``tl.dot`` (looping over the hidden size) and
folds it straight into running (max, sum exp, sum exp*z, target logit) statistics, the way
FlashAttention folds attention scores; nothing vocabulary-sized is ever written to memory. The
vocabulary is split across programs ("split-K" over V) so short sequences still fill the GPU; the
per-split statistics, ``[N, n_splits]``, are merged in torch.

Only the forward is a Triton kernel. Training uses it as the forward of
:class:`datarecipes.kernels.logprobs.ChunkedLogprobEntropy`, whose backward recomputes the logits
in tiles with cuBLAS (the two backward reductions, over tokens for ``d weight`` and over the
vocabulary for ``d hidden``, are GEMMs that cuBLAS already does well).

Runs on CUDA, and on CPU tensors under ``TRITON_INTERPRET=1`` (set before this module is
imported: ``triton.jit`` chooses the interpreter at decoration time).
"""

from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - triton ships with the Linux CUDA wheels of torch
    triton = None
    tl = None

SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
# What backend="auto" sends here: for float32 the IEEE dot (TF32 would cost ~1e-3 in the
# logits) ran 5x slower than cuBLAS on an H200, so float32 stays on the chunked torch path.
AUTO_DTYPES = (torch.float16, torch.bfloat16)


def is_available() -> bool:
    """Whether triton can be imported (a GPU is still needed unless TRITON_INTERPRET=1)."""
    return triton is not None


if triton is not None:

    @triton.jit
    def _logsumexp_entropy_kernel(
        hidden_ptr,
        weight_ptr,
        bias_ptr,
        targets_ptr,
        max_ptr,
        sum_exp_ptr,
        z_sum_exp_ptr,
        target_logit_ptr,
        n_tokens,
        vocab,
        hidden_size,
        vocab_per_split,
        n_splits,
        stride_ht,
        stride_hd,
        stride_wv,
        stride_wd,
        inv_temperature,
        HAS_BIAS: tl.constexpr,
        HAS_ENTROPY: tl.constexpr,
        IEEE: tl.constexpr,
        BLOCK_T: tl.constexpr,
        BLOCK_V: tl.constexpr,
        BLOCK_D: tl.constexpr,
    ):
        pid_t = tl.program_id(0)
        pid_split = tl.program_id(1)
        offs_t = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
        t_mask = offs_t < n_tokens
        targets = tl.load(targets_ptr + offs_t, mask=t_mask, other=-1)
        running_max = tl.full((BLOCK_T,), float("-inf"), tl.float32)
        sum_exp = tl.zeros((BLOCK_T,), tl.float32)
        z_sum_exp = tl.zeros((BLOCK_T,), tl.float32)
        target_logit = tl.zeros((BLOCK_T,), tl.float32)
        v_begin = pid_split * vocab_per_split
        v_end = tl.minimum(v_begin + vocab_per_split, vocab)
        h_rows = hidden_ptr + offs_t.to(tl.int64)[:, None] * stride_ht
        # num_splits = cdiv(vocab, vocab_per_split): every split starts inside the vocabulary,
        # so each program folds at least one real block
        for v0 in range(v_begin, v_end, BLOCK_V):
            offs_v = v0 + tl.arange(0, BLOCK_V)
            v_mask = offs_v < v_end
            w_rows = weight_ptr + offs_v.to(tl.int64)[:, None] * stride_wv
            z = tl.zeros((BLOCK_T, BLOCK_V), tl.float32)
            for d0 in range(0, hidden_size, BLOCK_D):
                offs_d = d0 + tl.arange(0, BLOCK_D)
                d_mask = offs_d < hidden_size
                h = tl.load(
                    h_rows + offs_d[None, :] * stride_hd,
                    mask=t_mask[:, None] & d_mask[None, :],
                    other=0.0,
                )
                w = tl.load(
                    w_rows + offs_d[None, :] * stride_wd,
                    mask=v_mask[:, None] & d_mask[None, :],
                    other=0.0,
                )
                if IEEE:
                    # float32 inputs: match torch's default (TF32 off) to ~1e-6, not TF32's ~1e-3
                    z = tl.dot(h, tl.trans(w), z, input_precision="ieee")
                else:
                    z = tl.dot(h, tl.trans(w), z)
            if HAS_BIAS:
                z += tl.load(bias_ptr + offs_v, mask=v_mask, other=0.0).to(tl.float32)[None, :]
            z = z * inv_temperature
            z = tl.where(v_mask[None, :], z, float("-inf"))
            new_max = tl.maximum(running_max, tl.max(z, axis=1))
            rescale = tl.exp(running_max - new_max)
            e = tl.exp(z - new_max[:, None])  # exactly 0 on masked columns
            sum_exp = sum_exp * rescale + tl.sum(e, axis=1)
            if HAS_ENTROPY:
                z_sum_exp = z_sum_exp * rescale + tl.sum(
                    e * tl.where(v_mask[None, :], z, 0.0), axis=1
                )
            is_target = offs_v[None, :] == targets[:, None]
            target_logit += tl.sum(tl.where(is_target, z, 0.0), axis=1)
            running_max = new_max
        out = offs_t * n_splits + pid_split
        tl.store(max_ptr + out, running_max, mask=t_mask)
        tl.store(sum_exp_ptr + out, sum_exp, mask=t_mask)
        tl.store(z_sum_exp_ptr + out, z_sum_exp, mask=t_mask)
        tl.store(target_logit_ptr + out, target_logit, mask=t_mask)


def _block_sizes(dtype: torch.dtype) -> tuple[int, int, int, int]:
    """(BLOCK_T, BLOCK_V, BLOCK_D, num_warps); float32 IEEE dots need smaller tiles."""
    if dtype == torch.float32:
        return 32, 64, 32, 4
    return 64, 128, 64, 4


def _default_splits(device: torch.device, n_token_blocks: int, n_vocab_blocks: int) -> int:
    if device.type == "cuda":
        # ~4 programs per SM keeps every SM busy while each program still sweeps a long slice
        target = 4 * torch.cuda.get_device_properties(device).multi_processor_count
    else:
        target = 2  # interpreter: a few programs, but still exercise the split merge
    return max(1, min(n_vocab_blocks, -(-target // n_token_blocks)))


def forward_stats(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    inv_temperature: float,
    compute_entropy: bool,
    num_splits: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Per-token (log-sum-exp, target logit, entropy) in float32, from ``hidden [N, d]``,
    ``weight [V, d]`` (same dtype, one of :data:`SUPPORTED_DTYPES`) and targets in ``[0, V)``."""
    if triton is None:
        raise RuntimeError("triton is not importable")
    if hidden.dtype not in SUPPORTED_DTYPES or weight.dtype != hidden.dtype:
        raise TypeError(
            f"triton path takes hidden and weight of one dtype among {SUPPORTED_DTYPES}, "
            f"got {hidden.dtype} and {weight.dtype}"
        )
    n_tokens, hidden_size = hidden.shape
    vocab = weight.shape[0]
    block_t, block_v, block_d, num_warps = _block_sizes(hidden.dtype)
    n_token_blocks = triton.cdiv(n_tokens, block_t)
    n_vocab_blocks = triton.cdiv(vocab, block_v)
    if num_splits is None:
        num_splits = _default_splits(hidden.device, n_token_blocks, n_vocab_blocks)
    vocab_per_split = triton.cdiv(n_vocab_blocks, num_splits) * block_v
    num_splits = triton.cdiv(vocab, vocab_per_split)  # no empty split
    stats = torch.empty((4, n_tokens, num_splits), dtype=torch.float32, device=hidden.device)
    targets = targets.contiguous()
    _logsumexp_entropy_kernel[(n_token_blocks, num_splits)](
        hidden,
        weight,
        bias if bias is not None else hidden,  # unused pointer when HAS_BIAS is False
        targets,
        stats[0],
        stats[1],
        stats[2],
        stats[3],
        n_tokens,
        vocab,
        hidden_size,
        vocab_per_split,
        num_splits,
        hidden.stride(0),
        hidden.stride(1),
        weight.stride(0),
        weight.stride(1),
        float(inv_temperature),
        HAS_BIAS=bias is not None,
        HAS_ENTROPY=compute_entropy,
        IEEE=hidden.dtype == torch.float32,
        BLOCK_T=block_t,
        BLOCK_V=block_v,
        BLOCK_D=block_d,
        num_warps=num_warps,
    )
    split_max, split_sum, split_zsum, split_target = stats
    running_max = split_max.amax(dim=1)
    weights = torch.exp(split_max - running_max.unsqueeze(1))
    sum_exp = (split_sum * weights).sum(dim=1)
    lse = running_max + torch.log(sum_exp)
    # the target lies in exactly one split; the others contributed 0
    target_logit = split_target.sum(dim=1)
    entropy = None
    if compute_entropy:
        entropy = lse - (split_zsum * weights).sum(dim=1) / sum_exp
    return lse, target_logit, entropy

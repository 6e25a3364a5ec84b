"""Chunked torch path of token_logprobs_and_entropy against the naive [T x V] computation."""

import pytest
import torch

from datarecipes.kernels import (
    reference_token_logprobs_and_entropy,
    token_logprobs_and_entropy,
)

TOLERANCES = {
    torch.float64: dict(rtol=1e-10, atol=1e-10),
    torch.float32: dict(rtol=1e-4, atol=1e-4),
}


def _problem(n_tokens, hidden_size, vocab, dtype, *, with_bias, n_ignored=0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n_tokens, hidden_size, generator=generator, dtype=dtype)
    # logits of a few units, like a trained LM head, so the softmax is far from uniform
    weight = torch.randn(vocab, hidden_size, generator=generator, dtype=dtype) * 0.7
    bias = torch.randn(vocab, generator=generator, dtype=dtype) if with_bias else None
    targets = torch.randint(0, vocab, (n_tokens,), generator=generator)
    targets[torch.randperm(n_tokens, generator=generator)[:n_ignored]] = -100
    return hidden, weight, bias, targets


def _values_and_grads(fn, hidden, weight, bias, targets, temperature, upstream, **kwargs):
    leaves = [
        x.clone().requires_grad_(True)
        for x in (hidden, weight) + ((bias,) if bias is not None else ())
    ]
    logprobs, entropy = fn(
        leaves[0],
        leaves[1],
        targets,
        bias=leaves[2] if bias is not None else None,
        temperature=temperature,
        **kwargs,
    )
    loss = (logprobs * upstream[0]).sum() + (entropy * upstream[1]).sum()
    grads = torch.autograd.grad(loss, leaves)
    return logprobs.detach(), entropy.detach(), grads


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    "n_tokens,hidden_size,vocab,chunk_size,vocab_chunk_size,temperature,with_bias,n_ignored",
    [
        (37, 16, 101, 8, 30, 1.0, False, 0),  # T and V not divisible by their chunks
        (37, 16, 101, 8, 30, 0.7, True, 5),  # temperature, bias, ignored targets
        (64, 8, 96, 16, 32, 1.3, False, 3),  # exact multiples
        (5, 4, 11, 1, 1, 0.5, True, 1),  # one token x one vocabulary entry per tile
        (20, 12, 50, 1024, 32768, 1.0, True, 0),  # one tile holds everything
    ],
)
def test_matches_naive_values_and_gradients(
    dtype,
    n_tokens,
    hidden_size,
    vocab,
    chunk_size,
    vocab_chunk_size,
    temperature,
    with_bias,
    n_ignored,
):
    hidden, weight, bias, targets = _problem(
        n_tokens, hidden_size, vocab, dtype, with_bias=with_bias, n_ignored=n_ignored
    )
    upstream = torch.randn(2, n_tokens, dtype=dtype, generator=torch.Generator().manual_seed(1))
    got = _values_and_grads(
        token_logprobs_and_entropy,
        hidden,
        weight,
        bias,
        targets,
        temperature,
        upstream,
        chunk_size=chunk_size,
        vocab_chunk_size=vocab_chunk_size,
        backend="torch",
    )
    want = _values_and_grads(
        reference_token_logprobs_and_entropy, hidden, weight, bias, targets, temperature, upstream
    )
    tol = TOLERANCES[dtype]
    torch.testing.assert_close(got[0], want[0], **tol)
    torch.testing.assert_close(got[1], want[1], **tol)
    for name, g, w in zip(("hidden", "weight", "bias"), got[2], want[2]):
        torch.testing.assert_close(g, w, **tol, msg=lambda m, name=name: f"grad {name}: {m}")
    ignored = targets == -100
    assert torch.all(got[0][ignored] == 0) and torch.all(got[1][ignored] == 0)
    assert torch.all(got[2][0][ignored] == 0), "ignored positions must get no gradient"
    assert torch.all(got[0][~ignored] < 0) and torch.all(got[1][~ignored] > 0)


def test_gradcheck_float64():
    hidden, weight, bias, targets = _problem(7, 5, 13, torch.float64, with_bias=True, n_ignored=1)
    inputs = tuple(x.requires_grad_(True) for x in (hidden, weight, bias))

    def fn(h, w, b):
        return token_logprobs_and_entropy(
            h, w, targets, bias=b, temperature=0.8, chunk_size=3, vocab_chunk_size=4
        )

    assert torch.autograd.gradcheck(fn, inputs)


def test_single_output_gradients_and_no_entropy():
    hidden, weight, _, targets = _problem(19, 6, 40, torch.float64, with_bias=False)
    h = hidden.clone().requires_grad_(True)
    logprobs, entropy = token_logprobs_and_entropy(
        h, weight, targets, compute_entropy=False, chunk_size=4, vocab_chunk_size=9
    )
    assert entropy is None
    (grad_lp,) = torch.autograd.grad(logprobs.sum(), h)
    h_ref = hidden.clone().requires_grad_(True)
    ref_lp, ref_entropy = reference_token_logprobs_and_entropy(h_ref, weight, targets)
    torch.testing.assert_close(
        grad_lp, torch.autograd.grad(ref_lp.sum(), h_ref, retain_graph=True)[0]
    )
    # entropy alone: the logprob term must not leak in
    _, entropy = token_logprobs_and_entropy(h, weight, targets, chunk_size=4, vocab_chunk_size=9)
    (grad_ent,) = torch.autograd.grad(entropy.sum(), h)
    torch.testing.assert_close(grad_ent, torch.autograd.grad(ref_entropy.sum(), h_ref)[0])


def test_batched_shape_and_all_ignored():
    hidden, weight, _, targets = _problem(24, 6, 30, torch.float64, with_bias=False)
    logprobs, entropy = token_logprobs_and_entropy(
        hidden.view(4, 6, 6), weight, targets.view(4, 6), chunk_size=5, vocab_chunk_size=7
    )
    ref_lp, ref_entropy = reference_token_logprobs_and_entropy(hidden, weight, targets)
    torch.testing.assert_close(logprobs, ref_lp.view(4, 6))
    torch.testing.assert_close(entropy, ref_entropy.view(4, 6))
    h = hidden.clone().requires_grad_(True)
    logprobs, entropy = token_logprobs_and_entropy(h, weight, torch.full_like(targets, -100))
    assert torch.all(logprobs == 0) and torch.all(entropy == 0)
    (logprobs.sum() + entropy.sum()).backward()  # an all-ignored microbatch must not break
    assert torch.all(h.grad == 0)


def test_bfloat16_inputs_are_accumulated_in_float32():
    hidden, weight, _, targets = _problem(33, 32, 3000, torch.float32, with_bias=False)
    logprobs, entropy = token_logprobs_and_entropy(
        hidden.bfloat16(), weight.bfloat16(), targets, chunk_size=8, vocab_chunk_size=512
    )
    assert logprobs.dtype == torch.float32
    ref_lp, ref_entropy = reference_token_logprobs_and_entropy(
        hidden.bfloat16().float(), weight.bfloat16().float(), targets
    )
    # only the bf16 rounding of each logit remains (|z| ~ 5, bf16 eps 2^-8)
    torch.testing.assert_close(logprobs, ref_lp, rtol=0, atol=0.1)
    torch.testing.assert_close(entropy, ref_entropy, rtol=0, atol=0.1)


def test_invalid_inputs_name_the_fault():
    hidden, weight, _, targets = _problem(6, 4, 10, torch.float32, with_bias=False)
    targets[4] = 10
    with pytest.raises(ValueError, match="target 10 at flat position 4"):
        token_logprobs_and_entropy(hidden, weight, targets)
    with pytest.raises(ValueError, match="temperature"):
        token_logprobs_and_entropy(hidden, weight, targets.clamp(max=9), temperature=0.0)
    with pytest.raises(ValueError, match="weight"):
        token_logprobs_and_entropy(hidden, weight[:, :3], targets.clamp(max=9))

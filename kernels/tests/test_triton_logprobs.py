"""The fused Triton forward, under the Triton CPU interpreter (and on CUDA when there is one)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from datarecipes.kernels import (
    reference_token_logprobs_and_entropy,
    token_logprobs_and_entropy,
    triton_logprobs,
)

pytestmark = pytest.mark.skipif(
    not triton_logprobs.is_available(), reason="triton is not installed"
)

SRC = str(Path(__file__).resolve().parents[2] / "src")
# Seen with triton 3.6 (the GPU image's): any `range(0, n)` over a kernel argument fails
KNOWN_INTERPRETER_BUG = "only 0-dimensional arrays can be converted to Python scalars"


def triton_version() -> str:
    import triton

    return triton.__version__


# Runs in a child process: TRITON_INTERPRET must be set before triton.jit decorates the kernel.
INTERPRETER_SCRIPT = textwrap.dedent(
    """
    import json, torch
    torch.set_num_threads(1)
    from datarecipes.kernels import (
        reference_token_logprobs_and_entropy, token_logprobs_and_entropy, triton_logprobs)

    def problem(n, d, v, dtype, seed):
        g = torch.Generator().manual_seed(seed)
        return (torch.randn(n, d, generator=g).to(dtype),
                (torch.randn(v, d, generator=g) * 0.5).to(dtype),
                torch.randn(v, generator=g).to(dtype),
                torch.randint(0, v, (n,), generator=g))

    report = {}
    # (tokens, hidden, vocab, splits): nothing divisible by the 32/64/32 fp32 blocks
    for n, d, v, splits in [(37, 40, 301, 1), (37, 40, 301, 3), (70, 16, 129, 7), (3, 8, 64, 2)]:
        h, w, b, t = problem(n, d, v, torch.float32, n + v)
        lse, target_logit, entropy = triton_logprobs.forward_stats(
            h, w, b, t, 1 / 0.7, True, splits)
        ref_lp, ref_ent = reference_token_logprobs_and_entropy(h, w, t, bias=b, temperature=0.7)
        report[f"fp32 {n}x{d}x{v}/{splits}"] = [
            (target_logit - lse - ref_lp).abs().max().item(),
            (entropy - ref_ent).abs().max().item()]

    # float16 inputs (fp32 accumulation) against the reference on the same rounded inputs
    h, w, b, t = problem(50, 32, 200, torch.float16, 0)
    lse, target_logit, entropy = triton_logprobs.forward_stats(h, w, None, t, 1.0, True, 2)
    ref_lp, ref_ent = reference_token_logprobs_and_entropy(h.float(), w.float(), t)
    report["fp16"] = [(target_logit - lse - ref_lp).abs().max().item(),
                      (entropy - ref_ent).abs().max().item()]

    # public function, backend="triton": forward in Triton, chunked torch backward
    h, w, b, t = problem(45, 24, 150, torch.float32, 1)
    t[[2, 9]] = -100
    leaves = [x.clone().requires_grad_(True) for x in (h, w, b)]
    refs = [x.clone().requires_grad_(True) for x in (h, w, b)]
    up = torch.randn(2, 45, generator=torch.Generator().manual_seed(2))
    lp, ent = token_logprobs_and_entropy(leaves[0], leaves[1], t, bias=leaves[2],
                                         temperature=1.5, backend="triton", chunk_size=16)
    ref_lp, ref_ent = reference_token_logprobs_and_entropy(refs[0], refs[1], t, bias=refs[2],
                                                           temperature=1.5)
    got = torch.autograd.grad((lp * up[0]).sum() + (ent * up[1]).sum(), leaves)
    want = torch.autograd.grad((ref_lp * up[0]).sum() + (ref_ent * up[1]).sum(), refs)
    report["autograd values"] = [
        (lp - ref_lp).abs().max().item(), (ent - ref_ent).abs().max().item()]
    report["autograd grads"] = [(a - c).abs().max().item() for a, c in zip(got, want)]
    report["ignored are zero"] = bool((lp[[2, 9]] == 0).all() and (ent[[2, 9]] == 0).all())
    print(json.dumps(report))
    """
)


def test_triton_kernel_under_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": SRC}
    result = subprocess.run(
        [sys.executable, "-c", INTERPRETER_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0 and KNOWN_INTERPRETER_BUG in result.stderr:
        pytest.skip(
            f"the interpreter of triton {triton_version()} (numpy {np.__version__}) fails on any "
            "loop over a runtime bound (`int()` of a 1-element array), a minimal kernel too; "
            "triton 3.8 runs this test"
        )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report.pop("ignored are zero") is True
    fp16 = report.pop("fp16")
    assert max(fp16) < 2e-2, fp16  # fp16 logit products accumulated in fp32
    for case, errors in report.items():
        assert max(errors) < 1e-4, (case, errors)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_triton_kernel_on_cuda(dtype):
    generator = torch.Generator().manual_seed(0)
    n, d, v = 1000, 256, 50_257  # GPT-2 vocabulary: not a multiple of any block
    hidden = torch.randn(n, d, generator=generator).to("cuda", dtype)
    weight = (torch.randn(v, d, generator=generator) * 0.1).to("cuda", dtype)
    targets = torch.randint(0, v, (n,), generator=generator).cuda()
    logprobs, entropy = token_logprobs_and_entropy(
        hidden, weight, targets, temperature=0.9, backend="triton"
    )
    ref_lp, ref_ent = reference_token_logprobs_and_entropy(
        hidden.double(), weight.double(), targets, temperature=0.9
    )
    tol = 1e-3 if dtype == torch.float32 else 5e-2
    torch.testing.assert_close(logprobs.double(), ref_lp, rtol=0, atol=tol)
    torch.testing.assert_close(entropy.double(), ref_ent, rtol=0, atol=tol)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize(
    "dtype,backend,tolerance",
    # float32: Triton forward (IEEE dot) + float32 backward, tight; bfloat16 under "auto": Triton
    # forward + bf16 tensor-core backward with float32 accumulation, within bf16 rounding
    [(torch.float32, "triton", 1e-5), (torch.bfloat16, "auto", 2e-2)],
)
def test_cuda_training_path_matches_naive(dtype, backend, tolerance):
    generator = torch.Generator().manual_seed(1)
    n, d, v = 300, 64, 10_001
    hidden = torch.randn(n, d, generator=generator).to("cuda", dtype).requires_grad_(True)
    weight = (torch.randn(v, d, generator=generator) * 0.2).to("cuda", dtype).requires_grad_(True)
    targets = torch.randint(0, v, (n,), generator=generator).cuda()
    targets[:7] = -100
    logprobs, entropy = token_logprobs_and_entropy(
        hidden,
        weight,
        targets,
        temperature=0.8,
        backend=backend,
        chunk_size=128,
        vocab_chunk_size=4096,
    )
    got = torch.autograd.grad(logprobs.sum() + 0.1 * entropy.sum(), (hidden, weight))
    h64, w64 = (x.detach().double().requires_grad_(True) for x in (hidden, weight))
    ref_lp, ref_ent = reference_token_logprobs_and_entropy(h64, w64, targets, temperature=0.8)
    want = torch.autograd.grad(ref_lp.sum() + 0.1 * ref_ent.sum(), (h64, w64))
    for name, g, w in [("logprobs", logprobs, ref_lp), ("entropy", entropy, ref_ent)] + list(
        zip(("grad hidden", "grad weight"), got, want)
    ):
        relative = ((g.double() - w).norm() / w.norm()).item()
        assert relative < tolerance, (name, relative)

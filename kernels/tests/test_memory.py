"""The chunked path's peak memory stays far below the naive path's for a large vocabulary.

Measured as the process's peak resident memory above its level before the call (VmHWM reset
through /proc/self/clear_refs), each implementation in its own fresh process with glibc told to
return freed blocks to the OS, so that neither sees the other's cached memory.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
N_TOKENS, HIDDEN, VOCAB = 512, 64, 150_000  # Qwen2-sized vocabulary
LOGITS_BYTES = N_TOKENS * VOCAB * 4

SCRIPT = textwrap.dedent(
    f"""
    import json, sys, torch
    torch.set_num_threads(1)
    from datarecipes.kernels import reference_token_logprobs_and_entropy, token_logprobs_and_entropy
    from datarecipes.kernels.memory import peak_memory_bytes

    g = torch.Generator().manual_seed(0)
    hidden = torch.randn({N_TOKENS}, {HIDDEN}, generator=g).requires_grad_(True)
    weight = torch.randn({VOCAB}, {HIDDEN}, generator=g).requires_grad_(True)
    targets = torch.randint(0, {VOCAB}, ({N_TOKENS},), generator=g)
    if sys.argv[1] == "naive":
        impl = reference_token_logprobs_and_entropy
    else:
        def impl(h, w, t):
            return token_logprobs_and_entropy(h, w, t, chunk_size=128, vocab_chunk_size=16384)

    def forward():
        with torch.no_grad():
            impl(hidden, weight, targets)

    def forward_backward():
        logprobs, entropy = impl(hidden, weight, targets)
        (logprobs.sum() + entropy.sum()).backward()
        hidden.grad = weight.grad = None

    print(json.dumps([peak_memory_bytes(forward), peak_memory_bytes(forward_backward)]))
    """
)


def _peaks(implementation: str) -> list[int]:
    env = {**os.environ, "PYTHONPATH": SRC, "MALLOC_MMAP_THRESHOLD_": "65536"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, implementation],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0 and "clear_refs" in result.stderr:
        pytest.skip("peak RSS cannot be reset on this OS")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_chunked_peak_memory_is_far_below_naive():
    naive_forward, naive_backward = _peaks("naive")
    chunked_forward, chunked_backward = _peaks("chunked")
    # the measurement must see the naive logits, or it proves nothing
    assert naive_forward > 2 * LOGITS_BYTES, naive_forward
    assert naive_backward > 2 * LOGITS_BYTES, naive_backward
    assert chunked_forward < naive_forward / 10, (chunked_forward, naive_forward)
    # the backward must hold d weight [V, d] (38 MB here) but no [T, V] tensor
    assert chunked_backward < naive_backward / 5, (chunked_backward, naive_backward)
    assert chunked_backward < LOGITS_BYTES / 2, chunked_backward

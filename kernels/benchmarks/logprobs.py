"""Peak memory and time of per-token logprobs + entropy: chunked/fused kernels vs naive logits.

    PYTHONPATH=src python kernels/benchmarks/logprobs.py  # CPU, T=512 d=256, V=32k/152k
    PYTHONPATH=src python kernels/benchmarks/logprobs.py --device cuda  # GPU, T=4096 d=896, bf16

Implementations: ``naive`` (``h @ W.T`` -> log_softmax, the baseline, measured in the same run),
``chunked`` (our torch path), ``triton`` (our fused Triton forward + chunked backward, CUDA only)
and, on CUDA when TRL is installed, ``trl`` (TRL's ``ChunkedLogProbFunction``, the fused head its
GRPOTrainer uses) for reference. Peak memory is the rise above the memory held before the call:
``torch.cuda.max_memory_allocated`` on GPU; on CPU the resident-set high-water mark of a fresh
child process per configuration (see ``datarecipes.kernels.memory``). Only the kernel package is
imported from the project.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

from datarecipes.kernels import (
    reference_token_logprobs_and_entropy,
    token_logprobs_and_entropy,
    triton_logprobs,
)
from datarecipes.kernels.memory import CPU_MEASUREMENT_ENV, peak_memory_bytes

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def _implementation(name: str, temperature: float):
    if name == "naive":
        return lambda h, w, t: reference_token_logprobs_and_entropy(
            h, w, t, temperature=temperature
        )
    if name in ("chunked", "triton"):
        backend = "torch" if name == "chunked" else "triton"
        return lambda h, w, t: token_logprobs_and_entropy(
            h, w, t, temperature=temperature, backend=backend
        )
    if name == "trl":
        from trl.kernels import ChunkedLogProbFunction

        def trl_head(h, w, t):
            out = ChunkedLogProbFunction.apply(
                h, w, None, t, temperature, 32768, None, 1.0, ("log_probs", "entropy")
            )
            return out[0], out[1]

        return trl_head
    raise ValueError(f"unknown implementation {name!r}")


def _inputs(tokens: int, hidden: int, vocab: int, dtype: torch.dtype, device: str):
    generator = torch.Generator().manual_seed(0)
    h = torch.randn(tokens, hidden, generator=generator).to(device, dtype).requires_grad_(True)
    w = torch.randn(vocab, hidden, generator=generator) * hidden**-0.5 * 4
    w = w.to(device, dtype).requires_grad_(True)
    t = torch.randint(0, vocab, (tokens,), generator=generator).to(device)
    return h, w, t


def measure(
    name: str,
    mode: str,
    tokens: int,
    hidden: int,
    vocab: int,
    dtype: str,
    device: str,
    repeats: int,
    temperature: float = 0.9,
) -> dict[str, float]:
    """Time (median over ``repeats``, after one warm-up on CUDA) and peak memory of one config."""
    h, w, t = _inputs(tokens, hidden, vocab, DTYPES[dtype], device)
    impl = _implementation(name, temperature)
    result = {}

    def call():
        if mode == "forward":
            with torch.no_grad():
                lp, ent = impl(h, w, t)
        else:
            lp, ent = impl(h, w, t)
            (lp.sum() + 0.01 * ent.sum()).backward()
            h.grad = w.grad = None
        result["checksum"] = float(lp.detach().double().sum() + ent.detach().double().sum())

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    if device == "cuda":
        call()  # compile the Triton kernel / warm cuBLAS outside the timed runs
    peak = peak_memory_bytes(call, device)
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
    return {"peak_mib": peak / 2**20, "seconds": statistics.median(times), **result}


def _measure_in_child(config: dict) -> dict[str, float]:
    # CPU: a fresh process per configuration so no cached heap from another one hides its peak
    env = {**os.environ, **CPU_MEASUREMENT_ENV}
    completed = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(config)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"worker failed for {config}: {completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--tokens", type=int, help="T (default 512 on CPU, 4096 on CUDA)")
    parser.add_argument("--hidden", type=int, help="d (default 256 on CPU, 896 on CUDA)")
    parser.add_argument("--vocab", type=int, nargs="+", default=[32_000, 152_064])
    parser.add_argument("--dtype", choices=tuple(DTYPES), help="default float32 CPU, bf16 CUDA")
    parser.add_argument("--repeats", type=int, help="timed runs per config (1 CPU, 5 CUDA)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
        print(json.dumps(measure(**json.loads(args.worker))))
        return
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device visible")
    tokens = args.tokens or (4096 if cuda else 512)
    hidden = args.hidden or (896 if cuda else 256)
    dtype = args.dtype or ("bfloat16" if cuda else "float32")
    repeats = args.repeats or (5 if cuda else 1)
    names = ["naive", "chunked"]
    if cuda and triton_logprobs.is_available():
        names.append("triton")
    if cuda:
        try:
            import trl.kernels  # noqa: F401

            names.append("trl")
        except ImportError:
            pass
    device_name = torch.cuda.get_device_name() if cuda else f"CPU, {os.cpu_count()} cores"
    print(
        f"# {device_name}; T={tokens} d={hidden} {dtype} temperature=0.9; torch {torch.__version__}"
    )
    print(
        f"{'V':>7} {'mode':<17} {'impl':<8} {'peak MiB':>9} {'x naive':>8} {'ms':>9} "
        f"{'x naive':>8} {'checksum':>14}"
    )
    for vocab in args.vocab:
        for mode in ("forward", "forward+backward"):
            baseline = None
            for name in names:
                config = dict(
                    name=name,
                    mode=mode,
                    tokens=tokens,
                    hidden=hidden,
                    vocab=vocab,
                    dtype=dtype,
                    device=args.device,
                    repeats=repeats,
                )
                row = measure(**config) if cuda else _measure_in_child(config)
                if cuda:
                    torch.cuda.empty_cache()
                baseline = baseline or row
                print(
                    f"{vocab:>7} {mode:<17} {name:<8} {row['peak_mib']:>9.1f} "
                    f"{row['peak_mib'] / baseline['peak_mib']:>8.3f} {row['seconds'] * 1e3:>9.1f} "
                    f"{row['seconds'] / baseline['seconds']:>8.2f} {row['checksum']:>14.6g}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

"""Batched MCTS difficulty scoring against one-sample-at-a-time search, same tiny policy.

    PYTHONPATH=src python benchmarks/mcts.py [--samples 16] [--iterations 6] [--threads 1]

Builds the ``tiny-lm`` preset (random-init Qwen2, CPU) and scores the same questions three
ways, in this process: (1) batched lock-step search with the prefix KV cache (ours), (2) the
same policy searching one sample at a time, (3) one sample at a time with plain
``model.generate`` (re-encoding the prompt every call, as the reference does). The reward never
fires, so every sample spends the full budget and all runs do the same search. Prints wall time
and generated tokens per labelled sample, and checks that (1) and (2) give identical records.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from datarecipes.mcts import HFPolicy, MctsParams, MctsSample, mcts_difficulty
from datarecipes.models.presets import build_preset


class NeverSolved:
    def score(self, samples, traces, seed):
        return [0.0] * len(traces)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--step-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    path = build_preset("tiny-lm", seed=0, cache_dir=tempfile.gettempdir() + "/datarecipes-presets")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).to(args.device).eval()
    colours = ["red", "blue", "green", "yellow"]
    samples = [
        MctsSample(f"q{i}", f"How many {colours[i % 4]} objects are left of object {i}?", str(i))
        for i in range(args.samples)
    ]
    cfg = MctsParams(
        max_iterations=args.iterations, num_children=3, max_steps=4,
        max_step_tokens=args.step_tokens, temperature=0.5, top_p=0.9, seed=0,
    )
    reward = NeverSolved()

    def per_sample(policy_factory):
        return [mcts_difficulty([s], policy_factory(), cfg, reward)[0] for s in samples]

    batched, t_batched = timed(
        lambda: mcts_difficulty(samples, HFPolicy(model, tokenizer), cfg, reward)
    )
    shared = HFPolicy(model, tokenizer)  # one prefix cache across the sequential searches
    seq_cached, t_seq_cached = timed(lambda: per_sample(lambda: shared))
    seq_plain, t_seq_plain = timed(
        lambda: per_sample(lambda: HFPolicy(model, tokenizer, prefix_cache=False))
    )
    assert batched == seq_cached, "batched and sequential searches disagree"

    def tokens(records):
        return sum(r.generated_tokens for r in records) / len(records)

    n = len(samples)
    print(f"device={args.device} threads={args.threads} samples={n} "
          f"iterations={cfg.max_iterations} children={cfg.num_children} "
          f"max_steps={cfg.max_steps} step_tokens={cfg.max_step_tokens}")
    print(f"{'run':42s} {'wall s':>8s} {'s/sample':>9s} {'tokens/sample':>14s} {'speed-up':>9s}")
    for name, recs, secs in (
        ("sequential, plain generate (baseline)", seq_plain, t_seq_plain),
        ("sequential, prefix KV cache", seq_cached, t_seq_cached),
        ("batched lock-step + prefix KV cache", batched, t_batched),
    ):
        print(f"{name:42s} {secs:8.2f} {secs / n:9.3f} {tokens(recs):14.1f} "
              f"{t_seq_plain / secs:8.1f}x")
    print(f"batched vs sequential (same policy): {t_seq_cached / t_batched:.1f}x faster; "
          f"records identical: {batched == seq_cached}")


if __name__ == "__main__":
    main()

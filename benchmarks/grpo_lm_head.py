"""GRPO step time with the chunked LM-head kernel (the default, ``lm_head: chunked``) against
TRL's own fused head (``lm_head: trl``), same model, data and seed, in one process.

Both compute the loss's per-token log-probabilities without ``[B, L, V]`` logits; this checks
that routing GRPO through ``datarecipes.kernels`` costs no training speed on the path the
pipelines use (the memory figures at 32k/152k vocabularies are
``kernels/benchmarks/logprobs.py``'s).

    PYTHONPATH=src python benchmarks/grpo_lm_head.py [--preset tiny-vlm] [--steps 6] [--repeats 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from datarecipes.models import ModelParams, load_model
from datarecipes.training.grpo import GRPOParams, train_grpo

# The synthetic data helpers live with the tests (tests/), importable from the project root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.training.synthetic import write_shapes_dataset


def _run(spec: ModelParams, records: list[dict], root: str, steps: int, lm_head: str
         ) -> tuple[float, dict[str, float]]:
    params = GRPOParams(lm_head=lm_head, max_steps=steps, num_generations=4,
                        per_device_train_batch_size=4, max_completion_length=32,
                        learning_rate=1e-3, logging_steps=1, seed=0)
    model = load_model(spec)
    start = time.perf_counter()
    _, metrics = train_grpo(model, records, params, image_root=root)
    return time.perf_counter() - start, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny-vlm")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2, help="runs per head, interleaved")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        spec = ModelParams(preset=args.preset, preset_cache_dir=f"{tmp}/presets")
        records = write_shapes_dataset(f"{tmp}/data", n=32, seed=0)
        times: dict[str, list[float]] = {"trl": [], "chunked": []}
        rewards: dict[str, float] = {}
        _run(spec, records, f"{tmp}/data", 1, "chunked")  # warm-up: preset build, imports
        for _ in range(args.repeats):
            for head in ("trl", "chunked"):
                seconds, metrics = _run(spec, records, f"{tmp}/data", args.steps, head)
                times[head].append(seconds / args.steps)
                rewards[head] = metrics["grpo_mean_reward"]
    print(f"GRPO, {args.preset}, {args.steps} steps x {args.repeats} runs, 4 rollouts of <= 32 "
          f"tokens per prompt, {args.threads} torch threads")
    for head, label in (("trl", "TRL fused head [baseline]"), ("chunked", "chunked kernel")):
        best = min(times[head])
        print(f"  {label:28s}: {best:6.2f} s/step (best of {args.repeats}), "
              f"mean reward {rewards[head]:.3f}")
    print(f"  chunked / TRL step time     : {min(times['chunked']) / min(times['trl']):.2f}")


if __name__ == "__main__":
    main()

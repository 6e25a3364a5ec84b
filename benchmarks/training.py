"""SFT throughput (real tokens/s) with and without packing, in one process.

TRL cannot pack image data (its SFTTrainer refuses ``packing`` for vision datasets), so the
packing comparison runs on the text-only rendering of the built-in shapes task (the question
and a textual scene description, as the tabular / judge LMs see text), on both presets'
language models; the image SFT figure of ``tiny-vlm`` is printed as the reference.

    PYTHONPATH=src python benchmarks/training.py [--steps 30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from datarecipes.models import ModelParams, load_model
from datarecipes.training.sft import SFTParams, train_sft

# The synthetic data helpers live with the tests (tests/), importable from the project root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.training.synthetic import write_shapes_dataset


def _text_records(records: list[dict]) -> list[dict]:
    out = []
    for r in records:
        question = r["conversations"][0]["value"].replace("<image>\n", "")
        scene = f"Scene: {r['id']} has shapes drawn on white. "
        out.append({"id": r["id"], "messages": [
            {"role": "user", "content": scene + question},
            {"role": "assistant", "content": r["conversations"][1]["value"]},
        ]})
    return out


def _run(spec: ModelParams, records: list[dict], steps: int, packing: bool,
         image_root: str | None = None) -> dict[str, float]:
    params = SFTParams(max_steps=steps, per_device_train_batch_size=8, learning_rate=1e-3,
                       logging_steps=5, max_length=256, packing=packing)
    start = time.perf_counter()
    _, metrics = train_sft(load_model(spec), records, params, image_root=image_root)
    metrics["wall_seconds"] = time.perf_counter() - start
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        records = write_shapes_dataset(tmp, 256, seed=0)
        text = _text_records(records)
        cache = f"{tmp}/presets"
        rows = []
        for preset in ("tiny-vlm", "tiny-lm"):
            spec = ModelParams(preset=preset, preset_cache_dir=cache)
            for packing in (False, True):
                m = _run(spec, text, args.steps, packing)
                rows.append((f"{preset} text SFT", packing, m))
        image = _run(ModelParams(preset="tiny-vlm", preset_cache_dir=cache), records, args.steps,
                     False, image_root=tmp)
        rows.append(("tiny-vlm image SFT", False, image))
    print(f"\n{'run':<22} {'packing':<8} {'tokens/s':>10} {'wall s':>8}")
    for name, packing, m in rows:
        speed = m.get("sft_tokens_per_second_overall", m.get("sft_tokens_per_second", 0.0))
        print(f"{name:<22} {str(packing):<8} {speed:>10.0f} {m['wall_seconds']:>8.1f}")


if __name__ == "__main__":
    main()

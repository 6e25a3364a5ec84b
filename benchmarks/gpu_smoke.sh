#!/usr/bin/env bash
# GPU smoke test (not run in CI): the same factory / SFT / GRPO code path as the CPU presets,
# on a real checkpoint loaded by hub id. Needs a GPU and either hub access or the checkpoint in
# the local HF cache (then run with HF_HUB_OFFLINE=1).
#
#   bash benchmarks/gpu_smoke.sh [MODEL_ID] [STEPS]
#   MODEL_ID defaults to Qwen/Qwen2.5-VL-3B-Instruct; a local checkpoint directory also works.
#   Without a reachable checkpoint it falls back to the tiny-vlm preset (still on the GPU).
#
# Prints load time, SFT loss/tokens/s, GRPO reward, and held-out accuracy before/after.
set -euo pipefail
MODEL_ID="${1:-Qwen/Qwen2.5-VL-3B-Instruct}"
STEPS="${2:-5}"
PYTHON="${PYTHON:-python}"
cd "$(dirname "$0")/.."
# The shapes task and the evaluation helper live with the tests (tests/training/).
PYTHONPATH=src:. "$PYTHON" - "$MODEL_ID" "$STEPS" <<'PY'
import sys, tempfile, time

import torch

from datarecipes.models import ModelParams, LoraParams, load_model, ModelLoadError
from tests.training.evaluation import EvalParams, evaluate
from datarecipes.training.grpo import GRPOParams, train_grpo
from datarecipes.training.sft import SFTParams, train_sft
from tests.training.synthetic import write_shapes_dataset

model_id, steps = sys.argv[1], int(sys.argv[2])
print("cuda:", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
lora = LoraParams(r=16, alpha=32, dropout=0.0)
spec = ModelParams(name_or_path=model_id, dtype="bfloat16", lora=lora, max_pixels=128 * 128)
t = time.time()
try:
    loaded = load_model(spec)
except (ModelLoadError, OSError) as err:
    print(f"cannot load {model_id} ({err}); falling back to the tiny-vlm preset")
    spec = ModelParams(preset="tiny-vlm", lora=lora)
    loaded = load_model(spec)
print(f"loaded {loaded.path} ({loaded.kind}) in {time.time() - t:.1f}s on {loaded.model.device}")
with tempfile.TemporaryDirectory() as root:
    train = write_shapes_dataset(root, 64, seed=0, size=128)
    test = write_shapes_dataset(root, 32, seed=1, size=128, split="test")
    ev = EvalParams(max_new_tokens=16, batch_size=16)
    _, _, before = evaluate(loaded, test, ev, image_root=root, name="before")
    sft_params = SFTParams(max_steps=steps, per_device_train_batch_size=4, learning_rate=1e-4,
                           logging_steps=1, bf16=True, gradient_checkpointing=True)
    tuned, sft_metrics = train_sft(loaded, train, sft_params, image_root=root)
    print("sft:", {k: round(v, 3) for k, v in sft_metrics.items()})
    grpo_params = GRPOParams(max_steps=steps, num_generations=4, per_device_train_batch_size=8,
                             max_completion_length=64, learning_rate=1e-6, bf16=True)
    policy, grpo_metrics = train_grpo(tuned, train[:16], grpo_params, image_root=root)
    print("grpo:", {k: round(v, 3) for k, v in grpo_metrics.items()})
    _, _, after = evaluate(policy, test, ev, image_root=root, name="after")
    print(f"accuracy before {before['before_accuracy']:.3f} after {after['after_accuracy']:.3f}")
    if torch.cuda.is_available():
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
PY

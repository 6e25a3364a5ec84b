#!/usr/bin/env bash
# GPU smoke test of the vLLM generation engine (not run in CI: needs a GPU, `pip install vllm`
# and the checkpoints, from the hub or a local directory).
#
#   bash benchmarks/gpu_smoke_vllm.sh                       # Qwen2.5-0.5B-Instruct, text MCTS steps
#   MODEL=/ckpt/qwen2.5-7b VLM_MODEL=Qwen/Qwen2-VL-2B-Instruct bash benchmarks/gpu_smoke_vllm.sh
#
# What it checks, on the real engine, through datarecipes.engines (the code the pipelines use):
#   1. MCTS step generation (Policy.generate_steps): n samples per request, each cut just after
#      "<end>", token counts > 0, the same samples on a second call (per-request seeds) and the
#      same samples for a request whatever its batch neighbours;
#   2. the models.generate contract (greedy, as MLLM scoring uses it) on a VLM with an image,
#      when VLM_MODEL is set;
#   3. tokens/s of vLLM next to the HF policy on the same requests (baseline, same process).
# Exit status 0 = all checks passed. Prints one line per check and a timing table.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python}"
MODEL="${MODEL:-Qwen/Qwen2.5-0.5B-Instruct}"
VLM_MODEL="${VLM_MODEL:-}"
N_QUESTIONS="${N_QUESTIONS:-32}"

command -v nvidia-smi >/dev/null || { echo "no GPU (nvidia-smi not found)"; exit 2; }
"$PYTHON" -c "import vllm" 2>/dev/null || { echo "vllm is not installed: pip install vllm"; exit 2; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

MODEL="$MODEL" VLM_MODEL="$VLM_MODEL" N_QUESTIONS="$N_QUESTIONS" "$PYTHON" - <<'EOF'
import gc
import os
import tempfile
import time

import torch
from PIL import Image, ImageDraw

from datarecipes.engines import GenerationParams, VllmEngine
from datarecipes.mcts.policy import HFPolicy, StepRequest, derive_seed
from datarecipes.mcts.prompts import step_user_text
from datarecipes.models import ModelParams, load_model

model, vlm_model = os.environ["MODEL"], os.environ["VLM_MODEL"]
n_questions = int(os.environ["N_QUESTIONS"])
params = GenerationParams(engine="vllm", gpu_memory_utilization=0.5, max_model_len=4096)
spec = ModelParams(name_or_path=model, dtype="bfloat16", device="cuda")
requests = [
    StepRequest(f"q{i}", step_user_text(f"What is {i} + {2 * i + 3}?"), seed=derive_seed(0, i))
    for i in range(n_questions)
]
kwargs = dict(n=4, temperature=0.7, top_p=0.9, max_new_tokens=64)


def check(name, ok):
    print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if not ok:
        raise SystemExit(1)


engine = VllmEngine.from_spec(spec, params)
engine.generate_steps(requests[:2], **kwargs)  # warm-up (CUDA graphs, prefix cache)
start = time.perf_counter()
first = engine.generate_steps(requests, **kwargs)
vllm_s = time.perf_counter() - start
vllm_tokens = sum(g.n_tokens for row in first for g in row)
check("n samples per request", all(len(row) == 4 for row in first))
check("token counts > 0", all(g.n_tokens > 0 for row in first for g in row))
stopped = [g.text.endswith("<end>") for row in first for g in row]
check(f"steps cut just after <end> ({sum(stopped)}/{len(stopped)} stopped)",
      all(g.text.count("<end>") <= 1 for row in first for g in row))
check("same samples on a second call", engine.generate_steps(requests, **kwargs) == first)
check("a request's samples do not depend on its batch",
      engine.generate_steps(requests[3:4], **kwargs)[0] == first[3])
greedy = engine.generate_steps(requests[:4], n=2, temperature=0.0, top_p=1.0, max_new_tokens=32)
check("greedy repeats one sample", all(row[0] == row[1] for row in greedy))

if vlm_model:
    vlm = VllmEngine.from_spec(ModelParams(name_or_path=vlm_model, dtype="bfloat16"), params)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bars.png")
        image = Image.new("RGB", (448, 448), "white")
        draw = ImageDraw.Draw(image)
        for i, h in enumerate((120, 300, 200)):
            draw.rectangle([60 + 120 * i, 420 - h, 140 + 120 * i, 420], fill="navy")
        image.save(path)
        out = vlm.generate([[{"role": "user", "content": "How many bars are there?"}]] * 2,
                           [path, path], max_new_tokens=16, temperature=0.0)
    check(f"VLM answers about an image ({out[0][0]!r})", bool(out[0][0].strip()))
    del vlm

del engine
gc.collect()
torch.cuda.empty_cache()

loaded = load_model(spec)
hf = HFPolicy(loaded.model, loaded.processor)
hf.generate_steps(requests[:2], **kwargs)
start = time.perf_counter()
hf_rows = hf.generate_steps(requests, **kwargs)
hf_s = time.perf_counter() - start
hf_tokens = sum(g.n_tokens for row in hf_rows for g in row)
print(f"\n{'engine':<8}{'requests':>10}{'samples':>9}{'tokens':>9}{'seconds':>9}{'tokens/s':>10}")
for name, seconds, tokens in (("hf", hf_s, hf_tokens), ("vllm", vllm_s, vllm_tokens)):
    print(f"{name:<8}{len(requests):>10}{4 * len(requests):>9}{tokens:>9}{seconds:>9.2f}"
          f"{tokens / seconds:>10.1f}")
EOF

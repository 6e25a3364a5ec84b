#!/usr/bin/env bash
# GPU check of every recipe under `-e gpu` (not run in CI; needs one CUDA GPU and vllm).
#
#   bash benchmarks/gpu_check.sh [recipe ...]        # default: thinklite thinklite_ablation filtering scm
#
# Runs `kedro run -e gpu --pipelines=<recipe>` with the paper's settings of conf/gpu (vLLM
# rollouts, full-fine-tuning GRPO, ThinkLite's judge, MLM-Filter's prompts and presets, ...)
# but on the smallest real checkpoints of the same families and a few steps, so the whole check
# fits in about 10 minutes on one GPU once the checkpoints are on disk. Prints, per recipe:
# loaded, trained, scored, evaluated (what the run's metrics show) and its wall time.
#
# Checkpoints (hub ids, or local directories for a machine without hub access; with hub ids on
# such a machine set HF_HUB_OFFLINE=1 and have them in the HF cache):
#   POLICY      Qwen/Qwen2.5-VL-3B-Instruct   ThinkLite policy, MLLM scorer (Qwen2.5-VL family)
#   JUDGE       Qwen/Qwen2.5-0.5B-Instruct    ThinkLite judge, tabular LM, packing tokenizer (Qwen2.5)
#   CLIP_MODEL  ViT-B-32                      open_clip architecture (or local-dir:<dir>)
#   CLIP_WEIGHTS openai                       open_clip tag or weights file
# The run happens in a scratch copy of the tracked project (outputs, mlflow.db and the
# reporting JSON files of this checkout are left alone); KEEP=1 keeps the copy.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
POLICY="${POLICY:-Qwen/Qwen2.5-VL-3B-Instruct}"
JUDGE="${JUDGE:-Qwen/Qwen2.5-0.5B-Instruct}"
CLIP_MODEL="${CLIP_MODEL:-ViT-B-32}"
CLIP_WEIGHTS="${CLIP_WEIGHTS:-openai}"
RECIPES=("$@")
[ ${#RECIPES[@]} -eq 0 ] && RECIPES=(thinklite thinklite_ablation filtering scm)

# One model of each role; `preset=null` because -e gpu soft-merges over the base presets.
MODELS="models.policy.preset=null,models.policy.name_or_path=$POLICY,models.policy.max_pixels=200704"
MODELS+=",models.judge.preset=null,models.judge.name_or_path=$JUDGE"
MODELS+=",models.scorer.preset=null,models.scorer.name_or_path=$POLICY"
MODELS+=",models.tabular_lm.preset=null,models.tabular_lm.name_or_path=$JUDGE"
# Small world; vLLM engines sized for one GPU shared by policy, judge and GRPO's colocated copy.
# enforce_eager: no CUDA-graph capture, which costs more than it saves on a few short batches.
COMMON="$MODELS,scenes.n_scenes=120,generation.max_model_len=8192,generation.gpu_memory_utilization=0.35"
COMMON+=",generation.enforce_eager=true"
# ThinkLite: a few questions, 3 MCTS iterations, 2 full-fine-tuning GRPO updates on 4 prompts
# of 4 rollouts each (steps_per_generation 4 = 2 updates per rollout phase, as MM-UPT's 4).
THINKLITE="thinklite_data.pool_size=8,thinklite_data.heldout_size=8"
THINKLITE+=",mcts_difficulty.max_iterations=3,mcts_difficulty.max_step_tokens=256,thinklite_mcts.batch_size=8"
THINKLITE+=",thinklite_mcts.judge_max_new_tokens=64"
THINKLITE+=",hard_sample_selection.iters_threshold=0,hard_sample_selection.max_answer_tokens=256"
THINKLITE+=",thinklite_grpo.num_generations=4,thinklite_grpo.per_device_train_batch_size=4"
THINKLITE+=",thinklite_grpo.gradient_accumulation_steps=2,thinklite_grpo.steps_per_generation=4"
THINKLITE+=",thinklite_grpo.max_steps=2,thinklite_grpo.max_completion_length=256"
THINKLITE+=",thinklite_eval.max_new_tokens=256,thinklite_eval.benchmark_max_questions=8"
ABLATION="$THINKLITE,thinklite_ablation.mcts.iters_threshold=0,thinklite_ablation.random.iters_threshold=0"
ABLATION+=",thinklite_ablation.accuracy.num_answers=2,thinklite_ablation.accuracy.max_answer_tokens=256"
FILTERING="filtering_world.scenes.n_scenes=240,filtering.clip.model=$CLIP_MODEL,filtering.clip.pretrained=$CLIP_WEIGHTS"
FILTERING+=",filtering.mllm.max_pairs=32,filtering.packing.tokenizer=$JUDGE"
FILTERING+=",filtering.pretrain.training.steps=20"
SCM="scm.n_tasks=16,scm.max_test_rows=10,scm_training.max_steps=4"

declare -A PARAMS=([thinklite]="$THINKLITE" [thinklite_ablation]="$ABLATION"
                   [filtering]="$FILTERING" [scm]="$SCM")
# The ablation reuses the world, questions and MCTS table of the thinklite run before it.
declare -A FLAGS=([thinklite_ablation]="--only-missing-outputs")

if [ "${DRY_RUN:-0}" = 1 ]; then  # print each recipe's overrides (tests/project checks them)
  for recipe in "${RECIPES[@]}"; do echo "$recipe $COMMON,${PARAMS[$recipe]:-}"; done
  exit 0
fi

SCRATCH="$(mktemp -d)"
WORK="$SCRATCH/datarecipes"
mkdir -p "$WORK"
(cd "$ROOT" && git ls-files -z | xargs -0 cp --parents -t "$WORK")
SHARED="${SHARED:-$ROOT/../shared}"  # real tables (catalog: ../shared/data/tabular)
[ -d "$SHARED" ] && ln -s "$(cd "$SHARED" && pwd)" "$SCRATCH/shared"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$SCRATCH"' EXIT
export MLFLOW_TRACKING_URI="sqlite:///$WORK/mlflow.db" PYTHONPATH="$WORK/src"


"$PYTHON" -c "import torch, vllm; assert torch.cuda.is_available(), 'no CUDA GPU'; \
print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__, '| vllm', vllm.__version__)" \
  || { echo "gpu_check: needs a CUDA GPU and vllm (generation.engine: vllm under -e gpu)"; exit 2; }

status=0
SUMMARY="$SCRATCH/summary.txt"
: > "$SUMMARY"
for recipe in "${RECIPES[@]}"; do
  log="$SCRATCH/$recipe.log"
  start=$(date +%s)
  (cd "$WORK" && "$PYTHON" -m kedro run -e gpu --pipelines="$recipe" ${FLAGS[$recipe]:-} \
      --params "$COMMON,${PARAMS[$recipe]:-}") > "$log" 2>&1
  rc=$?
  seconds=$(( $(date +%s) - start ))
  [ $rc -eq 0 ] || status=1
  block="$SCRATCH/$recipe.summary"
  "$PYTHON" - "$WORK/data/08_reporting" "$recipe" "$rc" "$seconds" "$log" > "$block" <<'PY'
import json, sys
from pathlib import Path

reports, recipe, rc, seconds, log = (Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                     sys.argv[4], sys.argv[5])
# What each column reads: (metrics file, preferred keys; empty = the first four numbers).
COLUMNS = {
    "thinklite": {
        "loaded": [("thinklite_data_metrics", ["pool", "heldout"])],
        "trained": [("thinklite_grpo_metrics", ["grpo_steps", "grpo_first_reward",
                                                "grpo_last_reward"])],
        "scored": [("thinklite_mcts_metrics", ["searched", "solved", "unsolved",
                                               "mean_iters_solved"])],
        "evaluated": [("thinklite_eval_metrics", ["n", "accuracy"])],
    },
    "thinklite_ablation": {
        "loaded": [("thinklite_data_metrics", ["pool", "heldout"])],
        "trained": [("thinklite_ablation_metrics", ["mcts/num_selected", "random/num_selected",
                                                    "accuracy/num_selected"])],
        "scored": [("thinklite_mcts_metrics", ["searched", "solved", "unsolved"])],
        "evaluated": [("thinklite_ablation_metrics", ["mcts/accuracy", "random/accuracy",
                                                      "accuracy/accuracy"])],
    },
    "filtering": {
        "loaded": [("filtering_clip_score_metrics", []), ("filtering_mllm_score_metrics", [])],
        "trained": [("filtering_pretrain_metrics", [])],
        "scored": [("filtering_filter_metrics", []), ("filtering_packing_metrics",
                                                      ["n_kept", "n_bins", "fill_ratio"])],
        "evaluated": [("filtering_eval_metrics", [])],
    },
    "scm": {
        "loaded": [("scm_prior_metrics", ["tasks", "mean_features"])],
        "trained": [("scm_training_metrics", ["sft_first_loss", "sft_final_loss"])],
        "scored": [("scm_metrics", ["tables", "max_shots"])],
        "evaluated": [("scm_metrics", ["lm_accuracy_at_max_shots",
                                       "random_forest_accuracy_at_max_shots"])],
    },
}


def numbers(name, keys):
    path = reports / f"{name}.json"
    if not path.is_file():
        return f"{name}: none"
    data = json.loads(path.read_text())
    keys = [k for k in keys if k in data] or [k for k in sorted(data)
                                              if isinstance(data[k], (int, float))][:4]
    return ", ".join(f"{k}={data[k]:.4g}" for k in keys) or f"{name}: empty"


state = "ok" if rc == 0 else f"FAILED (rc {rc}; log {log})"
print(f"{recipe}: {state}, {seconds} s")
for column, sources in COLUMNS.get(recipe, {}).items():
    print(f"  {column:<10} " + " | ".join(numbers(name, keys) for name, keys in sources))
if rc != 0:
    tail = Path(log).read_text(errors="replace").splitlines()[-15:]
    print("\n".join("  | " + line for line in tail))
PY
  cat "$block" | tee -a "$SUMMARY"
done
echo "===== gpu_check summary ($(date -u +%FT%TZ))"
cat "$SUMMARY"
exit $status

"""Tabular LM evaluation: label scoring (``mode: score``) against greedy JSON generation
(``mode: generate``) on real tables, in one process, with the majority-class and random-forest
baselines on the same shots.

    PYTHONPATH=src python benchmarks/tabular_lm_scoring.py [--train-steps 20] \
        [--tables blood banknote_authentication maternal_health_risk cmc] [--shots 8 32] \
        [--max-test-rows 20] [--threads 2]

The ``tiny-lm`` preset (``models.tabular_lm``) is built (or loaded from ``--cache-dir``) and,
unless ``--train-steps 0``, fine-tuned briefly with the pipeline's own nodes
(``generate_prior_tasks`` -> ``build_sft_corpus`` -> ``train_tabular_lm``) on an SCM-prior
corpus of ``--prior-tasks`` tables, with ``conf/base/parameters_scm.yml`` (``scm`` and
``scm_training``) as the base settings, so the timing is of a model trained on the answer format.
Then ``evaluate_tabular_lm`` (the ``scm_evaluate_tabular_lm`` node) runs on the same tables,
shot counts, test rows and shuffle seeds with ``scm_generation.mode`` = ``generate`` and then
``score``, one warm-up prompt per mode first. Reported per mode: wall seconds of the node,
prompts/s, answered test rows/s (rows x shuffle seeds), the share of answered rows whose label
parses from the answer text, and the accuracy (after the vote) averaged over tables x shots.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from datarecipes.config import from_params
from datarecipes.models import ModelParams, generate
from datarecipes.pipelines.scm.lm_nodes import (
    TOKENS_PER_ANSWER_ROW,
    evaluate_tabular_lm,
    prepare_tabular_lm,
    train_tabular_lm,
)
from datarecipes.pipelines.scm.nodes import (
    build_sft_corpus,
    generate_prior_tasks,
    load_real_tables,
)
from datarecipes.tabular.evaluate import evaluate_baselines
from datarecipes.tabular.lm_scoring import score_answers
from datarecipes.tabular.params import ScmGenerationParams, ScmParams, ScmTrainingParams
from datarecipes.tabular.serialize import build_messages

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TABLES = ["blood", "banknote_authentication", "maternal_health_risk", "cmc"]
BASELINES = ["majority", "random_forest"]


def _warm_up(model: Any, table: Any, rows: int) -> None:
    """One prompt through each mode's code path (first-call overheads out of the timing)."""
    prompt = [build_messages(table.X[:8], table.y[:8], table.X[8 : 8 + rows])]
    score_answers(model.model, model.tokenizer, prompt)
    generate(model, prompt, max_new_tokens=rows * TOKENS_PER_ANSWER_ROW, temperature=0.0)


def _n_prompts(lm_table: pd.DataFrame, rows_per_prompt: int, n_seeds: int) -> int:
    return int(sum(math.ceil(n / rows_per_prompt) for n in lm_table["n_test"]) * n_seeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", nargs="+", default=DEFAULT_TABLES,
                        help="file stems of the CSVs in --data-dir")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared/data/tabular")
    parser.add_argument("--shots", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--max-test-rows", type=int, default=20,
                        help="test rows per table (scm.max_test_rows)")
    parser.add_argument("--train-steps", type=int, default=20,
                        help="SFT steps on the prior corpus before timing (0: random init)")
    parser.add_argument("--prior-tasks", type=int, default=16,
                        help="SCM-prior tables in the SFT corpus (scm.n_tasks)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="scm_generation.batch_size (generate mode)")
    parser.add_argument("--params", type=Path, default=ROOT / "conf/base/parameters_scm.yml")
    parser.add_argument("--cache-dir", default=None,
                        help="preset cache (default: a temporary folder, built afresh)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    conf = yaml.safe_load(args.params.read_text())
    scm = from_params(ScmParams, {
        **conf["scm"], "n_tasks": args.prior_tasks, "tables": args.tables,
        "eval_shots": args.shots, "max_test_rows": args.max_test_rows, "baselines": BASELINES,
    }, where=f"{args.params}: scm")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tabular-lm-bench-") as tmp:
        model, tokenizer = prepare_tabular_lm(ModelParams(
            preset="tiny-lm", preset_cache_dir=args.cache_dir or f"{tmp}/presets"))
        training_note = "random init (--train-steps 0)"
        if args.train_steps > 0:
            tasks, _, _ = generate_prior_tasks(scm)
            records, _ = build_sft_corpus(tasks, scm, tokenizer)
            t0 = time.perf_counter()
            training = from_params(ScmTrainingParams, {
                **conf["scm_training"], "max_steps": args.train_steps,
            }, where=f"{args.params}: scm_training")
            model, metrics = train_tabular_lm(model, records, training)
            loss = f"{metrics['sft_first_loss']:.2f} -> {metrics['sft_final_loss']:.2f}"
            training_note = (f"{args.train_steps} SFT steps on {len(records)} prior records "
                             f"({time.perf_counter() - t0:.0f} s, loss {loss})")
        raw = {name: (lambda p=args.data_dir / f"{name}.csv": p.read_bytes())
               for name in args.tables}
        tables = load_real_tables(raw, scm)
        _warm_up(model, next(iter(tables.values())), rows=2)

        results: dict[str, tuple[float, pd.DataFrame, pd.DataFrame]] = {}
        for mode in ("generate", "score"):
            generation = from_params(ScmGenerationParams, {
                **conf["scm_generation"], "mode": mode, "batch_size": args.batch_size,
            }, where=f"{args.params}: scm_generation")
            t0 = time.perf_counter()
            lm_table, preds = evaluate_tabular_lm(tables, model, scm, generation)
            results[mode] = (time.perf_counter() - t0, lm_table, preds)
        baselines = evaluate_baselines(tables, args.shots, BASELINES,
                                       split_seed=scm.split_seed,
                                       test_fraction=scm.test_fraction,
                                       max_test_rows=args.max_test_rows)

    seeds = list(scm.shuffle_seeds)
    rows_per_prompt = scm.test_rows_per_prompt
    print(f"\ntiny-lm, {training_note}; {len(tables)} tables x shots {args.shots}, "
          f"<= {args.max_test_rows} test rows, {rows_per_prompt} rows/prompt, shuffle seeds "
          f"{seeds}; torch threads {args.threads}, load average {os.getloadavg()[0]:.1f}")
    header = (f"{'method':<15} {'wall s':>7} {'prompts/s':>9} {'rows/s':>7} "
              f"{'parsed':>7} {'accuracy':>8}")
    print(header)
    print("-" * len(header))
    for mode, (wall, lm_table, preds) in results.items():
        prompts = _n_prompts(lm_table, rows_per_prompt, len(seeds))
        print(f"LM {mode:<12} {wall:7.1f} {prompts / wall:9.2f} {len(preds) / wall:7.1f} "
              f"{(preds['label'] != -1).mean():7.1%} {lm_table['accuracy'].mean():8.3f}")
    for name in BASELINES:
        accuracy = baselines.loc[baselines["method"] == name, "accuracy"].mean()
        print(f"{name:<15} {'':>7} {'':>9} {'':>7} {'':>7} {accuracy:8.3f}")
    gen_wall, score_wall = results["generate"][0], results["score"][0]
    print(f"score vs generate: x{gen_wall / score_wall:.1f} wall-clock speed-up")

    print("\naccuracy per table and shot count")
    merged = pd.concat([results["generate"][1].assign(method="LM generate"),
                        results["score"][1].assign(method="LM score"), baselines])
    grid = merged.pivot_table(index=["dataset", "shots"], columns="method", values="accuracy")
    print(grid[["LM generate", "LM score", *BASELINES]].round(3).to_string())
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

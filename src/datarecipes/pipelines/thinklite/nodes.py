"""Nodes of the ThinkLite pipelines: they only wire ``datarecipes.thinklite``, ``mcts`` and
``training``. Checkpoints arrive as directories (``CheckpointDataset``) or, in in-memory runs,
as loaded models; :func:`load_policy` (training) and :class:`PolicySource` (batch inference,
loaded where the executor runs it, on the ``generation`` engine) accept both.

Every parameter arrives built: the start-up hook (:class:`datarecipes.hooks.
ParameterValidationHook`) turns each ``params:`` input into its frozen dataclass, a dotted one
(``params:models.policy``) into the section's field, so nodes never see a dict and a bad key
has stopped the run, naming its file, before the first node."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from datarecipes import ledger as ledgers
from datarecipes.engines import GenerationParams
from datarecipes.executors import make_executor
from datarecipes.mcts import (
    MctsParams,
    SelectionParams,
    answer_accuracy,
    select_hard_samples,
    selection_report,
)
from datarecipes.models import LoadedModel, ModelParams, load_model
from datarecipes.thinklite import (
    ABLATION_STRATEGIES,
    PolicySource,
    ThinkLiteDataParams,
    ThinkLiteEvalParams,
    ThinkLiteMctsParams,
    ablation_summary,
    check_disjoint,
    curation,
    eval_plot,
    evaluate_policy,
    load_policy,
    mcts_rows,
    pool_difficulty,
    prompt_records,
    provision_to_questions,
    sft_records,
    split_questions,
)
from datarecipes.thinklite.curation import ThinkLiteDecontaminationParams, ThinkLiteDedupParams
from datarecipes.thinklite.data import REFUSAL_COLUMNS, source_questions
from datarecipes.thinklite.sources import BenchmarkSet
from datarecipes.training.grpo import GRPOParams, train_grpo
from datarecipes.training.sft import SFTParams, train_sft

logger = logging.getLogger(__name__)
Checkpoint = LoadedModel | str
ABLATION_FILE = "parameters_thinklite_ablation.yml"


def build_question_sets(
    provision_questions: pd.DataFrame, scene_root: str, params: ThinkLiteDataParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Warm-start set, MCTS pool and held-out set from ProVision's single-image questions."""
    questions = provision_to_questions(provision_questions, scene_root)
    warm, pool, heldout = split_questions(questions, params)
    metrics = {
        "single_image_questions": float(len(questions)),
        "warm_start": float(len(warm)),
        "pool": float(len(pool)),
        "heldout": float(len(heldout)),
    }
    logger.info("thinklite sets: %d warm start, %d pool, %d held out",
                len(warm), len(pool), len(heldout))
    return warm, pool, heldout, metrics


def choose_question_sets(
    warm_start_set: pd.DataFrame,
    world_pool: pd.DataFrame,
    world_heldout: pd.DataFrame,
    pool_source: Any,
    heldout_source: Any,
    source_image_dir: str,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, bytes], pd.DataFrame, dict[str, float]]:
    """The MCTS pool and the held-out set: the built-in world's, or a user's
    (``thinklite_pool_source`` / ``thinklite_heldout_source``, each independently).

    Returns pool, held-out, the user's parquet images to materialise (``thinklite_source_images``
    under data/), the refused rows (``thinklite_input_refusals_table``) and
    ``thinklite_inputs_metrics``: per set the rows read, accepted and refused, so every input
    row is accounted for. A user's set is used whole (``thinklite_data``'s sizes draw from the
    world only).
    """
    sets = {"pool": world_pool, "heldout": world_heldout}
    images: dict[str, bytes] = {}
    refusals = [pd.DataFrame(columns=REFUSAL_COLUMNS)]
    metrics: dict[str, float] = {}
    for name, source in (("pool", pool_source), ("heldout", heldout_source)):
        metrics[f"{name}_from_source"] = float(source is not None)
        if source is None:
            metrics[f"{name}_rows"] = metrics[f"{name}_accepted"] = float(len(sets[name]))
            metrics[f"{name}_refused"] = 0.0
            continue
        questions, new_images, refused = source_questions(source, name, source_image_dir)
        logger.info("thinklite %s from %s (%s): %d rows, %d accepted, %d refused", name,
                    source.path, source.format, len(source.rows), len(questions), len(refused))
        for reason, count in refused["reason"].value_counts().head(5).items():
            logger.warning("thinklite %s: %d row(s) refused: %s", name, count, reason)
        if questions.empty:
            raise ValueError(f"thinklite_{name}_source {source.path}: every one of its "
                             f"{len(source.rows)} rows was refused (first: "
                             f"{refused['reason'].iloc[0] if len(refused) else 'no rows'})")
        sets[name] = questions
        images.update(new_images)
        refusals.append(refused)
        metrics |= {f"{name}_rows": float(len(source.rows)),
                    f"{name}_accepted": float(len(questions)),
                    f"{name}_refused": float(len(refused))}
    if pool_source is not None or heldout_source is not None:
        check_disjoint(sets["heldout"], [warm_start_set, sets["pool"]])
    table = pd.concat([r for r in refusals if len(r)] or refusals[:1], ignore_index=True)
    return sets["pool"], sets["heldout"], images, table, metrics


def curate_pool(
    candidate_pool: pd.DataFrame,
    heldout: pd.DataFrame,
    benchmarks: Mapping[str, pd.DataFrame],
    input_refusals: pd.DataFrame,
    dedup_work_dir: str,
    dedup: ThinkLiteDedupParams,
    decon: ThinkLiteDecontaminationParams,
    evaluation: ThinkLiteEvalParams,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """The pool MCTS scores: ``candidate_pool`` without near-duplicate samples and without
    samples matching the held-out set or a benchmark the run evaluates.

    Returns ``thinklite_pool``, ``thinklite_pool_ledger`` (stages inputs, dedup,
    decontamination), ``thinklite_pool_hashes`` (per sample: image hashes and size, question
    signature), ``thinklite_contamination_table`` (the contaminated samples and what they
    match) and ``thinklite_curation_metrics``. Hashing runs on ``thinklite_dedup.executor``,
    resumable per shard under ``dedup_work_dir``. ``evaluation`` names the benchmarks the run
    evaluates, which the pool must not overlap.
    """
    executor = make_executor(dedup.executor)
    pool = candidate_pool.reset_index(drop=True)
    hashes = curation.hash_questions(pool, dedup, executor, dedup_work_dir, "pool")
    dups = curation.dedup_vqa(pool, hashes, dedup)
    dedup_stage = curation.dedup_rows(dups, dedup)
    after_dedup = pool[dedup_stage["kept"].to_numpy()].reset_index(drop=True)
    eval_sets = {"heldout": heldout, **curation.chosen_benchmarks(
        benchmarks, evaluation.benchmarks, evaluation.benchmark_max_questions)}
    hashed = {}
    for name, table in eval_sets.items():
        safe = curation.eval_set_name(name)
        hashed[safe] = (table, curation.hash_questions(table, dedup, executor, dedup_work_dir,
                                                       f"eval-{safe}"))
    table = curation.decontaminate(after_dedup, hashes, hashed, decon)
    counts = curation.contamination_counts(table)
    # action stop raises ContaminationError (with the counts) above stop_above.
    kept = curation.apply_contamination(after_dedup, table, decon.decontamination())
    ledger = curation.pool_ledger(curation.input_rows(pool, input_refusals), dedup_stage, table,
                                  decon.action)
    n_dup = int(dups["dup.vqa"].sum())
    metrics = {
        "candidates": float(len(pool)),
        "duplicates": float(n_dup),
        "duplicates_dropped": float(n_dup if dedup.action == "drop" else 0),
        "unhashable_images": float((hashes["hash_status"] != "success").sum()),
        **{f"contaminated/{k}": float(v) for k, v in counts.items()},
        "contaminated_dropped": float(len(after_dedup) - len(kept)),
        "pool": float(len(kept)),
    }
    logger.info("thinklite pool: %d candidates, %d near-duplicate(s) (%s), %d contaminated "
                "(%s), %d go to MCTS", len(pool), n_dup, dedup.action, counts.get("any", 0),
                decon.action, len(kept))
    contaminated = table[table["contaminated.any"].to_numpy(bool)].reset_index(drop=True)
    return kept.reset_index(drop=True), ledger, hashes, contaminated, metrics


def build_ledger(
    pool_ledger: pd.DataFrame,
    candidate_pool: pd.DataFrame,
    pool_hashes: pd.DataFrame,
    difficulty: pd.DataFrame,
    accuracy: pd.DataFrame,
    selected: pd.DataFrame,
    config: SelectionParams,
) -> tuple[pd.DataFrame, dict[str, float], Figure, pd.DataFrame, dict[str, Figure]]:
    """``thinklite_ledger`` (one row per sample and stage that saw it), its per-stage counts
    (``thinklite_ledger_metrics``), the funnel plot, and the before/after composition: the
    candidate pool vs the selected set, per column (``thinklite_before_after_table`` / plot;
    difficulty: the MCTS-scored pool vs the selected set)."""
    ledger = curation.run_ledger(pool_ledger, difficulty, accuracy, selected, config)
    metrics = ledgers.stage_metrics(ledger, prefix="stage")
    metrics["selected"] = float(len(selected))
    funnel = ledgers.funnel_figure(ledger, title="ThinkLite: samples per stage")
    frame = curation.composition_frame(candidate_pool, pool_hashes, difficulty)
    chosen = frame["sample_id"].isin(set(selected["sample_id"].astype(str))).to_numpy()
    scored = frame["sample_id"].isin(set(difficulty["sample_id"].astype(str))).to_numpy()
    tables, figures = [], {}
    for column in [c for c in frame.columns if c != "sample_id"]:
        base = frame[scored] if column == "difficulty" else frame
        mask = chosen[scored] if column == "difficulty" else chosen
        t = ledgers.before_after_table(base.reset_index(drop=True), mask, column)
        tables.append(t.rename(columns={column: "value"}).assign(column=column))
        figures[column] = ledgers.before_after_figure(
            base.reset_index(drop=True), mask, column,
            title=f"{column}: {'scored pool' if column == 'difficulty' else 'pool'} vs selected")
    table = pd.concat(tables, ignore_index=True)[["column", "value", "pool", "kept"]]
    return ledger, metrics, funnel, table, figures


def benchmark_sets(
    benchmark_sources: Mapping[str, BenchmarkSet],
) -> tuple[dict[str, pd.DataFrame], dict[str, bytes]]:
    """The benchmarks' question tables (``thinklite_benchmarks``) and their images to write
    (``thinklite_benchmark_images``, by digest file name), from ``thinklite_benchmark_sources``,
    whose loading writes nothing."""
    tables = {name: bench.questions for name, bench in benchmark_sources.items()}
    images: dict[str, bytes] = {}
    for bench in benchmark_sources.values():
        images.update(bench.images)
    return tables, images


def selected_in_own_formats(selected: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The selected hard set twice, for ``thinklite_selected_thinklite`` (ThinkLite's parquet
    columns) and ``thinklite_selected_llava`` (LLaVA JSON): the datasets write the formats."""
    return selected, selected


def warm_start_policy(
    warm_start_set: pd.DataFrame, policy: ModelParams, params: SFTParams
) -> tuple[LoadedModel, dict[str, float]]:
    """SFT of ``models.policy`` on ProVision's step-format solutions (skipped when the set is
    empty: the paper's 7B policy follows the 2-shot prompt untrained)."""
    base = load_model(policy)
    if warm_start_set.empty:
        logger.info("thinklite: warm start skipped (thinklite_data.warmstart_size is 0)")
        return base, {"sft_examples": 0.0}
    return train_sft(base, sft_records(warm_start_set), params)


def score_pool_difficulty(
    pool: pd.DataFrame,
    warm_start_checkpoint: Checkpoint,
    mcts_work_dir: str,
    policy_model: ModelParams,
    judge_model: ModelParams,
    engine: GenerationParams,
    config: MctsParams,
    run: ThinkLiteMctsParams,
) -> tuple[pd.DataFrame, dict[str, Any], Figure]:
    """MCTS difficulty of every pool question with the warm-started policy (resumable, on the
    ``thinklite_mcts.executor``); ``judge_model`` rewards the rollouts when
    ``thinklite_mcts.reward`` is ``judge``."""
    if run.reward == "judge" and engine.engine == "vllm":
        # Policy and judge are two vLLM engines in one process (per Ray actor): each may take
        # only its share of the GPU memory the block grants, or the second fails to start.
        share = engine.gpu_memory_utilization / 2
        logger.info("MCTS with the judge reward on vLLM: policy and judge get "
                    "gpu_memory_utilization %.2f each", share)
        engine = dataclasses.replace(engine, gpu_memory_utilization=share)
    policy = PolicySource.of(warm_start_checkpoint, policy_model, engine)
    judge = PolicySource.of(None, judge_model, engine) if run.reward == "judge" else None
    difficulty = pool_difficulty(pool, policy, config, run, mcts_work_dir, judge=judge)
    searched = difficulty[difficulty["skip_reason"].isna()]
    metrics, histogram, _ = selection_report(searched, len(pool), config.max_iterations)
    solved = searched["solved"].astype(bool)
    pool_metrics = {
        "questions": float(len(pool)),
        "searched": float(len(searched)),
        "skipped_bad_input": float(len(difficulty) - len(searched)),
        "solved": float(solved.sum()),
        "solved_fraction": float(solved.mean()) if len(searched) else 0.0,
        "unsolved": metrics.get("num_unsolved", 0.0),
        "mean_iters_solved": metrics.get("mean_iters_solved", 0.0),
        "generated_tokens": float(searched["generated_tokens"].sum()),
        # Solved questions per 0-based iteration: the tracking hook logs a list as a metric
        # history (step = iteration), which the ablation notebook draws as the histogram.
        "solved_at_iteration": np.bincount(
            searched.loc[solved, "iters"].astype(int).to_numpy(), minlength=config.max_iterations
        ).astype(float).tolist(),
    }
    histogram.axes[0].set_title(f"MCTS difficulty of the pool ({len(searched)} questions)")
    return difficulty, pool_metrics, histogram


def answer_accuracy_table(
    pool: pd.DataFrame,
    warm_start_checkpoint: Checkpoint,
    policy_model: ModelParams,
    engine: GenerationParams,
    config: SelectionParams,
    run: ThinkLiteMctsParams,
) -> pd.DataFrame:
    """The accuracy baseline's per-question accuracy of the warm start
    (``thinklite_accuracy_table``): ``num_answers`` sampled answers per pool question at
    ``run``'s batch size on its executor; empty unless ``config.strategy`` is ``accuracy``.

    Its own node, apart from the selection, so that an experiment samples it once for all
    its seeds, as it searches the MCTS table once."""
    if config.strategy != "accuracy":
        return pd.DataFrame({"sample_id": pd.Series([], dtype=str),
                             "accuracy": pd.Series([], dtype=float),
                             "skip_reason": pd.Series([], dtype=object)})
    policy = PolicySource.of(warm_start_checkpoint, policy_model, engine)
    return answer_accuracy(
        mcts_rows(pool), policy.step_policy, config, batch_size=run.batch_size,
        executor=make_executor(run.executor),
    )


def select_training_set(
    pool: pd.DataFrame,
    difficulty: pd.DataFrame,
    accuracy: pd.DataFrame,
    config: SelectionParams,
) -> tuple[pd.DataFrame, dict[str, float], Figure, Figure]:
    """The GRPO training set chosen by ``config.strategy`` (``hard_sample_selection``; the
    ablation's namespaces get ``thinklite_ablation.<strategy>``), its statistics, difficulty
    histogram and question-type shares. ``accuracy`` is :func:`answer_accuracy_table`'s
    output, read by strategy ``accuracy`` only."""
    selected = select_hard_samples(
        pool, config, difficulty=difficulty,
        accuracy=accuracy if config.strategy == "accuracy" else None,
    )
    if selected.empty:
        raise ValueError(
            f"hard_sample_selection (strategy {config.strategy!r}) kept none of the "
            f"{len(pool)} pool questions; lower iters_threshold / raise max_accuracy, or "
            "enlarge the pool (thinklite_data.pool_size)"
        )
    max_iterations = int(difficulty["iterations_run"].max()) if len(difficulty) else 1
    metrics, histogram, types = selection_report(selected, len(pool), max(max_iterations, 1))
    return selected, metrics, histogram, types


def grpo_on_selection(
    selected: pd.DataFrame,
    warm_start_checkpoint: Checkpoint,
    policy_model: ModelParams,
    engine: GenerationParams,
    params: GRPOParams,
) -> tuple[LoadedModel, dict[str, float]]:
    """GRPO of the warm-started policy on the selected questions (accuracy + format reward
    on step-format answers), rolling out on the ``generation`` engine."""
    policy = load_policy(warm_start_checkpoint, policy_model, copy=True)
    return train_grpo(policy, prompt_records(selected), params, generation=engine)


def evaluate_checkpoint(
    checkpoint: Checkpoint,
    heldout: pd.DataFrame,
    benchmarks: Mapping[str, pd.DataFrame],
    policy_model: ModelParams,
    engine: GenerationParams,
    params: ThinkLiteEvalParams,
) -> tuple[pd.DataFrame, dict[str, float], Figure]:
    """Greedy held-out (and benchmark) accuracy on ``thinklite_eval.executor``: table, metrics,
    bar plot."""
    policy = PolicySource.of(checkpoint, policy_model, engine)
    table, metrics = evaluate_policy(policy, heldout, benchmarks, params)
    return table, metrics, eval_plot(table, "greedy accuracy")


def compare_strategies(
    warm_start_eval: Mapping[str, float],
    **per_strategy: Mapping[str, float],
) -> tuple[dict[str, float], Figure]:
    """``thinklite_ablation_metrics`` and ``thinklite_ablation_plot``: accuracy and selected
    count per strategy. ``per_strategy`` holds ``<strategy>_selection`` and ``<strategy>_eval``
    metrics for every strategy of :data:`ABLATION_STRATEGIES`. (The section itself,
    ``thinklite_ablation``, was checked whole at start-up: each namespace reads its strategy's
    part of it.)"""
    selection = {s: per_strategy[f"{s}_selection"] for s in ABLATION_STRATEGIES}
    evaluation = {s: per_strategy[f"{s}_eval"] for s in ABLATION_STRATEGIES}
    if selection["random"]["num_selected"] != selection["mcts"]["num_selected"]:
        raise ValueError(
            f"{ABLATION_FILE}: thinklite_ablation: random kept "
            f"{selection['random']['num_selected']:.0f} "
            f"questions but mcts {selection['mcts']['num_selected']:.0f}; the random control "
            "must keep as many (same iters_threshold)"
        )
    return ablation_summary(selection, evaluation, warm_start_eval)

"""Nodes of the ``filtering`` pipeline: thin wrappers over :mod:`datarecipes.filtering`.

Each node takes the sub-sections of ``filtering`` it reads (``params:filtering.clip``, ...),
built into their dataclasses by the start-up hook, and never a file location: the resumable
scoring shards live in the catalog's ``filtering_scoring_work_dir`` (handed in as a
directory), the packed tar shards are returned and written by ``filtering_packed_shards``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from datarecipes.dedup import ContaminationError, contamination_counts
from datarecipes.dedup.params import DecontaminationParams, DedupParams
from datarecipes.engines import GenerationParams
from datarecipes.executors import ExecutorParams, make_executor
from datarecipes.filtering.clip_score import score_clip, split_embeddings
from datarecipes.filtering.clip_train import (
    encode_pairs,
    pretrain_clip,
    subset_pairs,
    train_clip_contrastive,
)
from datarecipes.filtering.decisions import decision_metrics, decision_table
from datarecipes.filtering.dedup import (
    caption_signatures,
    hash_pairs,
    heldout_contamination,
    pool_dedup,
)
from datarecipes.filtering.evaluation import CORRUPTED_COLUMN, evaluate_filters, score_histograms
from datarecipes.filtering.inputs import (
    CAPTION_COLUMN,
    DECODE_ERROR,
    ID_COLUMN,
    IMAGE_BYTES_COLUMN,
    IMAGE_COLUMN,
    KEY_COLUMN,
    SOURCE_COLUMN,
    SUCCESS,
    input_columns,
)
from datarecipes.filtering.ledger import (
    before_after,
    composition,
    filtering_ledger,
    sample_ids,
)
from datarecipes.filtering.mllm_score import score_mllm, status_counts
from datarecipes.filtering.packing import (
    first_fit_decreasing,
    packing_metrics,
    sample_lengths,
    text_token_counter,
)
from datarecipes.filtering.params import (
    ClipParams,
    FilterParams,
    MllmParams,
    PackingParams,
    PretrainParams,
    ScoringParams,
    SplitRolesParams,
)
from datarecipes.filtering.rules import apply_rules, parse_rule, rule_columns
from datarecipes.filtering.shards import PackedShards, pack_shards
from datarecipes.filtering.sources import BUILTIN, PairSource
from datarecipes.models import ModelParams
from datarecipes.models.clip import LoadedClip, load_clip
from datarecipes.pipelines.scenes.nodes import generate_scenes, scenes_metrics
from datarecipes.scenes.params import ScenesParams

logger = logging.getLogger(__name__)
WHERE = "parameters_filtering.yml: filtering"
#: ``source`` of the built-in world's pairs in the decision table.
BUILTIN_SOURCE = BUILTIN


def build_world(source: PairSource, scenes: ScenesParams
                ) -> tuple[dict[str, bytes], pd.DataFrame]:
    """The built-in world (images, metadata) when no source is given; nothing otherwise.

    With a user's pairs the world is not generated: its outputs are empty (the world's
    folder under ``data/01_raw`` is the project's own, never the user's).
    """
    if not source.builtin:
        logger.info("filtering: reading the pairs of %s (%s); the built-in world is not "
                    "generated", source.origin, source.format)
        return {}, pd.DataFrame({ID_COLUMN: pd.Series(dtype=str)})
    images, _graphs, metadata = generate_scenes(scenes)
    return images, metadata


def world_metrics(scene_metadata: pd.DataFrame) -> dict[str, float]:
    """The world's summary (``scenes_metrics``), or ``generated: 0`` when it was not built."""
    if len(scene_metadata) == 0:
        return {"generated": 0.0, "n_images": 0.0}
    return {"generated": 1.0, **scenes_metrics(scene_metadata)}


def _empty_like(table: pd.DataFrame) -> pd.DataFrame:
    return table.iloc[0:0].reset_index(drop=True)


def prepare_pairs(source: PairSource, scene_metadata: pd.DataFrame, splits: SplitRolesParams,
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(pool, scorer training pairs, held-out pairs) from the world or the user's pairs.

    The world: split by role; the scorer and held-out sets keep only clean pairs (their
    ground truth is known), the pool keeps everything, corrupted captions included — it is
    what the filter must clean. A user's pairs: all of them are the pool; there are no
    scorer or held-out pairs, so the stages that need them are skipped (logged, and a
    ``skipped`` metric), and no split, corruption flag or column beyond the pair is needed.
    (That no output of the run lands inside the user's source is checked before the run by
    :class:`datarecipes.io.sources.SourceGuardHook`.)
    """
    if not source.builtin:
        pool = source.pairs.reset_index(drop=True)
        return pool, _empty_like(pool), _empty_like(pool)
    scorer, pool, heldout = split_pairs(scene_metadata, splits)
    for table in (scorer, pool, heldout):
        table.insert(1, KEY_COLUMN, table[ID_COLUMN].astype(str))
        table.insert(2, SOURCE_COLUMN, BUILTIN_SOURCE)
    return pool, scorer, heldout


def split_pairs(scene_metadata: pd.DataFrame, splits: SplitRolesParams,
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """World → (scorer training pairs, pool, held-out pairs). The world's image paths arrive
    resolved (catalog ``filtering_world.scene_metadata``, an ``ImageTableDataset``)."""
    missing = [c for c in (ID_COLUMN, IMAGE_COLUMN, CAPTION_COLUMN, "split", CORRUPTED_COLUMN)
               if c not in scene_metadata.columns]
    if missing:
        raise ValueError(f"filtering_world.scene_metadata: the world table lacks column(s) "
                         f"{missing} (columns: {list(scene_metadata.columns)})")
    pairs = scene_metadata.copy()
    split = pairs["split"]
    for role, name in (("scorer", splits.scorer), ("pool", splits.pool),
                       ("heldout", splits.heldout)):
        if not (split == name).any():
            raise ValueError(f"{WHERE}.splits.{role}: the world has no {name!r} pairs "
                             f"(splits present: {sorted(split.unique())})")
    clean = ~pairs[CORRUPTED_COLUMN].astype(bool)
    scorer = pairs[(split == splits.scorer) & clean].reset_index(drop=True)
    pool = pairs[split == splits.pool].reset_index(drop=True)
    heldout = pairs[(split == splits.heldout) & clean].reset_index(drop=True)
    return scorer, pool, heldout


def train_scoring_clip(scorer_pairs: pd.DataFrame, clip: ClipParams, executor: ExecutorParams
                       ) -> tuple[LoadedClip, pd.DataFrame, dict[str, Any]]:
    """Build the scoring CLIP and (if ``clip.train``) train it on clean pairs.

    Returns the model, the loss per step as a table, and metrics (the loss history is a
    list, logged as an MLflow metric history).
    """
    torch.manual_seed(clip.training.seed)
    loaded = load_clip(clip.model, clip.pretrained, device=clip.device)
    skip = ("clip.train is false" if not clip.train else
            "no scorer pairs (a user's pairs have no clean scorer split)"
            if len(scorer_pairs) == 0 else None)
    if skip is not None:
        logger.info("filtering: scorer training skipped: %s; scoring with %s as loaded",
                    skip, clip.model)
        if clip.pretrained is None and not clip.model.startswith("local-dir:"):
            logger.warning("filtering: the scoring CLIP %s has random weights and is not "
                           "trained: its scores rank nothing. Set filtering.clip.pretrained "
                           "(or clip.model: local-dir:<checkpoint>).", clip.model)
        return loaded, pd.DataFrame({"step": [], "loss": []}), {
            "steps": 0, "skipped": 1.0, "skip_reason": skip}
    data = encode_pairs(scorer_pairs, loaded, num_workers=executor.num_workers)
    losses = train_clip_contrastive(loaded, data, clip.training)
    table = pd.DataFrame({"step": np.arange(len(losses)), "loss": losses})
    metrics = {
        "steps": len(losses),
        "skipped": 0.0,
        "pairs": len(data.ids),
        "skipped_pairs": data.skipped,
        "initial_loss": losses[0],
        "final_loss": float(np.mean(losses[-10:])),
        "loss": losses,
    }
    return loaded, table, metrics


def compute_clip_scores(pool: pd.DataFrame, scoring_clip: LoadedClip, work_dir: str | None,
                        scoring: ScoringParams, executor: ExecutorParams
                        ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """CLIP score of every pool pair, resumable per shard in ``work_dir`` (the catalog's
    ``filtering_scoring_work_dir``; None: no resume); bad pairs are rows with a reason.

    Also returns the normalised image embeddings of the same forward pass
    (``filtering_clip_embeddings``), which semantic dedup reads: the pool is embedded once.
    """
    scores, stats = score_clip(
        pool, scoring_clip, make_executor(executor), batch_size=scoring.batch_size,
        shard_size=scoring.shard_size, resume_dir=work_dir,
    )
    scores, embeddings = split_embeddings(scores)
    metrics = {
        "pairs": float(len(scores)),
        "scored": float((scores["status"] == "success").sum()),
        "skipped": float((scores["status"] == DECODE_ERROR).sum()),
        "shards": float(stats.shards),
        "shards_computed": float(stats.computed),
        "shards_reused": float(stats.reused),
        "embeddings": float(len(embeddings)),
    }
    return scores, embeddings, metrics


def compute_dedup(pool: pd.DataFrame, clip_scores: pd.DataFrame, clip_embeddings: pd.DataFrame,
                  work_dir: str | None, dedup: DedupParams, executor: ExecutorParams
                  ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Image hashes (exact, pHash), caption MinHash and SemDeDup on the persisted CLIP
    embeddings: one row per pool pair with ``dup.<kind>``, ``dup_of.<kind>``... and the
    image's size, hashed on the executor and resumable per shard in ``work_dir`` like the
    CLIP scores."""
    runner = make_executor(executor)
    hashes, hstats = hash_pairs(pool, dedup, runner, resume_dir=work_dir)
    signatures, _ = caption_signatures(pool, dedup, runner, resume_dir=work_dir)
    dups, semantic_skipped = pool_dedup(hashes, signatures, clip_scores, clip_embeddings, dedup)
    if semantic_skipped is not None:
        logger.warning("filtering: semantic dedup skipped: %s", semantic_skipped)
    keep = [c for c in hashes.columns if c != ID_COLUMN]
    table = hashes[[ID_COLUMN, *keep]].merge(dups, on=ID_COLUMN, how="left",
                                              validate="one_to_one")
    metrics: dict[str, float] = {
        "pairs": float(len(table)),
        "hashed": float((hashes["hash_status"] == SUCCESS).sum()),
        "unhashed": float((hashes["hash_status"] != SUCCESS).sum()),
        "shards_computed": float(hstats.computed),
        "shards_reused": float(hstats.reused),
    }
    for kind in [*dedup.kinds, "any"]:
        if f"dup.{kind}" in table:
            metrics[f"dup.{kind}"] = float(table[f"dup.{kind}"].sum())
    if "semantic" in dedup.kinds:
        metrics["semantic_skipped"] = float(semantic_skipped is not None)
        if semantic_skipped is not None:
            metrics["semantic_skip_reason"] = semantic_skipped
    return table, metrics


def decontaminate(pool: pd.DataFrame, heldout: pd.DataFrame, pool_dedup_table: pd.DataFrame,
                  work_dir: str | None, decontamination: DecontaminationParams,
                  dedup: DedupParams, executor: ExecutorParams
                  ) -> tuple[pd.DataFrame, dict[str, float]]:
    """The pool against the held-out pairs: ``contaminated.heldout`` per pool pair.

    ``decontamination.action``: ``flag`` (columns only), ``drop`` (never kept, whatever the
    rule), ``stop`` (raise above ``stop_above``). A user's pairs have no held-out pairs: the
    step is skipped (logged, ``skipped: 1``) and nothing is flagged. The held-out images are
    hashed as the pool's were (``dedup``), resumable in ``work_dir``.
    """
    d = decontamination
    if len(heldout) == 0:
        logger.info("filtering: decontamination skipped: no held-out pairs (a user's pairs "
                    "have none)")
        table = pd.DataFrame({ID_COLUMN: pool[ID_COLUMN].astype(str).to_numpy(),
                              "contaminated.any": False})
        return table, {"skipped": 1.0, "contaminated.any": 0.0, "pairs": float(len(pool))}
    held_hashes, _ = hash_pairs(heldout, dedup, make_executor(executor), name="heldouthash",
                                resume_dir=work_dir)
    hashes = pool_dedup_table[[c for c in pool_dedup_table.columns
                               if c == ID_COLUMN or c.startswith("image_")]]
    table = heldout_contamination(hashes, pool, held_hashes, heldout, d)
    counts = contamination_counts(table)
    hit = table["contaminated.any"].to_numpy(dtype=bool)
    if d.action == "stop" and len(table) and hit.mean() > d.stop_above:
        raise ContaminationError(
            f"{int(hit.sum())} of {len(table)} pool pairs ({hit.mean():.2%}) match a held-out "
            f"pair; {WHERE}.decontamination.stop_above={d.stop_above}")
    table["drop.contamination"] = hit & (d.action != "flag")
    metrics = {"skipped": 0.0, "pairs": float(len(table)),
               "dropped": float(table["drop.contamination"].sum()),
               **{f"contaminated.{k}": float(v) for k, v in counts.items()}}
    return table, metrics


def compute_mllm_scores(pool: pd.DataFrame, work_dir: str | None, mllm: MllmParams,
                        scoring: ScoringParams, executor: ExecutorParams,
                        scorer_model: ModelParams, generation: GenerationParams
                        ) -> tuple[pd.DataFrame, dict[str, float]]:
    """MLM-Filter scores of the pool (or its first ``mllm.max_pairs``) on the ``generation``
    engine, resumable per shard (``scoring.shard_size`` pairs) in ``work_dir``; empty when
    disabled."""
    if not mllm.enabled:
        return pd.DataFrame({ID_COLUMN: pool[ID_COLUMN]}), {"enabled": 0.0}
    from datarecipes.filtering.mllm_score import vlm_generate_factory

    subset = pool if mllm.max_pairs == 0 else pool.iloc[: mllm.max_pairs]
    factory, model_key = vlm_generate_factory(scorer_model, mllm.max_new_tokens, generation)
    scores, stats = score_mllm(
        subset, factory, make_executor(executor), metrics=mllm.metrics,
        batch_size=mllm.batch_size, shard_size=scoring.shard_size, model_key=model_key,
        prompts=mllm.prompts, resume_dir=work_dir,
    )
    metrics = {"enabled": 1.0, "pairs": float(len(scores)), "shards_reused": float(stats.reused),
               **{k: float(v) for k, v in status_counts(scores, mllm.metrics).items()}}
    return scores, metrics


def apply_filters(pool: pd.DataFrame, clip_scores: pd.DataFrame, mllm_scores: pd.DataFrame,
                  dedup: pd.DataFrame, contamination: pd.DataFrame, filters: FilterParams
                  ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Join all scores (CLIP, MLLM, dedup, contamination) onto the pool and evaluate every
    rule; a pair that did not decode, or that ``decontamination.action`` drops, is never kept.

    Returns the scored pool with one boolean column per rule (``keep.<rule>``), the pairs
    kept by ``filter.apply`` with all their scores, and the kept fraction per rule.
    """
    clip = clip_scores.rename(columns={"status": "clip_status", "reason": "clip_reason"})
    mllm = mllm_scores.rename(columns={"reason": "mllm_reason"})
    table = (pool.merge(clip, on=ID_COLUMN, how="left").merge(mllm, on=ID_COLUMN, how="left")
             .merge(dedup, on=ID_COLUMN, how="left", validate="one_to_one")
             .merge(contamination, on=ID_COLUMN, how="left", validate="one_to_one"))
    for name, text in filters.rules.items():
        missing = rule_columns(parse_rule(text, filters.definitions)) - set(table.columns)
        if missing:
            raise ValueError(
                f"{WHERE}.filter.rules.{name} ({text!r}) needs score(s) {sorted(missing)} that "
                f"this run did not compute (MLLM scores need mllm.enabled: true)"
            )
    keep = apply_rules(table, filters.rules, filters.definitions)
    # A pair that did not decode is never kept, whatever a rule says (``!top(clip, 0.3)``
    # would otherwise keep its NaN score).
    decoded = (table["clip_status"] == SUCCESS).to_numpy()
    keep.loc[~decoded, :] = False
    if "drop.contamination" in table:
        keep.loc[table["drop.contamination"].fillna(False).to_numpy(dtype=bool), :] = False
    scored = pd.concat([table, keep.add_prefix("keep.")], axis=1)
    kept = scored[keep[filters.apply].to_numpy()].reset_index(drop=True)
    # The scored pool is for analysis: image bytes a source carried stay in the kept pairs
    # (packing needs them) and are not copied a second time.
    scored = scored.drop(columns=[IMAGE_BYTES_COLUMN], errors="ignore")
    metrics = {f"kept_fraction.{rule}": float(keep[rule].mean()) for rule in keep.columns}
    metrics["kept_pairs"] = float(len(kept))
    return scored, kept, metrics


def evaluate_filtering(scored_pool: pd.DataFrame, filters: FilterParams, mllm: MllmParams
                       ) -> tuple[dict[str, float], Figure]:
    """Precision/recall of each rule at removing the known-corrupted pairs, and histograms
    (of the CLIP score and each ``mllm.metrics`` score the pool has)."""
    scores = ["clip"] + [m for m in mllm.metrics if m in scored_pool]
    if CORRUPTED_COLUMN not in scored_pool:
        reason = f"the pairs have no {CORRUPTED_COLUMN!r} ground truth"
        logger.info("filtering: precision/recall evaluation skipped: %s", reason)
        return ({"skipped": 1.0, "skip_reason": reason, "n_pairs": float(len(scored_pool))},
                score_histograms(scored_pool, scores))
    keep = scored_pool[[f"keep.{r}" for r in filters.rules]]
    keep.columns = list(filters.rules)
    metrics = {"skipped": 0.0, **evaluate_filters(scored_pool, keep, scores)}
    return metrics, score_histograms(scored_pool, scores)


def pack_kept_pairs(kept_pairs: pd.DataFrame, packing: PackingParams
                    ) -> tuple[pd.DataFrame, PackedShards, dict[str, float]]:
    """First-fit-decreasing packing of the kept pairs: the index, the WebDataset shards
    (written by the catalog's ``filtering_packed_shards``) and the packing metrics."""
    text_tokens = text_token_counter(packing.tokenizer)
    samples = kept_pairs[input_columns(kept_pairs)].reset_index(drop=True)
    lengths = sample_lengths(samples[CAPTION_COLUMN].tolist(), text_tokens,
                             packing.image_tokens)
    bins = first_fit_decreasing(lengths, packing.capacity)
    shards, index = pack_shards(samples, lengths, bins, packing.shards)
    metrics = packing_metrics(bins, lengths)
    metrics["shards"] = float(len(shards))
    return index, shards, metrics


def pretrain_comparison(pool: pd.DataFrame, kept_pairs: pd.DataFrame, heldout_pairs: pd.DataFrame,
                        pretrain: PretrainParams, executor: ExecutorParams) -> dict[str, float]:
    """Train the same CLIP for the same steps on unfiltered vs filtered pool; held-out recall.

    Each variant starts from the same seeded initialisation and batch order seed, so the
    only difference is the data. Metrics are ``<variant>.<retrieval metric>`` plus, with
    ``data: both``, ``gain.<metric>`` = filtered - unfiltered.
    """
    skip = ("no held-out pairs to evaluate on (a user's pairs have none)"
            if len(heldout_pairs) == 0 else "no pair was kept" if len(kept_pairs) == 0 else None)
    if skip is not None:
        logger.info("filtering: filtered-vs-unfiltered pretraining skipped: %s", skip)
        return {"skipped": 1.0, "skip_reason": skip}
    chosen = ["unfiltered", "filtered"] if pretrain.data == "both" else [pretrain.data]
    metrics: dict[str, Any] = {"skipped": 0.0}
    # Decoding needs only the model's preprocessing, which is the same for every variant;
    # each variant's model is a fresh one, seeded alike (pretrain_clip). The kept pairs are
    # pool pairs in pool order: decoded once, with the pool when it is trained on too.
    preprocessing = load_clip(pretrain.model)
    heldout = encode_pairs(heldout_pairs, preprocessing, num_workers=executor.num_workers)
    decoded = encode_pairs(pool if "unfiltered" in chosen else kept_pairs, preprocessing,
                           num_workers=executor.num_workers)
    variants = {"unfiltered": decoded, "filtered": subset_pairs(decoded, kept_pairs[ID_COLUMN])}
    for name in chosen:
        data = variants[name]
        run, _ = pretrain_clip(pretrain.model, data, heldout, pretrain.training,
                               pretrain.recall_at)
        metrics[f"{name}.pairs"] = run["pairs"]
        metrics[f"{name}.final_loss"] = run["final_loss"]
        for key, value in run.items():
            if "recall" in key:
                metrics[f"{name}.{key}"] = value
    if len(chosen) == 2:
        for key in [k.split(".", 1)[1] for k in metrics if k.startswith("filtered.")]:
            if "recall" in key:
                metrics[f"gain.{key}"] = metrics[f"filtered.{key}"] - metrics[f"unfiltered.{key}"]
    return metrics


def record_decisions(scored_pool: pd.DataFrame, packing_index: pd.DataFrame,
                     filters: FilterParams, packing: PackingParams
                     ) -> tuple[pd.DataFrame, dict[str, float]]:
    """One decision per input pair, keyed by the input's own key (see
    :func:`datarecipes.filtering.decisions.decision_table`), and its counts."""
    table = decision_table(scored_pool, packing_index, filters.apply,
                           filters.rules[filters.apply], packing.capacity)
    return table, decision_metrics(table)


def record_ledger(scored_pool: pd.DataFrame, decisions: pd.DataFrame, dedup: pd.DataFrame,
                  filters: FilterParams, decontamination: DecontaminationParams
                  ) -> tuple[pd.DataFrame, dict[str, float], Figure, pd.DataFrame, Figure]:
    """The run's decision ledger (per pair: decode, dedup, decontamination, rule), its
    per-stage counts, the funnel plot, and pool-vs-kept composition (table and plot)."""
    from datarecipes import ledger as L

    reads = rule_columns(parse_rule(filters.rules[filters.apply], filters.definitions))
    book = filtering_ledger(scored_pool, decisions, filters.apply, reads, decontamination.action)
    kept = sample_ids(scored_pool).isin(L.kept_ids(book)).to_numpy()
    table, figure = before_after(composition(scored_pool, dedup), kept)
    metrics = L.stage_metrics(book, prefix="stage")
    metrics["kept"] = float(kept.sum())
    return book, metrics, L.funnel_figure(book, "filtering: pairs per stage"), table, figure

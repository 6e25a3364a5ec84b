"""Nodes of the ``filtering`` pipeline: thin wrappers over :mod:`datarecipes.filtering`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from datarecipes.config import from_params
from datarecipes.dedup import ContaminationError, contamination_counts
from datarecipes.executors import make_executor
from datarecipes.filtering.clip_score import score_clip, split_embeddings
from datarecipes.filtering.clip_train import encode_pairs, retrieval_recall, train_clip_contrastive
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
from datarecipes.filtering.params import FilteringParams
from datarecipes.filtering.rules import apply_rules, parse_rule, rule_columns
from datarecipes.filtering.shards import write_packed_shards
from datarecipes.filtering.sources import BUILTIN, PairSource
from datarecipes.models.clip import LoadedClip, load_clip
from datarecipes.pipelines.scenes.nodes import generate_scenes, scenes_metrics

logger = logging.getLogger(__name__)
WHERE = "parameters_filtering.yml: filtering"
#: ``source`` of the built-in world's pairs in the decision table.
BUILTIN_SOURCE = BUILTIN


def _params(params: Mapping[str, Any] | FilteringParams) -> FilteringParams:
    return params if isinstance(params, FilteringParams) else from_params(
        FilteringParams, params, where=WHERE
    )


def build_world(source: PairSource, scenes: Mapping[str, Any]
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


def prepare_pairs(source: PairSource, scene_metadata: pd.DataFrame,
                  filtering: Mapping[str, Any]
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(pool, scorer training pairs, held-out pairs) from the world or the user's pairs.

    The world: split by role; the scorer and held-out sets keep only clean pairs (their
    ground truth is known), the pool keeps everything, corrupted captions included — it is
    what the filter must clean. A user's pairs: all of them are the pool; there are no
    scorer or held-out pairs, so the stages that need them are skipped (logged, and a
    ``skipped`` metric), and no split, corruption flag or column beyond the pair is needed.
    """
    p = _params(filtering)
    if not source.builtin:
        _refuse_writes_into(source, p)
        pool = source.pairs.reset_index(drop=True)
        return pool, _empty_like(pool), _empty_like(pool)
    scorer, pool, heldout = split_pairs(scene_metadata, p)
    for table in (scorer, pool, heldout):
        table.insert(1, KEY_COLUMN, table[ID_COLUMN].astype(str))
        table.insert(2, SOURCE_COLUMN, BUILTIN_SOURCE)
    return pool, scorer, heldout


def _refuse_writes_into(source: PairSource, p: FilteringParams) -> None:
    """A run on a user's pairs writes nothing under them: check every path this run writes
    outside the catalog before the first score."""
    roots = [Path(r).resolve() for r in source.roots]
    for key, path in (("scoring.resume_dir", p.scoring.resume_dir),
                      ("packing.shard_dir", p.packing.shard_dir)):
        if path is None:
            continue
        target = Path(path).resolve()
        for root in roots:
            if target == root or root in target.parents:
                raise ValueError(f"{WHERE}.{key}={path!r} is inside the source {root} "
                                 f"(read-only): point it at a data/ path of the project")


def split_pairs(scene_metadata: pd.DataFrame, filtering: Mapping[str, Any] | FilteringParams
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """World → (scorer training pairs, pool, held-out pairs). The world's image paths arrive
    resolved (catalog ``filtering_world.scene_metadata``, an ``ImageTableDataset``)."""
    p = _params(filtering)
    missing = [c for c in (ID_COLUMN, IMAGE_COLUMN, CAPTION_COLUMN, "split", CORRUPTED_COLUMN)
               if c not in scene_metadata.columns]
    if missing:
        raise ValueError(f"filtering_world.scene_metadata: the world table lacks column(s) "
                         f"{missing} (columns: {list(scene_metadata.columns)})")
    pairs = scene_metadata.copy()
    split = pairs["split"]
    for role, name in (("scorer", p.splits.scorer), ("pool", p.splits.pool),
                       ("heldout", p.splits.heldout)):
        if not (split == name).any():
            raise ValueError(f"{WHERE}.splits.{role}: the world has no {name!r} pairs "
                             f"(splits present: {sorted(split.unique())})")
    clean = ~pairs[CORRUPTED_COLUMN].astype(bool)
    scorer = pairs[(split == p.splits.scorer) & clean].reset_index(drop=True)
    pool = pairs[split == p.splits.pool].reset_index(drop=True)
    heldout = pairs[(split == p.splits.heldout) & clean].reset_index(drop=True)
    return scorer, pool, heldout


def train_scoring_clip(scorer_pairs: pd.DataFrame, filtering: Mapping[str, Any]
                       ) -> tuple[LoadedClip, pd.DataFrame, dict[str, Any]]:
    """Build the scoring CLIP and (if ``clip.train``) train it on clean pairs.

    Returns the model, the loss per step as a table, and metrics (the loss history is a
    list, logged as an MLflow metric history).
    """
    p = _params(filtering)
    torch.manual_seed(p.clip.training.seed)
    loaded = load_clip(p.clip.model, p.clip.pretrained, device=p.clip.device)
    skip = ("clip.train is false" if not p.clip.train else
            "no scorer pairs (a user's pairs have no clean scorer split)"
            if len(scorer_pairs) == 0 else None)
    if skip is not None:
        logger.info("filtering: scorer training skipped: %s; scoring with %s as loaded",
                    skip, p.clip.model)
        if p.clip.pretrained is None and not p.clip.model.startswith("local-dir:"):
            logger.warning("filtering: the scoring CLIP %s has random weights and is not "
                           "trained: its scores rank nothing. Set filtering.clip.pretrained "
                           "(or clip.model: local-dir:<checkpoint>).", p.clip.model)
        return loaded, pd.DataFrame({"step": [], "loss": []}), {
            "steps": 0, "skipped": 1.0, "skip_reason": skip}
    data = encode_pairs(scorer_pairs, loaded, num_workers=p.executor.num_workers)
    losses = train_clip_contrastive(loaded, data, p.clip.training)
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


def compute_clip_scores(pool: pd.DataFrame, scoring_clip: LoadedClip,
                        filtering: Mapping[str, Any]
                        ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """CLIP score of every pool pair (resumable); bad pairs are rows with a reason.

    Also returns the normalised image embeddings of the same forward pass
    (``filtering_clip_embeddings``), which semantic dedup reads: the pool is embedded once.
    """
    p = _params(filtering)
    scores, stats = score_clip(
        pool, scoring_clip, make_executor(p.executor), batch_size=p.scoring.batch_size,
        shard_size=p.scoring.shard_size, resume_dir=p.scoring.resume_dir,
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
                  filtering: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Image hashes (exact, pHash), caption MinHash and SemDeDup on the persisted CLIP
    embeddings: one row per pool pair with ``dup.<kind>``, ``dup_of.<kind>``... and the
    image's size, hashed on the executor and resumable per shard like the CLIP scores."""
    p = _params(filtering)
    executor = make_executor(p.executor)
    hashes, hstats = hash_pairs(pool, p.dedup, executor, resume_dir=p.scoring.resume_dir)
    signatures, _ = caption_signatures(pool, p.dedup, executor, resume_dir=p.scoring.resume_dir)
    dups, semantic_skipped = pool_dedup(hashes, signatures, clip_scores, clip_embeddings,
                                        p.dedup)
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
    for kind in [*p.dedup.kinds, "any"]:
        if f"dup.{kind}" in table:
            metrics[f"dup.{kind}"] = float(table[f"dup.{kind}"].sum())
    if "semantic" in p.dedup.kinds:
        metrics["semantic_skipped"] = float(semantic_skipped is not None)
        if semantic_skipped is not None:
            metrics["semantic_skip_reason"] = semantic_skipped
    return table, metrics


def decontaminate(pool: pd.DataFrame, heldout: pd.DataFrame, pool_dedup_table: pd.DataFrame,
                  filtering: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, float]]:
    """The pool against the held-out pairs: ``contaminated.heldout`` per pool pair.

    ``decontamination.action``: ``flag`` (columns only), ``drop`` (never kept, whatever the
    rule), ``stop`` (raise above ``stop_above``). A user's pairs have no held-out pairs: the
    step is skipped (logged, ``skipped: 1``) and nothing is flagged.
    """
    p = _params(filtering)
    d = p.decontamination
    if len(heldout) == 0:
        logger.info("filtering: decontamination skipped: no held-out pairs (a user's pairs "
                    "have none)")
        table = pd.DataFrame({ID_COLUMN: pool[ID_COLUMN].astype(str).to_numpy(),
                              "contaminated.any": False})
        return table, {"skipped": 1.0, "contaminated.any": 0.0, "pairs": float(len(pool))}
    held_hashes, _ = hash_pairs(heldout, p.dedup, make_executor(p.executor), name="heldouthash",
                                resume_dir=p.scoring.resume_dir)
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


def compute_mllm_scores(pool: pd.DataFrame, filtering: Mapping[str, Any],
                        scorer_model: Mapping[str, Any], generation: Mapping[str, Any]
                        ) -> tuple[pd.DataFrame, dict[str, float]]:
    """MLM-Filter scores of the pool (or its first ``mllm.max_pairs``) on the ``generation``
    engine; empty when disabled."""
    p = _params(filtering)
    if not p.mllm.enabled:
        return pd.DataFrame({ID_COLUMN: pool[ID_COLUMN]}), {"enabled": 0.0}
    from datarecipes.filtering.mllm_score import vlm_generate_factory

    subset = pool if p.mllm.max_pairs == 0 else pool.iloc[: p.mllm.max_pairs]
    factory, model_key = vlm_generate_factory(scorer_model, p.mllm.max_new_tokens, generation)
    scores, stats = score_mllm(
        subset, factory, make_executor(p.executor), metrics=p.mllm.metrics,
        batch_size=p.mllm.batch_size, shard_size=p.scoring.shard_size, model_key=model_key,
        prompts=p.mllm.prompts,
        resume_dir=p.scoring.resume_dir,
    )
    metrics = {"enabled": 1.0, "pairs": float(len(scores)), "shards_reused": float(stats.reused),
               **{k: float(v) for k, v in status_counts(scores, p.mllm.metrics).items()}}
    return scores, metrics


def apply_filters(pool: pd.DataFrame, clip_scores: pd.DataFrame, mllm_scores: pd.DataFrame,
                  dedup: pd.DataFrame, contamination: pd.DataFrame,
                  filtering: Mapping[str, Any]
                  ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Join all scores (CLIP, MLLM, dedup, contamination) onto the pool and evaluate every
    rule; a pair that did not decode, or that ``decontamination.action`` drops, is never kept.

    Returns the scored pool with one boolean column per rule (``keep.<rule>``), the pairs
    kept by ``filter.apply`` with all their scores, and the kept fraction per rule.
    """
    p = _params(filtering)
    clip = clip_scores.rename(columns={"status": "clip_status", "reason": "clip_reason"})
    mllm = mllm_scores.rename(columns={"reason": "mllm_reason"})
    table = (pool.merge(clip, on=ID_COLUMN, how="left").merge(mllm, on=ID_COLUMN, how="left")
             .merge(dedup, on=ID_COLUMN, how="left", validate="one_to_one")
             .merge(contamination, on=ID_COLUMN, how="left", validate="one_to_one"))
    for name, text in p.filter.rules.items():
        missing = rule_columns(parse_rule(text, p.filter.definitions)) - set(table.columns)
        if missing:
            raise ValueError(
                f"{WHERE}.filter.rules.{name} ({text!r}) needs score(s) {sorted(missing)} that "
                f"this run did not compute (MLLM scores need mllm.enabled: true)"
            )
    keep = apply_rules(table, p.filter.rules, p.filter.definitions)
    # A pair that did not decode is never kept, whatever a rule says (``!top(clip, 0.3)``
    # would otherwise keep its NaN score).
    decoded = (table["clip_status"] == SUCCESS).to_numpy()
    keep.loc[~decoded, :] = False
    if "drop.contamination" in table:
        keep.loc[table["drop.contamination"].fillna(False).to_numpy(dtype=bool), :] = False
    scored = pd.concat([table, keep.add_prefix("keep.")], axis=1)
    kept = scored[keep[p.filter.apply].to_numpy()].reset_index(drop=True)
    # The scored pool is for analysis: image bytes a source carried stay in the kept pairs
    # (packing needs them) and are not copied a second time.
    scored = scored.drop(columns=[IMAGE_BYTES_COLUMN], errors="ignore")
    metrics = {f"kept_fraction.{rule}": float(keep[rule].mean()) for rule in keep.columns}
    metrics["kept_pairs"] = float(len(kept))
    return scored, kept, metrics


def evaluate_filtering(scored_pool: pd.DataFrame, filtering: Mapping[str, Any]
                       ) -> tuple[dict[str, float], Figure]:
    """Precision/recall of each rule at removing the known-corrupted pairs, and histograms."""
    p = _params(filtering)
    scores = ["clip"] + [m for m in p.mllm.metrics if m in scored_pool]
    if CORRUPTED_COLUMN not in scored_pool:
        reason = f"the pairs have no {CORRUPTED_COLUMN!r} ground truth"
        logger.info("filtering: precision/recall evaluation skipped: %s", reason)
        return ({"skipped": 1.0, "skip_reason": reason, "n_pairs": float(len(scored_pool))},
                score_histograms(scored_pool, scores))
    keep = scored_pool[[f"keep.{r}" for r in p.filter.rules]]
    keep.columns = list(p.filter.rules)
    metrics = {"skipped": 0.0, **evaluate_filters(scored_pool, keep, scores)}
    return metrics, score_histograms(scored_pool, scores)


def pack_kept_pairs(kept_pairs: pd.DataFrame, filtering: Mapping[str, Any]
                    ) -> tuple[pd.DataFrame, dict[str, float]]:
    """First-fit-decreasing packing of the kept pairs into WebDataset shards + index."""
    p = _params(filtering)
    text_tokens = text_token_counter(p.packing.tokenizer)
    samples = kept_pairs[input_columns(kept_pairs)].reset_index(drop=True)
    lengths = sample_lengths(samples[CAPTION_COLUMN].tolist(), text_tokens,
                             p.packing.image_tokens)
    packing = first_fit_decreasing(lengths, p.packing.capacity)
    index = write_packed_shards(samples, lengths, packing, p.packing.shard_dir, p.packing.shards)
    metrics = packing_metrics(packing, lengths)
    metrics["shards"] = float(index["shard"].nunique())
    return index, metrics


def pretrain_comparison(pool: pd.DataFrame, kept_pairs: pd.DataFrame, heldout_pairs: pd.DataFrame,
                        filtering: Mapping[str, Any]) -> dict[str, float]:
    """Train the same CLIP for the same steps on unfiltered vs filtered pool; held-out recall.

    Each variant starts from the same seeded initialisation and batch order seed, so the
    only difference is the data. Metrics are ``<variant>.<retrieval metric>`` plus, with
    ``data: both``, ``gain.<metric>`` = filtered - unfiltered.
    """
    p = _params(filtering)
    skip = ("no held-out pairs to evaluate on (a user's pairs have none)"
            if len(heldout_pairs) == 0 else "no pair was kept" if len(kept_pairs) == 0 else None)
    if skip is not None:
        logger.info("filtering: filtered-vs-unfiltered pretraining skipped: %s", skip)
        return {"skipped": 1.0, "skip_reason": skip}
    variants = {"unfiltered": pool, "filtered": kept_pairs}
    chosen = ["unfiltered", "filtered"] if p.pretrain.data == "both" else [p.pretrain.data]
    metrics: dict[str, Any] = {"skipped": 0.0}
    heldout = None
    for name in chosen:
        torch.manual_seed(p.pretrain.training.seed)
        loaded = load_clip(p.pretrain.model)
        data = encode_pairs(variants[name], loaded, num_workers=p.executor.num_workers)
        if heldout is None:
            heldout = encode_pairs(heldout_pairs, loaded, num_workers=p.executor.num_workers)
        losses = train_clip_contrastive(loaded, data, p.pretrain.training)
        metrics[f"{name}.pairs"] = float(len(data.ids))
        metrics[f"{name}.final_loss"] = float(np.mean(losses[-10:]))
        for key, value in retrieval_recall(loaded, heldout, p.pretrain.recall_at).items():
            metrics[f"{name}.{key}"] = value
    if len(chosen) == 2:
        for key in [k.split(".", 1)[1] for k in metrics if k.startswith("filtered.")]:
            if "recall" in key:
                metrics[f"gain.{key}"] = metrics[f"filtered.{key}"] - metrics[f"unfiltered.{key}"]
    return metrics


def record_decisions(scored_pool: pd.DataFrame, packing_index: pd.DataFrame,
                     filtering: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, float]]:
    """One decision per input pair, keyed by the input's own key (see
    :func:`datarecipes.filtering.decisions.decision_table`), and its counts."""
    p = _params(filtering)
    table = decision_table(scored_pool, packing_index, p.filter.apply,
                           p.filter.rules[p.filter.apply], p.packing.capacity)
    return table, decision_metrics(table)


def record_ledger(scored_pool: pd.DataFrame, decisions: pd.DataFrame, dedup: pd.DataFrame,
                  filtering: Mapping[str, Any]
                  ) -> tuple[pd.DataFrame, dict[str, float], Figure, pd.DataFrame, Figure]:
    """The run's decision ledger (per pair: decode, dedup, decontamination, rule), its
    per-stage counts, the funnel plot, and pool-vs-kept composition (table and plot)."""
    from datarecipes import ledger as L

    p = _params(filtering)
    reads = rule_columns(parse_rule(p.filter.rules[p.filter.apply], p.filter.definitions))
    book = filtering_ledger(scored_pool, decisions, p.filter.apply, reads,
                            p.decontamination.action)
    kept = sample_ids(scored_pool).isin(L.kept_ids(book)).to_numpy()
    table, figure = before_after(composition(scored_pool, dedup), kept)
    metrics = L.stage_metrics(book, prefix="stage")
    metrics["kept"] = float(kept.sum())
    return book, metrics, L.funnel_figure(book, "filtering: pairs per stage"), table, figure

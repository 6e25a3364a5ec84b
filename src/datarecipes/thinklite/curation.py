"""ThinkLite's pool before MCTS: VQA dedup, decontamination against every evaluation set, and
the decision ledger of the whole run (inputs → dedup → decontamination → MCTS → selection).

**A VQA sample is a duplicate** of a kept one when its image is a near duplicate (pHash within
``images.max_distance.phash`` bits, or the same bytes) *and* its question is a near duplicate
(MinHash Jaccard at or above ``text.threshold``, or the same normalised text) *and* it has the
same normalised answer. Image similarity alone is not enough: a VQA image carries many
different questions (ProVision asks one per generator). Question similarity alone is not
either: templated questions repeat verbatim over every image. And the answer must agree
because templates differ by one word ("... left of the green sphere?" / "... cylinder?" share
12 of 14 word bigrams) while asking different things; a reworded question keeps its answer.
Pairs are found with the LSH index restricted to samples of one image group and one answer,
and every pair is verified on its own pHash distance, so no chain links two samples further
apart than the thresholds.

**Decontamination** matches the pool against the held-out set and every benchmark the run
evaluates (same selection as ``thinklite_eval``) by pHash and by word n-gram overlap of the
question (GPT-3's 13-grams). A question shorter than n words would match only an identical
one, which for templated questions is the same template on another image, not a leak: with
``short_questions: image_only`` (default) such questions are matched by their image only.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from datarecipes.config import parameters_section, require
from datarecipes.dedup import (
    DecontaminationParams,
    EvalSet,
    ImageHashParams,
    KeepParams,
    MinHashParams,
    TextNormParams,
    apply_contamination,
    contamination,
    contamination_counts,
    contamination_decisions,
    hash_images_batch,
    normalise_text,
    text_signatures_batch,
)
from datarecipes.dedup.clusters import (
    collapse_identical,
    dedup_table,
    expand_groups,
    greedy_representatives,
    rank_order,
)
from datarecipes.dedup.images import dedup_exact, dedup_hamming, hex_to_uint64
from datarecipes.dedup.text import (
    estimated_jaccard,
    lsh_bands,
    lsh_candidates,
    signature_matrix,
)
from datarecipes.executors import ExecutorParams
from datarecipes.fingerprint import json_digest
from datarecipes.ledger import append, decisions, empty_ledger

KIND = "vqa"
#: Grey-level standard deviation (0-255, at 32x32) under which an image counts as flat.
FLAT_STD = 1.0


@parameters_section("thinklite_dedup")
@dataclass(frozen=True)
class ThinkLiteDedupParams:
    """Near-duplicate VQA samples of the pool, found before MCTS spends search on them."""

    #: ``drop``: duplicates leave the pool (recorded); ``flag``: recorded, all kept.
    action: Literal["drop", "flag"] = "drop"
    #: Images match by ``phash`` (Hamming ≤ images.max_distance.phash) or ``exact`` bytes.
    image_match: Literal["phash", "exact"] = "phash"
    #: Questions match by ``minhash`` (Jaccard ≥ text.threshold) or ``exact`` normalised text.
    question_match: Literal["minhash", "exact"] = "minhash"
    #: Duplicates must have the same normalised answer (templates differ by one word).
    same_answer: bool = True
    #: Which member of a group is kept.
    keep: KeepParams = field(default_factory=KeepParams)
    #: Text normalisation of questions and answers.
    normalise: TextNormParams = field(default_factory=TextNormParams)
    #: pHash settings.
    images: ImageHashParams = field(default_factory=lambda: ImageHashParams(
        kinds=("phash",), max_distance={"phash": 6}))
    #: MinHash-LSH settings of the questions.
    text: MinHashParams = field(default_factory=MinHashParams)
    #: Rows per resumable shard of the hashing step.
    shard_size: int = 4096
    #: Rows per batch of the hashing step.
    batch_size: int = 256
    #: Where the hashing runs (local or ray).
    executor: ExecutorParams = field(default_factory=ExecutorParams)

    def __post_init__(self) -> None:
        require("phash" in self.images.kinds, "thinklite_dedup.images.kinds must include phash")
        require(self.shard_size >= 1, f"thinklite_dedup.shard_size must be >= 1, got "
                f"{self.shard_size}")
        require(self.batch_size >= 1, f"thinklite_dedup.batch_size must be >= 1, got "
                f"{self.batch_size}")


@parameters_section("thinklite_decontamination")
@dataclass(frozen=True)
class ThinkLiteDecontaminationParams(DecontaminationParams):
    """The pool against the held-out set and every benchmark the run evaluates."""

    #: ``image_only``: a question shorter than match.ngram words is matched by its image only
    #: (templates repeat across images); ``whole``: it matches an identical eval question.
    short_questions: Literal["image_only", "whole"] = "image_only"

    def decontamination(self) -> DecontaminationParams:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(DecontaminationParams)}
        return DecontaminationParams(**fields)


# --------------------------------------------------------------------------------------------
# hashing (per shard, on the executor)


def _hash_batch(batch: Mapping[str, Sequence[Any]], images: ImageHashParams, text: MinHashParams,
                normalise: TextNormParams) -> dict[str, list[Any]]:
    """pHash + SHA-256 + size of each image, MinHash signature of each question."""
    from PIL import Image

    out = hash_images_batch(batch, images, image_column="image")
    widths, heights, flat = [], [], []
    for k, path in enumerate(batch["image"]):
        try:
            with Image.open(path) as img:
                w, h = img.size
                grey = np.asarray(img.convert("L").resize((32, 32)), dtype=np.float64)
        except Exception:  # noqa: BLE001 - recorded by hash_status already
            w = h = grey = None
        widths.append(w)
        heights.append(h)
        # A flat image (one colour) has no structure: its pHash is the same for every flat
        # image whatever the colour, so it gets none (never a pHash duplicate or eval match;
        # image_match: exact still compares its bytes).
        is_flat = grey is not None and float(grey.std()) < FLAT_STD
        flat.append(is_flat)
        if is_flat:
            for kind in images.kinds:
                out[f"image_{kind}"][k] = None
    out["image_width"], out["image_height"], out["image_flat"] = widths, heights, flat
    out |= text_signatures_batch({"text": list(batch["question"])}, text, normalise)
    return out


def _hash_factory(images: ImageHashParams, text: MinHashParams, normalise: TextNormParams):
    def factory():
        return functools.partial(_hash_batch, images=images, text=text, normalise=normalise)

    return factory


def _file_stamp(path: str) -> list[Any]:
    try:
        st = os.stat(path)
    except OSError:
        return [path, None, None]
    return [path, st.st_size, st.st_mtime_ns]


def hash_questions(rows: pd.DataFrame, params: ThinkLiteDedupParams, executor: Any,
                   resume_dir: str | Path | None, name: str = "pool") -> pd.DataFrame:
    """Hashes of ``rows`` (``sample_id``, ``image``, ``question``), resumable per shard under
    ``resume_dir/<digest>``: the digest covers the hash settings and every image's path, size
    and mtime, so a changed image or setting is hashed again, never reused."""
    from datarecipes.executors import map_shards

    directory = None
    if resume_dir is not None:
        digest = json_digest({
            "version": 2,  # of what a shard holds (2: flat images carry no pHash)
            "images": dataclasses.asdict(params.images), "text": dataclasses.asdict(params.text),
            "normalise": dataclasses.asdict(params.normalise),
            "rows": [[sid, q, *_file_stamp(str(p))] for sid, p, q in
                     zip(rows["sample_id"], rows["image"], rows["question"])],
        })
        directory = Path(resume_dir) / f"{name}-{digest[:16]}"
    table, _ = map_shards(
        executor, _hash_factory(params.images, params.text, params.normalise),
        rows[["sample_id", "image", "question"]].astype({"sample_id": str}),
        id_column="sample_id", name=f"hash_{name}", shard_size=params.shard_size,
        batch_size=params.batch_size, directory=directory)
    return table


# --------------------------------------------------------------------------------------------
# VQA dedup


def dedup_vqa(pool: pd.DataFrame, hashes: pd.DataFrame, params: ThinkLiteDedupParams
              ) -> pd.DataFrame:
    """Per pool sample (in pool order): ``dup.vqa``, ``dup_cluster.vqa``, ``dup_of.vqa``,
    ``dup_distance.vqa`` (1 - question Jaccard), ``dup_image_distance.vqa`` (pHash bits to the
    representative) and ``hash_status``; see the module docstring for the rule."""
    table = pool[["sample_id", "answer"]].astype({"sample_id": str}).merge(
        hashes, on="sample_id", how="left", validate="one_to_one")
    n = len(table)
    keys = table["sample_id"].to_numpy(dtype=object)
    if n == 0:
        out = dedup_table(keys, KIND, np.zeros(0, int), np.zeros(0), key_name="sample_id")
        out["dup_image_distance.vqa"] = np.zeros(0)
        return out
    rank = rank_order(n, params.keep, table[params.keep.score_column].to_numpy()
                      if params.keep.policy == "highest_score" and params.keep.score_column
                      in table else None)
    phash, has_phash = hex_to_uint64(table["image_phash"].tolist())
    image_ok = (table["hash_status"] == "success").to_numpy().copy()
    if params.image_match == "phash":
        image_ok &= has_phash
    sig = signature_matrix(table["signature"].tolist(), params.text.num_perm)
    text_ok = (table["text_status"] == "success").to_numpy()
    valid = image_ok & text_ok
    image_id = table["image_sha256"].fillna("").to_numpy(dtype=object)
    # Candidates pair only inside one (image cluster, answer) group, so a question template
    # repeated over thousands of images costs no pairs; each pair's own image distance is
    # verified below (a cluster's members may be up to twice the threshold apart).
    if params.image_match == "exact":
        images = dedup_exact(table, key="sample_id", column="image_sha256", kind="image",
                             keep=params.keep)
    else:
        images = dedup_hamming(table.assign(image_phash=table["image_phash"].where(image_ok)),
                               key="sample_id", kind="phash",
                               max_distance=params.images.max_distance["phash"],
                               keep=params.keep, bits=params.images.hash_size**2)
    kind_of = "image" if params.image_match == "exact" else "phash"
    image_rep = images[f"dup_of.{kind_of}"].where(images[f"dup.{kind_of}"], images["sample_id"])
    answers = [normalise_text(str(a), params.normalise) if params.same_answer else ""
               for a in table["answer"]]
    group = pd.DataFrame({"a": answers, "i": image_rep.astype(str).to_numpy()}).groupby(
        ["a", "i"], sort=False).ngroup().to_numpy(np.int64)
    if params.question_match == "exact":
        text_key = table["text_sha256"].fillna("").to_numpy(dtype=object)
    else:
        text_key = None
    # Identical (image bytes or pHash, question signature, answer): collapsed without pairs.
    img_key = image_id if params.image_match == "exact" else phash.astype(str)
    ident = pd.DataFrame({"i": img_key.astype(str),
                          "t": text_key.astype(str) if text_key is not None
                          else [s.tobytes().hex() for s in sig],
                          "g": group, "v": np.where(valid, -1, np.arange(n))})
    ids = ident.groupby(["i", "t", "g", "v"], sort=False).ngroup().to_numpy()
    grp, leaders = collapse_identical(ids.astype(np.int64), rank)
    sub = np.flatnonzero(valid[leaders])
    lead = leaders[sub]
    if params.question_match == "minhash":
        bands, rows = lsh_bands(params.text.threshold, params.text.num_perm,
                                params.text.false_negative_weight)
        i, j = lsh_candidates(sig[lead], bands, rows, group[lead])
        jac = estimated_jaccard(sig[lead], i, j)
        ok = jac >= params.text.threshold
    else:
        # Exact questions: LSH on the text digest alone (one band of one row).
        tk = pd.Series(text_key[lead]).astype("category").cat.codes.to_numpy(np.uint32)
        i, j = lsh_candidates(tk[:, None], 1, 1, group[lead])
        jac = np.ones(len(i))
        ok = np.ones(len(i), dtype=bool)
    if params.image_match == "exact":
        bits = np.where(image_id[lead[i]] == image_id[lead[j]], 0, 64)
        ok &= bits == 0
    else:
        x = phash[lead[i]] ^ phash[lead[j]]
        bits = np.array([int(v).bit_count() for v in x.tolist()], dtype=np.int64)
        ok &= bits <= params.images.max_distance["phash"]
    i, j, jac, bits = i[ok], j[ok], jac[ok], bits[ok]
    rep, dist = greedy_representatives(len(leaders), sub[i], sub[j], 1.0 - jac, rank[leaders])
    row_rep, row_dist = expand_groups(grp, leaders, rep, dist)
    out = dedup_table(keys, KIND, row_rep, row_dist, valid, key_name="sample_id")
    # pHash bits between each duplicate and its representative (what the reason states).
    dup = out["dup.vqa"].to_numpy(bool)
    image_bits = np.full(n, np.nan)
    if dup.any():
        x = phash[dup] ^ phash[row_rep[dup]]
        image_bits[dup] = [int(v).bit_count() for v in x.tolist()]
    out["dup_image_distance.vqa"] = image_bits
    out["hash_status"] = table["hash_status"].to_numpy()
    out["image_flat"] = table["image_flat"].fillna(False).to_numpy(bool) \
        if "image_flat" in table else False
    return out


def dedup_rows(dups: pd.DataFrame, params: ThinkLiteDedupParams) -> pd.DataFrame:
    """Ledger rows of :func:`dedup_vqa`."""
    dup = dups["dup.vqa"].to_numpy(bool)
    cluster = dups["dup_cluster.vqa"].to_numpy()
    members = pd.Series(cluster[dup]).value_counts().to_dict()
    reasons = []
    for k in range(len(dups)):
        if dup[k]:
            reasons.append(
                f"near duplicate of {dups['dup_of.vqa'].iat[k]} (image phash distance "
                f"{dups['dup_image_distance.vqa'].iat[k]:g}, question Jaccard "
                f"{1 - dups['dup_distance.vqa'].iat[k]:.2f}, same answer)")
        elif dups["hash_status"].iat[k] != "success":
            reasons.append("kept: image could not be hashed, so never a duplicate")
        elif params.image_match == "phash" and bool(dups["image_flat"].iat[k]):
            reasons.append("kept: flat image (one colour: its pHash says nothing), so never "
                           "a duplicate")
        else:
            m = members.get(cluster[k], 0)
            reasons.append(f"kept: representative of {m} duplicate(s)" if m else
                           "kept: no duplicate")
    kept = ~dup if params.action == "drop" else np.ones(len(dups), dtype=bool)
    scores = dups[["dup_cluster.vqa", "dup_distance.vqa", "dup_image_distance.vqa"]]
    return decisions(dups["sample_id"], stage="dedup",
                     rule=f"!dup.vqa ({params.action}: image {params.image_match} and question "
                          f"{params.question_match}" + (", same answer" if params.same_answer
                                                        else "") + ")",
                     kept=kept, reason=reasons, scores=scores, ref=dups["dup_of.vqa"])


# --------------------------------------------------------------------------------------------
# decontamination


def chosen_benchmarks(benchmarks: Mapping[str, pd.DataFrame], names: list[str] | None,
                      max_questions: int) -> dict[str, pd.DataFrame]:
    """The benchmarks the evaluation reads (``thinklite_eval.benchmarks`` / max questions)."""
    chosen = sorted(benchmarks) if names is None else list(names)
    out = {}
    for name in chosen:
        if name not in benchmarks:
            continue  # evaluate_policy names the missing benchmark
        table = benchmarks[name]
        out[name] = table.iloc[:max_questions] if max_questions else table
    return out


def eval_set_name(name: str) -> str:
    """A benchmark's file stem as a rule-language name (``contaminated.<name>``)."""
    safe = re.sub(r"\W", "_", str(name))
    return safe if re.match(r"^[A-Za-z_]", safe) else f"_{safe}"


def _short_to_none(questions: pd.Series, params: ThinkLiteDecontaminationParams) -> pd.Series:
    n = params.match.ngram
    if params.short_questions == "whole" or n is None:
        return questions
    words = questions.map(lambda q: len(normalise_text(str(q), params.normalise).split()))
    return questions.where(words >= n, None)


def decontaminate(pool: pd.DataFrame, pool_hashes: pd.DataFrame,
                  eval_sets: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]],
                  params: ThinkLiteDecontaminationParams) -> pd.DataFrame:
    """:func:`datarecipes.dedup.contamination` of ``pool`` against ``{name: (questions,
    hashes)}``; rows in pool order, keyed by ``sample_id``."""
    ph = pool[["sample_id"]].astype(str).merge(pool_hashes, on="sample_id", how="left")
    sets = {}
    for name, (questions, hashes) in eval_sets.items():
        eh = questions[["sample_id"]].astype(str).merge(hashes, on="sample_id", how="left")
        sets[name] = EvalSet(keys=questions["sample_id"].astype(str).reset_index(drop=True),
                             phash=eh["image_phash"],
                             questions=_short_to_none(questions["question"], params)
                             .reset_index(drop=True))
    return contamination(pool["sample_id"].astype(str).reset_index(drop=True).rename(
        "sample_id"), sets, params.decontamination(), pool_phash=ph["image_phash"],
        pool_questions=_short_to_none(pool["question"].reset_index(drop=True), params))


# --------------------------------------------------------------------------------------------
# ledger stages after the pool


def input_rows(pool: pd.DataFrame, refusals: pd.DataFrame) -> pd.DataFrame:
    """Stage ``inputs``: every accepted pool question, and every refused pool row."""
    refused = refusals[refusals["set"] == "pool"] if "set" in refusals else refusals.iloc[:0]
    # A refused row is named by its own id unless it has none or repeats one (a repeated id
    # is itself a refusal reason): then by its row, so every input row has one ledger row.
    seen = set(pool["sample_id"].astype(str))
    ids = []
    for s, src, row in zip(refused["sample_id"], refused["source"], refused["row"]):
        name = str(s) if isinstance(s, str) and s else f"{src}#row{row}"
        if name in seen:
            name = f"{name}#row{row}"
        seen.add(name)
        ids.append(name)
    accepted = decisions(pool["sample_id"], stage="inputs", rule="accepted input row",
                         kept=np.ones(len(pool), bool), reason="accepted")
    if not len(refused):
        return accepted
    rows = decisions(ids, stage="inputs", rule="accepted input row",
                     kept=np.zeros(len(ids), bool),
                     reason=[f"refused: {r}" for r in refused["reason"]],
                     scores=pd.DataFrame({"row": refused["row"].to_numpy()}))
    return pd.concat([accepted, rows], ignore_index=True)


def mcts_difficulty_rows(difficulty: pd.DataFrame, iterations: int | None = None) -> pd.DataFrame:
    """Stage ``mcts_difficulty``: searched (kept) or skipped as bad input."""
    skipped = difficulty["skip_reason"].notna().to_numpy()
    reasons = []
    for r in difficulty.itertuples(index=False):
        if isinstance(r.skip_reason, str):
            reasons.append(f"skipped: {r.skip_reason}")
        elif bool(r.solved):
            reasons.append(f"solved at iteration {int(r.iters)}")
        else:
            reasons.append(f"unsolved within {int(r.iterations_run)} iteration(s)")
    cols = [c for c in ("solved", "iters", "iterations_run", "generated_tokens")
            if c in difficulty]
    return decisions(difficulty["sample_id"], stage="mcts_difficulty",
                     rule="MCTS search (bad input skipped)", kept=~skipped, reason=reasons,
                     scores=difficulty[cols])


def accuracy_rows(accuracy: pd.DataFrame) -> pd.DataFrame:
    """Stage ``accuracy_baseline``: K sampled answers scored (kept) or skipped."""
    skipped = accuracy["skip_reason"].notna().to_numpy()
    reasons = [f"skipped: {s}" if isinstance(s, str) else f"accuracy {a:.2f}"
               for s, a in zip(accuracy["skip_reason"], accuracy["accuracy"])]
    return decisions(accuracy["sample_id"], stage="accuracy_baseline",
                     rule="K sampled answers", kept=~skipped, reason=reasons,
                     scores=accuracy[["accuracy"]])


def selection_rows(candidates: pd.DataFrame, selected: pd.DataFrame, strategy: str,
                   config: Any) -> pd.DataFrame:
    """Stage ``selection``: which scored candidates the strategy kept, and why."""
    chosen = set(selected["sample_id"].astype(str))
    kept = candidates["sample_id"].astype(str).isin(chosen).to_numpy()
    reasons = []
    for k, r in enumerate(candidates.itertuples(index=False)):
        d = r._asdict()
        if strategy == "mcts":
            if not bool(d.get("solved")):
                why = "unsolved by MCTS: hard"
            elif d.get("iters") is not None and d["iters"] > config.iters_threshold:
                why = f"solved at iteration {int(d['iters'])} > {config.iters_threshold}: hard"
            else:
                why = (f"solved at iteration {int(d['iters'])} <= {config.iters_threshold}: "
                       "easy")
        elif strategy == "accuracy":
            op = "<=" if kept[k] else ">"
            why = f"accuracy {d.get('accuracy', float('nan')):.2f} {op} {config.max_accuracy}"
        elif strategy == "random":
            why = (f"drawn at random (seed {config.seed})" if kept[k] else
                   f"not drawn (seed {config.seed})")
        else:
            why = "every scored sample"
        reasons.append(why)
    cols = [c for c in ("solved", "iters", "accuracy") if c in candidates]
    return decisions(candidates["sample_id"], stage="selection", rule=f"strategy {strategy}",
                     kept=kept, reason=reasons, scores=candidates[cols])


def run_ledger(pool_ledger: pd.DataFrame, difficulty: pd.DataFrame,
               accuracy: pd.DataFrame | None, selected: pd.DataFrame, config: Any
               ) -> pd.DataFrame:
    """The run's ledger: the pool's stages, then MCTS, the accuracy baseline (strategy
    ``accuracy``) and the selection; each stage sees only what the previous one kept."""
    ledger = pool_ledger
    ledger = append(ledger, mcts_difficulty_rows(difficulty))
    candidates = difficulty[difficulty["skip_reason"].isna()].copy()
    candidates["sample_id"] = candidates["sample_id"].astype(str)
    if config.strategy == "accuracy" and accuracy is not None and len(accuracy):
        acc = accuracy.copy()
        acc["sample_id"] = acc["sample_id"].astype(str)
        acc = acc[acc["sample_id"].isin(candidates["sample_id"])]
        ledger = append(ledger, accuracy_rows(acc))
        candidates = candidates.merge(acc[acc["skip_reason"].isna()][["sample_id", "accuracy"]],
                                      on="sample_id", how="inner")
    return append(ledger, selection_rows(candidates, selected, config.strategy, config))


def pool_ledger(input_stage: pd.DataFrame, dedup_stage: pd.DataFrame | None,
                contamination_table: pd.DataFrame | None, action: str) -> pd.DataFrame:
    """Stages ``inputs``, ``dedup`` and ``decontamination``."""
    ledger = append(empty_ledger(), input_stage)
    if dedup_stage is not None:
        ledger = append(ledger, dedup_stage)
    if contamination_table is not None:
        ledger = append(ledger, contamination_decisions(contamination_table, key="sample_id",
                                                        action=action))
    return ledger


# --------------------------------------------------------------------------------------------
# before / after


def _top(values: pd.Series, k: int) -> pd.Series:
    top = values.astype(str).value_counts().index[:k]
    return values.astype(str).where(values.astype(str).isin(top), "(other)")


def composition_frame(questions: pd.DataFrame, hashes: pd.DataFrame | None,
                      difficulty: pd.DataFrame | None, top_k: int = 12) -> pd.DataFrame:
    """The columns compared pool vs kept: generator, question type, answer (top k),
    question words, image size (longest side), MCTS difficulty."""
    out = pd.DataFrame({"sample_id": questions["sample_id"].astype(str).to_numpy()})
    for col in ("generator", "question_type"):
        if col in questions:
            out[col] = questions[col].astype(str).to_numpy()
    out["answer"] = _top(questions["answer"].reset_index(drop=True), top_k).to_numpy()
    out["question_words"] = questions["question"].astype(str).str.split().str.len().to_numpy()
    if hashes is not None and "image_width" in hashes:
        h = out[["sample_id"]].merge(hashes, on="sample_id", how="left")
        out["image_side"] = np.fmax(pd.to_numeric(h["image_width"], errors="coerce"),
                                    pd.to_numeric(h["image_height"], errors="coerce")).to_numpy()
    if difficulty is not None and len(difficulty):
        d = out[["sample_id"]].merge(difficulty.astype({"sample_id": str}), on="sample_id",
                                     how="left")
        solved = d["solved"].astype("boolean")
        label = d["iters"].map(lambda v: "" if pd.isna(v) else f"solved@{int(v)}")
        out["difficulty"] = np.where(solved.isna(), "not searched",
                                     np.where(solved.fillna(False), label, "unsolved"))
    return out


__all__ = ["ThinkLiteDecontaminationParams", "ThinkLiteDedupParams", "apply_contamination",
           "contamination_counts", "decontaminate", "dedup_rows", "dedup_vqa", "eval_set_name",
           "hash_questions", "pool_ledger", "run_ledger"]

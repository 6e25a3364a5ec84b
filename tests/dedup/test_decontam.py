"""Decontamination: planted eval images, questions and embeddings in a training pool."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from datarecipes.config import ParameterError, from_params
from datarecipes.dedup import (
    ContaminationError,
    DecontaminationParams,
    EvalSet,
    ImageHashParams,
    apply_contamination,
    contamination,
    contamination_counts,
    hash_images_batch,
)

MIN_PRECISION, MIN_RECALL = 0.99, 0.95


def _jpeg(png: bytes) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, "JPEG", quality=60)
    return out.getvalue()


def _phash(images: list[bytes]) -> pd.Series:
    return pd.Series(hash_images_batch({"image": images}, ImageHashParams(kinds=("phash",)),
                                       image_column="image")["image_phash"])


@pytest.fixture(scope="module")
def setup(world):
    ids = list(world.images)
    pool_ids, eval_ids = ids[:40], ids[40:]
    # Two eval sets; plant 4 re-encoded eval images and 4 eval questions (one embedded in a
    # longer question, one reworded in case and punctuation) in the pool.
    rng = np.random.default_rng(0)
    vocab = np.array("red blue cube sphere left right behind front large small metal rubber "
                     "how many what colour is the of a near far shiny matte object".split())
    questions = {i: " ".join(rng.choice(vocab, size=18)).capitalize() + "?" for i in ids}
    pool = pd.DataFrame({"sample_id": pool_ids,
                         "image": [world.images[i] for i in pool_ids],
                         "question": [f"Describe the picture numbered {k}." for k in
                                      range(len(pool_ids))]})
    truth = {}
    for k, e in enumerate(eval_ids[:4]):
        pool.loc[len(pool)] = {"sample_id": f"leak_img_{k}", "image": _jpeg(world.images[e]),
                               "question": "What is shown?"}
        truth[f"leak_img_{k}"] = ("bench_a" if e in eval_ids[:10] else "bench_b", e)
    for k, e in enumerate(eval_ids[10:14]):
        q = questions[e]
        q = q.upper().replace("?", " ???") if k == 1 else (f"Look closely. {q} Answer briefly."
                                                            if k == 2 else q)
        pool.loc[len(pool)] = {"sample_id": f"leak_q_{k}", "image": world.images[pool_ids[k]],
                               "question": q}
        truth[f"leak_q_{k}"] = ("bench_b", e)
    evals = {
        "bench_a": EvalSet(keys=pd.Series(eval_ids[:10]),
                           phash=_phash([world.images[e] for e in eval_ids[:10]]),
                           questions=pd.Series([questions[e] for e in eval_ids[:10]])),
        "bench_b": EvalSet(keys=pd.Series(eval_ids[10:]),
                           phash=_phash([world.images[e] for e in eval_ids[10:]]),
                           questions=pd.Series([questions[e] for e in eval_ids[10:]])),
    }
    return pool, evals, truth


def test_planted_contaminations_are_found_with_the_eval_sample(setup, capsys):
    pool, evals, truth = setup
    table = contamination(pool["sample_id"], evals, pool_phash=_phash(pool["image"].tolist()),
                          pool_questions=pool["question"])
    found = {}
    for name in evals:
        hit = table.loc[table[f"contaminated.{name}"]]
        for k, by in zip(hit["sample_id"], hit[f"contaminated_by.{name}"]):
            found.setdefault(k, set()).add((name, by))
    right = sum(truth[k] in v for k, v in found.items() if k in truth)
    precision, recall = right / max(1, len(found)), right / len(truth)
    with capsys.disabled():
        print(f"\ndecontamination: precision {precision:.3f} recall {recall:.3f} "
              f"({len(found)} flagged, {len(truth)} planted)")
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL
    how = table.set_index("sample_id")
    assert how.loc["leak_img_0", "contaminated_how.bench_a"] == "image"
    assert how.loc["leak_q_2", "contaminated_how.bench_b"] == "ngram"
    assert how.loc["leak_q_0", "shared_ngrams.bench_b"] == 18 - 13 + 1  # all its 13-grams
    counts = contamination_counts(table)
    assert counts == {"bench_a": 4, "bench_b": 4, "any": 8}


def test_actions_flag_drop_stop(setup):
    pool, evals, _ = setup
    table = contamination(pool["sample_id"], evals, pool_phash=_phash(pool["image"].tolist()),
                          pool_questions=pool["question"])
    assert len(apply_contamination(pool, table, DecontaminationParams(action="flag"))) == 48
    kept = apply_contamination(pool, table, DecontaminationParams(action="drop"))
    assert len(kept) == 40 and not kept["sample_id"].str.startswith("leak").any()
    with pytest.raises(ContaminationError, match=r"8 of 48 .*bench_a: 4, bench_b: 4"):
        apply_contamination(pool, table, DecontaminationParams(action="stop", stop_above=0.1))
    # Below the threshold, stop drops like drop.
    assert len(apply_contamination(pool, table,
                                   DecontaminationParams(action="stop", stop_above=0.5))) == 40


def test_embedding_match_and_names():
    rng = np.random.default_rng(0)
    ev = rng.normal(size=(5, 8))
    pool = np.vstack([rng.normal(size=(6, 8)), ev[2] * 3 + 0.001])
    keys = pd.Series([f"p{i}" for i in range(7)], name="id")
    params = from_params(DecontaminationParams, {"match": {"embedding_threshold": 0.99,
                                                           "ngram": None}}, "decontamination")
    table = contamination(keys, {"val": EvalSet(keys=pd.Series(list("abcde")), embeddings=ev)},
                          params, pool_embeddings=pool)
    assert table["contaminated.val"].tolist() == [False] * 6 + [True]
    assert table["contaminated_by.val"].iloc[-1] == "c"
    with pytest.raises(ParameterError, match="rule-language name"):
        contamination(keys, {"math-vista": EvalSet(keys=pd.Series(["a"]))}, params)
    with pytest.raises(ParameterError, match="every method is off"):
        from_params(DecontaminationParams, {"match": {"image_max_distance": None,
                                                      "ngram": None}}, "decontamination")

"""Exact and MinHash-LSH text dedup: reworded captions and questions planted in a pool."""

from __future__ import annotations

import pandas as pd
import pytest

from datarecipes.dedup import (
    KeepParams,
    MinHashParams,
    dedup_minhash,
    dedup_text_exact,
    minhash_signatures,
    normalise_text,
    signatures,
)
from datarecipes.dedup.text import lsh_bands, permutations
from tests.dedup.conftest import precision_recall

#: Stated thresholds for captions (measured: 1.0 / 1.0).
CAPTION_MIN_PRECISION, CAPTION_MIN_RECALL = 0.99, 0.95
#: Questions: a rewording ("What is the color of the X?") is lexically as far from its
#: question as the same template about another object of the image ("... the Y?"), so
#: lexical MinHash cannot separate them well; deduping within (image, answer) helps, and
#: paraphrases need semantic dedup on text embeddings. Measured: precision 0.795, recall
#: 0.921 (char 4-grams, Jaccard 0.6); the bar states what this configuration guarantees.
QUESTION_MIN_PRECISION, QUESTION_MIN_RECALL = 0.75, 0.9


def _caption_variants(caption: str) -> dict[str, str]:
    return {
        "shout": "  " + caption.upper().replace(".", " !! ").replace(",", ""),
        "prefix": "A rendered picture. " + caption,
        "synonym": caption.replace("objects", "things", 1),  # one word: Jaccard ~0.8
    }


def _with_signatures(frame: pd.DataFrame, params: MinHashParams, column: str) -> pd.DataFrame:
    return pd.concat([frame.reset_index(drop=True),
                      signatures(frame[column], params)], axis=1)


def test_signatures_match_datasketch(capsys):
    """Our vectorised signature is datasketch's MinHash over the same 32-bit shingle hashes."""
    from datasketch import MinHash

    from datarecipes.dedup.text_norm import shingle_hashes

    params = MinHashParams(num_perm=64, seed=7)
    texts = ["a small red cube left of a blue sphere", "", "one", "x y z w v u t s r"]
    ours = minhash_signatures(texts, params)
    hashes, owner = shingle_hashes(texts, "word", params.ngram)
    a, b = permutations(64, 7)
    for t in range(len(texts)):
        m = MinHash(num_perm=64, seed=7)
        for h in hashes[owner == t].tolist():
            # datasketch's update with our 32-bit shingle hash in place of sha1_hash32
            m.hashvalues = __import__("numpy").minimum(
                m.hashvalues, ((a * h + b) % ((1 << 61) - 1)) & ((1 << 32) - 1))
        assert (ours[t] == m.hashvalues.astype("uint32")).all()
    # Bands are datasketch's; weighting false negatives buys more bands of fewer rows.
    from datasketch import MinHashLSH

    default = MinHashLSH(threshold=0.7, num_perm=128)
    assert lsh_bands(0.7, 128) == (default.b, default.r)
    b, r = lsh_bands(0.7, 128, 0.9)
    assert b > default.b and r < default.r


def test_reworded_captions_are_found_and_distinct_captions_kept(world, capsys):
    meta = world.metadata
    rows = [{"image_id": i, "caption": c, "truth": i} for i, c in zip(meta.image_id, meta.caption)]
    for i, c in list(zip(meta.image_id, meta.caption))[::3]:
        for how, text in _caption_variants(c).items():
            rows.append({"image_id": f"{i}_{how}", "caption": text, "truth": i})
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=1).reset_index(drop=True)
    table = _with_signatures(frame, MinHashParams(), "caption")
    result = dedup_minhash(table, key="image_id")
    precision, recall = precision_recall(result, frame["truth"], "minhash")
    with capsys.disabled():
        print(f"\ncaptions minhash: precision {precision:.3f} recall {recall:.3f}")
    assert precision >= CAPTION_MIN_PRECISION and recall >= CAPTION_MIN_RECALL
    # Only the normalisation-invariant variant is an exact duplicate.
    exact = dedup_text_exact(table, key="image_id")
    flagged = exact.loc[exact["dup.exact_text"]]
    assert len(flagged) == len(meta[::3])
    for k, rep in zip(flagged["image_id"], flagged["dup_of.exact_text"]):
        assert sorted([k, rep])[0] + "_shout" == sorted([k, rep])[1]
    # The distance is 1 - Jaccard estimate, within the threshold for every flagged row.
    d = result.loc[result["dup.minhash"], "dup_distance.minhash"]
    assert (d <= 1 - MinHashParams().threshold + 1e-9).all()


def _questions(world) -> pd.DataFrame:
    rows = []
    for image_id, graph in list(world.graphs.items())[:30]:
        seen = set()
        for label, (size, colour, material) in zip(graph.labels, graph.attributes):
            base = f"What color is the {size} {material} {label}?"
            if base in seen:  # two such objects: the question is ambiguous, not asked
                continue
            seen.add(base)
            rows.append({"qid": f"{image_id}/{len(rows)}", "image_id": image_id,
                         "question": base, "answer": colour, "truth": f"{image_id}/{base}"})
    frame = pd.DataFrame(rows)
    planted = []
    rewordings = ("What colour is the {o}?", "What is the color of the {o}?",
                  "Which color is that {o}?", "what color is the {o}")
    for k, row in enumerate(frame.iloc[::4].itertuples(index=False)):
        obj = row.question[len("What color is the "):-1]
        planted.append({"qid": f"{row.qid}_re", "image_id": row.image_id,
                        "question": rewordings[k % len(rewordings)].format(o=obj),
                        "answer": row.answer, "truth": row.truth})
    return pd.concat([frame, pd.DataFrame(planted)], ignore_index=True)


def test_reworded_questions_within_an_image(world, capsys):
    frame = _questions(world)
    # The first row of each truth group is its id (identical base questions share a group).
    first = frame.groupby("truth")["qid"].transform("first")
    params = MinHashParams(shingle="char", ngram=4, num_perm=256, threshold=0.6)
    table = _with_signatures(frame, params, "question")
    result = dedup_minhash(table, key="qid", params=params, within=["image_id", "answer"])
    precision, recall = precision_recall(result, first, "minhash", key="qid")
    with capsys.disabled():
        print(f"\nquestions minhash (char 4-grams, within image+answer): precision "
              f"{precision:.3f} "
              f"recall {recall:.3f}")
    assert precision >= QUESTION_MIN_PRECISION and recall >= QUESTION_MIN_RECALL
    # The same question about two different images is never a duplicate.
    image_of = dict(zip(frame["qid"], frame["image_id"]))
    flagged = result.loc[result["dup.minhash"]]
    assert all(image_of[q] == image_of[r] for q, r in zip(flagged["qid"],
                                                          flagged["dup_of.minhash"]))
    across = dedup_minhash(table, key="qid", params=params)
    assert across["dup.minhash"].sum() > result["dup.minhash"].sum()


def test_empty_and_bad_text_is_never_a_duplicate():
    frame = pd.DataFrame({"k": list("abcde"),
                          "text": ["", None, b"\xff\xfe", "same words here", "same words here"]})
    table = pd.concat([frame, signatures(frame["text"])], axis=1)
    result = dedup_minhash(table, key="k").set_index("k")
    assert not result.loc[["a", "b", "c"], "dup.minhash"].any()
    assert result.loc["e", "dup_of.minhash"] == "d"
    assert table.set_index("k").loc[["a", "b", "c"], "text_status"].eq("empty_text").all()


def test_keep_highest_score_and_validation():
    frame = pd.DataFrame({"k": ["a", "b", "c"], "text": ["red cube left of sphere"] * 3,
                          "clip": [0.1, float("nan"), 0.3]})
    table = pd.concat([frame, signatures(frame["text"])], axis=1)
    result = dedup_minhash(table, key="k", keep=KeepParams(policy="highest_score"))
    assert result.set_index("k")["dup_of.minhash"].to_dict() == {"a": "c", "b": "c", "c": None}
    with pytest.raises(ValueError, match="no score column 'su'"):
        dedup_minhash(table, key="k", keep=KeepParams(policy="highest_score", score_column="su"))


def test_normalisation_is_shared_and_configurable():
    from datarecipes.dedup import TextNormParams

    assert normalise_text("  Ｃafé,  CUBE!\n") == "café cube"
    assert normalise_text("A,B", TextNormParams(strip_punctuation=False)) == "a,b"


def test_signing_on_the_executor_is_resumable(tmp_path):
    from datarecipes.dedup import sign_texts
    from datarecipes.executors import LocalExecutor

    rows = pd.DataFrame({"k": [f"t{i}" for i in range(10)],
                         "text": [f"caption number {i % 4} of the pool" for i in range(10)]})
    table, first = sign_texts(rows, MinHashParams(), LocalExecutor(), key="k", shard_size=4,
                              batch_size=3, resume_dir=tmp_path)
    again, second = sign_texts(rows, MinHashParams(), LocalExecutor(), key="k", shard_size=4,
                               batch_size=3, resume_dir=tmp_path)
    assert (first.computed, second.reused) == (3, 3)
    a, b = dedup_minhash(table, key="k"), dedup_minhash(again, key="k")
    pd.testing.assert_frame_equal(a, b)
    assert a["dup.minhash"].sum() == 6  # 10 texts, 4 distinct
    # Other settings never reuse these shards.
    _, other = sign_texts(rows, MinHashParams(ngram=3), LocalExecutor(), key="k", shard_size=4,
                          batch_size=3, resume_dir=tmp_path)
    assert other.reused == 0

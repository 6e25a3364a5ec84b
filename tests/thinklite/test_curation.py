"""ThinkLite's pool curation and decision ledger: planted duplicates and contaminations are
found with their representatives, never reach MCTS, and the ledger says why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io import MemoryDataset
from PIL import Image

from datarecipes.config import from_params
from datarecipes.dedup import ContaminationError
from datarecipes.hooks import use_typed_parameters
from datarecipes.ledger import main as ledger_cli
from datarecipes.ledger import read_ledger, stage_counts, why
from datarecipes.mcts import SelectionParams
from datarecipes.pipelines.thinklite.nodes import build_ledger, curate_pool
from datarecipes.thinklite import ThinkLiteEvalParams, provision_to_questions
from datarecipes.thinklite.curation import ThinkLiteDecontaminationParams, ThinkLiteDedupParams
from datarecipes.thinklite.data import REFUSAL_COLUMNS

NO_REFUSALS = pd.DataFrame(columns=REFUSAL_COLUMNS)


class KeptMemoryDataset(MemoryDataset):
    """Keeps its data after the runner releases it."""

    def _release(self) -> None:
        pass


def reencoded(src: str, dst: Path, scale: float = 0.9) -> str:
    """A JPEG copy of ``src`` resized by ``scale``: other bytes, the same picture."""
    with Image.open(src) as img:
        w, h = img.size
        img.convert("RGB").resize((int(w * scale), int(h * scale))).save(dst, quality=90)
    return str(dst)


@pytest.fixture(scope="module")
def planted(tiny_world, tmp_path_factory):
    """A pool of world questions with planted duplicates and contaminations, the held-out set,
    and the truth: ``{planted id: its representative / eval sample}``."""
    questions, root = tiny_world
    table = provision_to_questions(questions, root)
    out = tmp_path_factory.mktemp("planted")
    train = table[table["split"] == "train"].reset_index(drop=True)
    heldout = table[table["split"] != "train"].reset_index(drop=True)
    # One long question per train image and generator family, so the base pool has no dups.
    base = train.groupby("image").head(3).head(18).reset_index(drop=True)
    rows, dup_truth, contam_truth = [], {}, {}
    a, b, c = base.iloc[0], base.iloc[3], base.iloc[6]
    # 1. a re-encoded, resized copy of a's image, a's question reworded, same answer
    rows.append(a.to_dict() | {"sample_id": "dup-reworded",
                               "image": reencoded(a["image"], out / "a.jpg"),
                               "question": "Please answer: " + a["question"].upper()})
    dup_truth["dup-reworded"] = a["sample_id"]
    # 2. the same question on the same image under another id
    rows.append(b.to_dict() | {"sample_id": "dup-same"})
    dup_truth["dup-same"] = b["sample_id"]
    # not duplicates: the same image with another question/answer; a's question on c's image
    rows.append(a.to_dict() | {"sample_id": "same-image-other-question",
                               "question": "How many objects are there in total?",
                               "answer": "zebra"})
    rows.append(c.to_dict() | {"sample_id": "template-other-image", "question": a["question"],
                               "answer": a["answer"]})
    # contaminations: a held-out image (re-encoded) with a new question; a long held-out
    # question on a train image
    h0 = heldout.iloc[0]
    long_q = next(r for r in heldout.itertuples() if len(r.question.split()) >= 13)
    rows.append(c.to_dict() | {"sample_id": "contam-image",
                               "image": reencoded(h0["image"], out / "h.jpg", 1.0),
                               "question": "What can be seen in this picture?"})
    contam_truth["contam-image"] = (h0["sample_id"], "image")
    rows.append(c.to_dict() | {"sample_id": "contam-question", "question": long_q.question,
                               "answer": long_q.answer})
    contam_truth["contam-question"] = (long_q.sample_id, "ngram")
    # a short held-out question on a train image is a template, not a leak (image_only)
    short = "Is it?"
    heldout.loc[1, "question"] = short
    rows.append(c.to_dict() | {"sample_id": "short-template", "question": short})
    pool = pd.concat([base, pd.DataFrame(rows)], ignore_index=True)
    return pool, heldout, dup_truth, contam_truth


def sections(dedup=None, decon=None) -> tuple:
    """curate_pool's three sections built from their YAML mappings, as the hook builds them."""
    return (from_params(ThinkLiteDedupParams, dedup, where="thinklite_dedup"),
            from_params(ThinkLiteDecontaminationParams, decon, where="thinklite_decontamination"),
            ThinkLiteEvalParams())


def curate(planted, tmp_path, dedup=None, decon=None, benchmarks=None):
    pool, heldout, *_ = planted
    return curate_pool(pool, heldout, benchmarks or {}, NO_REFUSALS, str(tmp_path),
                       *sections(dedup, decon))


def test_planted_duplicates_and_contaminations_are_found_with_their_representatives(
        planted, tmp_path):
    pool, heldout, dup_truth, contam_truth = planted
    kept, ledger, hashes, contaminated, metrics = curate(planted, tmp_path)
    dedup = ledger[ledger["stage"] == "dedup"].set_index("sample_id")
    found = dict(dedup.loc[~dedup["kept"], "ref"])
    tp = len(set(found.items()) & set(dup_truth.items()))
    precision, recall = tp / max(1, len(found)), tp / len(dup_truth)
    print(f"dedup precision {precision:.2f} recall {recall:.2f} ({found})")
    assert found == dup_truth  # precision = recall = 1, each with its representative
    assert "phash distance" in dedup.loc["dup-reworded", "reason"]
    assert dedup.loc[dup_truth["dup-reworded"], "reason"] == "kept: representative of 1 " \
                                                            "duplicate(s)"
    by = dict(zip(contaminated["sample_id"], zip(contaminated["contaminated_by.heldout"],
                                                 contaminated["contaminated_how.heldout"])))
    print(f"contamination found {by}")
    assert by == contam_truth
    # Neither duplicates nor contaminations reach MCTS; everything else does, in order.
    gone = set(dup_truth) | set(contam_truth)
    assert list(kept["sample_id"]) == [s for s in pool["sample_id"] if s not in gone]
    assert metrics["duplicates"] == 2 and metrics["contaminated/heldout"] == 2
    assert metrics["pool"] == len(pool) - 4
    # One row per (sample, stage): every candidate at inputs and dedup, dedup's kept at
    # decontamination.
    counts = stage_counts(ledger).set_index("stage")
    assert counts.loc["inputs", "seen"] == counts.loc["dedup", "seen"] == len(pool)
    assert counts.loc["decontamination", "seen"] == len(pool) - 2
    assert not ledger.duplicated(["sample_id", "stage"]).any()
    assert set(hashes["sample_id"]) == set(pool["sample_id"])


def test_flag_keeps_everything_and_stop_refuses_the_run(planted, tmp_path):
    pool = planted[0]
    kept, ledger, *_ = curate(planted, tmp_path, {"action": "flag"}, {"action": "flag"})
    assert len(kept) == len(pool) and ledger["kept"].all()
    assert ledger.loc[ledger["sample_id"] == "dup-same", "reason"].str.contains(
        "near duplicate").any()
    with pytest.raises(ContaminationError, match=r"2 of \d+ pool samples .*\(heldout: 2\)"):
        curate(planted, tmp_path, None, {"action": "stop", "stop_above": 0.05})
    # whole: a short question identical to an eval question is contaminated too.
    *_, contaminated, _ = curate(planted, tmp_path, None, {"short_questions": "whole"})
    assert "short-template" in set(contaminated["sample_id"])


def test_benchmarks_are_decontaminated_and_exact_image_mode_misses_reencodings(
        planted, tmp_path):
    pool, heldout, dup_truth, _ = planted
    # A benchmark holding held-out sample 0 (whose image and question were both planted).
    bench = heldout.iloc[[0]].assign(sample_id="bench-0")
    *_, contaminated, metrics = curate(planted, tmp_path, {"image_match": "exact"},
                                       benchmarks={"Math-Vista": bench})
    assert metrics["contaminated/Math_Vista"] == 2  # the file stem as a column name
    assert set(contaminated["contaminated_by.Math_Vista"]) == {"bench-0"}
    assert metrics["duplicates"] == 1  # exact bytes: the re-encoded copy is no duplicate


def test_ledger_covers_mcts_and_selection_and_why_answers(planted, tmp_path, capsys):
    kept, pool_ledger, hashes, *_ = curate(planted, tmp_path)
    pool = planted[0]
    rng = np.random.default_rng(0)
    n = len(kept)
    solved = rng.random(n) < 0.5
    difficulty = pd.DataFrame({
        "sample_id": kept["sample_id"], "solved": solved,
        "iters": np.where(solved, rng.integers(0, 3, n), np.nan), "iterations_run": 3,
        "generated_tokens": 10, "skip_reason": [None] * (n - 1) + ["image does not decode"]})
    hard = difficulty[(~difficulty["solved"] | (difficulty["iters"] > 0))
                      & difficulty["skip_reason"].isna()]
    selected = kept[kept["sample_id"].isin(hard["sample_id"])]
    empty_acc = pd.DataFrame({"sample_id": [], "accuracy": [], "skip_reason": []})
    ledger, metrics, funnel, table, figures = build_ledger(
        pool_ledger, pool, hashes, difficulty, empty_acc, selected,
        SelectionParams(strategy="mcts", iters_threshold=0))
    assert list(stage_counts(ledger)["stage"]) == ["inputs", "dedup", "decontamination",
                                                    "mcts_difficulty", "selection"]
    assert metrics["stage/selection/kept"] == len(selected)
    assert metrics["stage/mcts_difficulty/dropped"] == 1
    assert metrics["stage/dedup/dropped"] == 2
    # before/after: shares sum to one per column, for pool and kept
    for _column, t in table.groupby("column"):
        assert t["pool"].sum() == pytest.approx(1.0) and t["kept"].sum() == pytest.approx(1.0)
    assert {"generator", "answer", "image_side", "difficulty"} <= set(figures)
    # why, in the library and on the command line
    text = why(ledger, "dup-reworded")
    assert "dropped at stage 'dedup'" in text and planted[2]["dup-reworded"] in text
    path = tmp_path / "ledger.parquet"
    ledger.to_parquet(path)
    assert ledger_cli(["why", str(path), "contam-question"]) == 0
    out = capsys.readouterr().out
    assert "dropped at stage 'decontamination'" in out and "by ngram" in out
    assert read_ledger(path).shape == ledger.shape
    first_easy = selected.iloc[0]["sample_id"]
    assert "kept by every stage" in why(ledger, first_easy)
    json.loads(ledger["scores"].iloc[-1])


@pytest.mark.slow
def test_a_pipeline_run_spends_no_search_on_planted_duplicates(planted, tiny_world,
                                                               preset_cache, tmp_path):
    """Kedro runs inputs → curation → warm start → MCTS → selection → ledger on a user pool
    holding the planted samples (and one refused row)."""
    from kedro.io import DataCatalog
    from kedro.runner import SequentialRunner

    from datarecipes.io.thinklite import VQASource
    from datarecipes.pipelines.thinklite import create_pipeline
    from tests.thinklite.conftest import tiny_parameters

    pool, heldout, dup_truth, contam_truth = planted
    questions, scene_root = tiny_world
    base_ids = list(pool["sample_id"][:8])
    user = pool[pool["sample_id"].isin(base_ids) | ~pool["sample_id"].str.startswith(
        "provision-")][["sample_id", "image", "question", "answer"]]
    user = pd.concat([user, pd.DataFrame([{"sample_id": "broken", "image": "/nope.png",
                                           "question": "Q?", "answer": "1"}])])
    source = tmp_path / "pool.parquet"
    user.to_parquet(source)
    # The held-out set the run evaluates (and decontaminates against): the planted one's.
    heldout_source = tmp_path / "heldout.parquet"
    heldout[["sample_id", "image", "question", "answer"]].to_parquet(heldout_source)
    pipeline = create_pipeline().only_nodes(
        "thinklite_question_sets", "thinklite_inputs", "thinklite_curate_pool",
        "thinklite_warm_start", "thinklite_mcts_difficulty", "thinklite_answer_accuracy",
        "thinklite_select", "thinklite_ledger")
    datasets = {
        "provision_questions": MemoryDataset(questions),
        "thinklite_scene_root": MemoryDataset(scene_root),
        "thinklite_mcts_work_dir": MemoryDataset(str(tmp_path / "mcts")),
        "thinklite_dedup_work_dir": MemoryDataset(str(tmp_path / "dedup")),
        "thinklite_benchmarks": MemoryDataset({}, copy_mode="assign"),
        "thinklite_pool_source": VQASource(str(source)),
        "thinklite_heldout_source": VQASource(str(heldout_source)),
        "thinklite_source_image_dir": MemoryDataset(str(tmp_path / "images")),
        "thinklite_warm_start_checkpoint": MemoryDataset(copy_mode="assign"),
    }
    for key, value in tiny_parameters(preset_cache).items():
        datasets[f"params:{key}"] = MemoryDataset(value)
    for name in ("thinklite_ledger", "thinklite_difficulty"):
        datasets[name] = KeptMemoryDataset()
    catalog = DataCatalog(datasets)
    use_typed_parameters(catalog, pipeline)
    SequentialRunner().run(pipeline, catalog)
    ledger = catalog.load("thinklite_ledger")
    # What MCTS scored, and the ledger's mcts stage, hold no planted duplicate/contamination.
    scored = set(catalog.load("thinklite_difficulty")["sample_id"])
    assert scored == set(ledger.loc[ledger["stage"] == "mcts_difficulty", "sample_id"])
    gone = set(dup_truth) | set(contam_truth)
    assert not scored & gone and "broken" not in scored
    assert scored == set(user["sample_id"]) - gone - {"broken"}
    dedup = ledger[ledger["stage"] == "dedup"].set_index("sample_id")
    assert dict(dedup.loc[~dedup["kept"], "ref"]) == dup_truth
    decon = ledger[(ledger["stage"] == "decontamination") & ~ledger["kept"]]
    assert set(decon["sample_id"]) == set(contam_truth)
    assert why(ledger, "broken").startswith("broken: dropped at stage 'inputs': refused")
    assert not ledger.duplicated(["sample_id", "stage"]).any()


def test_a_refused_row_repeating_an_accepted_id_gets_its_own_ledger_row():
    from datarecipes.thinklite.curation import input_rows

    pool = pd.DataFrame({"sample_id": ["a", "b"]})
    refusals = pd.DataFrame({"set": ["pool", "pool", "heldout"], "source": ["p.json"] * 3,
                             "row": [2, 3, 0], "sample_id": ["a", None, "h"],
                             "reason": ["id 'a' seen on an earlier row", "no answer", "x"]})
    rows = input_rows(pool, refusals)
    assert list(rows["sample_id"]) == ["a", "b", "a#row2", "p.json#row3"]
    assert list(rows["kept"]) == [True, True, False, False]
    assert rows["reason"].iloc[3] == "refused: no answer"


def test_flat_images_are_never_phash_duplicates(tmp_path):
    """Every one-colour image has the same pHash: red and blue must not merge."""
    rows = []
    for k, colour in enumerate(["red", "blue", "blue"]):
        path = tmp_path / f"{k}.png"
        Image.new("RGB", (32, 32), colour).save(path)
        rows.append({"sample_id": f"s{k}", "image": str(path), "question": "Is it blue?",
                     "answer": "no"})
    pool = pd.DataFrame(rows)
    heldout = pool.iloc[[0]].assign(sample_id="h0", question="What colour is this picture?")
    kept, ledger, hashes, contaminated, _ = curate_pool(pool, heldout, {}, NO_REFUSALS, None,
                                                        *sections())
    assert hashes["image_flat"].all() and hashes["image_phash"].isna().all()
    assert len(kept) == 3 and contaminated.empty
    assert "flat image" in ledger.loc[ledger["sample_id"] == "s0", "reason"].iloc[1]
    # by bytes, the two identical blue images are one sample
    kept, *_ = curate_pool(pool, heldout, {}, NO_REFUSALS, None,
                           *sections({"image_match": "exact"}))
    assert list(kept["sample_id"]) == ["s0", "s1"]

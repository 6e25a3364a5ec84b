"""MLLM scoring: prompts, first-line integer parsing, statuses, resumable shards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from datarecipes.executors import LocalExecutor
from datarecipes.filtering.inputs import DECODE_ERROR, PARSE_ERROR, SUCCESS
from datarecipes.filtering.mllm_score import (
    METRICS,
    PROMPTS,
    mllm_prompt,
    parse_score,
    score_mllm,
    status_counts,
    vlm_generate_factory,
)
from datarecipes.models import ModelParams


@pytest.mark.parametrize("completion, expected", [
    ("85", 85), (" 7\nbecause", 7), ("100", 100), ("0", 0), ("Score: 66", 66),
    ("42.", 42), ("101", None), ("1000", None), ("high", None), ("", None),
    ("\n85", 85), ("about 85", None), ("-5", None), (None, None),
])
def test_parse_score_reads_the_first_line_integer(completion, expected):
    assert parse_score(completion) == expected


def test_prompts_cover_the_four_metrics_and_embed_the_caption():
    assert set(METRICS) == {"itm", "odf", "ctq", "su"}
    prompts = {m: mllm_prompt(m, "a red cube") for m in METRICS}
    assert all("a red cube" in p and "0 to 100" in p for p in prompts.values())
    assert len(set(PROMPTS.values())) == 4


def _pairs(tmp_path) -> pd.DataFrame:
    image = tmp_path / "ok.png"
    Image.new("RGB", (8, 8)).save(image)
    return pd.DataFrame({
        "image_id": ["a", "b", "c", "d", "e"],
        "image_path": [str(image), str(image), str(tmp_path / "missing.png"), str(image),
                       str(image)],
        "caption": ["good one", "babble", "whatever", "", "good two"],
    })


def fake_generate_factory(calls: list):
    """Deterministic fake VLM: answers by caption and metric; 'babble' gets no number."""

    def factory():
        def generate(requests):
            calls.append(len(requests))
            answers = []
            for prompt, image in requests:
                assert image.endswith("ok.png")
                metric = next(m for m in METRICS if PROMPTS[m].split("{caption}")[1] in prompt)
                if "babble" in prompt:
                    answers.append("I think it is fine" if metric != "ctq" else "12")
                else:
                    answers.append(f"{10 * (METRICS.index(metric) + 1)}\nexplanation")
            return answers
        return generate

    return factory


def test_statuses_and_scores_never_count_unparseable_answers(tmp_path):
    calls: list[int] = []
    scores, stats = score_mllm(
        _pairs(tmp_path), fake_generate_factory(calls), LocalExecutor(), batch_size=2,
        shard_size=10, model_key="fake",
    )
    s = scores.set_index("image_id")
    assert s.loc["a", "itm"] == 10 and s.loc["a", "su"] == 40 and s.loc["e", "odf"] == 20
    assert (s.loc[["a", "e"], [f"{m}_status" for m in METRICS]] == SUCCESS).all().all()
    # Unparseable answers: parse_error and NaN, except the metric that answered a number.
    assert s.loc["b", "itm_status"] == PARSE_ERROR and np.isnan(s.loc["b", "itm"])
    assert s.loc["b", "ctq_status"] == SUCCESS and s.loc["b", "ctq"] == 12
    assert "itm answer unparseable" in s.loc["b", "reason"]
    # Missing image and empty caption: decode_error, the model is never asked about them.
    for row, reason in (("c", "missing file"), ("d", "empty caption")):
        assert (s.loc[row, [f"{m}_status" for m in METRICS]] == DECODE_ERROR).all()
        assert reason in s.loc[row, "reason"]
        assert np.isnan(s.loc[row, list(METRICS)].astype(float)).all()
    assert sum(calls) == 3 * len(METRICS)  # a, b, e only
    counts = status_counts(scores, METRICS)
    assert counts["itm_success"] == 2 and counts["itm_parse_error"] == 1
    assert counts["itm_decode_error"] == 2 and counts["ctq_success"] == 3


def test_mllm_scores_resume_and_are_keyed_by_model(tmp_path):
    pairs = _pairs(tmp_path)
    calls: list[int] = []
    first, _ = score_mllm(pairs, fake_generate_factory(calls), LocalExecutor(), batch_size=2,
                          shard_size=2, model_key="m1", resume_dir=tmp_path / "r")
    n_first = sum(calls)
    again, stats = score_mllm(pairs, fake_generate_factory(calls), LocalExecutor(),
                              batch_size=2, shard_size=2, model_key="m1",
                              resume_dir=tmp_path / "r")
    assert sum(calls) == n_first and stats.reused == 3
    pd.testing.assert_frame_equal(first, again)
    _, stats = score_mllm(pairs, fake_generate_factory(calls), LocalExecutor(), batch_size=2,
                          shard_size=2, model_key="m2", resume_dir=tmp_path / "r")
    assert stats.computed == 3  # another model never reuses m1's scores


def test_real_vlm_scores_pairs_through_the_model_factory(tmp_path):
    """The adapter with a real (tiny, random-init) Qwen2.5-VL: every answer is either a parsed
    0-100 score or a parse error, never a number taken from an unparseable answer."""
    pairs = _pairs(tmp_path)
    factory, key = vlm_generate_factory(
        ModelParams(preset="tiny-vlm", preset_cache_dir=str(tmp_path / "presets")),
        max_new_tokens=3,
    )
    scores, _ = score_mllm(
        pairs, factory, LocalExecutor(), batch_size=2, shard_size=10, model_key=key
    )
    s = scores.set_index("image_id")
    for metric in METRICS:
        status = s[f"{metric}_status"]
        assert set(status) <= {SUCCESS, PARSE_ERROR, DECODE_ERROR}
        ok = status == SUCCESS
        assert s.loc[ok, metric].between(0, 100).all()
        assert s.loc[~ok, metric].isna().all()
        # The two bad pairs never reach the model.
        assert (status.loc[["c", "d"]] == DECODE_ERROR).all()
        assert (status.loc[["a", "b", "e"]] != DECODE_ERROR).all()


def test_images_inside_shards_reach_the_vlm_decoded(tmp_path):
    """A tar member (or parquet bytes) is never extracted: the VLM gets the decoded image."""
    from datarecipes.filtering.sources import read_source
    from tests.filtering.userdata import write_webdataset

    expected = write_webdataset(tmp_path / "wds", n_good=3)
    pairs = read_source(str(tmp_path / "wds")).pairs
    seen: list = []

    def factory():
        def generate(requests):
            seen.extend(image for _, image in requests)
            return ["50"] * len(requests)
        return generate

    scores, _ = score_mllm(pairs, factory, LocalExecutor(), metrics=("itm",), batch_size=4,
                           shard_size=8, model_key="fake")
    good = [k for k, f in expected.items() if not f]
    assert len(seen) == len(good)
    assert all(isinstance(image, Image.Image) and image.size == (40, 32) for image in seen)
    by_id = scores.set_index("image_id")
    assert (by_id.loc[good, "itm"] == 50).all()
    assert (by_id.drop(index=good)["itm_status"] == DECODE_ERROR).all()

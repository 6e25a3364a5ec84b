"""run_dedup over several kinds, dup.any, the parameter sections and the ledger rows."""

from __future__ import annotations

import pandas as pd
import pytest

from datarecipes.config import PARAMETER_SECTIONS, ParameterError, from_params
from datarecipes.dedup import (
    DedupParams,
    KeepParams,
    combine_dedup,
    hash_images_batch,
    run_dedup,
    signatures,
)
from datarecipes.dedup.clusters import dedup_table
from datarecipes.filtering.rules import apply_rule


def test_dup_any_points_at_kept_samples():
    keys = list("abc")
    # a~b by one kind (a kept), b~c by another (b kept): c must survive dup.any, since its
    # only representative b is dropped.
    import numpy as np

    t1 = dedup_table(keys, "phash", np.array([0, 0, 2]), np.zeros(3), key_name="k")
    t2 = dedup_table(keys, "minhash", np.array([0, 1, 1]), np.zeros(3), key_name="k")
    out = combine_dedup([t1, t2], key="k").set_index("k")
    assert out["dup.any"].tolist() == [False, True, False]
    assert out.loc["b", "dup_of.any"] == "a" and out.loc["b", "dup_kind.any"] == "phash"


def test_run_dedup_all_kinds_and_rules(planted_pool, world):
    rows = planted_pool.rows.copy()
    meta = world.metadata.set_index("image_id")
    rows["caption"] = [meta.loc[t, "caption"] for t in rows["truth"]]
    hashes = pd.DataFrame(hash_images_batch({"image": rows["image"].tolist()},
                                            DedupParams().images, image_column="image"))
    table = pd.concat([rows.drop(columns=["image"]), hashes, signatures(rows["caption"])],
                      axis=1)
    params = from_params(DedupParams, {
        "kinds": ["exact_image", "phash", "dhash", "exact_text", "minhash"],
        "keep": {"policy": "highest_score", "score_column": "score"}}, "dedup")
    result = run_dedup(table, params, key="image_id")
    for kind in params.kinds:
        assert f"dup.{kind}" in result and f"dup_of.{kind}" in result
    # Every copy shares its original's caption: each kind that sees the copies drops them.
    assert result["dup.any"].sum() == (rows["image_id"] != rows["truth"]).sum()
    kept = set(result.loc[~result["dup.any"], "image_id"])
    assert set(result.loc[result["dup.any"], "dup_of.any"]) <= kept
    # The filtering rule language reads the columns directly.
    result["clip"] = table["score"]
    mask = apply_rule(result, "!dup.phash & top(clip, 0.5)")
    assert not (mask & result["dup.phash"].to_numpy()).any()
    assert mask.sum() >= 1
    assert apply_rule(result, "dup_distance.phash <= 0").sum() >= 1
    # The combined decision's ledger rows name the kept sample and the kind and distance.
    from datarecipes.dedup import dedup_decisions
    from datarecipes.ledger import scores_of

    rows = dedup_decisions(result, key="image_id", kind="any").set_index("sample_id")
    dropped = result.loc[result["dup.any"]].iloc[0]
    row = rows.loc[str(dropped["image_id"])]
    assert not row["kept"] and row["ref"] == dropped["dup_of.any"]
    assert row["reason"].startswith(f"near duplicate of {dropped['dup_of.any']} "
                                    f"({dropped['dup_kind.any']} distance")
    assert "dup_distance.phash" in scores_of(row.to_dict())
    rep = rows.loc[str(dropped["dup_of.any"])]
    assert rep["kept"] and rep["reason"].startswith("kept: representative of")


def test_parameter_sections_are_registered_and_checked():
    assert PARAMETER_SECTIONS["dedup"] is DedupParams
    assert "decontamination" in PARAMETER_SECTIONS
    with pytest.raises(ParameterError, match="dedup.kinds: unknown"):
        from_params(DedupParams, {"kinds": ["phash", "bogus"]}, "dedup")
    with pytest.raises(ParameterError, match=r"text.threshold must be in \(0, 1\]"):
        from_params(DedupParams, {"text": {"threshold": 1.5}}, "dedup")
    with pytest.raises(ParameterError, match="max_distance.phash must be in"):
        from_params(DedupParams, {"images": {"max_distance": {"phash": 64, "dhash": 3}}},
                    "dedup")
    with pytest.raises(ParameterError, match="is not one of"):
        from_params(DedupParams, {"keep": {"policy": "best"}}, "dedup")
    with pytest.raises(ParameterError, match="images.kinds does not compute it"):
        from_params(DedupParams, {"kinds": ["dhash"], "images": {"kinds": ["phash"]}}, "dedup")
    assert KeepParams().policy == "first"

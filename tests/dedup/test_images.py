"""Exact and perceptual-hash image dedup on planted copies of scenes-world images."""

from __future__ import annotations

import pandas as pd
import pytest

from datarecipes.dedup import (
    ImageHashParams,
    KeepParams,
    dedup_exact,
    dedup_phash,
    hash_images,
    hash_images_batch,
)
from datarecipes.executors import LocalExecutor
from tests.dedup.conftest import COPIED, COPIES, precision_recall

#: Stated thresholds: every planted copy is found with its original's group, and nothing
#: else is flagged (the measured values are 1.0 / 1.0; see the printed line).
MIN_PRECISION = 0.99
MIN_RECALL = 0.95


@pytest.fixture(scope="module")
def hashed(planted_pool):
    params = ImageHashParams()
    table = pd.DataFrame(hash_images_batch({"image": planted_pool.rows["image"].tolist()},
                                           params, image_column="image"))
    return pd.concat([planted_pool.rows.drop(columns=["image"]), table], axis=1)


@pytest.mark.parametrize("kind", ["phash", "dhash"])
def test_planted_copies_are_found_with_their_original(hashed, kind, capsys):
    table = dedup_phash(hashed, key="image_id", kind=kind)
    precision, recall = precision_recall(table, hashed["truth"], kind)
    with capsys.disabled():
        print(f"\n{kind}: precision {precision:.3f} recall {recall:.3f} "
              f"({int(table[f'dup.{kind}'].sum())} flagged, "
              f"{len(COPIED) * len(COPIES)} planted)")
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL
    # Each group has exactly one kept member, and every dup_of is a kept sample.
    kept = set(table.loc[~table[f"dup.{kind}"], "image_id"])
    assert set(table.loc[table[f"dup.{kind}"], f"dup_of.{kind}"]) <= kept
    assert (table.loc[table[f"dup.{kind}"], f"dup_distance.{kind}"]
            <= ImageHashParams().max_distance[kind]).all()


def test_keep_policy_picks_the_representative(hashed):
    first = dedup_phash(hashed, key="image_id", keep=KeepParams(policy="first"))
    best = dedup_phash(hashed, key="image_id",
                       keep=KeepParams(policy="highest_score", score_column="score"))
    # highest_score keeps the large200 copy (score 0.9) of every copied scene.
    kept_best = best.loc[(best["dup_cluster.phash"] >= 0) & ~best["dup.phash"], "image_id"]
    assert len(kept_best) == len(COPIED)
    assert all(k.endswith("_large200") for k in kept_best)
    # first keeps whichever member comes first in the (shuffled) table.
    position = {k: i for i, k in enumerate(hashed["image_id"])}
    for cluster, members in first.groupby("dup_cluster.phash"):
        if cluster < 0:
            continue
        kept = members.loc[~members["dup.phash"], "image_id"].tolist()
        assert kept == [min(members["image_id"], key=position.get)]
    random_a = dedup_phash(hashed, key="image_id", keep=KeepParams(policy="random", seed=1))
    random_b = dedup_phash(hashed, key="image_id", keep=KeepParams(policy="random", seed=1))
    pd.testing.assert_frame_equal(random_a, random_b)


def test_distinct_scenes_are_never_merged(world):
    params = ImageHashParams()
    table = pd.DataFrame(hash_images_batch({"image": list(world.images.values())}, params,
                                           image_column="image"))
    table["image_id"] = list(world.images)
    for kind in params.kinds:
        result = dedup_phash(table, key="image_id", params=params, kind=kind)
        assert not result[f"dup.{kind}"].any(), result.loc[result[f"dup.{kind}"]]


def test_exact_dedup_groups_identical_bytes_only(planted_pool):
    rows = planted_pool.rows.head(20).copy()
    extra = rows.head(3).assign(image_id=lambda f: f["image_id"] + "_again")
    pool = pd.concat([rows, extra], ignore_index=True)
    table = pd.DataFrame(hash_images_batch({"image": pool["image"].tolist()}, ImageHashParams(),
                                           image_column="image"))
    table["image_id"] = pool["image_id"]
    result = dedup_exact(table, key="image_id", column="image_sha256", kind="exact_image")
    dups = result.loc[result["dup.exact_image"]]
    assert sorted(dups["image_id"]) == sorted(extra["image_id"])
    assert (dups["dup_of.exact_image"] + "_again" == dups["image_id"]).all()


def test_hashing_on_the_executor_counts_unreadable_images_and_resumes(world, tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    ids = list(world.images)[:10]
    for image_id in ids:
        (root / f"{image_id}.png").write_bytes(world.images[image_id])
    (root / "broken.png").write_bytes(b"\x89PNG not really")
    rows = pd.DataFrame({"image_id": [*ids, "broken", "missing"],
                         "image_path": [f"{i}.png" for i in ids] + ["broken.png", "nope.png"]})
    resume = tmp_path / "resume"
    table, first = hash_images(rows, ImageHashParams(), LocalExecutor(), key="image_id",
                        root=str(root), shard_size=4, batch_size=2, resume_dir=resume)
    assert table["image_id"].tolist() == rows["image_id"].tolist()
    bad = table.set_index("image_id").loc[["broken", "missing"]]
    assert (bad["hash_status"] == "decode_error").all()
    assert "missing file" in bad.loc["missing", "hash_reason"]
    assert bad["image_phash"].isna().all()
    # Unreadable rows are neither duplicates nor representatives, even of each other.
    result = dedup_phash(table, key="image_id")
    assert not result.set_index("image_id").loc[["broken", "missing"], "dup.phash"].any()
    shards = sorted(resume.rglob("*.parquet"))
    assert len(shards) == 3
    again, second = hash_images(rows, ImageHashParams(), LocalExecutor(), key="image_id",
                        root=str(root), shard_size=4, batch_size=2, resume_dir=resume)
    assert (first.computed, second.computed, second.reused) == (3, 0, 3)
    # Reused shards come back from parquet (string dtype, NaN for None): same values.
    assert table.fillna("").astype(str).equals(again.fillna("").astype(str))

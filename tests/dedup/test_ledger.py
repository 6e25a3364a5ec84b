"""The decision ledger: stages, counts, funnel, before/after, why-answers and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from datarecipes import ledger as L
from datarecipes.dedup import dedup_decisions, dedup_phash, hash_images_batch
from datarecipes.dedup.params import ImageHashParams


@pytest.fixture(scope="module")
def run_ledger(planted_pool):
    rows = planted_pool.rows
    hashes = pd.DataFrame(hash_images_batch({"image": rows["image"].tolist()}, ImageHashParams(),
                                            image_column="image"))
    table = pd.concat([rows[["image_id", "score"]], hashes], axis=1)
    dedup = dedup_phash(table, key="image_id")
    ledger = L.append(L.empty_ledger(), dedup_decisions(dedup, key="image_id", kind="phash"))
    survivors = dedup.loc[~dedup["dup.phash"], "image_id"]
    scores = rows.set_index("image_id").loc[survivors, ["score"]].reset_index()
    keep = scores["score"].to_numpy() >= 0.5
    ledger = L.append(ledger, L.decisions(scores["image_id"], stage="filter",
                                          rule="score >= 0.5", kept=keep,
                                          scores=scores[["score"]]))
    return ledger, dedup, rows


def test_counts_follow_the_funnel(run_ledger):
    ledger, dedup, rows = run_ledger
    counts = L.stage_counts(ledger).set_index("stage")
    n_dup = int(dedup["dup.phash"].sum())
    assert counts.loc["dedup.phash", "seen"] == len(rows)
    assert counts.loc["dedup.phash", "dropped"] == n_dup
    # Only dedup survivors reach the filter.
    assert counts.loc["filter", "seen"] == len(rows) - n_dup
    assert counts["stage_index"].tolist() == [0, 1]
    metrics = L.stage_metrics(ledger)
    assert metrics["ledger/filter/kept"] == counts.loc["filter", "kept"]
    assert L.kept_ids(ledger) == set(ledger.loc[(ledger.stage == "filter") & ledger.kept,
                                                "sample_id"])


def test_why_names_the_kept_duplicate_and_scores(run_ledger):
    ledger, dedup, _ = run_ledger
    dup = dedup.loc[dedup["dup.phash"]].iloc[0]
    answer = L.why(ledger, dup["image_id"])
    assert answer.startswith(f"{dup['image_id']}: dropped at stage 'dedup.phash'")
    assert f"near duplicate of {dup['dup_of.phash']}" in answer
    row = ledger.loc[ledger.sample_id == dup["image_id"]].iloc[0]
    assert row["ref"] == dup["dup_of.phash"]
    assert L.scores_of(row)["dup_distance.phash"] == dup["dup_distance.phash"]
    low = ledger.loc[(ledger.stage == "filter") & ~ledger.kept].iloc[0]
    assert "dropped at stage 'filter'" in L.why(ledger, low["sample_id"])
    assert "score >= 0.5" in L.why(ledger, low["sample_id"])
    assert "not in the ledger" in L.why(ledger, "nobody")


def test_schema_is_enforced():
    rows = L.decisions(["a", "b"], stage="s", rule="r", kept=[True, False])
    ledger = L.append(L.empty_ledger(), rows)
    with pytest.raises(L.LedgerError, match="already in the ledger"):
        L.append(ledger, rows)
    with pytest.raises(L.LedgerError, match="occurs more than once"):
        L.decisions(["a", "a"], stage="t", rule="r", kept=[True, True])
    with pytest.raises(L.LedgerError, match="1 decisions for 2"):
        L.decisions(["a", "b"], stage="t", rule="r", kept=[True])
    with pytest.raises(L.LedgerError, match="missing column"):
        L.validate(pd.DataFrame({"sample_id": ["a"]}))
    # NaN scores become JSON null, not an invalid NaN token.
    nan_rows = L.decisions(["x"], stage="u", rule="r", kept=[False],
                           scores=pd.DataFrame({"clip": [np.nan], "n": [np.int64(3)]}))
    assert json.loads(nan_rows["scores"].iloc[0]) == {"clip": None, "n": 3}


def test_parquet_round_trip_and_cli(run_ledger, tmp_path, capsys):
    ledger, dedup, _ = run_ledger
    path = tmp_path / "ledger.parquet"
    L.write_ledger(ledger, path)
    back = L.read_ledger(path)
    pd.testing.assert_frame_equal(back, L._typed(ledger))
    dup_id = dedup.loc[dedup["dup.phash"], "image_id"].iloc[0]
    assert L.main(["why", str(path), dup_id]) == 0
    out = capsys.readouterr().out
    assert "DROPPED" in out and dup_id in out
    assert L.main(["why", str(path), "nobody"]) == 1
    assert L.main(["counts", str(path)]) == 0
    assert "dedup.phash" in capsys.readouterr().out
    (tmp_path / "bad.parquet").write_bytes(b"nope")
    assert L.main(["why", str(tmp_path / "bad.parquet"), "x"]) == 2


def test_funnel_and_before_after(run_ledger):
    ledger, _, rows = run_ledger
    fig = L.funnel_figure(ledger)
    bars = fig.axes[0].patches
    counts = L.stage_counts(ledger)
    assert sorted(b.get_width() for b in bars) == sorted([*counts["seen"], *counts["kept"]])
    kept = rows["image_id"].isin(L.kept_ids(ledger)).to_numpy()
    table = L.before_after_table(rows, kept, "score")
    assert np.isclose(table["pool"].sum(), 1) and np.isclose(table["kept"].sum(), 1)
    # The filter kept only scores >= 0.5: the low bin is gone from the kept composition.
    assert table.loc[table["score"].astype(str) == "0.1", "kept"].sum() == 0
    assert table.loc[table["score"].astype(str) == "0.1", "pool"].sum() > 0
    fig2 = L.before_after_figure(rows, kept, "score")
    assert len(fig2.axes[0].patches) == 2 * len(table)


def test_before_after_rows_follow_numeric_order():
    # Text order would put "10" before "9" and the (9.5, 10.0] bin before (1.0, 2.0].
    pool = pd.DataFrame({"value": [9, 10, 2, 9, 10, 2, 30], "wide": np.arange(7.0) ** 2})
    kept = np.array([True, False, True, True, False, True, True])
    small = L.before_after_table(pool, kept, "value")
    assert small["value"].tolist() == ["2", "9", "10", "30"]
    binned = L.before_after_table(pool, kept, "wide", bins=3)
    lefts = [float(label.split(",")[0].strip("([")) for label in binned["wide"]]
    assert lefts == sorted(lefts) and len(lefts) == 3

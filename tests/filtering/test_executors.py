"""The executor interface: ordered batched results, resumable shards, bad input as rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datarecipes.executors import LocalExecutor, map_shards
from datarecipes.filtering.inputs import DECODE_ERROR, SUCCESS, read_pair


def _rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"image_id": [f"id{i:03d}" for i in range(n)], "x": np.arange(n)})


class Counting:
    """A batch-function factory that counts model loads and rows, and can fail mid-way."""

    def __init__(self, fail_at_row: int | None = None) -> None:
        self.loads = 0
        self.rows_seen: list[str] = []
        self.fail_at_row = fail_at_row

    def __call__(self):
        self.loads += 1

        def fn(batch):
            ids = list(batch["image_id"])
            if self.fail_at_row is not None and f"id{self.fail_at_row:03d}" in ids:
                raise KeyboardInterrupt("simulated kill")
            self.rows_seen.extend(ids)
            return {"double": np.asarray(batch["x"]) * 2}

        return fn


@pytest.mark.parametrize("num_workers", [0, 2])
def test_map_batches_keeps_order_and_loads_model_once(num_workers):
    counting = Counting()
    out = LocalExecutor(num_workers=num_workers).map_batches(
        counting, _rows(23), batch_size=5, preprocess=lambda r: {**r, "x": r["x"] + 1}
    )
    assert out["double"].tolist() == [2 * (i + 1) for i in range(23)]
    assert counting.loads == 1


def test_interrupted_run_resumes_only_unfinished_shards(tmp_path):
    rows = _rows(50)  # shards of 10: 5 shards
    killed = Counting(fail_at_row=33)  # dies inside shard 3
    with pytest.raises(KeyboardInterrupt):
        map_shards(LocalExecutor(), killed, rows, id_column="image_id", name="t",
                   shard_size=10, batch_size=4, directory=tmp_path)
    finished = sorted(p.name for p in tmp_path.glob("*.parquet"))
    assert finished == [f"{i:08d}_t.parquet" for i in range(3)]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial files

    resumed = Counting()
    out, stats = map_shards(LocalExecutor(), resumed, rows, id_column="image_id", name="t",
                            shard_size=10, batch_size=4, directory=tmp_path)
    assert (stats.shards, stats.computed, stats.reused) == (5, 2, 3)
    assert resumed.rows_seen == [f"id{i:03d}" for i in range(30, 50)]
    assert out["image_id"].tolist() == rows["image_id"].tolist()
    assert out["double"].tolist() == (rows["x"] * 2).tolist()

    # Everything done: a third run loads no model at all.
    idle = Counting()
    _, stats = map_shards(LocalExecutor(), idle, rows, id_column="image_id", name="t",
                          shard_size=10, batch_size=4, directory=tmp_path)
    assert (stats.computed, idle.loads) == (0, 0)


def test_shard_with_other_ids_is_recomputed(tmp_path):
    map_shards(LocalExecutor(), Counting(), _rows(20), id_column="image_id", name="t",
               shard_size=10, batch_size=10, directory=tmp_path)
    changed = _rows(20)
    changed.loc[15, "image_id"] = "new"
    again = Counting()
    _, stats = map_shards(LocalExecutor(), again, changed, id_column="image_id", name="t",
                          shard_size=10, batch_size=10, directory=tmp_path)
    assert (stats.computed, stats.reused) == (1, 1)
    assert "new" in again.rows_seen


def test_duplicate_ids_are_refused(tmp_path):
    rows = _rows(3)
    rows.loc[2, "image_id"] = "id000"
    with pytest.raises(ValueError, match="id000"):
        map_shards(LocalExecutor(), Counting(), rows, id_column="image_id", name="t",
                   shard_size=2, batch_size=2, directory=tmp_path)


def test_read_pair_reports_every_kind_of_bad_input(tmp_path):
    from PIL import Image

    good = tmp_path / "good.png"
    noise = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    Image.fromarray(noise).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")

    assert read_pair(str(good), "a red image").status == SUCCESS
    cases = {
        "missing file": (str(tmp_path / "nope.png"), "x"),
        "corrupt image": (str(truncated), "x"),
        "corrupt image:": (str(garbage), "x"),
        "empty caption": (str(good), "   "),
        "not UTF-8": (str(good), b"caf\xe9 \xff"),
        "not UTF-8 (undecodable": (str(good), b"ok \xff".decode("utf-8", "surrogateescape")),
        "empty caption ": (str(good), None),
    }
    for expected, (path, caption) in cases.items():
        pair = read_pair(path, caption)
        assert pair.status == DECODE_ERROR and pair.image is None
        assert expected.strip() in pair.reason, (expected, pair.reason)
    assert read_pair(str(good), "caf\xe9".encode()).caption == "café"

"""First-fit-decreasing packing and its WebDataset shards."""

from __future__ import annotations

import io
import json
import math
import tarfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kedro.io import DatasetError
from PIL import Image

from datarecipes.filtering.packing import (
    first_fit_decreasing,
    packing_metrics,
    sample_lengths,
)
from datarecipes.filtering.shards import ShardParams, pack_shards
from datarecipes.io.shards import PackedShardsDataset


def _reference_ffd(lengths: np.ndarray, capacity: int) -> list[int]:
    """The quadratic scan of the reference, for comparison (bin per sample, -1 dropped)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    remaining: list[int] = []
    bins = [-1] * len(lengths)
    for i in order:
        if lengths[i] > capacity or lengths[i] < 0:
            continue
        for b, room in enumerate(remaining):
            if room >= lengths[i]:
                remaining[b] -= lengths[i]
                bins[i] = b
                break
        else:
            remaining.append(capacity - lengths[i])
            bins[i] = len(remaining) - 1
    return bins


def _check_packing(lengths: np.ndarray, capacity: int) -> None:
    packing = first_fit_decreasing(lengths, capacity)
    kept = packing.kept
    # Over-long samples (and only they) are dropped.
    assert (kept == ((lengths >= 0) & (lengths <= capacity))).all()
    # Every kept sample is placed exactly once, and no bin overflows.
    assert (packing.bin[kept] >= 0).all() and (packing.bin[kept] < packing.n_bins).all()
    loads = packing.bin_loads(lengths)
    assert (loads <= capacity).all()
    assert (loads > 0).all() or lengths[kept].sum() == 0
    # Offsets tile each bin without overlap: sorted by offset, each starts where the last ended.
    for b in range(packing.n_bins):
        members = np.flatnonzero(packing.bin == b)
        members = members[np.argsort(packing.offset[members])]
        ends = np.cumsum(lengths[members])
        assert packing.offset[members].tolist() == [0, *ends[:-1].tolist()]
    # Never fewer bins than the lower bound ceil(sum / capacity).
    assert packing.n_bins >= math.ceil(lengths[kept].sum() / capacity)
    # Identical to the reference's first-fit-decreasing scan.
    assert packing.bin.tolist() == _reference_ffd(lengths, capacity)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=1200), min_size=0, max_size=300),
    st.integers(min_value=1, max_value=1000),
)
def test_ffd_properties_on_random_lengths(lengths, capacity):
    _check_packing(np.array(lengths, dtype=np.int64), capacity)


def _optimal_bins(lengths: list[int], capacity: int) -> int:
    """Exact bin-packing optimum by DP over subsets (small n): (bins, load of the last bin)."""
    n = len(lengths)
    best = [(n + 1, 0)] * (1 << n)
    best[0] = (0, capacity)  # "last bin full": the first item opens a bin
    for mask in range(1 << n):
        bins, load = best[mask]
        if bins > n:
            continue
        for i in range(n):
            if mask >> i & 1:
                continue
            nxt = (bins, load + lengths[i]) if load + lengths[i] <= capacity else (
                bins + 1, lengths[i])
            if nxt < best[mask | 1 << i]:
                best[mask | 1 << i] = nxt
    return best[(1 << n) - 1][0]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=9),
    st.integers(min_value=100, max_value=250),
)
def test_ffd_guarantee_against_exact_optimum(lengths, capacity):
    packing = first_fit_decreasing(np.array(lengths), capacity)
    optimum = _optimal_bins(lengths, capacity)
    assert optimum >= math.ceil(sum(lengths) / capacity)
    assert optimum <= packing.n_bins <= 11 / 9 * optimum + 6 / 9


def test_fill_ratio_near_optimal_on_realistic_lengths():
    rng = np.random.default_rng(0)
    for _ in range(5):
        lengths = rng.integers(150, 1500, size=2000)  # caption + 144 image tokens
        packing = first_fit_decreasing(lengths, 4096)
        metrics = packing_metrics(packing, lengths)
        lower = math.ceil(lengths.sum() / 4096)
        assert metrics["bins_lower_bound"] == lower
        assert packing.n_bins <= 11 / 9 * lower + 6 / 9
        assert metrics["fill_ratio"] > 0.97
        _check_packing(lengths, 4096)


def test_over_long_samples_dropped_and_counted():
    lengths = np.array([5000, 10, 4096, 4097, 0])
    packing = first_fit_decreasing(lengths, 4096)
    assert packing.kept.tolist() == [False, True, True, False, True]
    metrics = packing_metrics(packing, lengths)
    assert metrics["n_dropped_too_long"] == 2 and metrics["sample_loss"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="capacity"):
        first_fit_decreasing(lengths, 0)
    with pytest.raises(ValueError, match="integer"):
        first_fit_decreasing(np.array([1.5]), 10)


def test_sample_lengths_add_image_tokens_from_the_processor():
    lengths = sample_lengths(["a b", "c"], lambda caps: [len(c.split()) for c in caps], 144)
    assert lengths.tolist() == [146, 145]
    lengths = sample_lengths(["a", "b"], lambda caps: [1, 1], [10, 20])
    assert lengths.tolist() == [11, 21]


def test_shards_hold_every_kept_sample_once_with_its_image(tmp_path):
    sizes = [(40, 20), (16, 48), (30, 30), (64, 8), (10, 10)]
    rows = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"img{i}.png"
        Image.new("RGB", size, (i * 40, 0, 0)).save(path)
        rows.append({"image_id": f"s{i}", "image_path": str(path), "caption": f"caption {i}"})
    samples = pd.DataFrame(rows)
    lengths = np.array([60, 30, 50, 200, 45])  # s3 is over-long for capacity 100
    packing = first_fit_decreasing(lengths, 100)
    shards, index = pack_shards(samples, lengths, packing,
                                ShardParams(bins_per_shard=2, max_image_side=32))
    PackedShardsDataset(str(tmp_path / "shards")).save(shards)
    assert sorted(index["image_id"]) == ["s0", "s1", "s2", "s4"]
    assert index["bin"].nunique() == packing.n_bins
    seen = {}
    for shard in sorted(index["shard"].unique()):
        with tarfile.open(tmp_path / "shards" / shard) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        for name, data in members.items():
            if name.endswith(".json"):
                record = json.loads(data)
                key = name.split(".")[0]
                assert sum(record["lengths"]) <= record["capacity"] == 100
                for slot, sample_id in enumerate(record["sample_ids"]):
                    assert sample_id not in seen
                    image = Image.open(io.BytesIO(members[f"{key}.{slot:03d}.png"]))
                    seen[sample_id] = image.size
    assert sorted(seen) == ["s0", "s1", "s2", "s4"]
    # Aspect ratio kept when shrinking to max side 32 (the reference squashed to 384x384).
    assert seen["s0"] == (32, 16) and seen["s1"] == (11, 32) and seen["s4"] == (10, 10)
    # The index agrees with the records: slot order follows token offsets.
    s = index.set_index("image_id")
    assert (s.loc[s["slot"] == 0, "offset"] == 0).all()


def _packed(tmp_path, n: int, bins_per_shard: int):
    rows = []
    for i in range(n):
        path = tmp_path / f"p{i}.png"
        Image.new("RGB", (8, 8), (i, 0, 0)).save(path)
        rows.append({"image_id": f"p{i}", "image_path": str(path), "caption": f"c {i}"})
    samples = pd.DataFrame(rows)
    lengths = np.full(n, 60)  # one sample per bin at capacity 100
    return pack_shards(samples, lengths, first_fit_decreasing(lengths, 100),
                       ShardParams(bins_per_shard=bins_per_shard))


def test_packing_lays_shards_out_without_writing_and_the_dataset_swaps_them_in(tmp_path):
    out = tmp_path / "packed"
    shards, index = _packed(tmp_path, 5, bins_per_shard=2)
    assert not out.exists()  # laid out, nothing written yet
    assert list(shards) == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    assert sorted(index["shard"].unique()) == list(shards)
    dataset = PackedShardsDataset(str(out))
    dataset.save(shards)
    loaded = dataset.load()
    assert [p.rsplit("/", 1)[-1] for p in loaded] == list(shards)
    for shard in shards:  # each shard holds the bins the index names, two at most
        with tarfile.open(out / shard) as tar:
            names = [m.name for m in tar.getmembers() if m.name.endswith(".json")]
        assert len(names) == (index["shard"] == shard).sum() <= 2
    # A smaller rerun replaces the directory as a whole: no shard of the old run survives.
    fewer, _ = _packed(tmp_path, 2, bins_per_shard=2)
    dataset.save(fewer)
    assert [p.rsplit("/", 1)[-1] for p in dataset.load()] == ["shard-000000.tar"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_failed_save_leaves_the_previous_shards_and_names_the_image(tmp_path):
    out = tmp_path / "packed"
    shards, _ = _packed(tmp_path, 3, bins_per_shard=1)
    PackedShardsDataset(str(out)).save(shards)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken, _ = _packed(tmp_path, 3, bins_per_shard=1)
    (tmp_path / "p1.png").unlink()  # an image vanishes between scoring and packing
    with pytest.raises(DatasetError, match=r"image of 'p1' .* became unreadable after scoring"):
        PackedShardsDataset(str(out)).save(broken)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(DatasetError, match="not a plain '<name>.tar' file name"):
        PackedShardsDataset(str(out)).save({"../escape.tar": []})

"""A multi-file output (a world) is committed as one unit that loaders check."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from kedro.io import DatasetError

from datarecipes.io.unit import MARKER, UnitMemberDataset

_PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 8
_MEMBERS = ["images", "metadata.parquet"]


def _members(unit):
    common = {"unit": str(unit), "members": _MEMBERS, "rebuild": "kedro run --pipelines=scenes"}
    images = UnitMemberDataset(member="images", dataset={
        "type": "datarecipes.io.atomic_datasets.PartitionedDataset",
        "dataset": {"type": "datarecipes.io.datasets.BytesDataset", "format": "png"},
        "filename_suffix": ".png",
        "overwrite": True}, **common)
    meta = UnitMemberDataset(member="metadata.parquet",
                             dataset={"type": "datarecipes.io.atomic_datasets.ParquetDataset"},
                             **common)
    return images, meta


def test_unit_appears_only_when_every_member_is_saved(tmp_path):
    unit = tmp_path / "world"
    images, meta = _members(unit)
    images.save({"a": _PNG, "b": _PNG})
    assert not unit.exists() and not images.exists() and not meta.exists()
    meta.save(pd.DataFrame({"image_id": ["a", "b"]}))
    assert images.exists() and meta.exists()
    assert json.loads((unit / MARKER).read_text())["members"] == _MEMBERS
    assert sorted(images.load()) == ["a", "b"]
    # Nothing but the unit is left in the parent: no staging directory.
    assert [p.name for p in tmp_path.iterdir()] == ["world"]


def test_a_second_write_replaces_the_unit_only_when_complete(tmp_path):
    unit = tmp_path / "world"
    images, meta = _members(unit)
    images.save({"a": _PNG})
    meta.save(pd.DataFrame({"image_id": ["a"]}))
    # A new world half-written (the process would be killed here): the old one stays whole.
    images2, meta2 = _members(unit)
    images2.save({"x": _PNG, "y": _PNG})
    assert sorted(images.load()) == ["a"]
    assert list(meta.load()["image_id"]) == ["a"]
    meta2.save(pd.DataFrame({"image_id": ["x", "y"]}))
    assert sorted(images.load()) == ["x", "y"]
    assert list(meta.load()["image_id"]) == ["x", "y"]


def test_unit_without_marker_is_refused_naming_it_and_the_command(tmp_path):
    unit = tmp_path / "world"
    (unit / "images").mkdir(parents=True)
    (unit / "images" / "a.png").write_bytes(_PNG)
    pd.DataFrame({"image_id": ["a"]}).to_parquet(unit / "metadata.parquet")
    images, meta = _members(unit)
    assert not images.exists() and not meta.exists()
    with pytest.raises(DatasetError, match=r"world is incomplete.*kedro run --pipelines=scenes"):
        meta.load()
    with pytest.raises(DatasetError, match=r"nothing does not exist"):
        _members(tmp_path / "nothing")[0].load()


def test_member_must_be_listed(tmp_path):
    with pytest.raises(DatasetError, match="not in members"):
        UnitMemberDataset(unit=str(tmp_path), member="x", members=["y"],
                          dataset="datarecipes.io.atomic_datasets.JSONDataset")


def test_staging_left_by_a_dead_process_is_removed_by_the_next_write(tmp_path):
    unit = tmp_path / "world"
    dead = tmp_path / ".world.999999999.abc.staging.tmp"
    (dead / "images").mkdir(parents=True)
    images, meta = _members(unit)
    images.save({"a": _PNG})
    meta.save(pd.DataFrame({"image_id": ["a"]}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world"]

"""ImageTableDataset: a table whose image paths the catalog resolves (the filtering world)."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DatasetError

from datarecipes.io.datasets import ImageTableDataset
from datarecipes.io.unit import UnitMemberDataset


def _world(unit):
    (unit / "images").mkdir(parents=True)
    (unit / "images" / "a.png").write_bytes(b"a")
    return pd.DataFrame({"image_id": ["a", "b", "c"],
                         "image_path": ["images/a.png", "images/b.png", None]})


def test_paths_are_stored_as_given_and_loaded_resolved(tmp_path):
    table = _world(tmp_path / "world")
    dataset = ImageTableDataset(filepath=str(tmp_path / "world" / "metadata.parquet"))
    dataset.save(table)
    stored = pd.read_parquet(tmp_path / "world" / "metadata.parquet")
    assert stored["image_path"].tolist()[:2] == ["images/a.png", "images/b.png"]
    assert pd.isna(stored["image_path"][2])
    loaded = dataset.load()
    root = tmp_path / "world"
    # found; missing (reported where the table says, for the reader to count); no image
    assert loaded["image_path"].tolist()[:2] == [str(root / "images" / "a.png"),
                                                 str(root / "images" / "b.png")]
    assert pd.isna(loaded["image_path"][2])
    other = tmp_path / "elsewhere"
    (other / "images").mkdir(parents=True)
    (other / "images" / "b.png").write_bytes(b"b")
    moved = ImageTableDataset(filepath=str(root / "metadata.parquet"), image_root=str(other))
    assert moved.load()["image_path"][1] == str(other / "images" / "b.png")


def test_a_table_without_the_image_column_is_refused_by_name_unless_empty(tmp_path):
    dataset = ImageTableDataset(filepath=str(tmp_path / "t.parquet"), image_column="file")
    dataset.save(pd.DataFrame({"image_path": ["x.png"]}))
    with pytest.raises(DatasetError, match=r"t\.parquet: no image column 'file'"):
        dataset.load()
    # The filtering world's metadata when a user's pairs replace the world: no rows at all.
    dataset.save(pd.DataFrame({"image_id": pd.Series(dtype=str)}))
    assert dataset.load().empty


def test_as_a_unit_member_it_resolves_against_the_unit(tmp_path):
    unit = tmp_path / "filtering_world"
    table = _world(tmp_path / "staging_source")
    member = UnitMemberDataset(unit=str(unit), member="metadata.parquet",
                               members=["metadata.parquet"],
                               dataset={"type": "datarecipes.io.datasets.ImageTableDataset"})
    member.save(table)
    (unit / "images").mkdir()
    (unit / "images" / "a.png").write_bytes(b"a")
    assert member.load()["image_path"][0] == str(unit / "images" / "a.png")

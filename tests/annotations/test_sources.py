"""The provision recipe's read-only sources: ProVision annotation directories and Visual Genome
scene graphs (format detected or named), image roots, optional split files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DatasetError

from datarecipes.io.datasets import SceneGraphSource, SceneSplitsSource
from datarecipes.pipelines.provision.nodes import select_scene_source
from tests.helpers import SHARED_DATA

# The shared data sits beside the main checkout; a worktree elsewhere finds it at /work/shared.
SAMPLE = next(p for p in (SHARED_DATA / "provision_sample",
                          Path("/work/shared/data/provision_sample")) if p.is_dir())


def digest(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture
def provision_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "annotations"
    shutil.copytree(SAMPLE, copy)
    for p in copy.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return copy


VG = [
    {"image_id": 10, "width": 64, "height": 48, "objects": [
        {"object_id": 1, "x": 2, "y": 3, "w": 10, "h": 12, "names": ["dog"],
         "attributes": ["brown"]},
        {"object_id": 2, "x": 30, "y": 5, "w": 20, "h": 20, "names": ["ball"]}],
     "relationships": [{"predicate": "left of", "subject_id": 1, "object_id": 2}],
     "url": "https://cs.stanford.edu/people/rak248/VG_100K/10.jpg"},
    {"image_id": 11, "width": 32, "height": 32, "objects": [
        {"object_id": 5, "x": 1, "y": 1, "w": 5, "h": 5, "name": "cup"}], "relationships": []},
]


def test_provision_directory_is_detected_and_images_resolved(provision_copy):
    before = digest(provision_copy)
    source = SceneGraphSource(str(provision_copy))
    assert source.resolved()[0] == "provision"
    graphs = source.load()
    assert sorted(graphs) == ["baseball_1", "baseball_2"]
    # data_path says sample_data/images/...; the image root (the directory) has images/.
    for image_id, graph in graphs.items():
        assert graph.image_path == str(provision_copy / "images" / f"{image_id}.png")
        assert graph.masks is None  # pickled masks are refused by default, not unpickled
        assert graph.extra["source_format"] == "provision"
    # A layer file names its directory too.
    by_file = SceneGraphSource(str(provision_copy / "object-detection-annotations.json")).load()
    assert sorted(by_file) == sorted(graphs)
    with pytest.raises(DatasetError, match=r"annotations.*is a source \(read-only\)"):
        source.save(graphs)
    assert digest(provision_copy) == before


def test_visual_genome_file_or_directory_detected_or_named(tmp_path):
    vg = tmp_path / "vg"
    vg.mkdir()
    (vg / "scene_graphs.json").write_text(json.dumps(VG))
    for path in (vg, vg / "scene_graphs.json"):
        graphs = SceneGraphSource(str(path)).load()
        assert sorted(graphs) == ["10", "11"]
        assert graphs["10"].labels == ["dog", "ball"]
        assert graphs["10"].relations == [(0, "left of", 1)]
        assert graphs["10"].image_path == str(vg / "10.jpg")  # the file's directory as root
    (tmp_path / "graphs.txt").write_text(json.dumps(VG))
    with pytest.raises(DatasetError, match="name the format with provision_source_format"):
        SceneGraphSource(str(tmp_path / "graphs.txt")).load()
    named = SceneGraphSource(str(tmp_path / "graphs.txt"), format="visual_genome",
                             image_root=str(vg)).load()
    assert sorted(named) == ["10", "11"] and named["11"].image_path == str(vg / "11.jpg")


def test_unusable_sources_are_refused_naming_the_path(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty.*neither ProVision annotations"):
        SceneGraphSource(str(tmp_path / "empty")).load()
    with pytest.raises(DatasetError, match=r"nowhere.*does not exist"):
        SceneGraphSource(str(tmp_path / "nowhere")).load()
    with pytest.raises(DatasetError, match="format must be"):
        SceneGraphSource(str(tmp_path), format="coco")
    assert SceneGraphSource(None).load() is None


def test_splits_default_to_train_or_come_from_a_file(provision_copy, tmp_path):
    graphs = SceneGraphSource(str(provision_copy)).load()
    chosen, splits, metrics = select_scene_source({}, pd.DataFrame(), graphs, None)
    assert chosen == graphs and set(splits["split"]) == {"train"}
    assert metrics == {"images": 2.0, "user_source": 1.0, "images/train": 2.0}

    (tmp_path / "splits.csv").write_text("image_id, split\nbaseball_1, train\nbaseball_2,test\n")
    (tmp_path / "splits.json").write_text(json.dumps({"baseball_1": "train",
                                                      "baseball_2": "test"}))
    for name in ("splits.csv", "splits.json"):
        table = SceneSplitsSource(str(tmp_path / name)).load()
        _, splits, metrics = select_scene_source({}, pd.DataFrame(), graphs, table)
        assert dict(zip(splits["image_id"], splits["split"])) == {"baseball_1": "train",
                                                                  "baseball_2": "test"}
        assert metrics["images/test"] == 1.0
    (tmp_path / "partial.csv").write_text("image_id,split\nbaseball_1,train\n")
    partial = SceneSplitsSource(str(tmp_path / "partial.csv")).load()
    with pytest.raises(ValueError, match=r"no split to 1 of the 2 images, e.g. \['baseball_2'\]"):
        select_scene_source({}, pd.DataFrame(), graphs, partial)
    (tmp_path / "bad.csv").write_text("id,fold\nbaseball_1,train\n")
    with pytest.raises(DatasetError, match=r"bad\.csv': needs columns image_id and split"):
        SceneSplitsSource(str(tmp_path / "bad.csv")).load()


def test_without_a_source_the_world_and_its_splits_pass_through():
    world = {"s0": object(), "s1": object()}
    meta = pd.DataFrame({"image_id": ["s0", "s1"], "split": ["train", "test"], "x": [1, 2]})
    graphs, splits, metrics = select_scene_source(world, meta, None, None)
    assert graphs == world and splits.to_dict("list") == {"image_id": ["s0", "s1"],
                                                          "split": ["train", "test"]}
    assert metrics["user_source"] == 0.0
    with pytest.raises(ValueError, match="provision_splits_source is given but"):
        select_scene_source(world, meta, None, meta[["image_id", "split"]])

"""The scenes pipeline: in-memory run, and the real catalog's files (bytes, overwrite)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from datarecipes.hooks import use_typed_parameters
from datarecipes.pipelines.scenes import create_pipeline
from datarecipes.scenegraph import SceneGraph
from tests.helpers import PROJECT_ROOT

SMALL = {"n_scenes": 6, "seed": 11, "corrupt_fraction": 0.5}


def _run(catalog: DataCatalog) -> None:
    """What ``kedro run --pipelines=scenes`` does: parameters built and checked, then nodes."""
    pipeline = create_pipeline()
    use_typed_parameters(catalog, pipeline)
    SequentialRunner().run(pipeline, catalog)


def _memory_catalog(params: dict) -> DataCatalog:
    catalog = DataCatalog({
        name: MemoryDataset()
        for name in ("scene_images", "scene_graphs", "scene_metadata", "scenes_metrics")
    })
    catalog["params:scenes"] = params
    return catalog


def test_pipeline_runs_on_memory_datasets(caplog):
    catalog = _memory_catalog(SMALL)
    with caplog.at_level(logging.INFO):
        _run(catalog)
    assert "Pipeline execution completed successfully" in caplog.text
    graphs = catalog["scene_graphs"].load()
    images = catalog["scene_images"].load()
    metrics = catalog["scenes_metrics"].load()  # scene_metadata, an intermediate, is released
    assert sorted(graphs) == sorted(images) and len(graphs) == 6
    assert all(isinstance(g, SceneGraph) and g.source == "scenes" for g in graphs.values())
    assert all(png.startswith(b"\x89PNG") for png in images.values())
    assert metrics["n_images"] == 6 and metrics["corrupted_fraction"] == 0.5
    assert metrics["n_train"] + metrics["n_validation"] + metrics["n_test"] == 6
    assert metrics["mean_objects"] == pytest.approx(
        sum(g.n_objects for g in graphs.values()) / 6
    )
    assert metrics["mean_relations"] == pytest.approx(
        sum(len(g.relations) for g in graphs.values()) / 6
    )
    assert all(isinstance(v, float) for v in metrics.values())


def test_pipeline_refuses_bad_parameters_before_writing(tmp_path):
    catalog = _file_catalog(tmp_path, {**SMALL, "colours": ["red", "mauve"]})
    with pytest.raises(Exception, match=r"parameters_scenes.yml: scenes: colours.*'mauve'"):
        _run(catalog)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def _file_catalog(root: Path, params: dict) -> DataCatalog:
    """The project's catalog entries with their paths moved under ``root``."""
    config = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog_scenes.yml").read_text())
    # Keys starting with "_" hold YAML anchors; Kedro's config loader drops them.
    config = {name: entry for name, entry in config.items() if not name.startswith("_")}
    for entry in config.values():
        for block in (entry, entry.get("dataset") or {}):
            for key in ("path", "filepath", "image_root", "unit"):
                if key in block:
                    block[key] = str(root / block[key])
    catalog = DataCatalog.from_config(config)
    catalog["params:scenes"] = params
    return catalog


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_byte_identical_files(tmp_path):
    for run in ("a", "b"):
        _run(_file_catalog(tmp_path / run, SMALL))
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    kinds = {Path(name).suffix for name in a}
    assert {".png", ".npy", ".npz", ".json", ".parquet"} <= kinds
    # images, depth+masks, 5 layers, parquet, the world's completion marker, metrics
    assert len(a) == 6 + 6 * 2 + 5 + 1 + 1 + 1
    assert a.keys() == b.keys()
    assert [name for name in a if a[name] != b[name]] == []
    other = tmp_path / "c"
    _run(_file_catalog(other, {**SMALL, "seed": 12}))
    assert _files(other)["data/01_raw/scenes/images/scene_000000.png"] != (
        a["data/01_raw/scenes/images/scene_000000.png"]
    )


def test_saved_world_loads_back_and_smaller_n_leaves_no_stale_files(tmp_path):
    _run(_file_catalog(tmp_path, SMALL))
    _run(_file_catalog(tmp_path, {**SMALL, "n_scenes": 3}))
    scenes = tmp_path / "data/01_raw/scenes"
    assert sorted(p.name for p in (scenes / "images").iterdir()) == [
        f"scene_{i:06d}.png" for i in range(3)
    ]
    assert len(list((scenes / "annotations/seg_masks").iterdir())) == 3
    catalog = _file_catalog(tmp_path, SMALL)
    graphs = catalog.load("scene_graphs")
    metadata = catalog.load("scene_metadata")
    assert isinstance(metadata, pd.DataFrame) and len(metadata) == 3
    for row in metadata.itertuples():
        graph = graphs[row.image_id]
        # data_path resolves against the configured image root to the saved image.
        assert Path(graph.image_path) == scenes / row.image_path
        assert Path(graph.image_path).is_file()
        assert graph.caption == row.caption and graph.extra["split"] == row.split
        assert graph.masks.shape == (row.n_objects, 128, 128) and len(graph.relations) == (
            row.n_relations
        )
    partitions = catalog.load("scene_images")
    assert sorted(partitions) == sorted(metadata["image_id"])
    assert partitions["scene_000000"]().startswith(b"\x89PNG")

"""Visual Genome reader, and the Kedro datasets (SceneGraphDataset, BytesDataset)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from kedro.io import DatasetError
from kedro_datasets.partitions import PartitionedDataset
from PIL import Image

from datarecipes.annotations import AnnotationError, load_visual_genome
from datarecipes.io.datasets import BytesDataset, SceneGraphDataset
from datarecipes.scenes import ScenesParams, generate_world
from tests.helpers import SHARED_DATA

VG = [
    {
        "image_id": 1,
        "objects": [
            {"object_id": 1058498, "x": 421, "y": 91, "w": 79, "h": 339, "names": ["clock"],
             "attributes": ["Green", "tall"]},
            {"object_id": 5046, "x": 77, "y": 328, "w": 714, "h": 262, "names": ["street"]},
            {"object_id": 7, "x": 0, "y": 0, "w": 10, "h": 10, "name": "sky"},
        ],
        "relationships": [
            {"relationship_id": 15927, "predicate": "ON", "subject_id": 1058498,
             "object_id": 5046},
            {"relationship_id": 2, "predicate": "above", "subject": {"object_id": 7},
             "object": {"object_id": 5046}},
        ],
    },
    {"image_id": 2, "width": 64, "height": 48, "objects": [], "relationships": [],
     "url": "https://cs.stanford.edu/people/rak248/VG_100K_2/2.jpg"},
]


def test_visual_genome_maps_ids_to_indices(tmp_path):
    path = tmp_path / "scene_graphs.json"
    path.write_text(json.dumps(VG))
    Image.new("RGB", (800, 600)).save(tmp_path / "1.jpg")
    graphs = load_visual_genome(path, image_root=tmp_path)
    g = graphs["1"]
    assert g.labels == ["clock", "street", "sky"]
    assert g.bboxes.tolist()[0] == [421, 91, 500, 430]
    assert g.attributes == [["green", "tall"], [], []]
    assert g.relations == [(0, "on", 1), (2, "above", 1)]
    assert (g.width, g.height) == (800, 600) and g.image_path == str(tmp_path / "1.jpg")
    assert g.source == "visual_genome"
    empty = graphs["2"]
    assert empty.n_objects == 0 and (empty.width, empty.height) == (64, 48)
    assert empty.image_path == str(tmp_path / "2.jpg")  # not found: the file name under root
    (tmp_path / "VG_100K_2").mkdir()
    (tmp_path / "VG_100K_2" / "2.jpg").write_bytes(b"")
    assert load_visual_genome(path, tmp_path)["2"].image_path == str(
        tmp_path / "VG_100K_2" / "2.jpg"
    )
    # Without images or sizes, the size is the boxes' extent, and flagged as such.
    no_images = load_visual_genome(path)["1"]
    assert (no_images.width, no_images.height) == (791, 590)
    assert no_images.extra == {"size_from_boxes": True} and no_images.image_path is None


def test_visual_genome_bad_object_id_is_named(tmp_path):
    bad = json.loads(json.dumps(VG))
    bad[0]["relationships"][0]["object_id"] = 999
    path = tmp_path / "vg.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(AnnotationError) as err:
        load_visual_genome(path)
    msg = str(err.value)
    assert "vg.json" in msg and "image '1'" in msg and "relationship 0" in msg and "999" in msg
    bad[0]["relationships"] = []
    bad[0]["objects"][1]["object_id"] = 1058498
    path.write_text(json.dumps(bad))
    with pytest.raises(AnnotationError, match="object 1 repeats object_id 1058498"):
        load_visual_genome(path)
    path.write_text("[{")
    with pytest.raises(AnnotationError, match="vg.json: malformed JSON"):
        load_visual_genome(path)


def test_scene_graph_dataset_saves_and_loads_provision(tmp_path):
    world = generate_world(ScenesParams(n_scenes=3), progress=False)
    images = tmp_path / "images"
    images.mkdir()
    for image_id, png in world.images.items():
        (images / f"{image_id}.png").write_bytes(png)
    ds = SceneGraphDataset(path=str(tmp_path / "ann"), image_root=str(images))
    assert not ds.exists()
    ds.save(world.graphs)
    assert ds.exists()
    loaded = ds.load()
    assert sorted(loaded) == sorted(world.graphs)
    for image_id, graph in loaded.items():
        assert graph.image_path == str(images / f"{image_id}.png")
        assert np.array_equal(graph.masks, world.graphs[image_id].masks)
    with pytest.raises(DatasetError, match="not a SceneGraph with that image id"):
        ds.save({"other": world.graphs["scene_000000"]})
    assert "allow_pickle" in str(ds)


def test_scene_graph_dataset_pickle_switch_and_vg_format(tmp_path):
    sample = SHARED_DATA / "provision_sample"
    assert SceneGraphDataset(path=str(sample)).load()["baseball_1"].masks is None
    allowed = SceneGraphDataset(path=str(sample), allow_pickle=True).load()
    assert allowed["baseball_1"].masks.shape == (4, 400, 401)
    path = tmp_path / "vg.json"
    path.write_text(json.dumps(VG))
    vg = SceneGraphDataset(path=str(path), format="visual_genome")
    assert vg.load()["1"].relations == [(0, "on", 1), (2, "above", 1)]
    with pytest.raises(DatasetError, match="only supported in the provision format"):
        vg.save({})
    with pytest.raises(DatasetError, match="format must be"):
        SceneGraphDataset(path="x", format="coco")


def test_png_partitions_save_exact_bytes_and_refuse_non_png(tmp_path):
    world = generate_world(ScenesParams(n_scenes=2), progress=False)
    parts = PartitionedDataset(path=str(tmp_path / "images"),
                               dataset={"type": BytesDataset, "format": "png"},
                               filename_suffix=".png", overwrite=True)
    parts.save(world.images)
    loaded = {k: load() for k, load in parts.load().items()}
    assert loaded == world.images
    single = BytesDataset(filepath=str(tmp_path / "x.png"), format="png")
    with pytest.raises(DatasetError, match="not PNG bytes"):
        single.save(b"GIF89a...")
    assert not (tmp_path / "x.png").exists()
    (tmp_path / "y.png").write_bytes(b"nope")
    with pytest.raises(DatasetError, match="y.png: not a PNG file"):
        BytesDataset(filepath=str(tmp_path / "y.png"), format="png").load()

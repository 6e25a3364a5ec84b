"""ProVision-format reader and writer: the real sample, round trips, errors, atomicity."""

from __future__ import annotations

import io
import json
import logging
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from datarecipes.annotations import AnnotationError, load_provision, write_provision
from datarecipes.annotations.arrays import npz_bytes
from datarecipes.scenegraph import LAYER_FILES, SceneGraph
from datarecipes.scenes import ScenesParams, generate_world
from tests.helpers import SHARED_DATA

SAMPLE = SHARED_DATA / "provision_sample"


def test_sample_loads_without_pickle_and_names_the_refused_file(caplog):
    with caplog.at_level(logging.WARNING):
        graphs = load_provision(SAMPLE, image_root=SAMPLE / "images")
    assert sorted(graphs) == ["baseball_1", "baseball_2"]
    g = graphs["baseball_1"]
    assert (g.width, g.height) == (401, 400)
    assert g.labels == ["batter", "bat", "ball", "baseball uniform"]
    assert g.bboxes.tolist()[0] == [5, 54, 266, 355] and g.bboxes.shape == (4, 4)
    assert g.relations == [(0, "wearing", 3), (0, "about to hit", 2), (0, "holding", 1)]
    assert g.attributes[1] == ["blue", "golden", "white", "wooden"]
    assert g.depth.shape == (400, 401) and g.depth.dtype == np.uint8
    assert g.extra["det_scores"][0] == pytest.approx(0.6489412188529968)
    assert g.masks is None
    assert "baseball_1_mask.pkl" in g.extra["masks_refused"]
    assert "allow_pickle" in g.extra["masks_refused"]
    assert "baseball_1_mask.pkl" in caplog.text
    # data_path says sample_data/images/...; it resolves against the configured root.
    assert Path(g.image_path) == SAMPLE / "images" / "baseball_1.png"
    b2 = graphs["baseball_2"]
    assert b2.n_objects == 8 and b2.relations[2] == (7, "on", 0)
    assert b2.depth.shape == (506, 770)


def test_sample_masks_load_when_pickle_is_allowed():
    graphs = load_provision(SAMPLE, allow_pickle=True)
    for g in graphs.values():
        assert g.masks.shape == (g.n_objects, g.height, g.width) and g.masks.dtype == bool
        assert "masks_refused" not in g.extra
        # Each mask lies (mostly) inside its object's box.
        for mask, (x0, y0, x1, y1) in zip(g.masks, g.bboxes.astype(int)):
            inside = mask[y0:y1 + 1, x0:x1 + 1].sum()
            assert mask.sum() > 0 and inside >= 0.95 * mask.sum()
    # Without an image root, data_path is kept as written.
    assert graphs["baseball_1"].image_path == "sample_data/images/baseball_1.png"


def test_layers_selects_what_is_read_and_missing_layers_are_none(tmp_path):
    graphs = load_provision(SAMPLE, layers=["relations"])
    g = graphs["baseball_1"]
    assert g.relations and g.attributes is None and g.depth is None and g.masks is None
    root = tmp_path / "ann"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("images"))
    (root / LAYER_FILES["depth"]).unlink()
    assert load_provision(root)["baseball_2"].depth is None
    with pytest.raises(ValueError, match="unknown annotation layer"):
        load_provision(SAMPLE, layers=["captions"])


def _world_graphs(n: int = 4) -> dict[str, SceneGraph]:
    return generate_world(ScenesParams(n_scenes=n, corrupt_fraction=0.5), progress=False).graphs


def _assert_same(a: SceneGraph, b: SceneGraph) -> None:
    assert (a.image_id, a.width, a.height, a.labels) == (b.image_id, b.width, b.height, b.labels)
    assert np.array_equal(a.bboxes, b.bboxes)
    assert a.attributes == b.attributes and a.relations == b.relations
    assert a.caption == b.caption and a.image_path == b.image_path and a.source == b.source
    assert a.extra == b.extra
    for x, y in ((a.depth, b.depth), (a.masks, b.masks)):
        assert (x is None) == (y is None)
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y)


def test_round_trip_write_then_load_is_equal(tmp_path):
    graphs = _world_graphs()
    write_provision(graphs.values(), tmp_path / "ann")
    loaded = load_provision(tmp_path / "ann")
    assert list(loaded) == sorted(graphs)
    for image_id, graph in graphs.items():
        _assert_same(graph, loaded[image_id])
    # The written files follow the format: relative data_path, source, npz masks, caption.
    objects = json.loads((tmp_path / "ann" / LAYER_FILES["objects"]).read_text())
    entry = objects["scene_000000"]
    assert entry["data_path"] == "images/scene_000000.png" and entry["source"] == "scenes"
    assert entry["annotation"]["det_scores"] == [1.0] * len(entry["annotation"]["labels"])
    assert entry["annotation"]["caption"] == graphs["scene_000000"].caption
    seg = json.loads((tmp_path / "ann" / LAYER_FILES["segmentation"]).read_text())
    assert seg["scene_000000"]["annotation"]["seg_mask_id"] == "scene_000000_mask.npz"
    with np.load(tmp_path / "ann/seg_masks/scene_000000_mask.npz", allow_pickle=False) as z:
        assert z.files == ["masks"] and z["masks"].dtype == bool


def test_round_trip_of_the_real_sample_and_partial_graphs(tmp_path):
    sample = load_provision(SAMPLE, allow_pickle=True)
    partial = SceneGraph("bare", 10, 10, ["cat"], [[1, 2, 3.5, 4]], caption=None)
    write_provision([*sample.values(), partial], tmp_path / "ann")
    loaded = load_provision(tmp_path / "ann")  # masks are now .npz: no pickle needed
    for image_id, graph in sample.items():
        _assert_same(graph, loaded[image_id])
    bare = loaded["bare"]
    assert bare.attributes is None and bare.relations is None and bare.masks is None
    assert bare.bboxes.tolist() == [[1, 2, 3.5, 4]] and bare.extra == {"det_scores": [1.0]}


def test_masks_npz_is_byte_deterministic():
    masks = np.random.default_rng(0).random((3, 16, 16)) > 0.5
    data = npz_bytes(masks=masks)
    assert data == npz_bytes(masks=masks)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert [i.date_time for i in archive.infolist()] == [(1980, 1, 1, 0, 0, 0)]
    assert np.array_equal(np.load(io.BytesIO(data))["masks"], masks)


def test_failed_write_leaves_no_directory(tmp_path, monkeypatch):
    graphs = _world_graphs(3)
    calls = {"n": 0}
    real = np.save

    def failing_save(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second depth map: some files already written
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_provision(graphs.values(), tmp_path / "ann")
    assert list(tmp_path.iterdir()) == []  # neither the directory nor a temporary
    # An existing directory survives a failed rewrite unchanged.
    monkeypatch.setattr(np, "save", real)
    write_provision(graphs.values(), tmp_path / "ann")
    before = {p: p.read_bytes() for p in (tmp_path / "ann").rglob("*") if p.is_file()}
    calls["n"] = 0
    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(OSError):
        write_provision(list(graphs.values())[:1], tmp_path / "ann")
    after = {p: p.read_bytes() for p in (tmp_path / "ann").rglob("*") if p.is_file()}
    assert after == before and [p.name for p in tmp_path.iterdir()] == ["ann"]


def _copy_sample(tmp_path: Path) -> Path:
    root = tmp_path / "ann"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("images"))
    for p in root.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    root.chmod(0o755)
    return root


def _edit(root: Path, layer: str, fn) -> None:
    path = root / LAYER_FILES[layer]
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def test_malformed_json_names_the_file(tmp_path):
    root = _copy_sample(tmp_path)
    (root / LAYER_FILES["attributes"]).write_text('{"baseball_1": {')
    with pytest.raises(AnnotationError, match="image-attributes-annotations.json: malformed JSON"):
        load_provision(root)


def test_relation_to_a_missing_object_names_file_image_and_index(tmp_path):
    root = _copy_sample(tmp_path)
    _edit(root, "relations",
          lambda d: d["baseball_1"]["annotation"]["relations"].append([0, "near", 9]))
    with pytest.raises(AnnotationError) as err:
        load_provision(root)
    msg = str(err.value)
    assert "relation-annotations-parsed.json" in msg and "'baseball_1'" in msg
    assert "relation 3" in msg and "object 9" in msg


def test_attribute_list_for_a_missing_object_names_file_image_and_index(tmp_path):
    root = _copy_sample(tmp_path)
    _edit(root, "attributes",
          lambda d: d["baseball_2"]["annotation"]["attributes"].append(["red"]))
    with pytest.raises(AnnotationError) as err:
        load_provision(root)
    msg = str(err.value)
    assert "image-attributes-annotations.json" in msg and "'baseball_2'" in msg
    assert "attribute list 8" in msg


def test_depth_of_the_wrong_shape_and_stray_images_are_refused(tmp_path):
    root = _copy_sample(tmp_path)
    np.save(root / "depth_masks/baseball_1_depth.npy", np.zeros((10, 10), np.uint8))
    with pytest.raises(AnnotationError, match=r"baseball_1_depth.npy: depth map has shape"):
        load_provision(root)
    root2 = _copy_sample(tmp_path / "two")
    _edit(root2, "depth", lambda d: d.setdefault("ghost", d["baseball_1"]))
    with pytest.raises(AnnotationError, match=r"depth-estimation-annotations.json.*'ghost'"):
        load_provision(root2)


def test_writer_refuses_unsafe_ids_and_wrong_depth(tmp_path):
    with pytest.raises(ValueError, match="'../x'"):
        write_provision([SceneGraph("../x", 4, 4, [], np.zeros((0, 4)))], tmp_path / "a")
    bad = SceneGraph("img", 4, 4, [], np.zeros((0, 4)), depth=np.zeros((5, 4), np.uint8))
    with pytest.raises(ValueError, match="'img': depth must be uint8"):
        write_provision([bad], tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()

"""Visual Genome scene graphs (``scene_graphs.json``) read into :class:`SceneGraph`.

The file is a list of images ``{"image_id", "objects": [...], "relationships": [...]}``;
objects carry ``object_id``, ``x``, ``y``, ``w``, ``h``, ``names`` (or ``name``) and optional
``attributes``; relationships carry ``subject_id`` / ``object_id`` (or nested ``subject`` /
``object`` objects, as in ``relationships.json``) and ``predicate``. Object ids are mapped to
indices in file order. Images are ``<image_root>/<folder>/<id>.jpg`` or
``<image_root>/<id>.jpg`` (from ``url`` when present). Image size comes from ``width`` /
``height`` when present (as in ``image_data.json`` merged in), else from the image file
header under ``image_root``, else from the boxes' extent (recorded as
``extra["size_from_boxes"] = True``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from datarecipes.annotations.arrays import AnnotationError
from datarecipes.io.paths import resolve_image_path
from datarecipes.scenegraph import SceneGraph

SOURCE = "visual_genome"


def _endpoint(rel: dict[str, Any], role: str) -> Any:
    if f"{role}_id" in rel:
        return rel[f"{role}_id"]
    nested = rel.get(role)
    return nested.get("object_id") if isinstance(nested, dict) else None


def _image_size(
    item: dict[str, Any], image_path: str | None, boxes: np.ndarray
) -> tuple[int, int, bool]:
    if "width" in item and "height" in item:
        return int(item["width"]), int(item["height"]), False
    if image_path is not None and Path(image_path).is_file():
        with Image.open(image_path) as img:
            return img.width, img.height, False
    if len(boxes):
        return int(np.ceil(boxes[:, 2].max())), int(np.ceil(boxes[:, 3].max())), True
    return 0, 0, True


def _parse_image(
    item: dict[str, Any], k: int, path: Path, image_root: str | os.PathLike[str] | None
) -> SceneGraph:
    if not isinstance(item, dict) or "image_id" not in item:
        raise AnnotationError(f"{path}: entry {k} has no 'image_id'")
    image_id = str(item["image_id"])
    where = f"{path}: image {image_id!r}"
    index: dict[Any, int] = {}
    labels: list[str] = []
    boxes: list[list[float]] = []
    attributes: list[list[str]] = []
    for j, obj in enumerate(item.get("objects", [])):
        try:
            oid = obj["object_id"]
            names = obj.get("names") or ([obj["name"]] if "name" in obj else [])
            box = [float(obj["x"]), float(obj["y"]), float(obj["x"]) + float(obj["w"]),
                   float(obj["y"]) + float(obj["h"])]
        except (KeyError, TypeError, ValueError) as err:
            raise AnnotationError(f"{where}: object {j} is malformed ({err!r})") from None
        if not names:
            raise AnnotationError(f"{where}: object {j} (id {oid}) has no name")
        if oid in index:
            raise AnnotationError(f"{where}: object {j} repeats object_id {oid}")
        index[oid] = len(labels)
        labels.append(str(names[0]).strip().lower())
        boxes.append(box)
        attributes.append([str(a).strip().lower() for a in obj.get("attributes", []) or []])
    relations = []
    for j, rel in enumerate(item.get("relationships", [])):
        ends = []
        for role in ("subject", "object"):
            oid = _endpoint(rel, role)
            if oid not in index:
                raise AnnotationError(
                    f"{where}: relationship {j} has {role}_id {oid!r}, which is not an "
                    "object of this image"
                )
            ends.append(index[oid])
        predicate = str(rel.get("predicate", "")).strip().lower()
        if not predicate:
            raise AnnotationError(f"{where}: relationship {j} has no predicate")
        relations.append((ends[0], predicate, ends[1]))
    bboxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    url = item.get("url")
    # VG's urls end in <VG_100K or VG_100K_2>/<id>.jpg: keep the folder so an image root
    # holding both folders resolves, and a flat one still matches on the file name.
    file_name = "/".join(url.split("/")[-2:]) if isinstance(url, str) and url else (
        f"{image_id}.jpg"
    )
    image_path = resolve_image_path(file_name, image_root) if image_root is not None else None
    if image_path is not None and not os.path.isfile(image_path):
        # The folder came from the url, not from the user's layout: a missing image is
        # reported as the file name under the root (the flat layout most copies of VG use).
        image_path = os.path.join(image_root, os.path.basename(file_name))
    width, height, from_boxes = _image_size(item, image_path, bboxes)
    return SceneGraph(
        image_id=image_id,
        width=width,
        height=height,
        labels=labels,
        bboxes=bboxes,
        attributes=attributes,
        relations=relations,
        image_path=image_path,
        source=SOURCE,
        extra={"size_from_boxes": True} if from_boxes else {},
    )


def load_visual_genome(
    path: str | os.PathLike[str], image_root: str | os.PathLike[str] | None = None
) -> dict[str, SceneGraph]:
    """Read a Visual Genome scene-graph JSON file into scene graphs, by image id."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}: malformed JSON ({err})") from None
    if isinstance(data, dict) and "objects" in data:
        data = [data]
    if not isinstance(data, list):
        raise AnnotationError(f"{path}: expected a list of images, got {type(data).__name__}")
    graphs: dict[str, SceneGraph] = {}
    for k, item in enumerate(data):
        graph = _parse_image(item, k, path, image_root)
        if graph.image_id in graphs:
            raise AnnotationError(f"{path}: image {graph.image_id!r} appears twice")
        graphs[graph.image_id] = graph
    return graphs

"""The ProVision annotation format: reader and (atomic) writer.

One JSON file per layer (:data:`datarecipes.scenegraph.LAYER_FILES`), each
``{image_id: {"data_path", "annotation": {...}, "source"}}``, merged per image id:

* objects: ``width``, ``height``, ``labels``, ``bboxes`` ``[x0, y0, x1, y1]`` px,
  ``det_scores``; we add ``caption`` and ``extra`` (a JSON object: :attr:`SceneGraph.extra`);
* attributes: ``attributes``, one list per object;
* relations (``relation-annotations-parsed.json``): ``relations``, ``[head, rel, tail]``;
* depth: ``depth_mask_id`` -> ``depth_masks/<id>`` (uint8 ``.npy``, higher = closer);
* segmentation: ``seg_mask_id`` -> ``seg_masks/<id>`` (``.npz`` key ``masks`` written by
  us; ``.npy`` read; ``.pkl`` read only with ``allow_pickle``), plus ``bboxes``, ``labels``.

The objects layer is required; an image missing from another layer gets ``None`` there.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from datarecipes.annotations.arrays import (
    AnnotationError,
    load_depth,
    load_masks,
    npy_bytes,
    npz_bytes,
)
from datarecipes.io.atomic import atomic_path
from datarecipes.io.paths import resolve_image_path
from datarecipes.scenegraph import DEPTH_DIR, LAYER_FILES, MASK_DIR, SceneGraph

logger = logging.getLogger(__name__)

#: ``extra`` keys that are stored elsewhere (det_scores) or describe one load (masks_refused).
_NOT_IN_EXTRA = ("det_scores", "masks_refused")
OPTIONAL_LAYERS: tuple[str, ...] = tuple(name for name in LAYER_FILES if name != "objects")


def _read_layer(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}: malformed JSON ({err})") from None
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{path}: not UTF-8 text ({err})") from None
    if not isinstance(data, dict):
        raise AnnotationError(
            f"{path}: expected a JSON object mapping image ids to entries, "
            f"got {type(data).__name__}"
        )
    for image_id, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("annotation"), dict):
            raise AnnotationError(
                f"{path}: image {image_id!r}: expected {{'data_path', 'annotation': {{...}}, "
                "'source'}"
            )
    return data


def _required(ann: dict[str, Any], key: str, path: Path, image_id: str) -> Any:
    if key not in ann:
        raise AnnotationError(f"{path}: image {image_id!r}: annotation has no {key!r}")
    return ann[key]


def _parse_attributes(value: Any, n: int, path: Path, image_id: str) -> list[list[str]]:
    if not isinstance(value, list):
        raise AnnotationError(f"{path}: image {image_id!r}: 'attributes' must be a list")
    if len(value) > n:
        raise AnnotationError(
            f"{path}: image {image_id!r}: attribute list {n} (0-based) points to a "
            f"nonexistent object: the image has {n} objects but {len(value)} attribute lists"
        )
    if len(value) < n:
        raise AnnotationError(
            f"{path}: image {image_id!r}: {len(value)} attribute lists for {n} objects"
        )
    for k, attrs in enumerate(value):
        if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
            raise AnnotationError(
                f"{path}: image {image_id!r}: attribute list {k} must be a list of strings"
            )
    return [list(a) for a in value]


def _parse_relations(value: Any, n: int, path: Path, image_id: str) -> list[tuple[int, str, int]]:
    if not isinstance(value, list):
        raise AnnotationError(f"{path}: image {image_id!r}: 'relations' must be a list")
    relations = []
    for k, rel in enumerate(value):
        ok = (
            isinstance(rel, (list, tuple)) and len(rel) == 3 and isinstance(rel[1], str)
            and all(isinstance(i, int) and not isinstance(i, bool) for i in (rel[0], rel[2]))
        )
        if not ok:
            raise AnnotationError(
                f"{path}: image {image_id!r}: relation {k} is {rel!r}, expected "
                "[head_index, predicate, tail_index]"
            )
        head, predicate, tail = rel
        for idx in (head, tail):
            if not 0 <= idx < n:
                raise AnnotationError(
                    f"{path}: image {image_id!r}: relation {k} {rel!r} points to object "
                    f"{idx}, which does not exist (the image has {n} objects)"
                )
        relations.append((head, predicate, tail))
    return relations


def load_provision(
    root: str | os.PathLike[str],
    image_root: str | os.PathLike[str] | None = None,
    allow_pickle: bool = False,
    layers: Sequence[str] | None = None,
) -> dict[str, SceneGraph]:
    """Read a ProVision annotation directory into scene graphs, by image id.

    ``layers`` picks optional layers to read (default: all of
    :data:`OPTIONAL_LAYERS`); the objects layer is always read. Images are resolved
    against ``image_root`` (see :mod:`datarecipes.io.paths`). Pickled masks are
    refused unless ``allow_pickle``: the graph's ``masks`` is then ``None`` and
    ``extra["masks_refused"]`` says why (also logged).
    """
    root = Path(root)
    wanted = OPTIONAL_LAYERS if layers is None else tuple(layers)
    unknown = sorted(set(wanted) - set(LAYER_FILES))
    if unknown:
        raise ValueError(f"unknown annotation layer(s) {unknown}; known: {list(LAYER_FILES)}")
    objects_path = root / LAYER_FILES["objects"]
    if not objects_path.is_file():
        raise FileNotFoundError(f"{objects_path}: the object-detection layer is required")
    objects = _read_layer(objects_path)
    other: dict[str, tuple[Path, dict[str, dict[str, Any]]]] = {}
    for name in wanted:
        path = root / LAYER_FILES[name]
        if name != "objects" and path.is_file():
            other[name] = (path, _read_layer(path))
            stray = sorted(set(other[name][1]) - set(objects))
            if stray:
                raise AnnotationError(
                    f"{path}: image(s) {stray[:5]} are not in {objects_path.name}"
                )
    graphs: dict[str, SceneGraph] = {}
    refused: list[str] = []
    for image_id, entry in objects.items():
        graph = _merge_image(root, image_id, entry, objects_path, other, image_root, allow_pickle)
        if "masks_refused" in graph.extra:
            refused.append(graph.extra["masks_refused"])
        graphs[image_id] = graph
    if refused:
        logger.warning(
            "%d mask file(s) under %s were not loaded (masks set to None); first: %s",
            len(refused), root, refused[0],
        )
    return graphs


def _merge_image(
    root: Path,
    image_id: str,
    entry: dict[str, Any],
    objects_path: Path,
    other: dict[str, tuple[Path, dict[str, dict[str, Any]]]],
    image_root: str | os.PathLike[str] | None,
    allow_pickle: bool,
) -> SceneGraph:
    ann = entry["annotation"]
    labels = _required(ann, "labels", objects_path, image_id)
    bboxes = _required(ann, "bboxes", objects_path, image_id)
    width = int(_required(ann, "width", objects_path, image_id))
    height = int(_required(ann, "height", objects_path, image_id))
    if not isinstance(labels, list) or not isinstance(bboxes, list) or len(labels) != len(bboxes):
        raise AnnotationError(
            f"{objects_path}: image {image_id!r}: 'labels' and 'bboxes' must be lists of the "
            "same length"
        )
    n = len(labels)
    extra = dict(ann.get("extra") or {})
    if "det_scores" in ann:
        extra["det_scores"] = [float(s) for s in ann["det_scores"]]
    kwargs: dict[str, Any] = {}
    if "attributes" in other and image_id in other["attributes"][1]:
        path, layer = other["attributes"]
        value = _required(layer[image_id]["annotation"], "attributes", path, image_id)
        kwargs["attributes"] = _parse_attributes(value, n, path, image_id)
    if "relations" in other and image_id in other["relations"][1]:
        path, layer = other["relations"]
        value = _required(layer[image_id]["annotation"], "relations", path, image_id)
        kwargs["relations"] = _parse_relations(value, n, path, image_id)
    if "depth" in other and image_id in other["depth"][1]:
        path, layer = other["depth"]
        depth_id = _required(layer[image_id]["annotation"], "depth_mask_id", path, image_id)
        kwargs["depth"] = load_depth(root / DEPTH_DIR / depth_id, height, width)
    if "segmentation" in other and image_id in other["segmentation"][1]:
        path, layer = other["segmentation"]
        seg = layer[image_id]["annotation"]
        seg_boxes = seg.get("bboxes", bboxes)
        if len(seg_boxes) != n:
            raise AnnotationError(
                f"{path}: image {image_id!r}: {len(seg_boxes)} segmented objects but {n} "
                f"objects in {objects_path.name}"
            )
        mask_id = _required(seg, "seg_mask_id", path, image_id)
        masks, reason = load_masks(root / MASK_DIR / mask_id, n, height, width, allow_pickle)
        kwargs["masks"] = masks
        if reason:
            extra["masks_refused"] = reason
    data_path = entry.get("data_path")
    try:
        return SceneGraph(
            image_id=image_id,
            width=width,
            height=height,
            labels=[str(label) for label in labels],
            bboxes=np.asarray(bboxes, dtype=np.float64).reshape(-1, 4),
            caption=ann.get("caption"),
            image_path=resolve_image_path(data_path, image_root) if data_path else None,
            source=entry.get("source"),
            extra=extra,
            **kwargs,
        )
    except ValueError as err:
        raise AnnotationError(f"{objects_path}: {err}") from None


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_image_id(image_id: str) -> None:
    if not image_id or any(c in image_id for c in "/\\") or image_id.startswith("."):
        raise ValueError(
            f"image id {image_id!r} cannot name annotation files (no '/', '\\' or leading '.')"
        )


def write_provision(graphs: Iterable[SceneGraph], root: str | os.PathLike[str]) -> None:
    """Write scene graphs in the ProVision format; ``root`` appears complete or not at all.

    Images are listed in image-id order, so the same graphs give the same bytes. A graph's
    ``image_path`` becomes ``data_path`` (default ``images/<id>.png``).
    """
    ordered = sorted(graphs, key=lambda g: g.image_id)
    seen: set[str] = set()
    for g in ordered:
        _check_image_id(g.image_id)
        if g.image_id in seen:
            raise ValueError(f"image id {g.image_id!r} appears twice")
        seen.add(g.image_id)
    layers: dict[str, dict[str, Any]] = {name: {} for name in LAYER_FILES}
    with atomic_path(root) as tmp:
        (tmp / DEPTH_DIR).mkdir(parents=True)
        (tmp / MASK_DIR).mkdir()
        for g in ordered:
            _write_image(g, tmp, layers)
        for name, layer in layers.items():
            text = json.dumps(layer, ensure_ascii=False, separators=(",", ":")) + "\n"
            (tmp / LAYER_FILES[name]).write_text(text, encoding="utf-8")


def _write_image(g: SceneGraph, tmp: Path, layers: dict[str, dict[str, Any]]) -> None:
    data_path = g.image_path or f"images/{g.image_id}.png"
    boxes = [[_number(v) for v in box] for box in g.bboxes]

    def entry(annotation: dict[str, Any]) -> dict[str, Any]:
        return {
            "data_path": data_path,
            "annotation": {"width": int(g.width), "height": int(g.height), **annotation},
            "source": g.source,
        }

    det_scores = g.extra.get("det_scores")
    if det_scores is None or len(det_scores) != g.n_objects:
        det_scores = [1.0] * g.n_objects
    objects: dict[str, Any] = {
        "labels": list(g.labels), "bboxes": boxes, "det_scores": _jsonable(list(det_scores)),
    }
    if g.caption is not None:
        objects["caption"] = g.caption
    extra = {k: v for k, v in g.extra.items() if k not in _NOT_IN_EXTRA}
    if extra:
        objects["extra"] = _jsonable(extra)
    layers["objects"][g.image_id] = entry(objects)
    if g.attributes is not None:
        layers["attributes"][g.image_id] = entry({"attributes": [list(a) for a in g.attributes]})
    if g.relations is not None:
        rels = [[int(h), str(r), int(t)] for h, r, t in g.relations]
        layers["relations"][g.image_id] = entry({"relations": rels})
    if g.depth is not None:
        if g.depth.shape != (g.height, g.width) or g.depth.dtype != np.uint8:
            raise ValueError(
                f"image {g.image_id!r}: depth must be uint8 (height, width) = "
                f"({g.height}, {g.width}), got {g.depth.dtype} {g.depth.shape}"
            )
        depth_id = f"{g.image_id}_depth.npy"
        (tmp / DEPTH_DIR / depth_id).write_bytes(npy_bytes(g.depth))
        layers["depth"][g.image_id] = entry({"depth_mask_id": depth_id})
    if g.masks is not None:
        if g.masks.shape[1:] != (g.height, g.width):
            raise ValueError(
                f"image {g.image_id!r}: masks must be (n, {g.height}, {g.width}), "
                f"got {g.masks.shape}"
            )
        mask_id = f"{g.image_id}_mask.npz"
        (tmp / MASK_DIR / mask_id).write_bytes(npz_bytes(masks=g.masks.astype(bool)))
        layers["segmentation"][g.image_id] = entry(
            {"seg_mask_id": mask_id, "bboxes": boxes, "labels": list(g.labels)}
        )

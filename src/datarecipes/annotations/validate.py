"""Scene-graph validation where graphs enter ProVision: labels, duplicates, boxes.

Detectors and annotators hand over labels and boxes that the generators would otherwise trust:

* **labels** are normalised like attributes (``" ".join(label.split()).lower()``), so "ball",
  "Ball" and "ball " are one label; the original spelling of every object is kept in
  ``extra["original_labels"]`` for display and auditing;
* **exact duplicate detections** (same normalised label, IoU above ``duplicate_iou``) are
  merged into the one with the higher detection score (the first on ties): its attributes are
  the union, relations to the duplicate point to the kept object;
* **unusable boxes** are refused per object, with the file, image and object index named: a
  NaN or infinite coordinate, an inverted box (x1 < x0 or y1 < y0), a zero-area box, or a box
  that leaves the image by more than ``box_tolerance_px`` pixels (within the tolerance it is
  clipped to the image: detectors round past the edge). A refused object is removed with its
  attributes, mask, score and relations, so no question can be about it.

Nothing is dropped silently: :class:`ValidationReport` counts every refusal by reason, every
merge and every relabelled object, and keeps the first messages for the log; its
:meth:`~ValidationReport.metrics` go to the provision metrics.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datarecipes.config import require
from datarecipes.scenegraph import LAYER_FILES, SceneGraph

log = logging.getLogger(__name__)

#: Refusal reasons, in the order they are checked.
REASONS = ("nan_box", "inverted_box", "zero_area_box", "out_of_image_box", "empty_label")
#: Messages kept in a report (the counts are complete).
MAX_MESSAGES = 50


def normalise_label(label: str) -> str:
    """A label as generators compare it: whitespace collapsed, lower case."""
    return " ".join(str(label).split()).lower()


@dataclass(frozen=True)
class ValidationParams:
    """Thresholds of :func:`validate_graphs` (``provision.validation`` in
    ``parameters_provision.yml``)."""

    #: Two detections of one label with IoU above this are one object (merged).
    duplicate_iou: float = 0.95
    #: Pixels a box may pass the image edge (clipped); beyond, the object is refused.
    box_tolerance_px: float = 1.0

    def __post_init__(self) -> None:
        require(0.0 < self.duplicate_iou <= 1.0,
                f"duplicate_iou must be in (0, 1], got {self.duplicate_iou}")
        require(self.box_tolerance_px >= 0,
                f"box_tolerance_px must not be negative, got {self.box_tolerance_px}")


@dataclass
class ValidationReport:
    """What validation changed, over all graphs."""

    graphs: int = 0
    objects: int = 0
    refused: Counter = field(default_factory=Counter)
    merged_duplicates: int = 0
    relabelled: int = 0
    clipped: int = 0
    relations_dropped: int = 0
    messages: list[str] = field(default_factory=list)
    #: One entry per object: ``(image_id, index, label, outcome, detail)`` with outcome
    #: ``kept``, a refusal reason, or ``merged`` (detail: the index it was merged into), so a
    #: decision ledger can say what happened to each object.
    decisions: list[tuple[str, int, str, str, str]] = field(default_factory=list)

    def note(self, reason: str, message: str) -> None:
        self.refused[reason] += 1
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message)

    def metrics(self, prefix: str = "validation_") -> dict[str, float]:
        out = {"graphs": self.graphs, "objects": self.objects,
               "objects_refused": sum(self.refused.values()),
               "duplicates_merged": self.merged_duplicates, "labels_normalised": self.relabelled,
               "boxes_clipped": self.clipped, "relations_dropped": self.relations_dropped,
               **{f"refused_{r}": self.refused.get(r, 0) for r in REASONS}}
        return {prefix + k: float(v) for k, v in out.items()}


def source_file(graph: SceneGraph) -> str:
    """The file a graph's boxes came from, for messages: ``extra["annotation_file"]`` when the
    loader recorded it, else the ProVision objects layer's file name."""
    return str(graph.extra.get("annotation_file") or LAYER_FILES["objects"])


def _box_problem(box: np.ndarray, width: int, height: int, tol: float) -> str | None:
    x0, y0, x1, y1 = box
    if not np.isfinite(box).all():
        return "nan_box"
    if x1 < x0 or y1 < y0:
        return "inverted_box"
    if x1 == x0 or y1 == y0:
        return "zero_area_box"
    if x0 < -tol or y0 < -tol or x1 > width + tol or y1 > height + tol:
        return "out_of_image_box"
    return None


_WHAT = {"nan_box": "has a NaN or infinite coordinate", "inverted_box": "is inverted (x1 < x0 "
         "or y1 < y0)", "zero_area_box": "has zero area",
         "out_of_image_box": "leaves the {w}x{h} image", "empty_label": "has an empty label"}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def validate_graph(graph: SceneGraph, settings: ValidationParams,
                   report: ValidationReport) -> SceneGraph:
    """``graph`` with labels normalised, duplicates merged and bad objects refused."""
    report.graphs += 1
    report.objects += graph.n_objects
    where = f"{source_file(graph)}: image {graph.image_id!r}"
    w, h, tol = int(graph.width), int(graph.height), settings.box_tolerance_px
    labels = [normalise_label(x) for x in graph.labels]
    report.relabelled += sum(a != b for a, b in zip(labels, graph.labels))
    boxes = graph.bboxes.copy()
    good: list[int] = []
    for i, box in enumerate(boxes):
        problem = _box_problem(box, w, h, tol) or (None if labels[i] else "empty_label")
        if problem:
            message = (f"{where}: object {i} ({graph.labels[i]!r}) box "
                       f"{box.tolist()} {_WHAT[problem].format(w=w, h=h)}; refused")
            report.note(problem, message)
            report.decisions.append((str(graph.image_id), i, str(graph.labels[i]), problem,
                                     message))
            continue
        clipped = np.clip(box, [0, 0, 0, 0], [w, h, w, h])
        if not np.array_equal(clipped, box):
            report.clipped += 1
            boxes[i] = clipped
        good.append(i)
    scores = graph.extra.get("det_scores")
    score = (lambda i: float(scores[i])) if isinstance(scores, list) and \
        len(scores) == graph.n_objects else (lambda i: 0.0)
    # duplicates: strongest first, each merged into an earlier-kept object of its label
    owner: dict[int, int] = {}
    kept_by_label: dict[str, list[int]] = {}
    for i in sorted(good, key=lambda i: (-score(i), i)):
        twin = next((k for k in kept_by_label.get(labels[i], [])
                     if _iou(boxes[i], boxes[k]) > settings.duplicate_iou), None)
        if twin is None:
            kept_by_label.setdefault(labels[i], []).append(i)
            owner[i] = i
        else:
            owner[i] = twin
            report.merged_duplicates += 1
            report.decisions.append((str(graph.image_id), i, str(graph.labels[i]), "merged",
                                     f"duplicate detection of object {twin} (IoU "
                                     f"{_iou(boxes[i], boxes[twin]):.2f}), merged into it"))
    keep = sorted(i for i in good if owner[i] == i)
    report.decisions.extend((str(graph.image_id), i, labels[i], "kept", "") for i in keep)
    new_index = {old: n for n, old in enumerate(keep)}
    remap = {i: new_index[owner[i]] for i in good}
    attributes = None
    if graph.attributes is not None:
        merged: list[list[str]] = [list(graph.attributes[i]) for i in keep]
        for i in good:
            if owner[i] != i:
                target = merged[remap[i]]
                target.extend(a for a in graph.attributes[i] if a not in target)
        attributes = merged
    relations = None
    if graph.relations is not None:
        relations, seen = [], set()
        for head, rel, tail in graph.relations:
            head, tail = int(head), int(tail)
            if head not in remap or tail not in remap or remap[head] == remap[tail]:
                report.relations_dropped += 1
                continue
            key = (remap[head], rel, remap[tail])
            if key not in seen:
                seen.add(key)
                relations.append(key)
    extra = dict(graph.extra)
    extra["original_labels"] = [str(graph.labels[i]) for i in keep]
    if isinstance(scores, list) and len(scores) == graph.n_objects:
        extra["det_scores"] = [scores[i] for i in keep]
    return dataclasses.replace(
        graph, labels=[labels[i] for i in keep], bboxes=boxes[keep].reshape(-1, 4),
        attributes=attributes, relations=relations,
        masks=None if graph.masks is None else graph.masks[keep], extra=extra)


def validate_graphs(graphs: Mapping[str, SceneGraph],
                    settings: ValidationParams | None = None,
                    ) -> tuple[dict[str, SceneGraph], ValidationReport]:
    """Every graph validated (same keys; a graph may be left with no object), and the report.
    Refusals are logged once, with the first messages and the counts."""
    settings = settings or ValidationParams()
    report = ValidationReport()
    out = {key: validate_graph(g, settings, report) for key, g in graphs.items()}
    total = sum(report.refused.values())
    if total:
        log.warning("provision: %d object(s) refused (%s); first: %s", total,
                    dict(report.refused), "; ".join(report.messages[:3]))
    if report.merged_duplicates:
        log.info("provision: %d duplicate detection(s) merged", report.merged_duplicates)
    return out, report


def report_dict(report: ValidationReport) -> dict[str, Any]:
    """The report as a JSON-able dict (metrics + messages)."""
    return {**report.metrics(prefix=""), "messages": list(report.messages),
            "decisions": [list(d) for d in report.decisions]}

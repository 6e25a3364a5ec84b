"""Spatial relations, derived from boxes and depths by explicit rules.

A relation is emitted only where its rule holds, so every triple in a generated scene graph
is true of the image; pairs in the ambiguous zone between two rules get no relation at all.
Boxes are full object extents ``[x0, y0, x1, y1]`` (pixels, ``y`` down); depth is the uint8
value of the object in the depth map, **higher = closer**. With ``wA``, ``hA`` the width and
height of A's box, ``tol = OVERLAP_TOLERANCE``:

* **A left of B**: ``A.x1 - B.x0 <= tol * min(wA, wB)`` -- A's box ends before B's starts,
  allowing them to overlap horizontally by at most ``tol`` of the narrower width. Vertical
  position and depth play no part (as in CLEVR, "left" is about the image's x axis).
* **A right of B**: B left of A.
* **A above B**: ``A.y1 - B.y0 <= tol * min(hA, hB)``, the same rule on the y axis.
* **A below B**: B above A.
* **A in front of B**: ``depth(A) - depth(B) >= FRONT_MIN_DEPTH_GAP`` and the boxes'
  intersection covers at least ``FRONT_MIN_OVERLAP`` of the smaller box (A is clearly closer
  and the two overlap in the image, so A is drawn over B where their silhouettes meet).
* **A behind B**: B in front of A.
* **A next to B** (symmetric): the boxes overlap by less than ``FRONT_MIN_OVERLAP`` of the
  smaller box, the gap between them (Euclidean distance between the boxes) is at most
  ``NEXT_TO_MAX_GAP`` times the smaller object's larger side, and
  ``|depth(A) - depth(B)| <= NEXT_TO_MAX_DEPTH_GAP`` (side by side, not one far behind).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

OVERLAP_TOLERANCE = 0.2
FRONT_MIN_DEPTH_GAP = 8
FRONT_MIN_OVERLAP = 0.1
NEXT_TO_MAX_GAP = 0.5
NEXT_TO_MAX_DEPTH_GAP = 24

#: Predicates in canonical order (the order relations are listed in per object pair).
PREDICATES: tuple[str, ...] = (
    "left of", "right of", "above", "below", "in front of", "behind", "next to",
)


def _overlap_area(a: Sequence[float], b: Sequence[float]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, iw) * max(0.0, ih)


def _area(a: Sequence[float]) -> float:
    return (a[2] - a[0]) * (a[3] - a[1])


def _left_of(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[2] - b[0] <= OVERLAP_TOLERANCE * min(a[2] - a[0], b[2] - b[0])


def _above(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[3] - b[1] <= OVERLAP_TOLERANCE * min(a[3] - a[1], b[3] - b[1])


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return _overlap_area(a, b) >= FRONT_MIN_OVERLAP * min(_area(a), _area(b))


def _in_front_of(a: Sequence[float], da: int, b: Sequence[float], db: int) -> bool:
    return int(da) - int(db) >= FRONT_MIN_DEPTH_GAP and _overlaps(a, b)


def _next_to(a: Sequence[float], da: int, b: Sequence[float], db: int) -> bool:
    if _overlaps(a, b) or abs(int(da) - int(db)) > NEXT_TO_MAX_DEPTH_GAP:
        return False
    gx = max(0.0, b[0] - a[2], a[0] - b[2])
    gy = max(0.0, b[1] - a[3], a[1] - b[3])
    side = min(max(a[2] - a[0], a[3] - a[1]), max(b[2] - b[0], b[3] - b[1]))
    return float(np.hypot(gx, gy)) <= NEXT_TO_MAX_GAP * side


def relation_holds(
    predicate: str, box_a: Sequence[float], depth_a: int, box_b: Sequence[float], depth_b: int
) -> bool:
    """Whether ``A <predicate> B`` holds by the rules in this module's docstring."""
    if predicate == "left of":
        return _left_of(box_a, box_b)
    if predicate == "right of":
        return _left_of(box_b, box_a)
    if predicate == "above":
        return _above(box_a, box_b)
    if predicate == "below":
        return _above(box_b, box_a)
    if predicate == "in front of":
        return _in_front_of(box_a, depth_a, box_b, depth_b)
    if predicate == "behind":
        return _in_front_of(box_b, depth_b, box_a, depth_a)
    if predicate == "next to":
        return _next_to(box_a, depth_a, box_b, depth_b)
    raise ValueError(f"unknown spatial predicate {predicate!r}; known: {list(PREDICATES)}")


def derive_relations(bboxes: np.ndarray, depths: Sequence[int]) -> list[tuple[int, str, int]]:
    """Every ``(head, predicate, tail)`` that holds, ordered by head, tail, predicate."""
    boxes = [tuple(float(v) for v in box) for box in np.asarray(bboxes).reshape(-1, 4)]
    relations = []
    for i, box_a in enumerate(boxes):
        for j, box_b in enumerate(boxes):
            if i == j:
                continue
            for predicate in PREDICATES:
                if relation_holds(predicate, box_a, depths[i], box_b, depths[j]):
                    relations.append((i, predicate, j))
    return relations

"""Fast random scene graphs with consistent depth maps and masks (benchmarks, smoke runs).

Not the ``scenes`` world (another module renders images); this only draws annotation
layers: boxes, labels, attributes, geometric relations computed from the boxes, a depth map
where each object's box region carries its own depth, and masks equal to the ellipse
inscribed in each box.
"""

from __future__ import annotations

import numpy as np

from datarecipes.scenegraph import SceneGraph

LABELS = tuple(f"{c} {s}" for c in ("toy", "glass", "paper") for s in (
    "cube", "sphere", "cylinder", "cone", "ring", "box", "bottle")) + (
    "cube", "sphere", "cylinder")
COLORS = ("red", "green", "blue", "yellow", "purple", "cyan", "brown", "gray")
SIZES = ("small", "large")
MATERIALS = ("metal", "rubber", "wooden", "plastic")


def random_scene_graph(rng: np.random.Generator, n_objects: int, size: int = 64,
                       image_id: str = "img") -> SceneGraph:
    """One random graph of ``n_objects`` on a ``size``×``size`` canvas."""
    n = n_objects
    wh = rng.integers(size // 10, size // 3, size=(n, 2))
    xy = rng.integers(0, size - wh, size=(n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float64)
    labels = [LABELS[i] for i in rng.integers(0, len(LABELS), n)]
    attrs = [[COLORS[c], SIZES[s], MATERIALS[m]] for c, s, m in zip(
        rng.integers(0, len(COLORS), n), rng.integers(0, len(SIZES), n),
        rng.integers(0, len(MATERIALS), n))]
    obj_depth = rng.integers(0, 256, n)
    depth = np.full((size, size), 10, dtype=np.uint8)
    masks = np.zeros((n, size, size), dtype=bool)
    yy, xx = np.mgrid[0:size, 0:size]
    order = np.argsort(obj_depth)  # nearer objects painted last
    for i in order:
        x0, y0, x1, y1 = boxes[i]
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 2, 1), max((y1 - y0) / 2, 1)
        m = ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1.0
        masks[i] = m
        depth[m] = obj_depth[i]
    centers = (boxes[:, :2] + boxes[:, 2:]) / 2
    relations = []
    pairs = rng.integers(0, n, size=(2 * n, 2))
    for h, t in pairs.tolist():
        if h == t:
            continue
        dx, dy = centers[t] - centers[h]
        if abs(dx) >= abs(dy):
            rel = "left of" if dx > 0 else "right of"
        else:
            rel = "above" if dy > 0 else "below"
        relations.append((h, rel, t))
        if obj_depth[h] != obj_depth[t]:
            relations.append((h, "in front of" if obj_depth[h] > obj_depth[t] else "behind", t))
    return SceneGraph(image_id=image_id, width=size, height=size, labels=labels, bboxes=boxes,
                      attributes=attrs, relations=relations, depth=depth, masks=masks,
                      image_path=f"images/{image_id}.png", source="synthetic")

"""Hypothesis strategy: random SceneGraphs whose depth maps and masks agree with the boxes."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from datarecipes.scenegraph import SceneGraph

LABELS = ("cube", "sphere", "cone", "cylinder", "toy box", "ring", "bottle", "cup", "ball")
ATTRIBUTES = ("red", "blue", "green", "small", "large", "metal", "rubber", "shiny")
RELATIONS = ("left of", "above", "holding", "on", "next to")


def _attrs(rng) -> list[str]:
    return sorted({ATTRIBUTES[j] for j in rng.integers(0, len(ATTRIBUTES), rng.integers(0, 4))})


@st.composite
def scene_graphs(draw, max_objects: int = 8, layers_optional: bool = True,
                 image_id: str | None = None) -> SceneGraph:
    n = draw(st.integers(0, max_objects))
    w = draw(st.integers(12, 40))
    h = draw(st.integers(12, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x0 = rng.integers(0, w - 2, n)
    y0 = rng.integers(0, h - 2, n)
    x1 = np.minimum(x0 + rng.integers(2, max(3, w // 3), n), w)
    y1 = np.minimum(y0 + rng.integers(2, max(3, h // 3), n), h)
    boxes = np.stack([x0, y0, x1, y1], axis=1).astype(float)
    labels = [LABELS[i] for i in rng.integers(0, len(LABELS), n)]
    attributes = [_attrs(rng) for _ in range(n)]
    relations = []
    for _ in range(int(rng.integers(0, 2 * n + 1))):
        a, b = rng.integers(0, n, 2) if n else (0, 0)
        if n and a != b:
            relations.append((int(a), RELATIONS[rng.integers(0, len(RELATIONS))], int(b)))
    depth = rng.integers(0, 256, (h, w)).astype(np.uint8)
    masks = np.zeros((n, h, w), dtype=bool)
    for i in range(n):
        bx0, by0, bx1, by1 = boxes[i].astype(int)
        masks[i, by0:by1, bx0:bx1] = rng.random((by1 - by0, bx1 - bx0)) < 0.8
        depth[by0:by1, bx0:bx1][masks[i, by0:by1, bx0:bx1]] = rng.integers(0, 256)
    keep = {k: True for k in ("attributes", "relations", "depth", "masks")}
    if layers_optional:
        for k in keep:
            keep[k] = draw(st.booleans()) or draw(st.booleans())
    return SceneGraph(
        image_id=image_id or f"img{seed}", width=w, height=h, labels=labels, bboxes=boxes,
        attributes=attributes if keep["attributes"] else None,
        relations=relations if keep["relations"] else None,
        depth=depth if keep["depth"] else None, masks=masks if keep["masks"] else None,
        image_path=f"images/{seed}.png")


@st.composite
def image_groups(draw, min_size: int = 2, max_size: int = 3):
    """Graphs for one multi-image question: independent ones, or variations of one graph
    (same objects, redrawn attributes and relations) so that comparisons have material."""
    k = draw(st.integers(min_size, max_size))
    if draw(st.booleans()):
        return [draw(scene_graphs(layers_optional=False, image_id=f"g{i}")) for i in range(k)]
    base = draw(scene_graphs(layers_optional=False, image_id="g0"))
    out = [base]
    for i in range(1, k):
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        n = len(base.labels)
        attributes = [_attrs(rng) for _ in range(n)]
        relations = [(h, RELATIONS[rng.integers(0, len(RELATIONS))], t)
                     for h, _, t in base.relations if rng.random() < 0.8]
        labels, boxes, masks = list(base.labels), base.bboxes.copy(), base.masks
        if n and rng.random() < 0.5:  # one more copy of an object: counts differ
            j = int(rng.integers(0, n))
            labels.append(labels[j])
            boxes = np.concatenate([boxes, boxes[j:j + 1]])
            masks = np.concatenate([masks, masks[j:j + 1]])
            attributes.append(list(attributes[j]))
        out.append(SceneGraph(
            image_id=f"g{i}", width=base.width, height=base.height, labels=labels,
            bboxes=boxes, attributes=attributes, relations=relations,
            depth=base.depth, masks=masks, image_path=f"images/g{i}.png"))
    return out

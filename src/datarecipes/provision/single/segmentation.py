"""Segmentation generators: which of two points lies on the same object as an anchor point.

The anchor and the "same" point are drawn where only the object's own mask covers the
pixel, and the "different" point outside that mask, at the same distance from the anchor
(so distance is no cue, as in the reference). With overlapping masks the reference's label
mask can put a point on an object hidden under another; restricting to pixels covered by
one mask makes the answer unambiguous.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

import numpy as np

from datarecipes.provision.base import Candidate, UnitGenerator
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.text import point_ratio

if TYPE_CHECKING:
    from typing import Any

    from datarecipes.provision.base import NumberFormat
    from datarecipes.provision.sampling import RareConceptWeight


class _ThreePoint(UnitGenerator):
    family, needs = "segmentation", frozenset({"masks"})
    same: bool = True

    def units(self, index: GraphIndex) -> list[int]:
        return list(range(index.n))

    def weights(self, index: GraphIndex, units: list[Any], weigh: RareConceptWeight) -> list[float]:
        return [1.0] * len(units)  # points carry no concepts: uniform

    def expand(self, index: GraphIndex, i: int, rng: random.Random) -> list[Candidate]:
        masks = index.graph.masks
        _, h, w = masks.shape
        only = index.single_cover
        mask = masks[i]
        # Sample inside the object's box (cheap); mask pixels outside its box are not used.
        x0, y0, x1, y1 = (min(max(int(round(v)), 0), lim)
                          for v, lim in zip(index.boxes[i].tolist(), (w, h, w, h)))
        sub = mask[y0:y1 + 1, x0:x1 + 1] & only[y0:y1 + 1, x0:x1 + 1]
        local = np.flatnonzero(sub)
        if len(local) < 2:
            return []
        sw = sub.shape[1]
        region = (local // sw + y0) * w + (local % sw + x0)
        found = self._three_points(mask, region, w, h, rng)
        if found is None:
            return []
        (ax, ay), (sx, sy), (dx, dy) = found
        anchor = point_ratio(ax, ay, w, h)
        same, diff = point_ratio(sx, sy, w, h), point_ratio(dx, dy, w, h)
        p1, p2 = (same, diff) if rng.random() < 0.5 else (diff, same)
        return [Candidate(self.name, {"anchor": anchor, "point1": p1, "point2": p2,
                                      "object": i, "pixels": ((ax, ay), (sx, sy), (dx, dy))},
                          same if self.same else diff, pool=[diff if self.same else same])]

    @staticmethod
    def _three_points(mask, region, w, h, rng: random.Random):
        a = region[rng.randrange(len(region))]
        ay, ax = divmod(int(a), w)
        anchor = point_ratio(ax, ay, w, h)
        for _ in range(10):
            s = region[rng.randrange(len(region))]
            sy, sx = divmod(int(s), w)
            same = point_ratio(sx, sy, w, h)
            if same == anchor:
                continue
            length = math.hypot(sx - ax, sy - ay)
            for _ in range(10):
                angle = rng.uniform(0.0, 2.0 * math.pi)
                dx = ax + int(math.cos(angle) * length)
                dy = ay + int(math.sin(angle) * length)
                if not (0 <= dx < w and 0 <= dy < h) or mask[dy, dx]:
                    continue
                diff = point_ratio(dx, dy, w, h)
                if diff not in (anchor, same):
                    return (ax, ay), (sx, sy), (dx, dy)
        return None

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        i = cand.slots["object"]
        (ax, ay), (sx, sy), (dx, dy) = cand.slots["pixels"]
        w, h = index.graph.masks.shape[2], index.graph.masks.shape[1]
        same, diff = point_ratio(sx, sy, w, h), point_ratio(dx, dy, w, h)
        return [f"The point {cand.slots['anchor']} lies on the {index.labels[i]} "
                f"({index.box_text[i]}).",
                f"{same} is also on the {index.labels[i]}; {diff} is not.",
                ]


class SameObjectSeg(_ThreePoint):
    name, same = "SameObjectSeg", True


class DiffObjectSeg(_ThreePoint):
    name, same = "DiffObjectSeg", False

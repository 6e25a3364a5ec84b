"""Depth-point generators: which of two pixels is closer (farther)?

Convention: depth maps are ``uint8`` with **higher = closer** (Depth-Anything; see
``scenegraph``). The reference's ``depth.py`` treats the *lower* value as closer while its
``object_depth.py`` treats the higher one as closer; we use one convention everywhere.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from datarecipes.provision.base import Candidate, Generator
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.text import point_ratio

if TYPE_CHECKING:
    import numpy as np

    from datarecipes.provision.base import NumberFormat


class _PointDepth(Generator):
    family, needs = "depth", frozenset({"depth"})
    closer: bool = True

    def enumerate(self, index: GraphIndex, rng: random.Random) -> list[Candidate]:
        depth = index.graph.depth
        h, w = depth.shape
        threshold = self.settings.depth_threshold
        out = []
        if self.settings.depth_point_fallback == "emit":
            for _ in range(self.settings.point_pairs):
                cand = self._reference_pair(depth, rng)
                if cand is not None:
                    out.append(cand)
            return out
        for _ in range(self.settings.point_pairs):
            for _ in range(self.settings.point_tries):
                x1, y1 = rng.randrange(w), rng.randrange(h)
                x2, y2 = rng.randrange(w), rng.randrange(h)
                d1, d2 = int(depth[y1, x1]), int(depth[y2, x2])
                if abs(d1 - d2) < threshold:
                    continue
                p1, p2 = point_ratio(x1, y1, w, h), point_ratio(x2, y2, w, h)
                if p1 == p2:
                    continue
                out.append(self._question(p1, p2, d1, d2, ((x1, y1), (x2, y2))))
                break
        return out

    def _reference_pair(self, depth: np.ndarray, rng: random.Random) -> Candidate | None:
        """``ComparePointDepthGenerator._sample_points``: one pair (the second point redrawn
        until the two print differently), up to 10 redraws of both while their depths differ
        by less than the threshold, then the last pair is asked whatever its difference (a
        tie makes the second point the closer one, as the reference's ``<``). Our depth
        convention (higher = closer) is kept."""
        h, w = depth.shape
        threshold = self.settings.depth_threshold

        def point() -> tuple[int, int]:
            return rng.randrange(w), rng.randrange(h)

        (x1, y1), (x2, y2) = point(), point()
        for _ in range(64):  # the reference loops until they differ; a 1-pixel map cannot
            if point_ratio(x1, y1, w, h) != point_ratio(x2, y2, w, h):
                break
            x2, y2 = point()
        d1, d2 = int(depth[y1, x1]), int(depth[y2, x2])
        retry = 10
        while abs(d1 - d2) < threshold and retry > 0:
            (x1, y1), (x2, y2) = point(), point()
            d1, d2 = int(depth[y1, x1]), int(depth[y2, x2])
            retry -= 1
        p1, p2 = point_ratio(x1, y1, w, h), point_ratio(x2, y2, w, h)
        if p1 == p2:
            return None  # identical options cannot be a question
        return self._question(p1, p2, d1, d2, ((x1, y1), (x2, y2)))

    def _question(self, p1: str, p2: str, d1: int, d2: int,
                  pixels: tuple[tuple[int, int], tuple[int, int]]) -> Candidate:
        """The question about points ``p1`` and ``p2`` (depths ``d1``, ``d2``; higher = closer)."""
        near, far = (p1, p2) if d1 > d2 else (p2, p1)
        return self.candidate({"point1": p1, "point2": p2, "pixels": pixels},
                              near if self.closer else far, pool=[far if self.closer else near])

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        (x1, y1), (x2, y2) = cand.slots["pixels"]
        d1, d2 = int(index.graph.depth[y1, x1]), int(index.graph.depth[y2, x2])
        return [f"The depth value at {cand.slots['point1']} is {d1} and at {cand.slots['point2']} "
                f"is {d2}; a higher value means closer to the camera.",
                f"So {cand.answer} is {'closer' if self.closer else 'farther'}."]


class CloserPoint(_PointDepth):
    name, closer = "CloserPoint", True


class FartherPoint(_PointDepth):
    name, closer = "FartherPoint", False

"""Object-depth generators: which of two objects is closer; which of two is closer in
depth to an anchor object. An object's depth is the mode of the depth values under its
mask (higher = closer), computed once per graph in ``GraphIndex.object_depth``."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from datarecipes.provision.base import Candidate, RowGenerator
from datarecipes.provision.combos import non_overlapping
from datarecipes.provision.index import GraphIndex

if TYPE_CHECKING:
    import random

    from datarecipes.provision.base import NumberFormat

_NEEDS = frozenset({"depth", "masks"})


def _candidates(index: GraphIndex, k: int) -> np.ndarray:
    """k uniquely-labelled objects with pairwise non-overlapping boxes and non-empty masks
    (reference: ``n_non_overlapping_bboxes(k, unique=True)``)."""
    depth = index.object_depth
    ids = index.unique_ids[np.isfinite(depth[index.unique_ids])]
    if len(ids) < k:
        return np.empty((0, k), dtype=np.intp)
    return non_overlapping(ids, index.overlap, k)


class _ObjectDepth(RowGenerator):
    """Object sets whose depths differ by the threshold; ``_rows`` (the same for "closer" and
    "farther", so cached once per image under ``shared_key``) lists them."""

    family, needs = "object_depth", _NEEDS
    closer: bool = True
    shared_key: ClassVar[str] = ""

    def rows(self, index: GraphIndex) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return index.shared(
            (self.shared_key, self.settings.depth_threshold), lambda: self._rows(index)
        )

    def _rows(self, index: GraphIndex) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError

    def _ordered(self, i: int, j: int, near: int, far: int, rng: random.Random
                 ) -> tuple[int, int, int, int]:
        """The two compared objects in question order (a coin flip swaps them), then the
        answer and the distractor."""
        if rng.random() < 0.5:
            i, j = j, i
        ans, other = (near, far) if self.closer else (far, near)
        return i, j, ans, other


class _PairDepth(_ObjectDepth):
    shared_key = "depth_pairs"

    def _rows(self, index: GraphIndex) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        pairs = _candidates(index, 2)
        if len(pairs):
            d = index.object_depth[pairs]
            pairs = pairs[np.abs(d[:, 0] - d[:, 1]) >= self.settings.depth_threshold]
        return pairs, {}

    def make(
        self,
        index: GraphIndex,
        k: int,
        objects: np.ndarray,
        extra: dict[str, np.ndarray],
        rng: random.Random,
    ) -> Candidate:
        i, j = objects[k].tolist()
        labels, depth = index.labels, index.object_depth
        near, far = (i, j) if depth[i] > depth[j] else (j, i)
        i, j, ans, other = self._ordered(i, j, near, far, rng)
        return Candidate(self.name, {"object1": labels[i], "object2": labels[j],
                                     "objects": (i, j)},
                         labels[ans], pool=[labels[other]],
                         meta=(("object", labels[i]), ("object", labels[j])))

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        i, j = cand.slots["objects"]
        d = index.object_depth
        return [f"The most common depth value on the {index.labels[i]} is {int(d[i])}, on the "
                f"{index.labels[j]} it is {int(d[j])}; higher means closer.",
                f"So the {cand.answer} is {'closer' if self.closer else 'farther'}."]


class CloserObject(_PairDepth):
    name, closer = "CloserObject", True


class FartherObject(_PairDepth):
    name, closer = "FartherObject", False


#: Rows of a triple with each object as the anchor first: (0, 1, 2), (1, 0, 2), (2, 0, 1).
_ANCHOR_FIRST = np.array([[0, 1, 2], [1, 0, 2], [2, 0, 1]])


class _AnchorDepth(_ObjectDepth):
    """Every anchor of every valid triple whose two depth gaps differ by ≥ threshold."""

    shared_key = "depth_anchors"

    def _rows(self, index: GraphIndex) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        triples = _candidates(index, 3)
        if len(triples) == 0:
            return triples, {}
        # Each triple three times, once per anchor: rows (anchor, i, j), all anchors at once.
        rotated = triples[:, _ANCHOR_FIRST]  # (m, 3 anchors, 3)
        d = index.object_depth[rotated]
        gap_i = np.abs(d[:, :, 1] - d[:, :, 0])
        gap_j = np.abs(d[:, :, 2] - d[:, :, 0])
        keep = (np.abs(gap_i - gap_j) >= self.settings.depth_threshold).T  # (anchors, m)
        # anchor-major order: every triple with its first object as anchor, then second, ...
        return rotated.transpose(1, 0, 2)[keep], {"i_nearer": (gap_i < gap_j).T[keep]}

    def make(
        self,
        index: GraphIndex,
        k: int,
        objects: np.ndarray,
        extra: dict[str, np.ndarray],
        rng: random.Random,
    ) -> Candidate:
        anchor, i, j = objects[k].tolist()
        labels = index.labels
        near, far = (i, j) if extra["i_nearer"][k] else (j, i)
        i, j, ans, other = self._ordered(i, j, near, far, rng)
        return Candidate(self.name, {"anchor": labels[anchor], "object1": labels[i],
                                     "object2": labels[j], "objects": (anchor, i, j)},
                         labels[ans], pool=[labels[other]],
                         meta=(("object", labels[anchor]), ("object", labels[i]),
                               ("object", labels[j])))

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        a, i, j = cand.slots["objects"]
        d = index.object_depth
        gi, gj = abs(d[i] - d[a]), abs(d[j] - d[a])
        return [f"Most common depth values: {index.labels[a]} {int(d[a])}, {index.labels[i]} "
                f"{int(d[i])}, {index.labels[j]} {int(d[j])}.",
                f"Depth gaps to the {index.labels[a]}: {index.labels[i]} {int(gi)}, "
                f"{index.labels[j]} {int(gj)}.",
                f"So the {cand.answer} is {'closer to' if self.closer else 'farther from'} "
                f"the {index.labels[a]} in depth."]


class CloserToAnchorObject(_AnchorDepth):
    name, closer = "CloserToAnchorObject", True


class FartherToAnchorObject(_AnchorDepth):
    name, closer = "FartherToAnchorObject", False

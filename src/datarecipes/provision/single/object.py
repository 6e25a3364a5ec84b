"""Object generators: counting, most/least frequent, and the extreme-position questions."""

from __future__ import annotations

import random
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from datarecipes.provision.base import Candidate, Generator, KeyedGenerator, RowGenerator
from datarecipes.provision.combos import non_overlapping
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.sampling import rare_weight
from datarecipes.provision.text import box_ratio, countable, counted, join_and, plural

if TYPE_CHECKING:
    from typing import Any

    from datarecipes.provision.base import NumberFormat
    from datarecipes.provision.sampling import RareConceptWeight


def non_including(boxes: np.ndarray) -> np.ndarray:
    """Mask of the boxes that contain no other box (``dataset.non_including_bboxes``)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    contains = ((b[:, None, 0] <= b[None, :, 0]) & (b[:, None, 1] <= b[None, :, 1])
                & (b[:, None, 2] >= b[None, :, 2]) & (b[:, None, 3] >= b[None, :, 3]))
    np.fill_diagonal(contains, False)
    return ~contains.any(axis=1)


def _count_steps(index: GraphIndex, label: str, format_number: NumberFormat, limit: int = 6
                 ) -> list[str]:
    ids = index.label_objects.get(label, [])
    boxes = [box_ratio(index.boxes[i], index.width, index.height) for i in ids[:limit]]
    more = " and more" if len(ids) > limit else ""
    return [f"I look for every {label} in the image: {join_and(boxes)}{more}.",
            f"There {'is' if len(ids) == 1 else 'are'} {counted(len(ids), label, format_number)}."]


class ExistsObject(KeyedGenerator):
    """How many ⟨label⟩? — one question per countable label."""

    name, family = "ExistsObject", "object"

    def keys(self, index: GraphIndex) -> list[tuple[str, int]]:
        vocabulary = self.settings.counting_vocabulary
        return [
            (label, n) for label, n in index.label_count.items() if countable(label, vocabulary)
        ]

    def weights(self, index: GraphIndex, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w, count_w = weigh.cube["object"].get, weigh.cube["count"].get
        return [rare_weight([object_w(label, 1.0), count_w(n, 1.0)]) for label, n in keys]

    def build(self, index: GraphIndex, key: Any) -> Candidate:
        label, n = key
        return Candidate(self.name, {"label": label}, n, pool="count",
                         meta=(("object", label), ("count", n)))

    def fields(self, cand: Candidate, index: GraphIndex) -> dict[str, Any]:
        return {"names": plural(cand.slots["label"])}

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        return _count_steps(index, cand.slots["label"], format_number)


class _FrequencyObject(Generator):
    """Among listed labels, which is the most (least) frequent? The answer's count must be
    strictly above (below) every other listed label's count."""

    family = "object"
    most: bool = True

    def enumerate(self, index: GraphIndex, rng: random.Random) -> list[Candidate]:
        vocabulary = self.settings.counting_vocabulary
        if self.settings.frequency_objects == "non_including":
            # the reference's annotation.non_including_bboxes(): drop every object whose box
            # contains another object's box (boxInclude, edges inclusive: identical boxes
            # contain each other, so both go)
            keep = non_including(index.boxes)
            labels = [index.labels[i] for i in np.flatnonzero(keep)]
            counts = dict(Counter(x for x in labels if countable(x, vocabulary)))
        else:
            counts = {k: v for k, v in index.label_count.items() if countable(k, vocabulary)}
        if len(counts) < 2:
            return []
        best = max(counts.values()) if self.most else min(counts.values())
        out = []
        for label in sorted(k for k, v in counts.items() if v == best):
            others = sorted(k for k, v in counts.items() if (v < best if self.most else v > best))
            if not others:
                continue
            if len(others) > self.settings.n_choice - 1:
                others = rng.sample(others, self.settings.n_choice - 1)
            slots = {"choices": (label, *others), "label": label}
            if self.settings.frequency_objects == "non_including":
                slots["counts"] = counts  # the counts the answer rests on
            out.append(self.candidate(slots, label,
                                      pool=list(others), meta=(("object", label),)))
        return out

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        counts = cand.slots.get("counts") or index.label_count
        facts = [
            f"The image has {counted(counts[x], x, format_number)}." for x in cand.slots["choices"]
        ]
        word = "most" if self.most else "fewest"
        return [*facts, f"Of these, the {cand.answer} appears the {word} times."]


class MostObject(_FrequencyObject):
    name, most = "MostObject", True


class LeastObject(_FrequencyObject):
    name, most = "LeastObject", False


class _ExtremeObject(RowGenerator):
    """Among 3 uniquely-labelled objects whose boxes do not overlap along the axis, which
    one is at the extreme? (reference: ``n_non_overlapping_bboxes(3, unique=True)``)."""

    family = "object"
    axis: str = "x"  # overlap axis
    column: int = 0  # box coordinate compared
    smallest: bool = True
    words: tuple[str, str] = ("left", "x")

    def rows(self, index: GraphIndex) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        ids = index.unique_ids
        if len(ids) < 3:
            return np.empty((0, 3), dtype=np.intp), {}
        # left/right (top/bottom) ask about the same sets: found once per graph
        sets = index.shared(("non_overlapping", self.axis, 3), lambda: non_overlapping(
            ids, index.overlap_x if self.axis == "x" else index.overlap_y, 3))
        if len(sets) == 0:
            return sets, {}
        values = index.boxes[sets, self.column]
        if not self.smallest:
            values = -values
        order = np.sort(values, axis=1)
        keep = order[:, 0] < order[:, 1]  # a strict extreme
        winners = sets[np.arange(len(sets)), values.argmin(axis=1)]
        return sets[keep], {"winner": winners[keep]}

    def make(
        self,
        index: GraphIndex,
        i: int,
        objects: np.ndarray,
        extra: dict[str, np.ndarray],
        rng: random.Random,
    ) -> Candidate:
        row = tuple(objects[i].tolist())
        names = tuple(index.labels[j] for j in row)
        answer = index.labels[int(extra["winner"][i])]
        return Candidate(self.name, {"choices": names, "objects": row}, answer,
                         pool=[x for x in names if x != answer],
                         meta=tuple(("object", x) for x in names))

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        side, coord = self.words
        facts = [
            f"The {index.labels[i]} is at {box_ratio(index.boxes[i], index.width, index.height)}."
            for i in cand.slots["objects"]
        ]
        return [*facts, f"The {cand.answer} has the {'smallest' if self.smallest else 'largest'} "
                        f"{coord}, so it is at the far {side}."]


class LeftMostObject(_ExtremeObject):
    name, axis, column, smallest, words = "LeftMostObject", "x", 0, True, ("left", "left edge x0")


class RightMostObject(_ExtremeObject):
    name, axis, column, smallest, words = ("RightMostObject", "x", 2, False,
                                           ("right", "right edge x1"))


class TopMostObject(_ExtremeObject):
    name, axis, column, smallest, words = "TopMostObject", "y", 1, True, ("top", "top edge y0")


class BottomMostObject(_ExtremeObject):
    name, axis, column, smallest, words = ("BottomMostObject", "y", 3, False,
                                           ("bottom", "bottom edge y1"))

"""Select: which image has (does not have) an object, an attributed object, a relation;
which has the most (fewest) of an object."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from datarecipes.provision.base import Candidate, KeyedGenerator, UnitGenerator
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.sampling import rare_weight
from datarecipes.provision.text import article, countable, counted, described, plural

if TYPE_CHECKING:
    import random
    from collections.abc import Callable
    from typing import Any

    from datarecipes.provision.base import Generator, ImageGroup, NumberFormat
    from datarecipes.provision.sampling import RareConceptWeight


def image_name(i: int) -> str:
    return f"Image {i}"


def _pick(keys_per_image, absent: bool) -> list[tuple[object, int, int]]:
    """``(key, answer image, group size)`` for the keys in exactly one image (or missing from
    exactly one), sorted so that the draw uses random numbers in a seed-stable order."""
    k = len(keys_per_image)
    seen: Counter = Counter()
    for keys in keys_per_image:
        seen.update(keys)
    want = k - 1 if absent else 1
    out = []
    for key in sorted(x for x, n in seen.items() if n == want):
        for i, keys in enumerate(keys_per_image):
            if (key in keys) != absent:
                out.append((key, i, k))
                break
    return out


class _Select(UnitGenerator):
    """Which image has (has not) ⟨key⟩: one unit per eligible key. Each image's keys are
    weighed once (shared by "has" and "has not" and by every group the image is in)."""

    family, multi = "select", True
    absent = False
    kind = ""  # what the keys are, so "has" and "has not" share their per-image weights

    def keys(self, index: GraphIndex) -> list[Any]:
        raise NotImplementedError

    def key_meta(self, key: Any) -> tuple:
        raise NotImplementedError

    def key_weights(self, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        raise NotImplementedError

    def units(self, group: ImageGroup) -> list[Any]:
        keys = [self.keys(index) for index in group]
        if len(group) != 2:
            return _pick(keys, self.absent)
        # The common case, two images: each image's keys are sorted once (shared by every
        # group it is in), so the group's keys come out sorted from a merge of two sorted
        # runs (which list.sort does in linear time) instead of a full sort.
        (a, b), (sorted_a, sorted_b) = keys, [self._sorted_keys(index) for index in group]
        only_a, only_b = int(self.absent), int(not self.absent)  # the answer image
        units = ([(key, only_a, 2) for key in sorted_a if key not in b]
                 + [(key, only_b, 2) for key in sorted_b if key not in a])
        units.sort()
        return units

    def _sorted_keys(self, index: GraphIndex) -> list:
        return index.shared(("select", self.kind, "sorted"), lambda: sorted(self.keys(index)))

    def _image_weights(self, index: GraphIndex, weigh: RareConceptWeight) -> dict:
        def build():
            keys = list(self.keys(index))
            return dict(zip(keys, self.key_weights(keys, weigh)))
        return index.shared(("select", self.kind, weigh), build)

    def weights(self, group: ImageGroup, units: list[Any], weigh: RareConceptWeight) -> list[float]:
        table: dict = {}
        for index in group:
            table.update(self._image_weights(index, weigh))
        return [table[key] for key, _, _ in units]

    def expand(self, group: ImageGroup, unit: Any, rng: random.Random) -> list[Candidate]:
        key, answer, k = unit
        names = [image_name(j) for j in range(k)]
        return [Candidate(self.name, {"key": key}, names[answer],
                          pool=names[:answer] + names[answer + 1:], meta=self.key_meta(key))]


def _presence_steps(gen: Generator, cand: Candidate, group: ImageGroup,
                    has: Callable[[GraphIndex], bool]) -> list[str]:
    what = gen.fields(cand, group)["a_name"]
    return [f"{image_name(i)} {'has' if has(index) else 'does not have'} {what}."
            for i, index in enumerate(group)]


class HasObject(_Select):
    name, kind = "HasObject", "object"

    def keys(self, index: GraphIndex) -> list[Any]:
        return index.label_count.keys()

    def key_meta(self, key: Any) -> tuple:
        return (("object", key),)

    def key_weights(self, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w = weigh.cube["object"].get
        return [rare_weight([object_w(key, 1.0)]) for key in keys]

    def fields(self, cand: Candidate, group: ImageGroup) -> dict[str, Any]:
        label = cand.slots["key"]
        return {"name": label, "a_name": article(label)}

    def steps(self, cand: Candidate, group: ImageGroup, format_number: NumberFormat) -> list[str]:
        return _presence_steps(
            self, cand, group, lambda index: cand.slots["key"] in index.label_count
        )


class HasNotObject(HasObject):
    name, absent = "HasNotObject", True


class HasAttributedObject(_Select):
    name, kind, needs = "HasAttributedObject", "attributed", frozenset({"attributes"})

    def keys(self, index: GraphIndex) -> list[Any]:
        return index.label_attr_count.keys()

    def key_meta(self, key: Any) -> tuple:
        return (("object", key[0]), ("attribute", key[1]))

    def key_weights(self, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w, attr_w = weigh.cube["object"].get, weigh.cube["attribute"].get
        return [rare_weight([object_w(label, 1.0), attr_w(attr, 1.0)]) for label, attr in keys]

    def fields(self, cand: Candidate, group: ImageGroup) -> dict[str, Any]:
        label, attr = cand.slots["key"]
        phrase = described((attr,), label)
        return {"name": phrase, "a_name": article(phrase)}

    def steps(self, cand: Candidate, group: ImageGroup, format_number: NumberFormat) -> list[str]:
        return _presence_steps(
            self, cand, group, lambda index: cand.slots["key"] in index.label_attr_count
        )


class HasNotAttributedObject(HasAttributedObject):
    name, absent = "HasNotAttributedObject", True


class HasRelation(_Select):
    name, kind, needs = "HasRelation", "relation", frozenset({"relations"})

    def keys(self, index: GraphIndex) -> list[Any]:
        return index.label_triples

    def key_meta(self, key: Any) -> tuple:
        return (("object", key[0]), ("relation", key[1]), ("object", key[2]))

    def key_weights(self, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w, rel_w = weigh.cube["object"].get, weigh.cube["relation"].get
        return [rare_weight([object_w(head, 1.0), rel_w(rel, 1.0), object_w(tail, 1.0)])
                for head, rel, tail in keys]

    def fields(self, cand: Candidate, group: ImageGroup) -> dict[str, Any]:
        head, rel, tail = cand.slots["key"]
        return {"subject": head, "a_subject": article(head), "relation": rel,
                "a_object": article(tail), "a_name": f"{article(head)} {rel} {article(tail)}"}

    def steps(self, cand: Candidate, group: ImageGroup, format_number: NumberFormat) -> list[str]:
        return _presence_steps(
            self, cand, group, lambda index: cand.slots["key"] in index.label_triples
        )


class HasNotRelation(HasRelation):
    name, absent = "HasNotRelation", True


class LabelCountText:
    """Text of a question about how many ⟨label⟩ each image has: the plural noun, and each
    image's count as the reasoning steps (CountObject, HasMost/HasLeastObject)."""

    def fields(self, cand: Candidate, group: ImageGroup) -> dict[str, Any]:
        return {"names": plural(cand.slots["label"])}

    def steps(self, cand: Candidate, group: ImageGroup, format_number: NumberFormat) -> list[str]:
        label = cand.slots["label"]
        return [
            f"{image_name(i)} has {counted(index.label_count.get(label, 0), label, format_number)}."
            for i, index in enumerate(group)
        ]


class _ExtremeCount(LabelCountText, KeyedGenerator):
    """Which image has the most (fewest) ⟨label⟩? The extreme must be unique; for "fewest"
    every image must show the object."""

    family, multi = "select", True
    most = True

    def keys(self, group: ImageGroup) -> list[Any]:
        vocabulary = self.settings.counting_vocabulary
        labels = sorted({x for index in group for x in index.label_count
                         if countable(x, vocabulary)})
        out = []
        for label in labels:
            counts = [index.label_count.get(label, 0) for index in group]
            best = max(counts) if self.most else min(counts)
            if counts.count(best) == 1 and best != 0:
                out.append((label, counts.index(best), len(group)))
        return out

    def weights(self, group: ImageGroup, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w = weigh.cube["object"].get
        return [rare_weight([object_w(label, 1.0)]) for label, _, _ in keys]

    def build(self, group: ImageGroup, key: Any) -> Candidate:
        label, answer, k = key
        return self.candidate({"label": label}, image_name(answer),
                              pool=[image_name(j) for j in range(k) if j != answer],
                              meta=(("object", label),))



class HasMostObject(_ExtremeCount):
    name, most = "HasMostObject", True


class HasLeastObject(_ExtremeCount):
    name, most = "HasLeastObject", False

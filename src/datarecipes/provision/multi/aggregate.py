"""Aggregate: counts across images, objects and attributes common to all images."""

from __future__ import annotations

import random
from functools import reduce
from typing import TYPE_CHECKING

from datarecipes.provision.base import Candidate, Generator, KeyedGenerator
from datarecipes.provision.multi.select import LabelCountText, image_name
from datarecipes.provision.sampling import rare_weight
from datarecipes.provision.text import countable, counted, described, join_and, plural

if TYPE_CHECKING:
    from typing import Any

    from datarecipes.provision.base import ImageGroup, NumberFormat
    from datarecipes.provision.sampling import RareConceptWeight


class CountObject(LabelCountText, KeyedGenerator):
    """How many ⟨label⟩ are there in these images? (summed over the group)"""

    name, family, multi = "CountObject", "aggregate", True

    def keys(self, group: ImageGroup) -> list[Any]:
        vocabulary = self.settings.counting_vocabulary
        labels = sorted(
            {x for index in group for x in index.label_count if countable(x, vocabulary)}
        )
        return [
            (label, sum(index.label_count.get(label, 0) for index in group)) for label in labels
        ]

    def weights(self, group: ImageGroup, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w, count_w = weigh.cube["object"].get, weigh.cube["count"].get
        return [rare_weight([object_w(label, 1.0), count_w(total, 1.0)]) for label, total in keys]

    def build(self, group: ImageGroup, key: Any) -> Candidate:
        label, total = key
        return self.candidate({"label": label}, total, pool="count",
                              meta=(("object", label), ("count", total)))



def _countable_pairs(index, vocabulary: str) -> list[tuple[str, str]]:
    """The image's (label, attribute) pairs with a countable label, sorted (once per image)."""
    return index.shared(("countable_pairs", vocabulary), lambda: sorted(
        k for k in index.label_attr_count if countable(k[0], vocabulary)))


class CountAttributeObject(KeyedGenerator):
    """How many ⟨attribute⟩ ⟨label⟩ are there in these images?"""

    name, family, multi = "CountAttributeObject", "aggregate", True
    needs = frozenset({"attributes"})

    def keys(self, group: ImageGroup) -> list[Any]:
        counts = [index.label_attr_count for index in group]
        vocabulary = self.settings.counting_vocabulary
        if len(group) == 2:  # the common case: merge the images' sorted keys (shared per image)
            a, b = counts
            pairs = [*_countable_pairs(group[0], vocabulary),
                     *(p for p in _countable_pairs(group[1], vocabulary) if p not in a)]
            pairs.sort()  # two sorted runs: a linear merge
            return [(p, a.get(p, 0) + b.get(p, 0)) for p in pairs]
        pairs = sorted({k for c in counts for k in c if countable(k[0], vocabulary)})
        return [(p, sum(c.get(p, 0) for c in counts)) for p in pairs]

    def weights(self, group: ImageGroup, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w, attr_w, count_w = (weigh.cube[x].get for x in ("object", "attribute", "count"))
        return [rare_weight([object_w(label, 1.0), attr_w(attr, 1.0), count_w(total, 1.0)])
                for (label, attr), total in keys]

    def build(self, group: ImageGroup, key: Any) -> Candidate:
        (label, attr), total = key
        return self.candidate({"label": label, "attribute": attr}, total, pool="count",
                              meta=(("object", label), ("attribute", attr), ("count", total)))

    def fields(self, cand: Candidate, group: ImageGroup) -> dict[str, Any]:
        return {"names": described((cand.slots["attribute"],), plural(cand.slots["label"]))}

    def steps(self, cand: Candidate, group: ImageGroup, format_number: NumberFormat) -> list[str]:
        key = (cand.slots["label"], cand.slots["attribute"])
        noun = described((key[1],), key[0])
        counts = [index.label_attr_count.get(key, 0) for index in group]
        return [f"{image_name(i)} has {counted(n, noun, format_number)}."
                for i, n in enumerate(counts)]


class CommonObject(Generator):
    """What object appears in all these images? Open answer: every common object; the
    multiple-choice form offers objects seen in only some of the images as distractors."""

    name, family, multi = "CommonObject", "aggregate", True

    def enumerate(self, group: ImageGroup, rng: random.Random) -> list[Candidate]:
        sets = [set(index.label_count) for index in group]
        common = sorted(reduce(set.__and__, sets))
        if not common:
            return []
        partial = sorted(reduce(set.__or__, sets) - set(common))
        return [self.candidate({}, join_and(common), mcq_answer=tuple(common),
                               exclude=frozenset(common), pool=partial or None,
                               meta=tuple(("object", x) for x in common))]

    def steps(self, cand: Candidate, group: ImageGroup, format_number: NumberFormat) -> list[str]:
        return [f"{image_name(i)} shows: {join_and(sorted(index.label_count))}."
                for i, index in enumerate(group)] + [f"Every image shows: {cand.answer}."]


def _single_objects(group, label: str):
    """The one object of ``label`` in each image, or None if some image has 0 or ≥ 2."""
    ids = []
    for index in group:
        objs = index.label_objects.get(label, [])
        if len(objs) != 1:
            return None
        ids.append(objs[0])
    return ids


class CommonAttribute(Generator):
    """What attribute does the ⟨label⟩ have in every image? The label must occur once in
    each image so "the ⟨label⟩" is one object per image."""

    name, family, multi = "CommonAttribute", "aggregate", True
    needs = frozenset({"attributes"})

    def enumerate(self, group: ImageGroup, rng: random.Random) -> list[Candidate]:
        out = []
        labels = sorted(set.intersection(*(set(index.label_count) for index in group)))
        for label in labels:
            ids = _single_objects(group, label)
            if ids is None:
                continue
            common = sorted(
                set.intersection(*(set(index.attrs[i]) for index, i in zip(group, ids)))
            )
            if not common:
                continue
            out.append(self.candidate({"name": label, "objects": tuple(ids)}, join_and(common),
                                      mcq_answer=tuple(common), exclude=frozenset(common),
                                      pool="attr",
                                      meta=(("object", label),
                                            *(("attribute", a) for a in common))))
        return out

    def steps(self, cand: Candidate, group: ImageGroup, format_number: NumberFormat) -> list[str]:
        label = cand.slots["name"]
        return [f"In {image_name(i)} the {label} is {join_and(index.attrs[j]) or 'unattributed'}."
                for i, (index, j) in enumerate(zip(group, cand.slots["objects"]))]

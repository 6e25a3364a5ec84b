"""Compare: how the attributes of an object, or the relation between two objects, differ
from image to image. Distractors assign the same descriptions to the wrong images."""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING

from datarecipes.provision.base import Candidate, Generator
from datarecipes.provision.multi.aggregate import _single_objects
from datarecipes.provision.multi.select import image_name
from datarecipes.provision.text import join_and, order_attributes

if TYPE_CHECKING:

    from datarecipes.provision.base import ImageGroup, NumberFormat


def _per_image(subject: str, phrases: list[str]) -> str:
    parts = [f"{p} in {image_name(i)}" for i, p in enumerate(phrases)]
    return f"The {subject} is {join_and(parts)}."


def _permuted(subject: str, phrases: list[str], limit: int) -> list[str]:
    out = []
    for perm in itertools.permutations(phrases):
        if list(perm) != phrases:
            text = _per_image(subject, list(perm))
            if text not in out:
                out.append(text)
        if len(out) >= limit:
            break
    return out


class CompareAttribute(Generator):
    name, family, multi = "CompareAttribute", "compare", True
    needs = frozenset({"attributes"})

    def enumerate(self, group: ImageGroup, rng: random.Random) -> list[Candidate]:
        out = []
        for label in sorted(set.intersection(*(set(index.label_count) for index in group))):
            ids = _single_objects(group, label)
            if ids is None:
                continue
            sets = [index.attrs[i] for index, i in zip(group, ids)]
            if not all(sets) or len(set(sets)) != len(sets):
                continue
            phrases = [join_and(order_attributes(s)) for s in sets]
            out.append(self.candidate({"name": label, "objects": tuple(ids)},
                                      _per_image(label, phrases),
                                      pool=_permuted(label, phrases, self.settings.n_choice - 1),
                                      meta=(("object", label),
                                     *(("attribute", a) for s in sets for a in s))))
        return out

    def steps(self, cand: Candidate, group: ImageGroup, format_number: NumberFormat) -> list[str]:
        label = cand.slots["name"]
        return [f"In {image_name(i)} the {label} is {join_and(order_attributes(index.attrs[j]))}."
                for i, (index, j) in enumerate(zip(group, cand.slots["objects"]))]


class CompareRelation(Generator):
    name, family, multi = "CompareRelation", "compare", True
    needs = frozenset({"relations"})

    def enumerate(self, group: ImageGroup, rng: random.Random) -> list[Candidate]:
        first = group[0]
        pairs = sorted({(first.labels[h], first.labels[t]) for (h, t) in first.pair_rels})
        out = []
        for head, tail in pairs:
            if head == tail:
                continue
            hs, ts = _single_objects(group, head), _single_objects(group, tail)
            if hs is None or ts is None:
                continue
            rels = [index.pair_rels.get((h, t), ()) for index, h, t in zip(group, hs, ts)]
            if not all(rels) or len(set(rels)) != len(rels):
                continue
            phrases = [f"{join_and(r)} the {tail}" for r in rels]
            out.append(self.candidate({"object1": head, "object2": tail,
                                "objects": tuple(zip(hs, ts))},
                                      _per_image(head, phrases),
                                      pool=_permuted(head, phrases, self.settings.n_choice - 1),
                                      meta=(("object", head), ("object", tail),
                                     *(("relation", x) for r in rels for x in r))))
        return out

    def steps(self, cand: Candidate, group: ImageGroup, format_number: NumberFormat) -> list[str]:
        head, tail = cand.slots["object1"], cand.slots["object2"]
        return [f"In {image_name(i)} the {head} is {join_and(index.pair_rels[(h, t)])} the {tail}."
                for i, (index, (h, t)) in enumerate(zip(group, cand.slots["objects"]))]

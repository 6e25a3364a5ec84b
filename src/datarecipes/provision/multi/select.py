"""Select: which image has (does not have) an object, an attributed object, a relation;
which has the most (fewest) of an object."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from datarecipes.provision.base import Candidate, Generator, UnitGenerator
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.text import article, countable, counted, described, plural


def image_name(i: int) -> str:
    return f"Image {i}"


def _pick(gen: Generator, group: Sequence[GraphIndex], keys_per_image, absent: bool):
    """Keys in exactly one image (or missing from exactly one), with the answer image."""
    k = len(group)
    seen = Counter(key for keys in keys_per_image for key in keys)
    want = k - 1 if absent else 1
    out = []
    for key in sorted(x for x, n in seen.items() if n == want):
        for i, keys in enumerate(keys_per_image):
            if (key in keys) != absent:
                out.append((key, i))
                break
    return out


class _Select(UnitGenerator):
    """Which image has (has not) ⟨key⟩: one unit per eligible key."""

    family, multi = "select", True
    absent = False

    def keys(self, g: GraphIndex):
        raise NotImplementedError

    def key_meta(self, key) -> tuple:
        raise NotImplementedError

    def units(self, group):
        return [((key, answer, len(group)), self.key_meta(key))
                for key, answer in _pick(self, group, [self.keys(g) for g in group], self.absent)]

    def expand(self, group, unit, meta, rng):
        key, answer, k = unit
        names = [image_name(j) for j in range(k)]
        return [Candidate(self.name, {"key": key}, names[answer],
                          pool=names[:answer] + names[answer + 1:], meta=meta)]


def _presence_steps(gen, c, group, has) -> list[str]:
    what = gen.fields(c, group)["a_name"]
    return [f"{image_name(i)} {'has' if has(g) else 'does not have'} {what}."
            for i, g in enumerate(group)]


class HasObject(_Select):
    name = "HasObject"

    def keys(self, g):
        return g.label_count.keys()

    def key_meta(self, key):
        return (("object", key),)

    def fields(self, c, group):
        label = c.slots["key"]
        return {"name": label, "a_name": article(label)}

    def steps(self, c, group, num):
        return _presence_steps(self, c, group, lambda g: c.slots["key"] in g.label_count)


class HasNotObject(HasObject):
    name, absent = "HasNotObject", True


class HasAttributedObject(_Select):
    name, needs = "HasAttributedObject", frozenset({"attributes"})

    def keys(self, g):
        return g.label_attr_count.keys()

    def key_meta(self, key):
        return (("object", key[0]), ("attribute", key[1]))

    def fields(self, c, group):
        label, attr = c.slots["key"]
        phrase = described((attr,), label)
        return {"name": phrase, "a_name": article(phrase)}

    def steps(self, c, group, num):
        return _presence_steps(self, c, group, lambda g: c.slots["key"] in g.label_attr_count)


class HasNotAttributedObject(HasAttributedObject):
    name, absent = "HasNotAttributedObject", True


class HasRelation(_Select):
    name, needs = "HasRelation", frozenset({"relations"})

    def keys(self, g):
        return g.label_triples

    def key_meta(self, key):
        return (("object", key[0]), ("relation", key[1]), ("object", key[2]))

    def fields(self, c, group):
        head, rel, tail = c.slots["key"]
        return {"subject": head, "a_subject": article(head), "relation": rel,
                "a_object": article(tail), "a_name": f"{article(head)} {rel} {article(tail)}"}

    def steps(self, c, group, num):
        return _presence_steps(self, c, group, lambda g: c.slots["key"] in g.label_triples)


class HasNotRelation(HasRelation):
    name, absent = "HasNotRelation", True


class _ExtremeCount(Generator):
    """Which image has the most (fewest) ⟨label⟩? The extreme must be unique; for "fewest"
    every image must show the object."""

    family, multi = "select", True
    most = True

    def enumerate(self, group, rng: random.Random) -> list[Candidate]:
        k = len(group)
        labels = sorted({x for g in group for x in g.label_count if countable(x)})
        out = []
        for label in labels:
            counts = [g.label_count.get(label, 0) for g in group]
            best = max(counts) if self.most else min(counts)
            if counts.count(best) != 1 or best == 0:
                continue
            answer = counts.index(best)
            out.append(self._c({"label": label}, image_name(answer),
                               pool=[image_name(j) for j in range(k) if j != answer],
                               meta=(("object", label),)))
        return out

    def fields(self, c, group):
        return {"names": plural(c.slots["label"])}

    def steps(self, c, group, num):
        label = c.slots["label"]
        return [f"{image_name(i)} has {counted(g.label_count.get(label, 0), label, num)}."
                for i, g in enumerate(group)]


class HasMostObject(_ExtremeCount):
    name, most = "HasMostObject", True


class HasLeastObject(_ExtremeCount):
    name, most = "HasLeastObject", False

"""Relation generators: the relation between two objects, and what stands in a relation."""

from __future__ import annotations

import random
from collections import defaultdict

from datarecipes.provision.base import Candidate, Generator
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.text import join_and

_REL = frozenset({"relations"})


class ExistsRelation(Generator):
    """What is the relation between the ⟨label1⟩ and the ⟨label2⟩? Both labels must occur
    once in the image, so "the ⟨label⟩" names one object."""

    name, family, needs = "ExistsRelation", "relation", _REL

    def enumerate(self, g: GraphIndex, rng: random.Random) -> list[Candidate]:
        out = []
        for (h, t), rels in g.pair_rels.items():
            if not (g.unique[h] and g.unique[t]):
                continue
            out.append(self._c(
                {"object1": g.labels[h], "object2": g.labels[t], "pair": (h, t)},
                join_and(rels), mcq_answer=tuple(rels), exclude=frozenset(rels),
                pool="relation",
                meta=(("object", g.labels[h]), ("object", g.labels[t]),
                      *(("relation", r) for r in rels))))
        return out

    def steps(self, c, g, num):
        h, t = c.slots["pair"]
        return [f"There is one {g.labels[h]} ({g.box_text[h]}) and one {g.labels[t]} "
                f"({g.box_text[t]}).",
                f"The scene graph links them: the {g.labels[h]} is "
                f"{join_and(g.pair_rels[(h, t)])} the {g.labels[t]}."]


class RelationBBox(Generator):
    """What is the relation between the object at ⟨box1⟩ and the object at ⟨box2⟩?"""

    name, family, needs = "RelationBBox", "relation", _REL

    def enumerate(self, g: GraphIndex, rng: random.Random) -> list[Candidate]:
        out = []
        boxes = g.box_text
        for (h, t), rels in g.pair_rels.items():
            if boxes[h] == boxes[t] or boxes.count(boxes[h]) > 1 or boxes.count(boxes[t]) > 1:
                continue  # the boxes would not name one object each
            out.append(self._c(
                {"bbox1": boxes[h], "bbox2": boxes[t], "pair": (h, t)},
                join_and(rels), mcq_answer=tuple(rels), exclude=frozenset(rels),
                pool="relation",
                meta=(("object", g.labels[h]), ("object", g.labels[t]),
                      *(("relation", r) for r in rels))))
        return out

    def steps(self, c, g, num):
        h, t = c.slots["pair"]
        return [f"The object at {g.box_text[h]} is a {g.labels[h]}; the object at "
                f"{g.box_text[t]} is a {g.labels[t]}.",
                f"The {g.labels[h]} is {join_and(g.pair_rels[(h, t)])} the {g.labels[t]}."]


class HeadRelation(Generator):
    """What object is ⟨relation⟩ the ⟨label⟩? The tail's label occurs once; the open form
    is asked only when one label stands in that relation, the multiple-choice form never
    offers another label that does."""

    name, family, needs = "HeadRelation", "relation", _REL

    def enumerate(self, g: GraphIndex, rng: random.Random) -> list[Candidate]:
        heads: dict[tuple[int, str], set[str]] = defaultdict(set)
        for h, rel, t in g.relations:
            if g.unique[t]:
                heads[(t, rel)].add(g.labels[h])
        all_labels = set(g.labels)
        out = []
        for (t, rel), names in heads.items():
            names_sorted = sorted(names)
            pool = sorted(all_labels - names - {g.labels[t]})
            out.append(self._c(
                {"relation": rel, "object2": g.labels[t], "tail": t},
                names_sorted[0] if len(names) == 1 else join_and(names_sorted),
                mcq_answer=tuple(names_sorted), exclude=frozenset(names),
                pool=pool or None, open_ok=len(names) == 1,
                meta=(("object", g.labels[t]), ("relation", rel),
                      *(("object", x) for x in names_sorted))))
        return out

    def steps(self, c, g, num):
        t, rel = c.slots["tail"], c.slots["relation"]
        heads = sorted({g.labels[h] for h, r, tt in g.relations if tt == t and r == rel})
        return [f"There is one {g.labels[t]}, at {g.box_text[t]}.",
                f"The objects that are {rel} it: {join_and(heads)}."]

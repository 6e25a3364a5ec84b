"""Relation generators: the relation between two objects, and what stands in a relation."""

from __future__ import annotations

from collections import defaultdict

from datarecipes.provision.base import KeyedGenerator
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.sampling import rare_weight
from datarecipes.provision.text import join_and

_REL = frozenset({"relations"})


def _pair_weights(g: GraphIndex, pairs, weigh) -> list[float]:
    """Weight of the relation questions about each (head, tail): both labels and the
    pair's relations (the meta of ``_pair_meta``)."""
    co, cr = weigh.cube["object"].get, weigh.cube["relation"].get
    labels, rels = g.labels, g.pair_rels
    return [rare_weight([co(labels[h], 1.0), co(labels[t], 1.0),
                         *[cr(r, 1.0) for r in rels[(h, t)]]]) for h, t in pairs]


def _pair_meta(g: GraphIndex, h: int, t: int) -> tuple:
    return (("object", g.labels[h]), ("object", g.labels[t]),
            *(("relation", r) for r in g.pair_rels[(h, t)]))


class ExistsRelation(KeyedGenerator):
    """What is the relation between the ⟨label1⟩ and the ⟨label2⟩? Both labels must occur
    once in the image, so "the ⟨label⟩" names one object."""

    name, family, needs = "ExistsRelation", "relation", _REL

    def keys(self, g: GraphIndex) -> list[tuple[int, int]]:
        unique = g.unique
        return [(h, t) for h, t in g.pair_rels if unique[h] and unique[t]]

    def weights(self, g, keys, weigh):
        return _pair_weights(g, keys, weigh)

    def build(self, g, pair):
        h, t = pair
        rels = g.pair_rels[pair]
        return self._c(
            {"object1": g.labels[h], "object2": g.labels[t], "pair": pair},
            join_and(rels), mcq_answer=tuple(rels), exclude=frozenset(rels),
            pool="relation", meta=_pair_meta(g, h, t))

    def steps(self, c, g, num):
        h, t = c.slots["pair"]
        return [f"There is one {g.labels[h]} ({g.box_text[h]}) and one {g.labels[t]} "
                f"({g.box_text[t]}).",
                f"The scene graph links them: the {g.labels[h]} is "
                f"{join_and(g.pair_rels[(h, t)])} the {g.labels[t]}."]


class RelationBBox(KeyedGenerator):
    """What is the relation between the object at ⟨box1⟩ and the object at ⟨box2⟩?"""

    name, family, needs = "RelationBBox", "relation", _REL

    def keys(self, g: GraphIndex) -> list[tuple[int, int]]:
        unique = g.box_unique  # else the boxes would not name one object each
        return [(h, t) for h, t in g.pair_rels if unique[h] and unique[t]]

    def weights(self, g, keys, weigh):
        return _pair_weights(g, keys, weigh)

    def build(self, g, pair):
        h, t = pair
        rels = g.pair_rels[pair]
        return self._c(
            {"bbox1": g.box_text[h], "bbox2": g.box_text[t], "pair": pair},
            join_and(rels), mcq_answer=tuple(rels), exclude=frozenset(rels),
            pool="relation", meta=_pair_meta(g, h, t))

    def steps(self, c, g, num):
        h, t = c.slots["pair"]
        return [f"The object at {g.box_text[h]} is a {g.labels[h]}; the object at "
                f"{g.box_text[t]} is a {g.labels[t]}.",
                f"The {g.labels[h]} is {join_and(g.pair_rels[(h, t)])} the {g.labels[t]}."]


class HeadRelation(KeyedGenerator):
    """What object is ⟨relation⟩ the ⟨label⟩? The tail's label occurs once; the open form
    is asked only when one label stands in that relation, the multiple-choice form never
    offers another label that does."""

    name, family, needs = "HeadRelation", "relation", _REL

    def keys(self, g: GraphIndex) -> list[tuple[int, str, tuple[str, ...]]]:
        heads: dict[tuple[int, str], set[str]] = defaultdict(set)
        for h, rel, t in g.relations:
            if g.unique[t]:
                heads[(t, rel)].add(g.labels[h])
        return [(t, rel, tuple(sorted(names))) for (t, rel), names in heads.items()]

    def weights(self, g, keys, weigh):
        co, cr = weigh.cube["object"].get, weigh.cube["relation"].get
        return [rare_weight([co(g.labels[t], 1.0), cr(rel, 1.0), *[co(x, 1.0) for x in names]])
                for t, rel, names in keys]

    def build(self, g, key):
        t, rel, names = key
        pool = sorted(set(g.labels) - set(names) - {g.labels[t]})
        return self._c(
            {"relation": rel, "object2": g.labels[t], "tail": t},
            names[0] if len(names) == 1 else join_and(names),
            mcq_answer=names, exclude=frozenset(names),
            pool=pool or None, open_ok=len(names) == 1,
            meta=(("object", g.labels[t]), ("relation", rel),
                  *(("object", x) for x in names)))

    def steps(self, c, g, num):
        t, rel = c.slots["tail"], c.slots["relation"]
        heads = sorted({g.labels[h] for h, r, tt in g.relations if tt == t and r == rel})
        return [f"There is one {g.labels[t]}, at {g.box_text[t]}.",
                f"The objects that are {rel} it: {join_and(heads)}."]

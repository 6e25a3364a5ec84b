"""Relation generators: the relation between two objects, and what stands in a relation."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from datarecipes.provision.base import KeyedGenerator
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.sampling import rare_weight
from datarecipes.provision.text import join_and

if TYPE_CHECKING:
    from typing import Any, ClassVar

    from datarecipes.provision.base import Candidate, NumberFormat
    from datarecipes.provision.sampling import RareConceptWeight

_REL = frozenset({"relations"})


def _pair_weights(index: GraphIndex, pairs: list[tuple[int, int]], weigh: RareConceptWeight
                  ) -> list[float]:
    """Weight of the relation questions about each (head, tail): both labels and the
    pair's relations (the meta of ``_pair_meta``)."""
    object_w, rel_w = weigh.cube["object"].get, weigh.cube["relation"].get
    labels, rels = index.labels, index.pair_rels
    return [rare_weight([object_w(labels[h], 1.0), object_w(labels[t], 1.0),
                         *[rel_w(r, 1.0) for r in rels[(h, t)]]]) for h, t in pairs]


def _pair_meta(index: GraphIndex, h: int, t: int) -> tuple:
    return (("object", index.labels[h]), ("object", index.labels[t]),
            *(("relation", r) for r in index.pair_rels[(h, t)]))


class _PairRelation(KeyedGenerator):
    """The relation between two objects that the question names one each: ``unique`` is the
    :class:`GraphIndex` property saying which objects a question can name that way."""

    family, needs = "relation", _REL
    unique: ClassVar[str] = "unique"

    def keys(self, index: GraphIndex) -> list[tuple[int, int]]:
        unique = getattr(index, self.unique)
        return [(h, t) for h, t in index.pair_rels if unique[h] and unique[t]]

    def weights(self, index: GraphIndex, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        return _pair_weights(index, keys, weigh)

    def slots(self, index: GraphIndex, h: int, t: int) -> dict[str, Any]:
        """How the question names the two objects."""
        raise NotImplementedError

    def build(self, index: GraphIndex, pair: tuple[int, int]) -> Candidate:
        h, t = pair
        rels = index.pair_rels[pair]
        return self.candidate(
            {**self.slots(index, h, t), "pair": pair},
            join_and(rels), mcq_answer=tuple(rels), exclude=frozenset(rels),
            pool="relation", meta=_pair_meta(index, h, t))


class ExistsRelation(_PairRelation):
    """What is the relation between the ⟨label1⟩ and the ⟨label2⟩? Both labels must occur
    once in the image, so "the ⟨label⟩" names one object."""

    name, unique = "ExistsRelation", "unique"

    def slots(self, index: GraphIndex, h: int, t: int) -> dict[str, Any]:
        return {"object1": index.labels[h], "object2": index.labels[t]}

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        h, t = cand.slots["pair"]
        return [f"There is one {index.labels[h]} ({index.box_text[h]}) and one {index.labels[t]} "
                f"({index.box_text[t]}).",
                f"The scene graph links them: the {index.labels[h]} is "
                f"{join_and(index.pair_rels[(h, t)])} the {index.labels[t]}."]


class RelationBBox(_PairRelation):
    """What is the relation between the object at ⟨box1⟩ and the object at ⟨box2⟩?"""

    name, unique = "RelationBBox", "box_unique"  # else the boxes would not name one object each

    def slots(self, index: GraphIndex, h: int, t: int) -> dict[str, Any]:
        return {"bbox1": index.box_text[h], "bbox2": index.box_text[t]}

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        h, t = cand.slots["pair"]
        return [
            f"The object at {index.box_text[h]} is a {index.labels[h]}; the object at "
            f"{index.box_text[t]} is a {index.labels[t]}.",
            f"The {index.labels[h]} is {join_and(index.pair_rels[(h, t)])} the {index.labels[t]}.",
        ]


class HeadRelation(KeyedGenerator):
    """What object is ⟨relation⟩ the ⟨label⟩? The tail's label occurs once; the open form
    is asked only when one label stands in that relation, the multiple-choice form never
    offers another label that does."""

    name, family, needs = "HeadRelation", "relation", _REL

    def keys(self, index: GraphIndex) -> list[tuple[int, str, tuple[str, ...]]]:
        heads: dict[tuple[int, str], set[str]] = defaultdict(set)
        for h, rel, t in index.relations:
            if index.unique[t]:
                heads[(t, rel)].add(index.labels[h])
        return [(t, rel, tuple(sorted(names))) for (t, rel), names in heads.items()]

    def weights(self, index: GraphIndex, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w, rel_w = weigh.cube["object"].get, weigh.cube["relation"].get
        return [
            rare_weight(
                [
                    object_w(index.labels[t], 1.0),
                    rel_w(rel, 1.0),
                    *[object_w(x, 1.0) for x in names],
                ]
            )
            for t, rel, names in keys
        ]

    def build(self, index: GraphIndex, key: Any) -> Candidate:
        t, rel, names = key
        pool = sorted(set(index.labels) - set(names) - {index.labels[t]})
        return self.candidate(
            {"relation": rel, "object2": index.labels[t], "tail": t},
            names[0] if len(names) == 1 else join_and(names),
            mcq_answer=names, exclude=frozenset(names),
            pool=pool or None, open_ok=len(names) == 1,
            meta=(("object", index.labels[t]), ("relation", rel),
                  *(("object", x) for x in names)))

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        t, rel = cand.slots["tail"], cand.slots["relation"]
        heads = sorted({index.labels[h] for h, r, tt in index.relations if tt == t and r == rel})
        return [f"There is one {index.labels[t]}, at {index.box_text[t]}.",
                f"The objects that are {rel} it: {join_and(heads)}."]

"""Scene-graph generators: questions about an object named by a small subgraph.

A *description* of object t is a set of its attributes plus at most one relation edge to a
neighbour (itself named by its label and some attributes), at most ``max_subgraph_size``
elements in all (ProVision enumerates size-3 subgraphs in ``scene_graph_qa.py``). We keep a
description only when it names exactly one object, and its neighbour phrase names exactly
one object too — the reference keeps every subgraph and answers with the *set* of objects it
matches, which makes "the ⟨description⟩" ambiguous. Matching uses per-graph bitmasks
(label, attribute, edge → objects), so checking a description is a few integer ANDs.
Descriptions are generated smallest first and capped at ``max_descriptions`` per object;
their text is built only when a question is rendered.
"""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING

from datarecipes.provision.base import Candidate, UnitGenerator
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.sampling import rare_weight
from datarecipes.provision.text import described, join_and, order_attributes

if TYPE_CHECKING:
    from typing import Any

    from datarecipes.provision.base import NumberFormat
    from datarecipes.provision.sampling import RareConceptWeight

_NEEDS = frozenset({"attributes", "relations"})

#: (attributes, edge); edge = (relation, direction, neighbour, neighbour attributes) or None.
Description = tuple[tuple[str, ...], "tuple | None"]


def descriptions(index: GraphIndex, t: int, noun: str | None, max_size: int, limit: int,
                 skip_attrs: frozenset = frozenset(), skip_object: int | None = None,
                 min_size: int = 1) -> list[Description]:
    """Up to ``limit`` descriptions naming exactly object ``t``, smallest first.

    ``noun`` is the label the description uses (None: the word "object", any label);
    ``skip_attrs`` are attributes it may not use, ``skip_object`` a neighbour it may not use.
    """
    target = 1 << t
    own = tuple(a for a in index.attrs[t] if a not in skip_attrs)
    edges = [e for e in index.incident[t] if e[2] != skip_object]
    out: list[Description] = []
    for size in range(min_size, max_size + 1):
        for attrs in itertools.combinations(own, size):
            if index.matching(noun, attrs) == target:
                out.append((attrs, None))
                if len(out) >= limit:
                    return out
        for rel, direction, other in edges:
            via = index.edge_bits[(rel, direction, other)]
            for n_nbr in range(size):
                for nbr_attrs in itertools.combinations(index.attrs[other], n_nbr):
                    if index.matching(index.labels[other], nbr_attrs) != 1 << other:
                        continue  # "the <neighbour>" would not name one object
                    for attrs in itertools.combinations(own, size - 1 - n_nbr):
                        if index.matching(noun, attrs) & via == target:
                            out.append((attrs, (rel, direction, other, nbr_attrs)))
                            if len(out) >= limit:
                                return out
    return out


def describe(index: GraphIndex, noun: str, d: Description) -> str:
    attrs, edge = d
    text = described(attrs, noun)
    if edge is None:
        return text
    rel, direction, other, nbr_attrs = edge
    nbr = described(nbr_attrs, index.labels[other])
    if direction == 0:
        return f"{text} that is {rel} the {nbr}"
    return f"{text} that the {nbr} is {rel}"


def _facts(index: GraphIndex, t: int, d: Description) -> list[str]:
    attrs, edge = d
    facts = [f"Only one object fits the description: the {index.labels[t]} at {index.box_text[t]}."]
    if attrs:
        facts.append(f"It is {join_and(order_attributes(attrs))}.")
    if edge is not None:
        rel, direction, other, _ = edge
        nbr = f"the {index.labels[other]} at {index.box_text[other]}"
        facts.append(f"It is {rel} {nbr}." if direction == 0 else f"The{nbr[3:]} is {rel} it.")
    return facts


class SceneGraphObjectQA(UnitGenerator):
    """What is the ⟨attributes⟩ object that ⟨relation⟩ the ⟨neighbour⟩? → its label."""

    name, family, needs = "SceneGraphObjectQA", "scene_graph", _NEEDS

    def units(self, index: GraphIndex) -> list[int]:
        return list(range(index.n))

    def weights(self, index: GraphIndex, units: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w, attr_w = weigh.cube["object"].get, weigh.cube["attribute"].get
        return [
            rare_weight([object_w(index.labels[t], 1.0), *[attr_w(a, 1.0) for a in index.attrs[t]]])
            for t in units
        ]

    def expand(self, index: GraphIndex, t, rng: random.Random) -> list[Candidate]:
        s = self.settings
        label = index.labels[t]
        found = descriptions(index, t, None, s.max_subgraph_size, s.max_descriptions)
        if not found:
            return []
        pool = sorted(set(index.labels) - {label}) or None
        meta = (("object", label), *(("attribute", a) for a in index.attrs[t]))
        return [Candidate(self.name, {"target": t, "d": d}, label, pool=pool, meta=meta)
                for d in found]

    def fields(self, cand: Candidate, index: GraphIndex) -> dict[str, Any]:
        return {"description": describe(index, "object", cand.slots["d"])}

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        return _facts(index, cand.slots["target"], cand.slots["d"]) + [
            f"That object is a {cand.answer}."
        ]


class SceneGraphAttributeQA(UnitGenerator):
    """What is the ⟨type⟩ of the ⟨description⟩? The description never uses an attribute
    of the asked type (as the reference's ``exclude_attribute_type``)."""

    name, family, needs = "SceneGraphAttributeQA", "scene_graph", _NEEDS

    def units(self, index: GraphIndex) -> list[tuple[int, str]]:
        return [
            (t, kind) for t in range(index.n) for kind in index.typed_attrs[t] if kind != "other"
        ]

    def weights(self, index: GraphIndex, units: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w, attr_w = weigh.cube["object"].get, weigh.cube["attribute"].get
        typed = index.typed_attrs
        return [
            rare_weight([object_w(index.labels[t], 1.0), *[attr_w(a, 1.0) for a in typed[t][kind]]])
            for t, kind in units
        ]

    def expand(self, index: GraphIndex, unit: Any, rng: random.Random) -> list[Candidate]:
        s = self.settings
        t, kind = unit
        values = index.typed_attrs[t][kind]
        answer, exclude = join_and(values), frozenset(values)
        meta = (("object", index.labels[t]), *(("attribute", a) for a in values))
        return [Candidate(self.name, {"type": kind, "target": t, "d": d}, answer,
                          mcq_answer=values, exclude=exclude, pool=f"attr:{kind}", meta=meta)
                for d in descriptions(index, t, index.labels[t], s.max_subgraph_size,
                                      s.max_descriptions, skip_attrs=exclude)]

    def fields(self, cand: Candidate, index: GraphIndex) -> dict[str, Any]:
        t = cand.slots["target"]
        return {
            "type": cand.slots["type"],
            "description": describe(index, index.labels[t], cand.slots["d"]),
        }

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        t, kind = cand.slots["target"], cand.slots["type"]
        return _facts(index, t, cand.slots["d"]) + [
            f"Its {kind} is {join_and(index.typed_attrs[t][kind])}."
        ]


class SceneGraphRelationQA(UnitGenerator):
    """What is the relation from the ⟨description 1⟩ to the ⟨description 2⟩? Each side is
    described without the edge between them (a bare label counts when it is unique)."""

    name, family, needs = "SceneGraphRelationQA", "scene_graph", _NEEDS

    def units(self, index: GraphIndex) -> list[tuple[int, int]]:
        return list(index.pair_rels)

    def weights(self, index: GraphIndex, units: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w, rel_w = weigh.cube["object"].get, weigh.cube["relation"].get
        return [rare_weight([object_w(index.labels[a], 1.0), object_w(index.labels[b], 1.0),
                             *[rel_w(r, 1.0) for r in index.pair_rels[(a, b)]]]) for a, b in units]

    def expand(
        self, index: GraphIndex, pair: tuple[int, int], rng: random.Random
    ) -> list[Candidate]:
        s = self.settings
        a, b = pair
        rels = index.pair_rels[pair]
        da = descriptions(index, a, index.labels[a], s.max_subgraph_size, s.max_descriptions,
                          skip_object=b, min_size=0)
        if not da:
            return []
        db = descriptions(index, b, index.labels[b], s.max_subgraph_size, s.max_descriptions,
                          skip_object=a, min_size=0)
        answer, exclude = join_and(rels), frozenset(rels)
        meta = (
            ("object", index.labels[a]),
            ("object", index.labels[b]),
            *(("relation", r) for r in rels),
        )
        return [Candidate(self.name, {"pair": pair, "d": (pa, pb)}, answer, mcq_answer=rels,
                          exclude=exclude, pool="relation", meta=meta)
                for pa, pb in itertools.product(da, db)
                if pa[0] or pa[1] or pb[0] or pb[1]]  # both bare labels: ExistsRelation

    def fields(self, cand: Candidate, index: GraphIndex) -> dict[str, Any]:
        a, b = cand.slots["pair"]
        pa, pb = cand.slots["d"]
        return {
            "subject": describe(index, index.labels[a], pa),
            "object": describe(index, index.labels[b], pb),
        }

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        a, b = cand.slots["pair"]
        pa, pb = cand.slots["d"]
        return (
            _facts(index, a, pa)
            + _facts(index, b, pb)
            + [f"The {index.labels[a]} is {join_and(index.pair_rels[(a, b)])} "
               f"the {index.labels[b]}."]
        )

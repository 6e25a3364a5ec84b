"""Attribute generators: counting attributed objects, attributes of a boxed object."""

from __future__ import annotations

import random

from datarecipes.provision.base import Candidate, Generator
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.text import (
    countable,
    counted,
    described,
    join_and,
    order_attributes,
    plural,
)


class ExistsAttribute(Generator):
    """How many ⟨attributes⟩ ⟨label⟩? Counted as the objects of that label having *all* the
    attributes (the reference counts exact attribute-set matches, which undercounts when
    another object has an extra attribute)."""

    name, family, needs = "ExistsAttribute", "attribute", frozenset({"attributes"})

    def enumerate(self, g: GraphIndex, rng: random.Random) -> list[Candidate]:
        phrases: dict[tuple[str, tuple[str, ...]], None] = {}
        for label, attrs in zip(g.labels, g.attrs):
            if not attrs or not countable(label):
                continue
            phrases[(label, attrs)] = None
            if len(attrs) > 1:
                for a in attrs:
                    phrases[(label, (a,))] = None
        out = []
        for label, attrs in phrases:
            count = g.matching(label, attrs).bit_count()
            out.append(Candidate(
                self.name, {"label": label, "attributes": attrs}, count, pool="count",
                meta=(("object", label), *(("attribute", a) for a in attrs), ("count", count))))
        return out

    def fields(self, c, g):
        return {"names": described(c.slots["attributes"], plural(c.slots["label"]))}

    def steps(self, c, g, num):
        label, attrs = c.slots["label"], c.slots["attributes"]
        ids = g.label_objects[label]
        facts = [f"The {label} at {g.box_text[i]} is "
                 f"{join_and(order_attributes(g.attrs[i])) or 'without attributes'}."
                 for i in ids[:6]]
        n = c.answer
        return [*facts, f"{counted(n, label, num).capitalize()} {'has' if n == 1 else 'have'} "
                        f"all of: {join_and(order_attributes(attrs))}."]


class AttributeBBox(Generator):
    """What are the attributes of the ⟨label⟩ at ⟨box⟩? Open answer: all of them; a
    multiple-choice question asks for one, never offering another of its attributes."""

    name, family, needs = "AttributeBBox", "attribute", frozenset({"attributes"})

    def enumerate(self, g: GraphIndex, rng: random.Random) -> list[Candidate]:
        out = []
        for i, attrs in enumerate(g.attrs):
            if not attrs or not g.box_referable[i]:
                continue
            label = g.labels[i]
            out.append(self._c(
                {"name": label, "bbox": g.box_text[i], "object": i},
                join_and(order_attributes(attrs)), mcq_answer=tuple(attrs),
                exclude=frozenset(attrs), pool="attr",
                meta=(("object", label), *(("attribute", a) for a in attrs))))
        return out

    def steps(self, c, g, num):
        i = c.slots["object"]
        return [f"The object at {g.box_text[i]} is a {g.labels[i]}.",
                f"Its attributes are: {join_and(order_attributes(g.attrs[i]))}."]


class TypedAttributeBBox(Generator):
    """What is the ⟨type⟩ (colour, size, …) of the ⟨label⟩ at ⟨box⟩? Types are looked up
    with ``scenegraph.attribute_type``; "other" is never asked."""

    name, family, needs = "TypedAttributeBBox", "attribute", frozenset({"attributes"})

    def enumerate(self, g: GraphIndex, rng: random.Random) -> list[Candidate]:
        out = []
        for i, by_type in enumerate(g.typed_attrs):
            if not by_type or not g.box_referable[i]:
                continue
            label = g.labels[i]
            for kind, attrs in by_type.items():
                if kind == "other":
                    continue
                out.append(self._c(
                    {"type": kind, "name": label, "bbox": g.box_text[i], "object": i},
                    join_and(attrs), mcq_answer=tuple(attrs), exclude=frozenset(attrs),
                    pool=f"attr:{kind}",
                    meta=(("object", label), *(("attribute", a) for a in attrs))))
        return out

    def steps(self, c, g, num):
        i, kind = c.slots["object"], c.slots["type"]
        return [f"The object at {g.box_text[i]} is a {g.labels[i]}.",
                f"Its attributes are: {join_and(order_attributes(g.attrs[i]))}.",
                f"Of these, the {kind} is {join_and(g.typed_attrs[i][kind])}."]

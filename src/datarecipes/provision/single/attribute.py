"""Attribute generators: counting attributed objects, attributes of a boxed object."""

from __future__ import annotations

from datarecipes.provision.base import Candidate, KeyedGenerator
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.sampling import rare_weight
from datarecipes.provision.text import (
    countable,
    counted,
    described,
    join_and,
    order_attributes,
    plural,
)


class ExistsAttribute(KeyedGenerator):
    """How many ⟨attributes⟩ ⟨label⟩? Counted as the objects of that label having *all* the
    attributes (the reference counts exact attribute-set matches, which undercounts when
    another object has an extra attribute)."""

    name, family, needs = "ExistsAttribute", "attribute", frozenset({"attributes"})

    def keys(self, g: GraphIndex) -> list[tuple[str, tuple[str, ...], int]]:
        phrases: dict[tuple[str, tuple[str, ...]], None] = {}
        for label, attrs in zip(g.labels, g.attrs):
            if not attrs or not countable(label, self.settings.counting_vocabulary):
                continue
            phrases[(label, attrs)] = None
            if len(attrs) > 1:
                for a in attrs:
                    phrases[(label, (a,))] = None
        label_bits, attr_bits = g.label_bits, g.attr_bits
        out = []
        for label, attrs in phrases:
            bits = label_bits[label]
            for a in attrs:
                bits &= attr_bits[a]
            out.append((label, attrs, bits.bit_count()))  # objects having all the attributes
        return out

    def weights(self, g, keys, weigh):
        co, ca, cc = (weigh.cube[x].get for x in ("object", "attribute", "count"))
        return [rare_weight([co(label, 1.0), *[ca(a, 1.0) for a in attrs], cc(count, 1.0)])
                for label, attrs, count in keys]

    def build(self, g, key):
        label, attrs, count = key
        return Candidate(
            self.name, {"label": label, "attributes": attrs}, count, pool="count",
            meta=(("object", label), *(("attribute", a) for a in attrs), ("count", count)))

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


class AttributeBBox(KeyedGenerator):
    """What are the attributes of the ⟨label⟩ at ⟨box⟩? Open answer: all of them; a
    multiple-choice question asks for one, never offering another of its attributes."""

    name, family, needs = "AttributeBBox", "attribute", frozenset({"attributes"})

    def keys(self, g: GraphIndex) -> list[int]:
        referable = g.box_referable
        return [i for i, attrs in enumerate(g.attrs) if attrs and referable[i]]

    def weights(self, g, keys, weigh):
        co, ca = weigh.cube["object"].get, weigh.cube["attribute"].get
        return [rare_weight([co(g.labels[i], 1.0), *[ca(a, 1.0) for a in g.attrs[i]]])
                for i in keys]

    def build(self, g, i):
        attrs, label = g.attrs[i], g.labels[i]
        return self._c(
            {"name": label, "bbox": g.box_text[i], "object": i},
            join_and(order_attributes(attrs)), mcq_answer=tuple(attrs),
            exclude=frozenset(attrs), pool="attr",
            meta=(("object", label), *(("attribute", a) for a in attrs)))

    def steps(self, c, g, num):
        i = c.slots["object"]
        return [f"The object at {g.box_text[i]} is a {g.labels[i]}.",
                f"Its attributes are: {join_and(order_attributes(g.attrs[i]))}."]


class TypedAttributeBBox(KeyedGenerator):
    """What is the ⟨type⟩ (colour, size, …) of the ⟨label⟩ at ⟨box⟩? Types are looked up
    with ``scenegraph.attribute_type``; "other" is never asked."""

    name, family, needs = "TypedAttributeBBox", "attribute", frozenset({"attributes"})

    def keys(self, g: GraphIndex) -> list[tuple[int, str]]:
        referable = g.box_referable
        return [(i, kind) for i, by_type in enumerate(g.typed_attrs) if referable[i]
                for kind in by_type if kind != "other"]

    def weights(self, g, keys, weigh):
        co, ca = weigh.cube["object"].get, weigh.cube["attribute"].get
        typed = g.typed_attrs
        return [rare_weight([co(g.labels[i], 1.0), *[ca(a, 1.0) for a in typed[i][kind]]])
                for i, kind in keys]

    def build(self, g, key):
        i, kind = key
        attrs, label = g.typed_attrs[i][kind], g.labels[i]
        return self._c(
            {"type": kind, "name": label, "bbox": g.box_text[i], "object": i},
            join_and(attrs), mcq_answer=tuple(attrs), exclude=frozenset(attrs),
            pool=f"attr:{kind}",
            meta=(("object", label), *(("attribute", a) for a in attrs)))

    def steps(self, c, g, num):
        i, kind = c.slots["object"], c.slots["type"]
        return [f"The object at {g.box_text[i]} is a {g.labels[i]}.",
                f"Its attributes are: {join_and(order_attributes(g.attrs[i]))}.",
                f"Of these, the {kind} is {join_and(g.typed_attrs[i][kind])}."]

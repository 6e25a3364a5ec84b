"""Attribute generators: counting attributed objects, attributes of a boxed object."""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from typing import Any

    from datarecipes.provision.base import NumberFormat
    from datarecipes.provision.sampling import RareConceptWeight


class ExistsAttribute(KeyedGenerator):
    """How many ⟨attributes⟩ ⟨label⟩? Counted as the objects of that label having *all* the
    attributes (the reference counts exact attribute-set matches, which undercounts when
    another object has an extra attribute)."""

    name, family, needs = "ExistsAttribute", "attribute", frozenset({"attributes"})

    def keys(self, index: GraphIndex) -> list[tuple[str, tuple[str, ...], int]]:
        phrases: dict[tuple[str, tuple[str, ...]], None] = {}
        for label, attrs in zip(index.labels, index.attrs):
            if not attrs or not countable(label, self.settings.counting_vocabulary):
                continue
            phrases[(label, attrs)] = None
            if len(attrs) > 1:
                for a in attrs:
                    phrases[(label, (a,))] = None
        label_bits, attr_bits = index.label_bits, index.attr_bits
        out = []
        for label, attrs in phrases:
            bits = label_bits[label]
            for a in attrs:
                bits &= attr_bits[a]
            out.append((label, attrs, bits.bit_count()))  # objects having all the attributes
        return out

    def weights(self, index: GraphIndex, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w, attr_w, count_w = (weigh.cube[x].get for x in ("object", "attribute", "count"))
        return [
            rare_weight(
                [object_w(label, 1.0), *[attr_w(a, 1.0) for a in attrs], count_w(count, 1.0)]
            )
            for label, attrs, count in keys
        ]

    def build(self, index: GraphIndex, key: Any) -> Candidate:
        label, attrs, count = key
        return Candidate(
            self.name, {"label": label, "attributes": attrs}, count, pool="count",
            meta=(("object", label), *(("attribute", a) for a in attrs), ("count", count)))

    def fields(self, cand: Candidate, index: GraphIndex) -> dict[str, Any]:
        return {"names": described(cand.slots["attributes"], plural(cand.slots["label"]))}

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        label, attrs = cand.slots["label"], cand.slots["attributes"]
        ids = index.label_objects[label]
        facts = [f"The {label} at {index.box_text[i]} is "
                 f"{join_and(order_attributes(index.attrs[i])) or 'without attributes'}."
                 for i in ids[:6]]
        n = cand.answer
        return [
            *facts,
            f"{counted(n, label, format_number).capitalize()} {'has' if n == 1 else 'have'} "
            f"all of: {join_and(order_attributes(attrs))}.",
        ]


class AttributeBBox(KeyedGenerator):
    """What are the attributes of the ⟨label⟩ at ⟨box⟩? Open answer: all of them; a
    multiple-choice question asks for one, never offering another of its attributes."""

    name, family, needs = "AttributeBBox", "attribute", frozenset({"attributes"})

    def keys(self, index: GraphIndex) -> list[int]:
        referable = index.box_referable
        return [i for i, attrs in enumerate(index.attrs) if attrs and referable[i]]

    def weights(self, index: GraphIndex, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w, attr_w = weigh.cube["object"].get, weigh.cube["attribute"].get
        return [
            rare_weight([object_w(index.labels[i], 1.0), *[attr_w(a, 1.0) for a in index.attrs[i]]])
            for i in keys
        ]

    def build(self, index: GraphIndex, i: int) -> Candidate:
        attrs, label = index.attrs[i], index.labels[i]
        return self.candidate(
            {"name": label, "bbox": index.box_text[i], "object": i},
            join_and(order_attributes(attrs)), mcq_answer=tuple(attrs),
            exclude=frozenset(attrs), pool="attr",
            meta=(("object", label), *(("attribute", a) for a in attrs)))

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        i = cand.slots["object"]
        return [f"The object at {index.box_text[i]} is a {index.labels[i]}.",
                f"Its attributes are: {join_and(order_attributes(index.attrs[i]))}."]


class TypedAttributeBBox(KeyedGenerator):
    """What is the ⟨type⟩ (colour, size, …) of the ⟨label⟩ at ⟨box⟩? Types are looked up
    with ``scenegraph.attribute_type``; "other" is never asked."""

    name, family, needs = "TypedAttributeBBox", "attribute", frozenset({"attributes"})

    def keys(self, index: GraphIndex) -> list[tuple[int, str]]:
        referable = index.box_referable
        return [(i, kind) for i, by_type in enumerate(index.typed_attrs) if referable[i]
                for kind in by_type if kind != "other"]

    def weights(self, index: GraphIndex, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        object_w, attr_w = weigh.cube["object"].get, weigh.cube["attribute"].get
        typed = index.typed_attrs
        return [
            rare_weight([object_w(index.labels[i], 1.0), *[attr_w(a, 1.0) for a in typed[i][kind]]])
            for i, kind in keys
        ]

    def build(self, index: GraphIndex, key: Any) -> Candidate:
        i, kind = key
        attrs, label = index.typed_attrs[i][kind], index.labels[i]
        return self.candidate(
            {"type": kind, "name": label, "bbox": index.box_text[i], "object": i},
            join_and(attrs), mcq_answer=tuple(attrs), exclude=frozenset(attrs),
            pool=f"attr:{kind}",
            meta=(("object", label), *(("attribute", a) for a in attrs)))

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        i, kind = cand.slots["object"], cand.slots["type"]
        return [f"The object at {index.box_text[i]} is a {index.labels[i]}.",
                f"Its attributes are: {join_and(order_attributes(index.attrs[i]))}.",
                f"Of these, the {kind} is {join_and(index.typed_attrs[i][kind])}."]

"""Candidates and the generator base class.

A generator turns one :class:`~datarecipes.provision.index.GraphIndex` (or a group of them,
for multi-image generators) into *candidates*: structured questions whose answer is fixed by
the graph, with no text yet. Text (template, options, solution) is rendered only for the
candidates that sampling keeps (:mod:`datarecipes.provision.render`), which is what makes
enumeration cheap.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar

#: Every generator class, by its ProVision name, in definition order.
REGISTRY: dict[str, type[Generator]] = {}


@dataclass(frozen=True)
class GeneratorSettings:
    """Knobs the generators read (the pipeline builds it from ``parameters_provision.yml``)."""

    depth_threshold: float = 50.0  # min |Δdepth| (0–255) for a depth comparison to be asked
    n_choice: int = 4  # options in a multiple-choice question (and candidates listed)
    point_pairs: int = 2  # depth-point questions drawn per image (random pixel pairs)
    point_tries: int = 64  # random pixel pairs tried per depth-point question
    max_subgraph_size: int = 3  # scene-graph descriptions: at most this many elements
    max_descriptions: int = 4  # scene-graph QA: descriptions kept per object (smallest first)


class Candidate:
    """One question, determined by the graph, before any text is chosen.

    ``answer`` is the open-ended answer (an ``int`` for counts, rendered as a digit or a
    word). ``mcq_answer`` is the correct option when it differs, or a tuple of correct
    values of which rendering picks one (e.g. one attribute of several); ``exclude``
    holds every value that is also correct and so may never be a
    distractor; ``pool`` names where distractors come from: an explicit list, a vocabulary
    key (``"attr"``, ``"attr:<type>"``, ``"relation"``, ``"label"``) or ``"count"``; None
    means no multiple-choice form. ``open_ok`` is False when only the multiple-choice form
    is determined (several correct values). ``meta`` lists the (field, value) concepts used
    for rare-concept weighting.
    """

    __slots__ = ("generator", "slots", "answer", "mcq_answer", "exclude", "pool", "meta",
                 "open_ok")

    def __init__(self, generator: str, slots: dict[str, Any], answer: Any, *,
                 mcq_answer: Any = None, exclude: frozenset = frozenset(),
                 pool: Any = None, meta: tuple = (), open_ok: bool = True):
        self.generator = generator
        self.slots = slots
        self.answer = answer
        self.mcq_answer = answer if mcq_answer is None else mcq_answer
        self.exclude = exclude
        self.pool = pool
        self.meta = meta
        self.open_ok = open_ok

    def __repr__(self) -> str:
        return f"Candidate({self.generator}, {self.slots}, answer={self.answer!r})"


class Generator:
    """Base class: subclasses set ``name``, ``family``, ``needs`` and implement
    :meth:`enumerate` and :meth:`steps`."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    multi: ClassVar[bool] = False
    #: Annotation layers this generator needs beyond labels and boxes.
    needs: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name:
            REGISTRY[cls.name] = cls

    def __init__(self, settings: GeneratorSettings | None = None):
        self.settings = settings or GeneratorSettings()

    def enumerate(self, graph: Any, rng: random.Random) -> list[Candidate]:
        """Every candidate for one graph (single-image) or one image group (multi-image)."""
        raise NotImplementedError

    def sample(self, graph: Any, rng: random.Random, budget: int, weigh) -> list[Candidate]:
        """Up to ``budget`` candidates, drawn without replacement with probability ∝
        ``weigh(candidate)``. The default enumerates everything; generators with many
        candidates per image override it to enumerate only what they draw."""
        from datarecipes.provision.sampling import weighted_sample

        return weighted_sample(self.enumerate(graph, rng), budget, weigh, rng)

    def fields(self, cand: Candidate, graph: Any) -> dict[str, Any]:
        """Template fields of a candidate. Text that is costly to build (descriptions) is
        built here, only for the candidates that are rendered."""
        return cand.slots

    def steps(self, cand: Candidate, graph: Any, num) -> list[str]:
        """Facts, read from the graph, that lead to the answer (without the final step).

        ``num`` formats an int the way the answer is formatted (digit or word).
        """
        raise NotImplementedError

    def _c(self, slots: dict[str, Any], answer: Any, **kw) -> Candidate:
        return Candidate(self.name, slots, answer, **kw)


class UnitGenerator(Generator):
    """A generator whose candidates come in *units* (an object, an object pair, ...) that
    share their concepts. :meth:`sample` draws units by weight and expands only the drawn
    ones, instead of enumerating every candidate of the image."""

    def units(self, graph: Any) -> list[tuple[Any, tuple]]:
        """``(unit, meta)`` pairs."""
        raise NotImplementedError

    def expand(self, graph: Any, unit: Any, meta: tuple, rng: random.Random) -> list[Candidate]:
        raise NotImplementedError

    def enumerate(self, graph: Any, rng: random.Random) -> list[Candidate]:
        return [c for unit, meta in self.units(graph)
                for c in self.expand(graph, unit, meta, rng)]

    def sample(self, graph: Any, rng: random.Random, budget: int, weigh) -> list[Candidate]:
        units = self.units(graph)
        keyed = sorted(((math.log(1.0 - rng.random()) / weigh.of_meta(meta), i)
                        for i, (_, meta) in enumerate(units)), reverse=True)
        out: list[Candidate] = []
        for _, i in keyed:
            unit, meta = units[i]
            cands = self.expand(graph, unit, meta, rng)
            if cands:
                out.append(rng.choice(cands))
                if len(out) >= budget:
                    break
        return out


class RowGenerator(Generator):
    """A generator whose candidates are rows of an (m, k) object-index array (object sets)
    whose concepts are just the rows' object labels. :meth:`sample` weighs all rows with
    numpy and builds a :class:`Candidate` only for the drawn ones."""

    def rows(self, graph: Any) -> tuple[Any, dict]:
        """``(objects (m, k) int array, extra per-row arrays)``."""
        raise NotImplementedError

    def make(self, graph: Any, i: int, objects, extra: dict, rng: random.Random) -> Candidate:
        raise NotImplementedError

    def enumerate(self, graph: Any, rng: random.Random) -> list[Candidate]:
        objects, extra = self.rows(graph)
        return [self.make(graph, i, objects, extra, rng) for i in range(len(objects))]

    def sample(self, graph: Any, rng: random.Random, budget: int, weigh) -> list[Candidate]:
        import numpy as np

        objects, extra = self.rows(graph)
        m = len(objects)
        if m == 0:
            return []
        if m <= budget:
            chosen = range(m)
        else:
            get = weigh.counts.get
            cube = np.array([float(max(get(("object", x), 1), 1)) ** 3 for x in graph.labels])
            weight = objects.shape[1] / cube[objects].sum(axis=1)
            u = np.random.default_rng(rng.getrandbits(64)).random(m)
            keys = np.log1p(-u) / weight
            chosen = np.argsort(-keys, kind="stable")[:budget].tolist()
        return [self.make(graph, i, objects, extra, rng) for i in chosen]

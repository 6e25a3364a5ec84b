"""Candidates and the generator base class.

A generator turns one :class:`~datarecipes.provision.index.GraphIndex` (or a group of them,
for multi-image generators) into *candidates*: structured questions whose answer is fixed by
the graph, with no text yet. Text (template, options, solution) is rendered only for the
candidates that sampling keeps (:mod:`datarecipes.provision.render`), which is what makes
enumeration cheap.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from datarecipes.config import require
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.sampling import draw, draw_order, weighted_sample

if TYPE_CHECKING:
    from datarecipes.provision.sampling import RareConceptWeight

#: Every generator class, by its ProVision name, in definition order.
REGISTRY: dict[str, type[Generator]] = {}
#: Formats an int the way the answer is formatted (a digit or a word): ``steps``' last argument.
NumberFormat = Callable[[int], str]
#: The images a multi-image generator asks about, in the order the question numbers them.
ImageGroup = Sequence[GraphIndex]


@dataclass(frozen=True)
class GeneratorParams:
    """What every generator reads: ``provision.generator_settings`` in
    ``parameters_provision.yml`` (a field of
    :class:`~datarecipes.provision.params.ProvisionParams`)."""

    #: Options in a multiple-choice question (also the most candidates a question lists).
    n_choice: int = 4
    #: Minimum depth difference (0-255) for depth questions (the reference's threshold, 50).
    depth_threshold: float = 50.0
    #: Depth-point questions drawn per image for CloserPoint / FartherPoint.
    point_pairs: int = 2
    #: Random pixel pairs tried per depth-point question before it is skipped (``skip``).
    point_tries: int = 64
    #: Scene-graph questions: most elements (attributes, relation, neighbour attributes)
    #: in a description (the reference's subgraph size, 3).
    max_subgraph_size: int = 3
    #: Scene-graph questions: descriptions kept per object, smallest first.
    max_descriptions: int = 4
    #: Countable labels: ``stoplist`` (ours: all but mass nouns) or ``reference`` (ProVision's
    #: OBJECT_FOR_COUNTING_TASK allowlist; unlisted labels are not counted).
    counting_vocabulary: Literal["stoplist", "reference"] = "stoplist"
    #: Objects Most/LeastObject count: ``all`` (ours) or ``non_including`` (the reference's
    #: ``non_including_bboxes()``: boxes that contain another box are left out).
    frequency_objects: Literal["all", "non_including"] = "all"
    #: Depth-point pairs still below ``depth_threshold`` after the tries: ``skip`` (ours) or
    #: ``emit`` (the reference: 1 draw + 10 retries, then the last pair is asked anyway).
    depth_point_fallback: Literal["skip", "emit"] = "skip"

    def __post_init__(self) -> None:
        require(2 <= self.n_choice <= 10, f"n_choice must be in [2, 10], got {self.n_choice}")
        require(0 <= self.depth_threshold <= 255,
                f"depth_threshold must be in [0, 255], got {self.depth_threshold}")
        require(self.point_pairs >= 0, f"point_pairs must not be negative, got {self.point_pairs}")
        require(self.point_tries >= 1, f"point_tries must be at least 1, got {self.point_tries}")
        require(1 <= self.max_subgraph_size <= 5,
                f"max_subgraph_size must be in [1, 5], got {self.max_subgraph_size}")
        require(self.max_descriptions >= 1,
                f"max_descriptions must be at least 1, got {self.max_descriptions}")


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

    def __init__(self, settings: GeneratorParams | None = None):
        self.settings = settings or GeneratorParams()

    def enumerate(self, graph: Any, rng: random.Random) -> list[Candidate]:
        """Every candidate for one graph (single-image) or one image group (multi-image)."""
        raise NotImplementedError

    def sample(
        self, graph: Any, rng: random.Random, budget: int, weigh: RareConceptWeight
    ) -> list[Candidate]:
        """Up to ``budget`` candidates, drawn without replacement with probability ∝
        ``weigh(candidate)``. The default enumerates everything (fine for generators with a
        handful of candidates per image); the subclasses below enumerate only what they
        draw."""
        return weighted_sample(self.enumerate(graph, rng), budget, weigh, rng)

    def fields(self, cand: Candidate, graph: Any) -> dict[str, Any]:
        """Template fields of a candidate. Text that is costly to build (descriptions) is
        built here, only for the candidates that are rendered."""
        return cand.slots

    def steps(self, cand: Candidate, graph: Any, format_number: NumberFormat) -> list[str]:
        """Facts, read from the graph, that lead to the answer (without the final step).

        ``format_number`` formats an int the way the answer is formatted (digit or word).
        """
        raise NotImplementedError

    def candidate(self, slots: dict[str, Any], answer: Any, **kw) -> Candidate:
        return Candidate(self.name, slots, answer, **kw)


class KeyedGenerator(Generator):
    """A generator whose candidates each come from one cheap *key* (a label, an object, a
    pair) that fixes the candidate's concepts. :meth:`sample` weighs the keys — the same
    weight ``weigh(build(key))`` would give, and the same draw as enumerate-then-sample —
    and builds a :class:`Candidate` only for the drawn ones. ``build`` uses no randomness,
    so the sampled candidates are exactly candidates of :meth:`enumerate`."""

    def keys(self, graph: Any) -> list[Any]:
        """Keys in the order :meth:`enumerate` lists their candidates."""
        raise NotImplementedError

    def weights(self, graph: Any, keys: list[Any], weigh: RareConceptWeight) -> list[float]:
        """Each key's rare-concept weight, from ``weigh.cube`` lookups (no meta tuples)."""
        raise NotImplementedError

    def build(self, graph: Any, key: Any) -> Candidate:
        raise NotImplementedError

    def enumerate(self, graph: Any, rng: random.Random) -> list[Candidate]:
        return [self.build(graph, k) for k in self.keys(graph)]

    def sample(
        self, graph: Any, rng: random.Random, budget: int, weigh: RareConceptWeight
    ) -> list[Candidate]:
        keys = self.keys(graph)
        chosen = (range(len(keys)) if len(keys) <= budget
                  else draw(self.weights(graph, keys, weigh), budget, rng))
        return [self.build(graph, keys[i]) for i in chosen]


class UnitGenerator(Generator):
    """A generator whose candidates come in *units* (an object, an object pair, ...) that
    share their concepts. :meth:`sample` draws units by weight and expands only the drawn
    ones (one candidate picked per unit), instead of enumerating every candidate of the
    image; a unit that expands to nothing passes the draw on to the next unit."""

    def units(self, graph: Any) -> list[Any]:
        raise NotImplementedError

    def weights(self, graph: Any, units: list[Any], weigh: RareConceptWeight) -> list[float]:
        """Each unit's rare-concept weight: that of every candidate it expands to."""
        raise NotImplementedError

    def expand(self, graph: Any, unit: Any, rng: random.Random) -> list[Candidate]:
        raise NotImplementedError

    def enumerate(self, graph: Any, rng: random.Random) -> list[Candidate]:
        return [c for unit in self.units(graph) for c in self.expand(graph, unit, rng)]

    def sample(
        self, graph: Any, rng: random.Random, budget: int, weigh: RareConceptWeight
    ) -> list[Candidate]:
        units = self.units(graph)
        out: list[Candidate] = []
        for i in draw_order(self.weights(graph, units, weigh), rng):
            cands = self.expand(graph, units[i], rng)
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

    def make(
        self, graph: Any, i: int, objects: np.ndarray, extra: dict, rng: random.Random
    ) -> Candidate:
        raise NotImplementedError

    def enumerate(self, graph: Any, rng: random.Random) -> list[Candidate]:
        objects, extra = self.rows(graph)
        return [self.make(graph, i, objects, extra, rng) for i in range(len(objects))]

    def sample(
        self, graph: Any, rng: random.Random, budget: int, weigh: RareConceptWeight
    ) -> list[Candidate]:
        objects, extra = self.rows(graph)
        m = len(objects)
        if m == 0:
            return []
        if m <= budget:
            chosen = range(m)
        else:
            u = np.random.default_rng(rng.getrandbits(64)).random(m)
            keys = np.log1p(-u) / self.row_weights(graph, objects, weigh)
            chosen = np.argsort(-keys, kind="stable")[:budget].tolist()
        return [self.make(graph, i, objects, extra, rng) for i in chosen]

    def row_weights(self, graph: Any, objects: np.ndarray, weigh: RareConceptWeight):
        """Each row's rare-concept weight (its objects' labels), as a numpy array."""
        cube = graph.shared(("object_cube", weigh), lambda: np.array(
            [weigh.cube["object"].get(x, 1.0) for x in graph.labels]))
        return objects.shape[1] / cube[objects].sum(axis=1)

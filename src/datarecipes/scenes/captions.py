"""Captions from scene graphs, and their corruption for the filtering recipe's ground truth.

A caption is built from structured :class:`CaptionFacts` (the count of each shape, and one
relation between two described objects, or one described object when the scene has no
relation), so whether a caption is true of a scene is decided on the facts, not by parsing
text. Corruptions are checked to be false of their image:

* ``swap``: the caption of another image whose facts do not hold in this one;
* ``attribute``: one attribute word (size, colour or material) of a described object is
  changed to another word of the vocabulary such that the sentence no longer holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from datarecipes.scenes.layout import Description
from datarecipes.scenes.params import ScenesParams
from datarecipes.scenes.vocabulary import SHAPE_PLURALS

_NUMBER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve",
)
_PREDICATE_PHRASES = {
    "left of": "is to the left of",
    "right of": "is to the right of",
    "above": "is above",
    "below": "is below",
    "in front of": "is in front of",
    "behind": "is behind",
    "next to": "is next to",
}
#: Stream of the dataset-level corruption draws (scenes use (0, i), splits use (2,)).
CORRUPTION_STREAM = (3,)


def _number(n: int) -> str:
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)


def _with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


@dataclass(frozen=True)
class CaptionFacts:
    """What a caption states: shape counts and one relation (or one object)."""

    shape_counts: tuple[tuple[str, int], ...]
    head: Description
    predicate: str | None = None
    tail: Description | None = None

    def text(self) -> str:
        total = sum(c for _, c in self.shape_counts)
        parts = [
            _with_article(shape) if c == 1 else f"{_number(c)} {SHAPE_PLURALS[shape]}"
            for shape, c in self.shape_counts
        ]
        listing = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        if total == 1:
            first = f"There is one object: {listing}."
        else:
            first = f"There are {_number(total)} objects: {listing}."
        head = _with_article(self.head.phrase())
        if self.predicate is None or self.tail is None:
            second = f"There is {head}."
        else:
            tail = _with_article(self.tail.phrase())
            second = f"{head[0].upper()}{head[1:]} {_PREDICATE_PHRASES[self.predicate]} {tail}."
        return f"{first} {second}"

    def holds_for(
        self, descriptions: Sequence[Description], relations: Sequence[tuple[int, str, int]]
    ) -> bool:
        """Whether every statement of the caption is true of a scene."""
        if dict(self.shape_counts) != dict(Counter(d.shape for d in descriptions)):
            return False
        if self.predicate is None:
            return self.head in descriptions
        return any(
            p == self.predicate and descriptions[h] == self.head and descriptions[t] == self.tail
            for h, p, t in relations
        )


def caption_facts(
    descriptions: Sequence[Description],
    relations: Sequence[tuple[int, str, int]],
    rng: np.random.Generator,
) -> CaptionFacts:
    """The true caption's facts: all shape counts plus one relation drawn at random."""
    counts = Counter(d.shape for d in descriptions)
    shape_counts = tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    if relations:
        head, predicate, tail = relations[int(rng.integers(len(relations)))]
        return CaptionFacts(shape_counts, descriptions[head], predicate, descriptions[tail])
    return CaptionFacts(shape_counts, descriptions[int(rng.integers(len(descriptions)))])


def _attribute_corruption(
    facts: CaptionFacts,
    descriptions: Sequence[Description],
    relations: Sequence[tuple[int, str, int]],
    params: ScenesParams,
    rng: np.random.Generator,
) -> CaptionFacts | None:
    vocab = {"size": params.sizes, "colour": params.colours, "material": params.materials}
    roles = ["head"] if facts.tail is None else ["head", "tail"]
    candidates = [
        (role, attr, value)
        for role in roles
        for attr, words in vocab.items()
        for value in words
        if value != getattr(getattr(facts, role), attr)
    ]
    for k in rng.permutation(len(candidates)):
        role, attr, value = candidates[int(k)]
        changed = replace(facts, **{role: replace(getattr(facts, role), **{attr: value})})
        if not changed.holds_for(descriptions, relations):
            return changed
    return None


@dataclass(frozen=True)
class Corruption:
    kind: str  # "swap" or "attribute"
    caption: str


def corrupt_captions(
    facts: Sequence[CaptionFacts],
    scenes: Sequence[tuple[Sequence[Description], Sequence[tuple[int, str, int]]]],
    params: ScenesParams,
) -> dict[int, Corruption]:
    """Scene index -> its false caption, for ``round(corrupt_fraction * N)`` scenes."""
    n = len(facts)
    k = int(np.floor(params.corrupt_fraction * n + 0.5))
    if k == 0:
        return {}
    rng = np.random.default_rng(np.random.SeedSequence(params.seed, spawn_key=CORRUPTION_STREAM))
    chosen = sorted(int(i) for i in rng.permutation(n)[:k])
    corruptions: dict[int, Corruption] = {}
    for i in chosen:
        kind = params.corruption_kinds[int(rng.integers(len(params.corruption_kinds)))]
        descriptions, relations = scenes[i]
        if kind == "attribute":
            changed = _attribute_corruption(facts[i], descriptions, relations, params, rng)
            if changed is not None:
                corruptions[i] = Corruption("attribute", changed.text())
                continue
            kind = "swap"  # every single-word change still holds: fall back to a swap
        own = facts[i].text()
        for j in rng.permutation(n):
            other = facts[int(j)]
            if int(j) != i and other.text() != own and not other.holds_for(descriptions, relations):
                corruptions[i] = Corruption("swap", other.text())
                break
        else:
            raise RuntimeError(
                f"scene {i}: no other image's caption is false of it, cannot corrupt it by "
                "'swap'; use more scenes or corruption_kinds: [attribute]"
            )
    return corruptions

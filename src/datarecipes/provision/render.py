"""Turn a sampled candidate into text: question, options, answer and step-by-step solution.

Multiple-choice layout follows ProVision's ``mcq_template.py``: shuffled options written
``"A. x"`` or ``"(A) x"`` after a random prefix, and the expected response is the full
option line. We also keep the bare answer and the correct letter so an evaluator can accept
either.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from datarecipes.provision.base import Candidate, Generator, NumberFormat
from datarecipes.provision.templates import OPTION_PREFIXES, TEMPLATES
from datarecipes.provision.text import count_distractors, join_and, number_text
from datarecipes.scenegraph import ATTRIBUTE_TYPES, attribute_type

LETTERS = "ABCDEFGHIJ"


@dataclass
class Vocabulary:
    """Distractor vocabularies: every label, relation and attribute (by type) seen in the
    data, plus the project's attribute table, as sorted tuples (for seed-stable sampling)."""

    labels: tuple[str, ...] = ()
    relations: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    by_type: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_indices(cls, indices: Iterable[Any]) -> Vocabulary:
        labels, rels, attrs = set(), set(), {a for a in ATTRIBUTE_TYPES if a != "grey"}
        for index in indices:
            labels.update(index.labels)
            rels.update(r for _, r, _ in index.relations)
            for a in index.attrs:
                attrs.update(a)
        by_type: dict[str, list[str]] = {}
        for a in sorted(attrs):
            by_type.setdefault(attribute_type(a), []).append(a)
        return cls(tuple(sorted(labels)), tuple(sorted(rels)), tuple(sorted(attrs)),
                   {k: tuple(v) for k, v in by_type.items()})

    def pool(self, key: str) -> Sequence[str]:
        if key == "label":
            return self.labels
        if key == "relation":
            return self.relations
        if key == "attr":
            return self.attributes
        if key.startswith("attr:"):
            return self.by_type.get(key[5:], ())
        raise KeyError(f"unknown distractor pool {key!r}")


def format_solution(steps: Sequence[str], answer: str) -> str:
    """ThinkLite-VL's step format: ``### StepN: … <end>`` lines, then the boxed answer."""
    lines = [f"### Step{i}: {s} <end>" for i, s in enumerate(steps, start=1)]
    lines.append(f"### Final Answer: \\boxed{{{answer}}} <end>")
    return "\n".join(lines)


def _fields(gen: Generator, cand: Candidate, graph: Any, rng: random.Random) -> dict[str, str]:
    out = {}
    for key, value in gen.fields(cand, graph).items():
        if isinstance(value, str):
            out[key] = value
        elif key == "choices":
            names = list(value)
            rng.shuffle(names)
            out[key] = join_and(names)
    return out


def _distractors(cand: Candidate, answer_text: str, rng: random.Random, vocab: Vocabulary,
                 n_choice: int, format_number: NumberFormat) -> list[str]:
    if cand.pool == "count":
        return [format_number(x) for x in count_distractors(cand.mcq_answer)[1:]][: n_choice - 1]
    pool = cand.pool if isinstance(cand.pool, list) else vocab.pool(cand.pool)
    bad = cand.exclude
    options = [x for x in dict.fromkeys(pool) if x != answer_text and x not in bad]
    if len(options) > n_choice - 1:
        options = rng.sample(options, n_choice - 1)
    return options


def render(gen: Generator, cand: Candidate, graph: Any, rng: random.Random, mcq: bool,
           vocab: Vocabulary, n_choice: int = 4) -> dict[str, Any] | None:
    """Question text, response, bare answer, options, letter and solution for ``cand``.

    ``mcq`` asks for the multiple-choice form; a candidate without distractors falls back to
    the open form, and one whose open form is undetermined (``open_ok`` False) without
    distractors yields None.
    """
    as_word = rng.random() < 0.5

    def num(n: int) -> str:
        return number_text(n, as_word)

    question = rng.choice(TEMPLATES[cand.generator]).format(**_fields(gen, cand, graph, rng))
    distractors: list[str] = []
    if (mcq or not cand.open_ok) and cand.pool is not None:
        value = cand.mcq_answer
        if isinstance(value, tuple):
            value = rng.choice(value)
        bare = num(value) if isinstance(value, int) else value
        distractors = _distractors(cand, bare, rng, vocab, n_choice, num)
    if distractors:
        options = [bare, *distractors]
        rng.shuffle(options)
        paren = rng.random() < 0.5
        lines = [f"({LETTERS[i]}) {o}" if paren else f"{LETTERS[i]}. {o}"
                 for i, o in enumerate(options)]
        index = options.index(bare)
        question = f"{question}\n{rng.choice(OPTION_PREFIXES)}\n" + "\n".join(lines)
        response, letter, fmt = lines[index], LETTERS[index], "mcq"
    elif cand.open_ok:
        value = cand.answer
        bare = num(value) if isinstance(value, int) else value
        options, response, letter, fmt = [], bare, "", "open"
    else:
        return None
    solution = format_solution(gen.steps(cand, graph, num), bare)
    return {"question": question, "answer": response, "bare_answer": bare,
            "options": options, "answer_letter": letter, "format": fmt,
            "solution": solution}

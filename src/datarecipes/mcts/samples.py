"""Questions to score: one validated record type, and the checks that set bad rows aside.

Input rows are mappings (e.g. ``DataFrame.to_dict("records")``) with ``sample_id``, ``question``,
``answer`` (the ground truth), optional ``image`` (a file path), ``options`` (multiple-choice
texts) and ``question_type`` (for the selection statistics). A row that cannot be searched (no
ground truth, an image that does not decode, an answer of an unexpected type) is skipped with a
reason, or, with ``strict``, raises :class:`BadSampleError` naming the sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datarecipes.answers import normalize_answer

# The project's one bad-sample error (an image that does not decode raises it too); raised
# here in strict mode with the sample id in the message.
from datarecipes.models.conversations import BadSampleError, load_image

__all__ = ["BadSampleError", "MctsSample", "parse_sample", "parse_samples"]


@dataclass(frozen=True)
class MctsSample:
    """One question to score by MCTS difficulty."""

    sample_id: str
    question: str
    answer: str
    image: str | None = None
    options: tuple[str, ...] | None = None
    question_type: str | None = None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _image_problem(path: str) -> str | None:
    try:
        load_image(path)
    except BadSampleError as err:
        return str(err)
    return None


def parse_sample(row: Mapping[str, Any]) -> tuple[MctsSample | None, str | None]:
    """The sample of ``row``, or ``(None, reason)`` when it cannot be searched."""
    sample_id = str(row.get("sample_id"))
    question = row.get("question")
    if _missing(question) or not isinstance(question, str) or not question.strip():
        return None, "empty or missing question"
    answer = row.get("answer")
    if _missing(answer):
        return None, "no ground-truth answer"
    if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
        return None, f"ground-truth answer of unexpected type {type(answer).__name__}"
    answer = str(answer).strip()
    if not normalize_answer(answer):
        return None, f"ground-truth answer {answer!r} has no comparable content"
    options = row.get("options")
    if _missing(options):
        options = None
    elif hasattr(options, "tolist"):  # numpy arrays from parquet
        options = options.tolist()
    if options is not None:
        if not isinstance(options, (list, tuple)) or not all(isinstance(o, str) for o in options):
            return None, f"options must be a list of strings, got {options!r}"
        options = tuple(options)
    image = row.get("image")
    if _missing(image) or image == "":
        image = None
    elif not isinstance(image, str):
        return None, f"image must be a file path, got {type(image).__name__}"
    elif (problem := _image_problem(image)) is not None:
        return None, problem
    question_type = row.get("question_type")
    return (
        MctsSample(
            sample_id=sample_id,
            question=question,
            answer=answer,
            image=image,
            options=options,
            question_type=None if _missing(question_type) else str(question_type),
        ),
        None,
    )


def parse_samples(
    rows: list[Mapping[str, Any]], strict: bool = False
) -> tuple[list[MctsSample | None], list[str | None]]:
    """Parse ``rows`` in order: one sample (or None) and one skip reason (or None) per row."""
    samples, reasons = [], []
    for row in rows:
        sample, reason = parse_sample(row)
        if reason is not None and strict:
            raise BadSampleError(f"sample {row.get('sample_id')!r}: {reason}")
        samples.append(sample)
        reasons.append(reason)
    return samples, reasons

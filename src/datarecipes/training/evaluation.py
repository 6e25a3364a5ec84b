"""Grading: answer extraction and correctness against the ground truth.

Follows ThinkLite-VL's evaluation (methods.md §1: greedy decoding, the last ``\\boxed{}``) but
scores with :func:`datarecipes.answers.is_correct` instead of a substring match, and falls back
to the last option letter or number when the model did not box its answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from datarecipes.answers import extract_answer, is_correct


def grade(
    predictions: Sequence[str], answers: Iterable[Any], options: Iterable[Any]
) -> tuple[list[str | None], list[bool]]:
    """Extract each prediction's answer and grade it against the ground truth.

    Graded from Python lists, not a DataFrame column: pandas' string inference turns a missing
    extraction (None) into NaN, which is not an answer.
    """
    extracted: list[str | None] = []
    correct: list[bool] = []
    for prediction, answer, option in zip(predictions, answers, options, strict=True):
        choices = _options(option)
        guess = extract_answer(prediction, choices)
        extracted.append(guess)
        correct.append(guess is not None and is_correct(guess, str(answer), choices))
    return extracted, correct


def _options(value: Any) -> list[str] | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split("||")] if "||" in value else None
    return list(value)

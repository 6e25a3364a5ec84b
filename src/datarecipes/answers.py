"""The one answer normaliser: extraction and comparison shared by rewards and evaluation.

ThinkLite's evaluation takes the last ``\\boxed{}`` and does a substring match (methods.md §1);
substring matching calls "1" correct for "10", so we compare normalised answers for equality
instead: numbers by value, option letters in any of their spellings ("A", "(A)", "A.",
"option A", or the option's full text), case and whitespace folded, LaTeX wrappers dropped,
and a count written as a word read as its number (ProVision words some counts: "two" = "2").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_OPTION = re.compile(r"^\(?([A-Z])\)?[.:)]?$")
_OPTION_PREFIX = re.compile(r"^(?:option|choice|answer)(?:\s+is)?\s*[:]?\s*", re.IGNORECASE)
_LAST_OPTION = re.compile(r"(?:^|[\s(\[])\(?([A-H])\)?(?=[\s.,:;)\]]|$)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}")
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
#: Counts written as words, as ProVision's counting generators sometimes answer them.
_NUMBER_WORDS = {word: str(i) for i, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}


def extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` in ``text`` (braces balanced), or None."""
    matches = list(_BOXED.finditer(text))
    for match in reversed(matches):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i].strip()
        # Unbalanced (generation cut off): try an earlier, complete box.
    return None


def extract_answer(text: str, options: Sequence[str] | None = None) -> str | None:
    """The model's final answer: the last ``\\boxed{}``, else the last option letter (when the
    question has options) or the last number; None when there is nothing to extract."""
    boxed = extract_boxed(text)
    if boxed is not None:
        return boxed
    final = text.rsplit("Final Answer:", 1)[-1] if "Final Answer:" in text else text
    if options:
        letters = [m.group(1) for m in _LAST_OPTION.finditer(final)]
        valid = {chr(ord("A") + i) for i in range(len(options))}
        letters = [x for x in letters if x in valid]
        if letters:
            return letters[-1]
    numbers = _NUMBER.findall(final)
    if numbers:
        return numbers[-1]
    stripped = final.strip()
    return stripped or None


def _parse_number(text: str) -> float | None:
    candidate = text.replace(",", "").replace(" ", "").rstrip(".")
    if candidate.endswith("%"):
        candidate = candidate[:-1]
    frac = re.fullmatch(r"(-?\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)", candidate)
    try:
        if frac:
            return float(frac.group(1)) / float(frac.group(2))
        return float(candidate)
    except (ValueError, ZeroDivisionError):
        return None


def normalize_answer(answer: str) -> str:
    """Canonical form of an answer: LaTeX wrappers, ``$``, case, spacing and final dots removed;
    numbers written in their shortest form (``"3.0"`` → ``"3"``, ``"1,000"`` → ``"1000"``)."""
    text = answer.strip()
    text = _FRAC.sub(r"\1/\2", text)
    while True:
        unwrapped = _TEXT_WRAPPERS.sub(r"\1", text)
        if unwrapped == text:
            break
        text = unwrapped
    text = text.replace("$", "").replace("\\%", "%").replace("\\!", "").replace("\\,", "")
    text = text.strip().rstrip(".").strip()
    number = _parse_number(text)
    if number is not None:
        return f"{number:.6g}" if not number.is_integer() else str(int(number))
    text = re.sub(r"\s+", " ", text).lower().strip("\"' ")
    return _NUMBER_WORDS.get(text, text)


def _option_letter(answer: str, options: Sequence[str] | None) -> str | None:
    """The option letter ``answer`` designates, or None."""
    text = _OPTION_PREFIX.sub("", answer.strip()).strip()
    match = _OPTION.match(text.upper()) if len(text) <= 4 else None
    if match and (not options or ord(match.group(1)) - ord("A") < len(options)):
        return match.group(1)
    # "(B) blue" and "B. blue": a letter followed by the option's text.
    lead = re.match(r"^\(?([A-Z])[).:]\s+(.*)$", text)
    if lead and options:
        index = ord(lead.group(1)) - ord("A")
        if index < len(options) and normalize_answer(lead.group(2)) == normalize_answer(
            options[index]
        ):
            return lead.group(1)
    if options:
        norm = normalize_answer(text)
        for i, option in enumerate(options):
            if norm == normalize_answer(option):
                return chr(ord("A") + i)
    return None


def is_correct(
    prediction: str | None, ground_truth: str, options: Sequence[str] | None = None
) -> bool:
    """Whether ``prediction`` (an extracted answer) matches ``ground_truth``.

    With ``options`` (the choices in order A, B, ...), a letter in any spelling and the option's
    full text are equivalent. Without options, a single letter still matches "(A)" / "A.".
    """
    if prediction is None:
        return False
    truth_letter = _option_letter(ground_truth, options)
    if truth_letter is not None and (options or len(ground_truth.strip()) <= 4):
        pred_letter = _option_letter(prediction, options)
        if pred_letter is not None:
            return pred_letter == truth_letter
    return normalize_answer(prediction) == normalize_answer(ground_truth)

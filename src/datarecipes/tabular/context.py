"""Prompt length against a model's context: count, check, or fall back to fewer shots.

A prompt is never silently truncated: a training record cut at the context would teach the
model a wrong table (shots missing, the answer cut off), and an evaluation prompt cut on
the left would drop shots unnoticed. Too long -> a clear error, or (when configured) the
largest smaller shot count that fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from datarecipes.tabular.serialize import OURS, PromptFormatParams, answer_json

Messages = list[dict[str, str]]


class PromptTooLongError(ValueError):
    """A prompt does not fit the model's context at any allowed shot count."""


class ByteCountTokenizer:
    """Upper bound used when no tokenizer is given: one token per UTF-8 byte.

    A byte-level BPE never yields more tokens than bytes, so a prompt that passes this check
    fits any such model (chat-template tokens aside, hence ``overhead``).
    """

    overhead = 64

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))


def _ids_length(result: Any) -> int:
    if isinstance(result, dict) or hasattr(result, "keys"):
        result = result["input_ids"]
    if result and isinstance(result[0], list):  # batched output of one sequence
        result = result[0]
    return len(result)


def prompt_token_count(messages: Messages, tokenizer: Any) -> int:
    """Token count of a conversation: the chat template when the tokenizer has one, else the
    concatenated contents via ``encode`` or ``__call__``."""
    if getattr(tokenizer, "chat_template", None) and hasattr(tokenizer, "apply_chat_template"):
        return _ids_length(tokenizer.apply_chat_template(messages, tokenize=True))
    text = "\n".join(m["content"] for m in messages)
    extra = int(getattr(tokenizer, "overhead", 8 * len(messages)))
    if hasattr(tokenizer, "encode"):
        return len(tokenizer.encode(text)) + extra
    return _ids_length(tokenizer(text)) + extra


def fit_to_context(
    build: Callable[[int], Messages],
    n_shots: int,
    tokenizer: Any,
    max_length: int,
    where: str,
    on_too_long: Literal["error", "fewer_shots"] = "error",
    answer_rows: int = 0,
    allowed_shots: Sequence[int] | None = None,
    fmt: PromptFormatParams = OURS,
) -> tuple[Messages, int]:
    """Messages built with ``n_shots`` shots if they fit ``max_length`` tokens, else fewer.

    ``answer_rows > 0`` reserves room for a generated answer of that many rows (evaluation
    prompts have no assistant turn). ``on_too_long="fewer_shots"`` tries the smaller counts of
    ``allowed_shots`` (default: halving) from the largest down; ``where`` names the task or
    table in the error; ``fmt`` is the answer's JSON format.
    """
    tokenizer = tokenizer if tokenizer is not None else ByteCountTokenizer()
    reserve = 0
    if answer_rows:
        reserve = prompt_token_count(
            [{"role": "assistant", "content": answer_json([99] * answer_rows, fmt)}], tokenizer
        )
    if allowed_shots is None:
        candidates, s = [], n_shots
        while s >= 1:
            candidates.append(s)
            s //= 2
    else:
        candidates = sorted({s for s in allowed_shots if s <= n_shots} | {n_shots}, reverse=True)
    lengths = []
    for shots in candidates:
        messages = build(shots)
        length = prompt_token_count(messages, tokenizer) + reserve
        if length <= max_length:
            return messages, shots
        lengths.append(length)
        if on_too_long == "error":
            break
    raise PromptTooLongError(
        f"{where}: the prompt with {n_shots} shots needs {lengths[0]} tokens (answer included), "
        f"more than max_length={max_length}"
        + (
            f"; even {candidates[len(lengths) - 1]} shots need {lengths[-1]}"
            if on_too_long == "fewer_shots"
            else "; lower the shot count, raise max_length, or set on_too_long: fewer_shots"
        )
    )

"""Training records → TRL datasets, with bad samples skipped and counted or fatal.

Input records are LLaVA conversations (``{"id", "image", "conversations": [{"from": "human",
"value": "<image>\\n..."}, {"from": "gpt", "value": ...}]}``, image by path) or, for text LMs,
chat records (``{"id", "messages": [{"role", "content"}]}``). SFT uses TRL's prompt-completion
format so the loss falls on answers only; a record with several assistant turns gives one
example per assistant turn (its history as prompt), so every answer is supervised with any
checkpoint's chat template.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import datasets
import pandas as pd

from datarecipes.io.paths import resolve_image_path
from datarecipes.models.conversations import BadSampleError, llava_to_messages, load_image

logger = logging.getLogger(__name__)

OnBadSample = Literal["skip", "error"]


@dataclass
class BadSampleLog:
    """Which records were skipped and why (the first few reasons are kept)."""

    total: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, reason: str, on_bad_sample: OnBadSample) -> None:
        if on_bad_sample == "error":
            raise BadSampleError(reason)
        self.skipped += 1
        if len(self.reasons) < 5:
            self.reasons.append(reason)

    def report(self, what: str) -> None:
        if self.skipped:
            logger.warning(
                "%s: skipped %d of %d bad record(s); first reasons: %s",
                what, self.skipped, self.total, "; ".join(self.reasons),
            )


def as_records(data: Iterable[Mapping[str, Any]] | pd.DataFrame) -> list[dict[str, Any]]:
    """Records from a DataFrame or an iterable of mappings."""
    if isinstance(data, pd.DataFrame):
        return data.to_dict(orient="records")
    return [dict(r) for r in data]


def record_messages(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The chat messages of a LLaVA or ``messages`` record."""
    if "conversations" in record:
        return llava_to_messages(dict(record))
    messages = record.get("messages")
    if isinstance(messages, list) and messages:
        return [dict(m) for m in messages]
    raise BadSampleError(
        f"record {record.get('id', '?')!r}: needs 'conversations' (LLaVA) or 'messages'"
    )


def record_image_path(record: Mapping[str, Any], image_root: str | None) -> str | None:
    """The record's image path (resolved against ``image_root`` by
    :func:`~datarecipes.io.paths.resolve_image_path`), checked to decode; None if no image."""
    image = record.get("image")
    if image is None or (isinstance(image, float) and pd.isna(image)) or image == "":
        return None
    path = resolve_image_path(str(image), image_root or None)
    load_image(path)  # fail (or skip) here, not in the middle of training
    return path


def _conversation(
    record: Mapping[str, Any], image_root: str | None
) -> tuple[list[dict[str, Any]], str | None, list[int]]:
    """A record's messages, its image path and the indices of its assistant turns."""
    messages = record_messages(record)
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    return messages, record_image_path(record, image_root), turns


def _dataset(
    data: Iterable[Mapping[str, Any]] | pd.DataFrame,
    image_root: str | None,
    on_bad_sample: OnBadSample,
    name: str,
    rows_of: Callable[[Mapping[str, Any], str, list[dict[str, Any]], str | None, list[int]],
                      list[dict[str, Any]]],
) -> tuple[datasets.Dataset, BadSampleLog]:
    """The rows ``rows_of(record, id, messages, image path, assistant turns)`` gives for each
    record; a record it (or its conversation) refuses with :class:`BadSampleError` is skipped
    or raised as ``on_bad_sample`` says, with the record's id in the message."""
    records = as_records(data)
    log = BadSampleLog(total=len(records))
    rows: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        rid = record.get("id", f"row {index}")
        try:
            messages, path, turns = _conversation(record, image_root)
            rows.extend(rows_of(record, rid, messages, path, turns))
        except BadSampleError as err:
            log.add(f"{name}: {err}" if str(rid) in str(err) else f"{name} {rid!r}: {err}",
                    on_bad_sample)
    log.report(name)
    return _to_dataset(rows, name), log


def sft_dataset(
    data: Iterable[Mapping[str, Any]] | pd.DataFrame,
    image_root: str | None = None,
    on_bad_sample: OnBadSample = "skip",
    name: str = "sft data",
) -> tuple[datasets.Dataset, BadSampleLog]:
    """Prompt-completion dataset (``prompt``, ``completion``, ``images`` when there are images)."""

    def rows_of(record: Mapping[str, Any], rid: str, messages: list[dict[str, Any]],
                path: str | None, turns: list[int]) -> list[dict[str, Any]]:
        if not turns:
            raise BadSampleError(f"record {rid!r} has no assistant turn")
        rows: list[dict[str, Any]] = []
        for i in turns:
            row: dict[str, Any] = {"prompt": messages[:i], "completion": [messages[i]]}
            if path is not None:
                row["images"] = [path]
            rows.append(row)
        return rows

    return _dataset(data, image_root, on_bad_sample, name, rows_of)


def prompt_dataset(
    data: Iterable[Mapping[str, Any]] | pd.DataFrame,
    image_root: str | None = None,
    on_bad_sample: OnBadSample = "skip",
    name: str = "grpo data",
) -> tuple[datasets.Dataset, BadSampleLog]:
    """Prompt-only dataset for GRPO / evaluation: ``prompt`` (every turn before the last
    assistant turn, or the whole conversation when there is none), ``answer`` (the record's
    ``answer`` field, else the last assistant turn's text, else empty for unlabeled data),
    ``id``, ``image`` path, plus the record's other scalar columns (``question_type``, ...)."""

    def rows_of(record: Mapping[str, Any], rid: str, messages: list[dict[str, Any]],
                path: str | None, turns: list[int]) -> list[dict[str, Any]]:
        prompt = messages[: turns[-1]] if turns else messages
        if not prompt or prompt[-1]["role"] != "user":
            raise BadSampleError(f"record {rid!r} has no user turn to answer")
        answer = record.get("answer")
        if answer is None and turns:
            answer = _text(messages[turns[-1]])
        row = {k: v for k, v in record.items() if _is_scalar(v)}
        row.update(id=str(rid), prompt=prompt, answer="" if answer is None else str(answer))
        row.pop("image", None)
        if path is not None:
            row["image"] = path
        return [row]

    return _dataset(data, image_root, on_bad_sample, name, rows_of)


def _text(message: Mapping[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if b.get("type") == "text")


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and not (
        isinstance(value, float) and pd.isna(value)
    )


def _to_dataset(rows: list[dict[str, Any]], name: str) -> datasets.Dataset:
    if not rows:
        raise BadSampleError(f"{name}: the dataset has no usable rows")
    has_images = [("images" in r) or ("image" in r) for r in rows]
    if any(has_images) and not all(has_images):
        # One batch may not mix image and text-only rows in TRL's collators.
        raise BadSampleError(f"{name}: some records have an image and some do not")
    ds = datasets.Dataset.from_list(rows)
    # Paths decode lazily, batch by batch, instead of holding every image in memory.
    if "images" in ds.column_names:
        ds = ds.cast_column("images", datasets.Sequence(datasets.Image()))
    if "image" in ds.column_names:
        ds = ds.cast_column("image", datasets.Image())
    return ds

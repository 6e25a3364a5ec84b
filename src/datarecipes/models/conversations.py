"""Conversations and images: the one format every recipe hands to the model helpers.

A :data:`Conversation` is a list of chat messages ``{"role", "content"}`` in the Hugging Face
format; ``content`` is a string or a list of typed blocks (``{"type": "image"}``,
``{"type": "text", "text": ...}``). LLaVA records (``{"from": "human"|"gpt", "value": ...}`` with
an ``<image>`` marker) convert with :func:`llava_to_messages`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from datarecipes.io.paths import resolve_image_path

Conversation = list[dict[str, Any]]
ImageLike = Image.Image | str | os.PathLike[str]

_LLAVA_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                "system": "system"}
IMAGE_MARKER = "<image>"


class BadSampleError(ValueError):
    """One record cannot be used (bad image, no assistant turn, malformed conversation)."""


def load_image(image: ImageLike, root: str | os.PathLike[str] | None = None) -> Image.Image:
    """The one image loader: a decoded RGB PIL image from a path (resolved against ``root`` by
    :func:`~datarecipes.io.paths.resolve_image_path`) or an image."""
    if isinstance(image, Image.Image):
        return image.convert("RGB") if image.mode != "RGB" else image
    try:
        path = Path(resolve_image_path(image, root))
    except ValueError as err:  # an empty path
        raise BadSampleError(f"image {str(image)!r} cannot be decoded: {err}") from err
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise BadSampleError(f"image {str(path)!r} cannot be decoded: {err}") from err


def llava_to_messages(record: dict[str, Any]) -> Conversation:
    """Turn a LLaVA ``conversations`` list into chat messages with typed content blocks.

    The ``<image>`` marker becomes an image block at its place (LLaVA puts it first or last);
    a record with an ``image`` but no marker gets the image before the first user text.
    """
    rid = record.get("id", "?")
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise BadSampleError(f"record {rid!r}: 'conversations' must be a non-empty list")
    has_image = bool(record.get("image"))
    placed = False
    messages: Conversation = []
    for i, turn in enumerate(turns):
        role = _LLAVA_ROLES.get(turn.get("from", ""))
        if role is None or not isinstance(turn.get("value"), str):
            raise BadSampleError(f"record {rid!r}: turn {i} has no valid 'from'/'value'")
        text = turn["value"]
        blocks: list[dict[str, Any]] = []
        if IMAGE_MARKER in text:
            if not has_image:
                raise BadSampleError(f"record {rid!r}: turn {i} has {IMAGE_MARKER} but no image")
            before, _, after = text.partition(IMAGE_MARKER)
            if before.strip():
                blocks.append({"type": "text", "text": before.strip()})
            blocks.append({"type": "image"})
            if after.strip():
                blocks.append({"type": "text", "text": after.strip()})
            placed = True
        elif role == "user" and has_image and not placed:
            blocks = [{"type": "image"}, {"type": "text", "text": text}]
            placed = True
        else:
            blocks = [{"type": "text", "text": text}]
        messages.append({"role": role, "content": blocks})
    return messages


def with_image_blocks(conversation: Conversation, n_images: int) -> Conversation:
    """``conversation`` with typed content and ``n_images`` image blocks in the first user turn.

    Conversations that already carry image blocks must carry exactly ``n_images`` of them.
    """
    present = count_image_blocks(conversation)
    out: Conversation = []
    for message in conversation:
        content = message["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if present == 0 and n_images and message["role"] == "user" and not _has_user(out):
            content = [{"type": "image"} for _ in range(n_images)] + list(content)
        out.append({**message, "content": content})
    if present not in (0, n_images):
        raise BadSampleError(
            f"conversation has {present} image placeholder(s) but {n_images} image(s) were given"
        )
    return out


def _has_user(messages: Sequence[dict[str, Any]]) -> bool:
    return any(m["role"] == "user" for m in messages)


def count_image_blocks(conversation: Conversation) -> int:
    """Number of image blocks in ``conversation``."""
    return sum(
        1
        for m in conversation
        if not isinstance(m["content"], str)
        for block in m["content"]
        if block.get("type") == "image"
    )


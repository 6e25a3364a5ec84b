"""Reading one image-text pair defensively: bad input becomes a status, never a crash.

Web-scale pairs come with missing files, truncated or corrupt images, empty captions and
captions that are not UTF-8. Every scorer reads pairs through :func:`read_pair`, which returns
the decoded pair or a status with a reason, so a shard always finishes and every skipped row
says why.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from PIL import Image

#: Score row statuses (MLM-Filter's: only ``success`` rows are ever counted as scores).
SUCCESS = "success"
#: The model answered, but no integer score could be read from its first line.
PARSE_ERROR = "parse_error"
#: The pair could not be decoded: missing/corrupt/truncated image, empty or non-UTF-8 caption.
DECODE_ERROR = "decode_error"
STATUSES: tuple[str, ...] = (SUCCESS, PARSE_ERROR, DECODE_ERROR)


@dataclass
class DecodedPair:
    """An image-text pair; ``image``/``caption`` are ``None`` when ``status`` is not success."""

    image: Image.Image | None
    caption: str | None
    status: str
    reason: str

    @property
    def ok(self) -> bool:
        return self.status == SUCCESS


def decode_caption(caption: Any) -> tuple[str | None, str]:
    """A caption as clean text, or ``(None, reason)``."""
    if caption is None or (isinstance(caption, float) and math.isnan(caption)):
        return None, "empty caption"
    if isinstance(caption, (bytes, bytearray)):
        try:
            caption = bytes(caption).decode("utf-8")
        except UnicodeDecodeError as err:
            return None, f"caption is not UTF-8 ({err.reason} at byte {err.start})"
    if not isinstance(caption, str):
        return None, f"caption is a {type(caption).__name__}, not text"
    try:
        # Text read with errors="surrogateescape" keeps undecodable bytes as lone surrogates.
        caption.encode("utf-8")
    except UnicodeEncodeError:
        return None, "caption is not UTF-8 (undecodable bytes)"
    if not caption.strip():
        return None, "empty caption"
    return caption, ""


def decode_image(path: Any) -> tuple[Image.Image | None, str]:
    """The RGB image at ``path``, fully decoded (the project's one loader), or (None, reason)."""
    from datarecipes.models.conversations import BadSampleError, load_image

    if not isinstance(path, str) or not path:
        return None, "missing image path"
    if not os.path.isfile(path):
        return None, f"missing file {path}"
    try:
        return load_image(path), ""  # decodes fully: a truncated file fails here
    except (BadSampleError, Image.DecompressionBombError) as err:
        return None, f"corrupt image: {err}"


def read_pair(image_path: Any, caption: Any) -> DecodedPair:
    """Decode one pair; a failure is reported in ``status``/``reason``."""
    text, reason = decode_caption(caption)
    if text is None:
        return DecodedPair(None, None, DECODE_ERROR, reason)
    image, reason = decode_image(image_path)
    if image is None:
        return DecodedPair(None, None, DECODE_ERROR, reason)
    return DecodedPair(image, text, SUCCESS, "")


#: The pair table every filtering function reads: one row per image-text pair.
ID_COLUMN = "image_id"
IMAGE_COLUMN = "image_path"
CAPTION_COLUMN = "caption"

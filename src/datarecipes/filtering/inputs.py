"""Reading one image-text pair defensively: bad input becomes a status, never a crash.

Web-scale pairs come with missing files, truncated or corrupt images, empty captions and
captions that are not UTF-8. Every scorer reads pairs through :func:`read_pair`, which returns
the decoded pair or a status with a reason, so a shard always finishes and every skipped row
says why.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

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


def decode_image_bytes(data: Any, where: str = "image") -> tuple[Image.Image | None, str]:
    """The RGB image encoded in ``data`` (bytes), fully decoded, or (None, reason)."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        return None, f"{where}: no image bytes"
    try:
        with Image.open(io.BytesIO(bytes(data))) as img:
            img.load()  # decodes fully: truncated bytes fail here, not in the model
            return img.convert("RGB"), ""
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as err:
        return None, f"corrupt image: {where} cannot be decoded: {err}"


def encoded_image(row: Mapping[str, Any]) -> bytes:
    """The encoded bytes of a row's image, wherever they live; ``OSError`` if unreadable.

    A row holds its image in one of three ways: ``image_bytes`` (the bytes themselves, e.g.
    a parquet ``{"bytes", "path"}`` struct), ``image_path`` + ``image_offset`` /
    ``image_size`` (a member of an uncompressed tar shard, read in place by one seek: the
    shard is never extracted), or ``image_path`` alone (a file). Sources are only read.
    """
    data = row.get(IMAGE_BYTES_COLUMN)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    path = row.get(IMAGE_COLUMN)
    if not isinstance(path, str) or not path:
        raise OSError("missing image path")
    offset = _as_int(row.get(IMAGE_OFFSET_COLUMN))
    if offset is None or offset < 0:
        with open(path, "rb") as fh:
            return fh.read()
    size = _as_int(row.get(IMAGE_SIZE_COLUMN)) or 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(size)
    if len(data) != size:
        raise OSError(f"{path}: truncated at byte {offset + len(data)} "
                      f"(member needs {size} bytes from {offset})")
    return data


def _as_int(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def image_in_file(row: Mapping[str, Any]) -> bool:
    """Whether a row's image is a whole file (not bytes in the row, not a tar member)."""
    if isinstance(row.get(IMAGE_BYTES_COLUMN), (bytes, bytearray, memoryview)):
        return False
    offset = _as_int(row.get(IMAGE_OFFSET_COLUMN))
    return offset is None or offset < 0


def image_where(row: Mapping[str, Any]) -> str:
    """Where a row's image lives, for messages (``shard.tar@offset``, a path, ``bytes``)."""
    if isinstance(row.get(IMAGE_BYTES_COLUMN), (bytes, bytearray, memoryview)):
        return f"image bytes of {row.get(ID_COLUMN)!r}"
    offset = _as_int(row.get(IMAGE_OFFSET_COLUMN))
    path = row.get(IMAGE_COLUMN)
    return f"{path}@{offset}" if offset is not None and offset >= 0 else str(path)


def read_row(row: Mapping[str, Any]) -> DecodedPair:
    """Decode the pair of one table row (any source layout; see :func:`encoded_image`).

    ``input_reason`` carries what the source reader already found wrong (no image member, a
    caption that is not UTF-8, a metadata line that is not JSON): such a row is a decode
    error with that reason, never a crash.
    """
    given = row.get(INPUT_REASON_COLUMN)
    if isinstance(given, str) and given:
        return DecodedPair(None, None, DECODE_ERROR, given)
    if image_in_file(row):
        return read_pair(row.get(IMAGE_COLUMN), row.get(CAPTION_COLUMN))
    text, reason = decode_caption(row.get(CAPTION_COLUMN))
    if text is None:
        return DecodedPair(None, None, DECODE_ERROR, reason)
    where = image_where(row)
    try:
        data = encoded_image(row)
    except OSError as err:
        return DecodedPair(None, None, DECODE_ERROR, f"unreadable image {where}: {err}")
    image, reason = decode_image_bytes(data, where)
    if image is None:
        return DecodedPair(None, None, DECODE_ERROR, reason)
    return DecodedPair(image, text, SUCCESS, "")


def input_columns(table: Any) -> list[str]:
    """The columns of ``table`` that :func:`read_row` reads (the ones it has)."""
    return [c for c in PAIR_INPUT_COLUMNS if c in table.columns]


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
#: Byte offset of the image inside ``image_path`` (a tar shard member); -1 or absent: the
#: whole file.
IMAGE_OFFSET_COLUMN = "image_offset"
#: Byte size of that member.
IMAGE_SIZE_COLUMN = "image_size"
#: The encoded image itself (sources that carry bytes, e.g. a parquet image struct).
IMAGE_BYTES_COLUMN = "image_bytes"
#: Image file extension (``jpg``, ``png``...), kept when the image is packed.
IMAGE_EXT_COLUMN = "image_ext"
#: Why the source reader could not form the pair ("" when it could).
INPUT_REASON_COLUMN = "input_reason"
#: Everything :func:`read_row` may read.
PAIR_INPUT_COLUMNS = (ID_COLUMN, IMAGE_COLUMN, IMAGE_OFFSET_COLUMN, IMAGE_SIZE_COLUMN,
                      IMAGE_BYTES_COLUMN, IMAGE_EXT_COLUMN, CAPTION_COLUMN, INPUT_REASON_COLUMN)
#: The input's own key of a pair (WebDataset ``__key__``, a parquet id or row, a file name)
#: and the file it came from: the decision table is keyed by them.
KEY_COLUMN = "key"
SOURCE_COLUMN = "source"

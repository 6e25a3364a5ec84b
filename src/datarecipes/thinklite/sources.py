"""A user's VQA files and ThinkLite-format benchmarks read into tables, and the selected set
in ThinkLite's and LLaVA's own formats: the formats behind the ThinkLite catalog datasets
(:mod:`datarecipes.io.thinklite`), usable without Kedro.

Readers raise :class:`~datarecipes.io.errors.SourceError` naming the file (and row) they cannot
read; image paths resolve through :func:`datarecipes.io.paths.resolve_image_path`.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from datarecipes.answers import extract_boxed
from datarecipes.fingerprint import digest
from datarecipes.io.errors import SourceError
from datarecipes.io.paths import resolve_image_path
from datarecipes.thinklite.data import QUESTION_COLUMNS

#: Columns of :attr:`VQASourceData.rows`, whatever the input format.
SOURCE_ROW_COLUMNS = [
    "row", "sample_id", "image_bytes", "image_path", "question", "answer", "options",
    "solution", "question_type",
]
VQAFormat = Literal["thinklite", "llava", "internal"]


@dataclass(frozen=True)
class VQASourceData:
    """A user's VQA file read as is: one row per input row (``row``: 0-based position in the
    file), images as bytes (parquet) or as paths resolved against the image root (LLaVA JSON,
    internal schema, a parquet image struct holding only a path). Nothing is validated here:
    :func:`datarecipes.thinklite.data.source_questions` accepts or refuses every row."""

    format: VQAFormat
    path: str
    rows: pd.DataFrame


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _text(value: Any) -> str | None:
    return None if _is_missing(value) else str(value)


def _image_cell(value: Any, image_root: Path) -> tuple[bytes | None, str | None]:
    """(bytes, path) of a parquet ``image`` cell: raw bytes, a Hugging Face ``{"bytes",
    "path"}`` struct (bytes win; a bare path is resolved against the image root) or a path."""
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if isinstance(data, (bytes, bytearray, memoryview)) and len(data):
            return bytes(data), None
        return None, resolve_image_path(str(path), image_root) if path else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return (bytes(value) if len(value) else None), None
    if isinstance(value, str) and value:
        return None, resolve_image_path(value, image_root)
    return None, None


def _llava_answer(record: dict[str, Any]) -> str | None:
    if not _is_missing(record.get("answer")) and str(record.get("answer")).strip():
        return str(record["answer"])
    turns = record.get("conversations")
    answers = [t.get("value") for t in turns or [] if isinstance(t, dict)
               and str(t.get("from", "")).lower() in ("gpt", "assistant")]
    if not answers or _is_missing(answers[-1]):
        return None
    reply = str(answers[-1])
    return extract_boxed(reply) or reply


def _llava_question(record: dict[str, Any]) -> str | None:
    turns = record.get("conversations")
    for turn in turns or []:
        if isinstance(turn, dict) and str(turn.get("from", "")).lower() in ("human", "user"):
            return _text(turn.get("value"))
    return None


def read_llava(path: Path, image_root: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                       if line.strip()]
        else:
            records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SourceError(f"{path}: not a LLaVA conversation JSON file ({err})") from None
    if not isinstance(records, list):
        raise SourceError(f"{path}: a LLaVA file is a list of records, got "
                           f"{type(records).__name__}")
    rows = []
    for k, rec in enumerate(records):
        rec = rec if isinstance(rec, dict) else {}
        image = rec.get("image")
        if isinstance(image, list) and len(image) == 1:
            image = image[0]
        # Several images are kept as a list: the row is refused (ThinkLite is single-image).
        image_path = (image if isinstance(image, list)
                      else resolve_image_path(str(image), image_root) if image else None)
        rows.append({"row": k, "sample_id": _text(rec.get("id")), "image_bytes": None,
                     "image_path": image_path, "question": _llava_question(rec),
                     "answer": _llava_answer(rec), "options": [], "solution": "",
                     "question_type": _text(rec.get("question_type"))})
    return pd.DataFrame(rows, columns=SOURCE_ROW_COLUMNS)


def read_parquet(path: Path, image_root: Path) -> tuple[VQAFormat, pd.DataFrame]:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise SourceError(f"{path}: not a readable parquet file ({err})") from None
    columns = set(frame.columns)
    if {"sample_id", "question", "answer", "image"} <= columns:
        fmt: VQAFormat = "internal"
        question, ident = "question", "sample_id"
    elif {"image", "problem", "answer"} <= columns:
        fmt, question, ident = "thinklite", "problem", "id"
    else:
        raise SourceError(
            f"{path}: neither ThinkLite's format (columns image, problem, answer) nor the "
            f"internal schema (sample_id, image, question, answer); columns are "
            f"{sorted(columns)[:12]}"
        )
    rows = []
    for k, rec in enumerate(frame.to_dict(orient="records")):
        data, image_path = _image_cell(rec.get("image"), image_root)
        options = rec.get("options")
        options = [] if _is_missing(options) else [str(o) for o in
                                                   (options.tolist() if hasattr(options, "tolist")
                                                    else list(options))]
        rows.append({"row": k, "sample_id": _text(rec.get(ident)), "image_bytes": data,
                     "image_path": image_path,
                     "question": _text(rec.get(question)), "answer": _text(rec.get("answer")),
                     "options": options, "solution": _text(rec.get("solution")) or "",
                     "question_type": _text(rec.get("question_type"))})
    return fmt, pd.DataFrame(rows, columns=SOURCE_ROW_COLUMNS)


def read_vqa_source(path: Path, image_root: Path | None = None) -> VQASourceData:
    """A user's pool or held-out file (format by suffix: ``.parquet`` in ThinkLite's columns or
    the internal schema, ``.json``/``.jsonl`` LLaVA records), image paths resolved against
    ``image_root`` (default: the file's directory)."""
    if not path.is_file():
        raise SourceError(f"VQA source {str(path)!r} is not a file")
    root = image_root if image_root is not None else path.parent
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        fmt, rows = read_parquet(path, root)
    elif suffix in (".json", ".jsonl", ".ndjson"):
        fmt, rows = "llava", read_llava(path, root)
    else:
        raise SourceError(f"VQA source {str(path)!r}: expected a .parquet (ThinkLite or "
                          "internal schema) or a .json/.jsonl LLaVA file")
    return VQASourceData(format=fmt, path=str(path), rows=rows)


# --- ThinkLite-format benchmarks ---

_IMAGE_TAG = re.compile(r"<image\s*\d*>", re.IGNORECASE)


@dataclass(frozen=True)
class BenchmarkSet:
    """One benchmark file as a question table (:data:`QUESTION_COLUMNS`) whose ``image`` paths
    lie under the benchmark image directory, and the image bytes to write there (file name,
    named by digest, to bytes). Reading writes nothing: the images are a catalog output."""

    questions: pd.DataFrame
    images: dict[str, bytes]


def _image_bytes(value: Any, where: str) -> bytes:
    # Hugging Face ``datasets`` writes images as {"bytes": ..., "path": ...} structs.
    if isinstance(value, dict):
        value = value.get("bytes")
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value):
        return bytes(value)
    raise SourceError(f"{where}: 'image' holds no image bytes ({type(value).__name__})")


def benchmark_questions(frame: pd.DataFrame, name: str, image_dir: str | os.PathLike[str],
                        source: str = "") -> BenchmarkSet:
    """A ThinkLite-format benchmark (``image`` bytes, ``problem``, ``answer``) as a question
    table, each image named by its digest under ``image_dir`` (not written here). A row the
    benchmark cannot use is an error naming it: a benchmark with rows dropped is another
    benchmark."""
    where = source or name
    missing = {"image", "problem", "answer"} - set(frame.columns)
    if missing:
        raise SourceError(f"{where}: ThinkLite format needs columns image, problem, answer; "
                          f"missing {sorted(missing)}")
    rows, images = [], {}
    for index, row in enumerate(frame.itertuples(index=False)):
        data = _image_bytes(row.image, f"{where} row {index}")
        try:
            with Image.open(io.BytesIO(data)) as img:
                suffix = (img.format or "png").lower()
        except (OSError, UnidentifiedImageError) as err:
            raise SourceError(f"{where} row {index}: image does not decode: {err}") from err
        file_name = f"{digest(data, length=20)}.{suffix}"
        images[file_name] = data
        sample_id = getattr(row, "id", None) or f"{name}-{index:06d}"
        rows.append({
            "sample_id": str(sample_id),
            "image": os.path.join(image_dir, file_name),
            "question": _IMAGE_TAG.sub("", str(row.problem)).strip(),
            "answer": str(row.answer).strip(),
            "options": [],
            "generator": name,
            "question_type": name,
            "solution": "",
            "split": "benchmark",
            "source": name,
        })
    return BenchmarkSet(pd.DataFrame(rows, columns=QUESTION_COLUMNS), images)


def read_benchmarks(folder: Path, image_dir: str | os.PathLike[str]) -> dict[str, BenchmarkSet]:
    """Every ``*.parquet`` of ``folder`` (none when it is absent) by file stem."""
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    out = {}
    for file in files:
        try:
            frame = pd.read_parquet(file)
        except (OSError, ValueError) as err:
            raise SourceError(f"{file}: not a readable parquet file ({err})") from None
        out[file.stem] = benchmark_questions(frame, file.stem, image_dir, str(file))
    return out


# --- the selected set in other trainers' formats ---

def thinklite_parquet_frame(questions: pd.DataFrame, where: str = "") -> pd.DataFrame:
    """A question table in ThinkLite-VL-70k's columns: ``id``, ``image`` as a Hugging Face
    ``{"bytes", "path"}`` struct (the bytes read from each question's image), ``problem``
    (``<image>`` + the question), ``answer``. An unreadable image is an error naming it."""
    rows = []
    for row in questions.itertuples(index=False):
        image = Path(str(row.image))
        try:
            payload = image.read_bytes()
        except OSError as err:
            raise SourceError(f"{where}: question {row.sample_id!r}: image "
                              f"{str(image)!r} cannot be read ({err})") from err
        rows.append({"id": str(row.sample_id),
                     "image": {"bytes": payload, "path": image.name},
                     "problem": f"<image>{row.question}", "answer": str(row.answer)})
    return pd.DataFrame(rows, columns=["id", "image", "problem", "answer"])


def llava_records(questions: pd.DataFrame) -> list[dict[str, Any]]:
    """A question table as LLaVA conversation records (``id``, absolute ``image`` path,
    ``conversations`` = the question after ``<image>``, answered by the answer; ``answer``
    rides along)."""
    return [
        {"id": str(row.sample_id), "image": os.path.abspath(str(row.image)),
         "conversations": [{"from": "human", "value": f"<image>\n{row.question}"},
                           {"from": "gpt", "value": str(row.answer)}],
         "answer": str(row.answer)}
        for row in questions.itertuples(index=False)
    ]

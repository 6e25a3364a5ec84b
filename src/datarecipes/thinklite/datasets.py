"""Catalog datasets of the ThinkLite pipeline: directory handles, benchmark parquet files, a
user's pool / held-out sources (:class:`VQASource`, read-only) and the selected set written back
in ThinkLite's parquet columns and as LLaVA JSON.

Nodes never hold file paths; where a library needs a directory (the images ProVision's paths
are relative to, the resumable MCTS work directory), the catalog hands the node the directory
through :class:`DirectoryDataset`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from PIL import Image, UnidentifiedImageError

from datarecipes.annotations.paths import resolve_image_path
from datarecipes.answers import extract_boxed
from datarecipes.fingerprint import digest
from datarecipes.io.atomic import atomic_write_bytes, atomic_write_text
from datarecipes.io.sources import ReadOnlyDataset
from datarecipes.thinklite.data import QUESTION_COLUMNS

logger = logging.getLogger(__name__)


class DirectoryDataset(AbstractDataset[None, str]):
    """A directory, loaded as its path (created first with ``create: true``).

    For libraries that read or write a directory themselves (resumable partitions, images
    addressed by relative paths)::

        thinklite_mcts_work_dir:
          type: datarecipes.thinklite.datasets.DirectoryDataset
          path: data/07_model_output/thinklite/mcts
          create: true
    """

    def __init__(self, path: str, create: bool = False,
                 metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self._create = create
        self.metadata = metadata

    def load(self) -> str:
        if self._create:
            self._path.mkdir(parents=True, exist_ok=True)
        elif not self._path.is_dir():
            raise DatasetError(f"directory {str(self._path)!r} does not exist")
        return str(self._path)

    def save(self, data: None) -> None:
        raise DatasetError(f"DirectoryDataset({str(self._path)!r}) is read-only: nodes write "
                           "into the directory it loads as")

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "create": self._create}


_IMAGE_TAG = re.compile(r"<image\s*\d*>", re.IGNORECASE)


def _image_bytes(value: Any, where: str) -> bytes:
    # Hugging Face ``datasets`` writes images as {"bytes": ..., "path": ...} structs.
    if isinstance(value, dict):
        value = value.get("bytes")
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value):
        return bytes(value)
    raise DatasetError(f"{where}: 'image' holds no image bytes ({type(value).__name__})")


def benchmark_questions(frame: pd.DataFrame, name: str, image_dir: Path,
                        source: str = "") -> pd.DataFrame:
    """A ThinkLite-format benchmark (``image`` bytes, ``problem``, ``answer``) as a question
    table (:data:`QUESTION_COLUMNS`), images written once under ``image_dir/<name>/``."""
    where = source or name
    missing = {"image", "problem", "answer"} - set(frame.columns)
    if missing:
        raise DatasetError(f"{where}: ThinkLite format needs columns image, problem, answer; "
                           f"missing {sorted(missing)}")
    rows = []
    for index, row in enumerate(frame.itertuples(index=False)):
        data = _image_bytes(row.image, f"{where} row {index}")
        try:
            with Image.open(io.BytesIO(data)) as img:
                suffix = (img.format or "png").lower()
        except (OSError, UnidentifiedImageError) as err:
            raise DatasetError(f"{where} row {index}: image does not decode: {err}") from err
        path = image_dir / name / f"{digest(data, length=20)}.{suffix}"
        if not path.exists():
            atomic_write_bytes(path, data)
        sample_id = getattr(row, "id", None) or f"{name}-{index:06d}"
        rows.append({
            "sample_id": str(sample_id),
            "image": str(path),
            "question": _IMAGE_TAG.sub("", str(row.problem)).strip(),
            "answer": str(row.answer).strip(),
            "options": [],
            "generator": name,
            "question_type": name,
            "solution": "",
            "split": "benchmark",
            "source": name,
        })
    return pd.DataFrame(rows, columns=QUESTION_COLUMNS)


class ThinkLiteBenchmarksDataset(AbstractDataset[None, dict[str, pd.DataFrame]]):
    """Every ``*.parquet`` under ``path`` in ThinkLite's format, by file stem.

    Loads as ``{stem: question table}`` (empty when the directory is absent or holds no parquet
    file, so evaluation falls back to the held-out questions); image bytes are written once,
    named by their digest, under ``image_dir``::

        thinklite_benchmarks:
          type: datarecipes.thinklite.datasets.ThinkLiteBenchmarksDataset
          path: data/01_raw/thinklite_benchmarks
          image_dir: data/02_intermediate/thinklite/benchmark_images
    """

    def __init__(self, path: str, image_dir: str,
                 metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self._image_dir = Path(image_dir)
        self.metadata = metadata

    def load(self) -> dict[str, pd.DataFrame]:
        files = sorted(self._path.glob("*.parquet")) if self._path.is_dir() else []
        out = {}
        for file in files:
            frame = pd.read_parquet(file)
            out[file.stem] = benchmark_questions(frame, file.stem, self._image_dir, str(file))
            logger.info("benchmark %s: %d questions from %s", file.stem, len(frame), file)
        return out

    def save(self, data: None) -> None:
        raise DatasetError("ThinkLiteBenchmarksDataset is read-only")

    def _exists(self) -> bool:
        return True  # an absent directory is an empty set of benchmarks

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "image_dir": str(self._image_dir)}


# --- A user's VQA data: the pool and held-out sources, and the selected set written back ---

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


def _resolve(path: str, image_root: Path) -> str:
    """An absolute path that exists as given; otherwise resolved against the image root (a
    file found nowhere is reported where the record says it is, under the root)."""
    if os.path.isabs(path) and os.path.isfile(path):
        return path
    found = resolve_image_path(path, image_root)
    return found if os.path.isfile(found) or os.path.isabs(path) else str(image_root / path)


def _image_cell(value: Any, image_root: Path) -> tuple[bytes | None, str | None]:
    """(bytes, path) of a parquet ``image`` cell: raw bytes, a Hugging Face ``{"bytes",
    "path"}`` struct (bytes win; a bare path is resolved against the image root) or a path."""
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if isinstance(data, (bytes, bytearray, memoryview)) and len(data):
            return bytes(data), None
        return None, _resolve(str(path), image_root) if path else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return (bytes(value) if len(value) else None), None
    if isinstance(value, str) and value:
        return None, _resolve(value, image_root)
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


def _read_llava(path: Path, image_root: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                       if line.strip()]
        else:
            records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: not a LLaVA conversation JSON file ({err})") from None
    if not isinstance(records, list):
        raise DatasetError(f"{path}: a LLaVA file is a list of records, got "
                           f"{type(records).__name__}")
    rows = []
    for k, rec in enumerate(records):
        rec = rec if isinstance(rec, dict) else {}
        image = rec.get("image")
        if isinstance(image, list) and len(image) == 1:
            image = image[0]
        # Several images are kept as a list: the row is refused (ThinkLite is single-image).
        image_path = (image if isinstance(image, list)
                      else _resolve(str(image), image_root) if image else None)
        rows.append({"row": k, "sample_id": _text(rec.get("id")), "image_bytes": None,
                     "image_path": image_path, "question": _llava_question(rec),
                     "answer": _llava_answer(rec), "options": [], "solution": "",
                     "question_type": _text(rec.get("question_type"))})
    return pd.DataFrame(rows, columns=SOURCE_ROW_COLUMNS)


def _read_parquet(path: Path, image_root: Path) -> tuple[VQAFormat, pd.DataFrame]:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: not a readable parquet file ({err})") from None
    columns = set(frame.columns)
    if {"sample_id", "question", "answer", "image"} <= columns:
        fmt: VQAFormat = "internal"
        question, ident = "question", "sample_id"
    elif {"image", "problem", "answer"} <= columns:
        fmt, question, ident = "thinklite", "problem", "id"
    else:
        raise DatasetError(
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


class VQASource(ReadOnlyDataset[VQASourceData | None]):
    """A user's VQA questions (read-only), as the ThinkLite pool or held-out set::

        thinklite_pool_source:
          type: datarecipes.thinklite.datasets.VQASource
          path: ${runtime_params:thinklite_pool_source, null}
          image_root: ${runtime_params:thinklite_pool_image_root, null}

    Formats, by file: ``.parquet`` in ThinkLite-VL-70k's columns (``image`` as bytes or a
    ``{"bytes", "path"}`` struct, ``problem``, ``answer``) or in the internal schema
    (:data:`datarecipes.thinklite.data.QUESTION_COLUMNS`, ``image`` a path); ``.json`` /
    ``.jsonl`` LLaVA conversation records (``id``, ``image`` path, ``conversations``; the answer
    is an ``answer`` field, else the last ``gpt`` turn, its ``\\boxed{}`` content when it has
    one). Image paths are resolved against ``image_root`` (default: the file's directory).
    Loads as :class:`VQASourceData`, or ``None`` without a path (the built-in world's set).
    """

    def __init__(self, path: str | None, image_root: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(path, metadata)
        self._image_root = image_root or None

    def _load(self) -> VQASourceData | None:
        if self._path is None:
            return None
        path = self._require_path()
        if not path.is_file():
            raise DatasetError(f"VQA source {str(path)!r} is not a file")
        root = Path(self._image_root) if self._image_root else path.parent
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            fmt, rows = _read_parquet(path, root)
        elif suffix in (".json", ".jsonl", ".ndjson"):
            fmt, rows = "llava", _read_llava(path, root)
        else:
            raise DatasetError(f"VQA source {str(path)!r}: expected a .parquet (ThinkLite or "
                               "internal schema) or a .json/.jsonl LLaVA file")
        logger.info("VQA source %s: %d rows, %s format", path, len(rows), fmt)
        return VQASourceData(format=fmt, path=str(path), rows=rows)

    def _exists(self) -> bool:
        return self._path is None or self._path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": None if self._path is None else str(self._path),
                "image_root": self._image_root}


class ThinkLiteParquetExport(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A question table written in ThinkLite-VL-70k's columns: ``id``, ``image`` as a Hugging
    Face ``{"bytes", "path"}`` struct (the bytes read from each question's image), ``problem``
    (``<image>`` + the question), ``answer``, so another trainer reads it as ThinkLite's data.
    Written atomically; loads back as that table."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _load(self) -> pd.DataFrame:
        return pd.read_parquet(self._filepath)

    def _save(self, data: pd.DataFrame) -> None:
        rows = []
        for row in data.itertuples(index=False):
            image = Path(str(row.image))
            try:
                payload = image.read_bytes()
            except OSError as err:
                raise DatasetError(f"{self._filepath}: question {row.sample_id!r}: image "
                                   f"{str(image)!r} cannot be read ({err})") from err
            rows.append({"id": str(row.sample_id),
                         "image": {"bytes": payload, "path": image.name},
                         "problem": f"<image>{row.question}", "answer": str(row.answer)})
        frame = pd.DataFrame(rows, columns=["id", "image", "problem", "answer"])
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic_write_bytes(self._filepath, buffer.getvalue())

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class LlavaJsonExport(AbstractDataset[pd.DataFrame, list]):
    """A question table written as LLaVA conversation JSON (``id``, absolute ``image`` path,
    ``conversations`` = the question after ``<image>``, answered by the answer; ``answer``
    rides along), atomically. Loads back as the list of records."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _load(self) -> list:
        return json.loads(self._filepath.read_text(encoding="utf-8"))

    def _save(self, data: pd.DataFrame) -> None:
        records = [
            {"id": str(row.sample_id), "image": os.path.abspath(str(row.image)),
             "conversations": [{"from": "human", "value": f"<image>\n{row.question}"},
                               {"from": "gpt", "value": str(row.answer)}],
             "answer": str(row.answer)}
            for row in data.itertuples(index=False)
        ]
        atomic_write_text(self._filepath, json.dumps(records, ensure_ascii=False, indent=1) + "\n")

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

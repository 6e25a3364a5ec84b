"""Catalog datasets of the ThinkLite pipeline: directory handles and benchmark parquet files.

Nodes never hold file paths; where a library needs a directory (the images ProVision's paths
are relative to, the resumable MCTS work directory), the catalog hands the node the directory
through :class:`DirectoryDataset`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from PIL import Image, UnidentifiedImageError

from datarecipes.io.atomic import atomic_write_bytes
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
        path = image_dir / name / f"{hashlib.sha256(data).hexdigest()[:20]}.{suffix}"
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

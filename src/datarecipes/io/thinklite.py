"""Catalog datasets of the ThinkLite pipeline: benchmark parquet files, a user's pool /
held-out sources (:class:`VQASource`, read-only) and the selected set written back in
ThinkLite's parquet columns and as LLaVA JSON.

The formats live in :mod:`datarecipes.thinklite.sources`; these classes put them in the
catalog (paths, read-only sources, atomic saves, errors as ``DatasetError``).
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from datarecipes.io.atomic import atomic_write_bytes, atomic_write_text
from datarecipes.io.errors import SourceError
from datarecipes.io.sources import ReadOnlyDataset
from datarecipes.thinklite.sources import (
    BenchmarkSet,
    VQASourceData,
    llava_records,
    read_benchmarks,
    read_vqa_source,
    thinklite_parquet_frame,
)

logger = logging.getLogger(__name__)


class ThinkLiteBenchmarksDataset(ReadOnlyDataset[dict[str, BenchmarkSet]]):
    """Every ``*.parquet`` under ``path`` in ThinkLite's format, by file stem (read-only).

    Loads as ``{stem: BenchmarkSet}`` (none when the directory is absent or holds no parquet
    file, so evaluation falls back to the held-out questions): each set's questions name their
    images under ``image_dir`` by digest, and carry the bytes. Loading writes nothing: node
    ``thinklite_benchmark_sets`` hands the images to ``thinklite_benchmark_images``, an
    :class:`~datarecipes.io.datasets.ImageDirectoryDataset` at the same ``image_dir``::

        thinklite_benchmark_sources:
          type: datarecipes.io.thinklite.ThinkLiteBenchmarksDataset
          path: data/01_raw/thinklite_benchmarks
          image_dir: data/02_intermediate/thinklite/benchmark_images
    """

    def __init__(self, path: str, image_dir: str,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(path, metadata)
        self._image_dir = Path(image_dir)

    def _load(self) -> dict[str, BenchmarkSet]:
        try:
            sets = read_benchmarks(self._path, self._image_dir)
        except SourceError as err:
            raise DatasetError(str(err)) from err
        for stem, bench in sets.items():
            logger.info("benchmark %s: %d questions from %s", stem, len(bench.questions),
                        self._path / f"{stem}.parquet")
        return sets

    def _exists(self) -> bool:
        return True  # an absent directory is an empty set of benchmarks

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "image_dir": str(self._image_dir)}


class VQASource(ReadOnlyDataset[VQASourceData | None]):
    """A user's VQA questions (read-only), as the ThinkLite pool or held-out set::

        thinklite_pool_source:
          type: datarecipes.io.thinklite.VQASource
          path: ${runtime_params:thinklite_pool_source, null}
          image_root: ${runtime_params:thinklite_pool_image_root, null}

    Formats, by file: ``.parquet`` in ThinkLite-VL-70k's columns (``image`` as bytes or a
    ``{"bytes", "path"}`` struct, ``problem``, ``answer``) or in the internal schema
    (:data:`datarecipes.thinklite.data.QUESTION_COLUMNS`, ``image`` a path); ``.json`` /
    ``.jsonl`` LLaVA conversation records (``id``, ``image`` path, ``conversations``; the answer
    is an ``answer`` field, else the last ``gpt`` turn, its ``\\boxed{}`` content when it has
    one). Image paths are resolved against ``image_root`` (default: the file's directory) by
    :func:`datarecipes.io.paths.resolve_image_path`. Loads as
    :class:`~datarecipes.thinklite.sources.VQASourceData`, or ``None`` without a path (the
    built-in world's set).
    """

    def __init__(self, path: str | None, image_root: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(path, metadata)
        self._image_root = image_root or None

    def _load(self) -> VQASourceData | None:
        if self._path is None:
            return None
        path = self._require_path()
        try:
            data = read_vqa_source(path, Path(self._image_root) if self._image_root else None)
        except SourceError as err:
            raise DatasetError(str(err)) from err
        logger.info("VQA source %s: %d rows, %s format", path, len(data.rows), data.format)
        return data

    def _exists(self) -> bool:
        return self._path is None or self._path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": None if self._path is None else str(self._path),
                "image_root": self._image_root}


class ThinkLiteParquetExport(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A question table written in ThinkLite-VL-70k's columns
    (:func:`~datarecipes.thinklite.sources.thinklite_parquet_frame`: ``id``, ``image`` struct
    with the image's bytes, ``problem``, ``answer``), so another trainer reads it as ThinkLite's
    data. Written atomically; loads back as that table."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _load(self) -> pd.DataFrame:
        return pd.read_parquet(self._filepath)

    def _save(self, data: pd.DataFrame) -> None:
        try:
            frame = thinklite_parquet_frame(data, where=str(self._filepath))
        except SourceError as err:
            raise DatasetError(str(err)) from err
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic_write_bytes(self._filepath, buffer.getvalue())

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class LlavaJsonExport(AbstractDataset[pd.DataFrame, list]):
    """A question table written as LLaVA conversation JSON
    (:func:`~datarecipes.thinklite.sources.llava_records`), atomically. Loads back as the list
    of records."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _load(self) -> list:
        return json.loads(self._filepath.read_text(encoding="utf-8"))

    def _save(self, data: pd.DataFrame) -> None:
        records = llava_records(data)
        atomic_write_text(self._filepath, json.dumps(records, ensure_ascii=False, indent=1) + "\n")

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

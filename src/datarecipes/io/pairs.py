"""The filtering recipe's input in the catalog: a user's image-text pairs (read-only), or the
built-in world. The layouts and their readers are :mod:`datarecipes.filtering.sources`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import DatasetError

from datarecipes.filtering.sources import BUILTIN, PairSource, expand_paths, read_source
from datarecipes.io.errors import SourceError
from datarecipes.io.sources import ReadOnlyDataset


def _pattern_root(pattern: str) -> Path:
    """The longest leading part of ``pattern`` with no brace or glob character."""
    cut = min((i for i, ch in enumerate(pattern) if ch in "{*?["), default=len(pattern))
    head = pattern[:cut]
    return Path(head) if cut == len(pattern) else Path(head).parent


class PairSourceDataset(ReadOnlyDataset[PairSource]):
    """The filtering recipe's input: a user's image-text pairs, or the built-in world.

    Catalog entry (the path comes from ``--params filtering_source=...``)::

        filtering_source:
          type: datarecipes.io.pairs.PairSourceDataset
          path: ${runtime_params:filtering_source, builtin://filtering_world}
          format: ${runtime_params:filtering_source_format, auto}

    ``path: builtin://filtering_world`` loads a :class:`PairSource` without pairs: the
    recipe builds its own world. Saving is refused (:class:`ReadOnlyDataset`).
    """

    def __init__(self, path: str = BUILTIN, format: str = "auto",
                 caption_column: str | None = None, image_column: str = "image",
                 key_column: str | None = None, image_root: str | None = None,
                 metadata_file: str | None = None, metadata: dict[str, Any] | None = None
                 ) -> None:
        self._source_path = str(path)
        # Where the user's files are, for the guard that no output lands there: the
        # directory part of a brace or glob pattern, else the path itself.
        self._path = (None if self._source_path in (BUILTIN, "builtin", "", "None", "null")
                      else _pattern_root(self._source_path))
        self._format = format
        self._caption_column = caption_column or None
        self._image_column = image_column or "image"
        self._key_column = key_column or None
        self._image_root = image_root or None
        self._metadata_file = metadata_file or None
        self.metadata = metadata
        self._cache: PairSource | None = None

    def _load(self) -> PairSource:
        # Two nodes read the source (world or not, then the pairs): read the files once.
        if self._cache is None:
            if self._source_path in (BUILTIN, "builtin", "", "None", "null"):
                self._cache = PairSource()
            else:
                try:
                    self._cache = read_source(
                        self._source_path, format=self._format,
                        caption_column=self._caption_column, image_column=self._image_column,
                        key_column=self._key_column, image_root=self._image_root,
                        metadata=self._metadata_file,
                    )
                except SourceError as err:
                    raise DatasetError(str(err)) from err
        return self._cache

    def _exists(self) -> bool:
        if self._source_path in (BUILTIN, "builtin"):
            return True
        try:
            return bool(expand_paths(self._source_path))
        except SourceError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"path": self._source_path, "format": self._format,
                "caption_column": self._caption_column, "image_column": self._image_column,
                "key_column": self._key_column, "image_root": self._image_root}

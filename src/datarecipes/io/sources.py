"""Read-only source datasets: the data a user brings, which no run may ever write.

Every recipe reads a user's data through one catalog entry whose path comes from the command
line (Kedro's ``${runtime_params:<name>, <default>}`` resolver), e.g.::

    provision_source:
      type: datarecipes.io.sources.SceneGraphSource
      path: ${runtime_params:provision_source, null}

A source is never a node output, and its ``save`` refuses, naming the path: a pipeline that
tried to write there (as the built-in world once wrote into a user's annotation directory)
stops instead of replacing the user's files. A source whose path is ``null`` (the runtime
parameter not given) loads as ``None``: the recipe then runs on the built-in world, whose
outputs live under ``data/`` paths of its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Generic, TypeVar

from kedro.io import AbstractDataset, DatasetError

T = TypeVar("T")


class ReadOnlyDataset(AbstractDataset[None, T], Generic[T]):
    """Base of every source dataset: ``path`` is where the user's data is; saving refuses.

    Subclasses implement ``_load``, ``_describe`` and ``_exists``.
    """

    def __init__(self, path: str | os.PathLike[str] | None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path) if path not in (None, "") else None
        self.metadata = metadata

    @property
    def path(self) -> Path | None:
        """Where the source is (``None``: no source given)."""
        return self._path

    def _save(self, data: Any) -> None:
        raise DatasetError(
            f"{type(self).__name__}({str(self._path)!r}) is a source (read-only): the run "
            "may read it but never writes it; outputs go to data/"
        )

    def _require_path(self) -> Path:
        """The path, which must exist (a clear error naming it otherwise)."""
        if self._path is None:
            raise DatasetError(f"{type(self).__name__}: no path given")
        if not self._path.exists():
            raise DatasetError(f"{type(self).__name__}: {str(self._path)!r} does not exist")
        return self._path


class OptionalFileSource(ReadOnlyDataset[Any]):
    """A user's file (or directory) that may be absent: loads as its path, or ``None``."""

    def _load(self) -> str | None:
        return None if self._path is None else str(self._require_path())

    def _exists(self) -> bool:
        return self._path is None or self._path.exists()

    def _describe(self) -> dict[str, Any]:
        return {"path": None if self._path is None else str(self._path)}

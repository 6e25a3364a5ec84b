"""Kedro datasets for model checkpoint directories: transformers (:class:`CheckpointDataset`)
and open_clip (:class:`ClipCheckpointDataset`).

The formats live with the models (:mod:`datarecipes.models.checkpoint`,
:mod:`datarecipes.models.clip`); these classes only put them in the catalog. Both save
atomically (a temporary sibling renamed into place).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from kedro.io import AbstractDataset, DatasetError

from datarecipes.models.checkpoint import (
    copy_checkpoint,
    is_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from datarecipes.models.clip import CONFIG_NAME, LoadedClip, load_clip, save_clip
from datarecipes.models.factory import LoadedModel


class CheckpointDataset(AbstractDataset[Any, Any]):
    """A checkpoint directory in the catalog.

    ``save`` takes a :class:`LoadedModel` (adapters merged) or the path of a checkpoint
    directory (copied in). ``load`` returns the directory path (``load_as: path``, the default:
    the consumer builds its own :class:`~datarecipes.models.ModelParams` from it) or a
    :class:`LoadedModel` (``load_as: model``, with ``spec`` overrides such as ``dtype``)::

        sft_checkpoint:
          type: datarecipes.io.checkpoints.CheckpointDataset
          path: data/06_models/sft
    """

    def __init__(
        self,
        path: str,
        load_as: Literal["path", "model"] = "path",
        spec: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if load_as not in ("path", "model"):
            raise DatasetError(f"CheckpointDataset({path!r}): load_as must be 'path' or 'model'")
        self._path = Path(path)
        self._load_as = load_as
        self._spec = dict(spec or {})
        self.metadata = metadata

    def load(self) -> str | LoadedModel:
        if not is_checkpoint(self._path):
            raise DatasetError(f"checkpoint directory {str(self._path)!r} does not exist")
        if self._load_as == "path":
            return str(self._path)
        return load_checkpoint(self._path, self._spec,
                               where=f"CheckpointDataset({str(self._path)!r}).spec")

    def save(self, data: LoadedModel | str | Path) -> None:
        if isinstance(data, LoadedModel):
            save_checkpoint(data, self._path)
            return
        try:
            copy_checkpoint(data, self._path)
        except ValueError as err:
            raise DatasetError(str(err)) from err

    def _exists(self) -> bool:
        return is_checkpoint(self._path)

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "load_as": self._load_as}


class ClipCheckpointDataset(AbstractDataset[LoadedClip, LoadedClip]):
    """A CLIP checkpoint directory (open_clip ``local-dir`` format, safetensors)::

        filtering_scoring_clip:
          type: datarecipes.io.checkpoints.ClipCheckpointDataset
          path: data/06_models/filtering_scoring_clip
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> LoadedClip:
        if not (self._path / CONFIG_NAME).is_file():
            raise FileNotFoundError(f"no CLIP checkpoint at {self._path} (missing {CONFIG_NAME})")
        return load_clip(f"local-dir:{self._path}")

    def save(self, data: LoadedClip) -> None:
        save_clip(data, self._path)

    def _exists(self) -> bool:
        return (self._path / CONFIG_NAME).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

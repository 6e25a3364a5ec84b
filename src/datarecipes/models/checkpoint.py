"""Kedro dataset for model checkpoint directories.

Save writes model + processor with ``save_pretrained`` into a temporary sibling that is renamed
into place, so an interrupted run never leaves a half-written checkpoint under the final name.
LoRA adapters are *merged* into the base weights before saving: the directory is then an
ordinary transformers checkpoint that the factory (and vLLM, and the hub) loads with the Auto
classes, without peft. The cost is a full-size checkpoint instead of a small adapter.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal

from kedro.io import AbstractDataset, DatasetError

from datarecipes.io.atomic import atomic_path
from datarecipes.models.factory import LoadedModel, load_model
from datarecipes.models.spec import ModelParams


def merge_lora(model: Any) -> Any:
    """The model with LoRA adapters merged in (unchanged when it has none)."""
    if hasattr(model, "merge_and_unload") and hasattr(model, "peft_config"):
        return model.merge_and_unload()
    return model


def save_checkpoint(loaded: LoadedModel, path: str | Path) -> Path:
    """Write ``loaded`` (adapters merged) to ``path`` atomically; return the path."""
    model = merge_lora(loaded.model)
    with atomic_path(path) as tmp:
        tmp.mkdir()
        model.save_pretrained(tmp)
        loaded.processor.save_pretrained(tmp)
    return Path(path)


class CheckpointDataset(AbstractDataset[Any, Any]):
    """A checkpoint directory in the catalog.

    ``save`` takes a :class:`LoadedModel` (or the path of a checkpoint directory, copied in).
    ``load`` returns the directory path (``load_as: path``, the default: the consumer builds
    its own :class:`ModelParams` from it) or a :class:`LoadedModel` (``load_as: model``, with
    ``spec`` overrides such as ``dtype``)::

        sft_checkpoint:
          type: datarecipes.models.CheckpointDataset
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
        if not (self._path / "config.json").is_file():
            raise DatasetError(f"checkpoint directory {str(self._path)!r} does not exist")
        if self._load_as == "path":
            return str(self._path)
        spec = ModelParams.from_params(
            {**self._spec, "name_or_path": str(self._path)},
            where=f"CheckpointDataset({str(self._path)!r}).spec",
        )
        return load_model(spec)

    def save(self, data: LoadedModel | str | Path) -> None:
        if isinstance(data, LoadedModel):
            save_checkpoint(data, self._path)
            return
        source = Path(data)
        if not (source / "config.json").is_file():
            raise DatasetError(f"cannot save {str(source)!r}: not a checkpoint directory")
        with atomic_path(self._path) as tmp:
            shutil.copytree(source, tmp)

    def _exists(self) -> bool:
        return (self._path / "config.json").is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "load_as": self._load_as}

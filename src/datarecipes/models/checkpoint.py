"""Model checkpoint directories: save (LoRA merged, atomic), copy and load.

Save writes model + processor with ``save_pretrained`` into a temporary sibling that is renamed
into place, so an interrupted run never leaves a half-written checkpoint under the final name.
LoRA adapters are *merged* into the base weights before saving: the directory is then an
ordinary transformers checkpoint that the factory (and vLLM, and the hub) loads with the Auto
classes, without peft. The cost is a full-size checkpoint instead of a small adapter.

The catalog's :class:`datarecipes.io.checkpoints.CheckpointDataset` calls these.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datarecipes.io.atomic import atomic_path
from datarecipes.models.factory import LoadedModel, load_model
from datarecipes.models.spec import ModelParams

#: The file that makes a directory a transformers checkpoint.
CONFIG_FILE = "config.json"


def is_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a transformers checkpoint directory (it holds ``config.json``)."""
    return (Path(path) / CONFIG_FILE).is_file()


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


def copy_checkpoint(source: str | Path, path: str | Path) -> Path:
    """Copy the checkpoint directory ``source`` to ``path`` atomically; return the path."""
    if not is_checkpoint(source):
        raise ValueError(f"cannot save {str(source)!r}: not a checkpoint directory")
    with atomic_path(path) as tmp:
        shutil.copytree(source, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, spec: Mapping[str, Any] | None = None,
                    where: str | None = None) -> LoadedModel:
    """The checkpoint at ``path`` through the model factory, with ``spec`` overrides (``dtype``,
    ...) checked as :class:`ModelParams` (errors name ``where``)."""
    params = ModelParams.from_params({**dict(spec or {}), "name_or_path": str(path)},
                                     where=where or f"checkpoint {str(path)!r}")
    return load_model(params)

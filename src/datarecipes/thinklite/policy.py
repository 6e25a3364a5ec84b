"""The policy between stages: a checkpoint directory (catalog) or a model (in-memory runs).

``CheckpointDataset`` hands a node the checkpoint's directory; the node loads it with the
settings of the ``models.policy`` spec (dtype, device, LoRA for the next training stage), so a
checkpoint is loaded exactly like the base model, through the one factory.
"""

from __future__ import annotations

import copy as copy_module
import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any

import torch

from datarecipes.models import LoadedModel, ModelSpec, load_model


def policy_spec(policy: Mapping[str, Any] | ModelSpec) -> ModelSpec:
    """The ``models.policy`` spec (validated)."""
    return ModelSpec.from_params(policy, where="parameters_models.yml: models.policy")


def load_policy(
    checkpoint: LoadedModel | str | None,
    policy: Mapping[str, Any] | ModelSpec,
    copy: bool = False,
) -> LoadedModel:
    """``checkpoint`` as a model: passed through when loaded (a deep copy with ``copy``, for a
    trainer that updates it in place), else loaded from its directory with ``models.policy``'s
    settings; ``None`` loads the base ``models.policy`` itself."""
    if isinstance(checkpoint, LoadedModel):
        return copy_module.deepcopy(checkpoint) if copy else checkpoint
    spec = policy_spec(policy)
    if checkpoint is None:
        return load_model(spec)
    return load_model(dataclasses.replace(spec, preset=None, name_or_path=str(checkpoint)))


@torch.no_grad()
def policy_fingerprint(model: Any, values_per_tensor: int = 256) -> str:
    """A short digest of the model's weights: names, shapes and the first
    ``values_per_tensor`` values of every parameter.

    Any training step changes some of those values, so results cached for one policy (the
    resumable MCTS partitions) are never reused for another; hashing a slice instead of every
    weight keeps this instant for a 7B model.
    """
    digest = hashlib.sha256()
    for name, param in model.named_parameters():
        digest.update(f"{name}:{tuple(param.shape)}:{param.dtype}".encode())
        head = param.detach().reshape(-1)[:values_per_tensor].to("cpu", torch.float32)
        digest.update(head.numpy().tobytes())
    return digest.hexdigest()[:16]

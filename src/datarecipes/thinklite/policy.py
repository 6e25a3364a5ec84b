"""The policy between stages: a checkpoint directory (catalog) or a model (in-memory runs).

``CheckpointDataset`` hands a node the checkpoint's directory; the node loads it with the
settings of the ``models.policy`` spec (dtype, device, LoRA for the next training stage), so a
checkpoint is loaded exactly like the base model, through the one factory.
"""

from __future__ import annotations

import copy as copy_module
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from datarecipes.config import ParameterError
from datarecipes.engines import GenerationParams, HFEngine, load_generator, load_step_policy
from datarecipes.fingerprint import checkpoint_fingerprint, digest, policy_fingerprint
from datarecipes.models import LoadedModel, ModelParams, load_model
from datarecipes.models.factory import resolve_path

if TYPE_CHECKING:
    from datarecipes.engines import TextEngine
    from datarecipes.mcts import Policy


def load_policy(
    checkpoint: LoadedModel | str | None,
    policy: ModelParams,
    copy: bool = False,
) -> LoadedModel:
    """``checkpoint`` as a model: passed through when loaded (a deep copy with ``copy``, for a
    trainer that updates it in place), else loaded from its directory with ``models.policy``'s
    settings; ``None`` loads the base ``models.policy`` itself."""
    if isinstance(checkpoint, LoadedModel):
        return copy_module.deepcopy(checkpoint) if copy else checkpoint
    return load_model(PolicySource.of(checkpoint, policy).spec)


@dataclass(frozen=True)
class PolicySource:
    """Where a batch-inference worker gets the policy, on the engine ``generation`` names.

    Picklable, so an executor can ship it to its workers: each Ray actor (or this process,
    locally) calls :meth:`step_policy` / :meth:`generator` once and keeps the model. A
    checkpoint directory is loaded with ``spec``'s settings through the model factory (or
    vLLM); an in-memory model (``loaded``: in-memory pipeline runs and tests) is used as is.
    """

    spec: ModelParams
    generation: GenerationParams = field(default_factory=GenerationParams)
    loaded: LoadedModel | None = None

    @classmethod
    def of(
        cls,
        checkpoint: LoadedModel | str | None,
        policy: ModelParams,
        generation: GenerationParams | None = None,
    ) -> PolicySource:
        """The source of ``checkpoint`` (a directory, a loaded model, or ``None`` = the base
        ``models.policy``)."""
        spec = policy
        generation = generation or GenerationParams()
        if isinstance(checkpoint, LoadedModel):
            if generation.engine != "hf":
                raise ParameterError(
                    f"generation.engine={generation.engine!r} loads the policy from a checkpoint "
                    "directory; this run hands the policy over in memory (use the catalog's "
                    "CheckpointDataset, or engine 'hf')"
                )
            return cls(checkpoint.spec, generation, checkpoint)
        if checkpoint is not None:
            spec = dataclasses.replace(spec, preset=None, name_or_path=str(checkpoint))
        return cls(spec, generation)

    def step_policy(self) -> Policy:
        """The MCTS step policy (HF or vLLM)."""
        if self.loaded is not None:
            from datarecipes.mcts import HFPolicy

            return HFPolicy.from_loaded(self.loaded)
        return load_step_policy(self.spec, self.generation)

    def generator(self) -> TextEngine:
        """The ``models.generate`` contract (HF or vLLM), for evaluation."""
        if self.loaded is not None:
            return HFEngine(self.loaded)
        return load_generator(self.spec, self.generation)

    def fingerprint(self) -> str:
        """Digest of what decides the policy's samples, naming the caches computed with it: its
        weights, and the engine and load settings that change its numbers (dtype, attention
        kernel, image resolution)."""
        if self.loaded is not None:
            weights = policy_fingerprint(self.loaded.model)
        else:
            path = resolve_path(self.spec)
            weights = (checkpoint_fingerprint(path) if Path(path).is_dir()
                       else digest(path, length=None))  # a hub id: its name
        spec = self.loaded.spec if self.loaded is not None else self.spec
        settings = (self.generation.engine, self.generation.seed, spec.dtype,
                    spec.attn_implementation, spec.min_pixels, spec.max_pixels)
        return digest(f"{weights}|{settings!r}")

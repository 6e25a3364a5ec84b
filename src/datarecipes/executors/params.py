"""Executor parameters (``<section>.executor`` in the parameters): which executor, how wide."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from datarecipes.config import require


@dataclass(frozen=True)
class RayExecutorParams:
    """Where and how wide batch inference runs on Ray (``executor.ray`` in the parameters)."""

    #: Cluster to join: ``auto`` = the one ``ray start --head`` started on this node (or
    #: ``RAY_ADDRESS``), ``ray://host:10001`` = a remote one; null starts a local instance.
    address: str | None = None
    #: Model actors in the pool: one model copy each (e.g. one per GPU).
    num_actors: int = 1
    #: CPUs reserved per model actor.
    num_cpus_per_actor: float = 1.0
    #: GPUs per model actor; fractions pack several actors onto one GPU (0.5 = two per GPU).
    num_gpus_per_actor: float = 0.0
    #: CPUs reserved per ``preprocess`` task (image decoding runs as tasks, not in actors).
    num_cpus_per_preprocess_task: float = 1.0
    #: Times a dead model actor (OOM, node lost, segfault) is restarted; -1 = without limit.
    max_restarts: int = 3
    #: Times a batch whose actor died is retried on the restarted actor; -1 = without limit.
    max_task_retries: int = 3
    #: Batches per Ray block: more = less scheduling overhead, fewer = finer load balancing.
    batches_per_block: int = 4

    def __post_init__(self) -> None:
        require(
            self.num_actors >= 1, f"executor.ray.num_actors must be >= 1, got {self.num_actors}"
        )
        for name in ("num_cpus_per_actor", "num_gpus_per_actor", "num_cpus_per_preprocess_task"):
            value = getattr(self, name)
            require(value >= 0, f"executor.ray.{name} must be >= 0, got {value}")
        if self.num_gpus_per_actor > 1:
            require(
                float(self.num_gpus_per_actor).is_integer(),
                "executor.ray.num_gpus_per_actor above 1 must be a whole number, got "
                f"{self.num_gpus_per_actor}",
            )
        for name in ("max_restarts", "max_task_retries"):
            value = getattr(self, name)
            require(value >= -1, f"executor.ray.{name} must be >= -1 (-1 = no limit), got {value}")
        require(
            self.batches_per_block >= 1,
            f"executor.ray.batches_per_block must be >= 1, got {self.batches_per_block}",
        )


@dataclass(frozen=True)
class ExecutorParams:
    """Which executor runs batch inference, and how wide."""

    #: ``local``: this process plus torch DataLoader workers; ``ray``: Ray Data on a cluster
    #: (settings in ``ray``; docs/scaling.md).
    kind: Literal["local", "ray"] = "local"
    #: DataLoader worker processes for ``preprocess`` (image decoding); 0 decodes in-process.
    num_workers: int = 0
    #: Batches each worker prepares ahead of the model (DataLoader ``prefetch_factor``).
    prefetch_batches: int = 2
    #: Ray cluster and actor-pool settings, used when ``kind`` is ``ray``.
    ray: RayExecutorParams = field(default_factory=RayExecutorParams)

    def __post_init__(self) -> None:
        require(self.num_workers >= 0, f"executor.num_workers must be >= 0, got {self.num_workers}")
        require(
            self.prefetch_batches >= 1,
            f"executor.prefetch_batches must be >= 1, got {self.prefetch_batches}",
        )

"""Per-step training metrics to MLflow, only when a run is active.

Nodes never call MLflow (project rule); the trainers do, through this callback, and only when
the project hook has opened a run, so tests and plain library use log nothing. Throughput is
real (non-padding) tokens per second between two logging steps.
"""

from __future__ import annotations

import math
import time
from typing import Any

from transformers import TrainerCallback

from datarecipes.tracking_context import current_node_namespace

#: Trainer log keys renamed to stable metric names (the rest pass through, ``/`` → ``_``).
_RENAMES = {
    "loss": "loss",
    "learning_rate": "learning_rate",
    "grad_norm": "grad_norm",
    "reward": "reward_mean",
    "reward_std": "reward_std",
    "kl": "kl",
    "completions/mean_length": "completion_length",
}


def _mlflow_run_active() -> bool:
    try:
        import mlflow
    except ImportError:  # pragma: no cover - mlflow is a project dependency
        return False
    return mlflow.active_run() is not None


class StepMetricsCallback(TrainerCallback):
    """Collect per-step loss, learning rate, tokens/s (and GRPO reward/KL/length); log them to
    MLflow with ``step`` when a run is active. ``history`` keeps them for the caller."""

    def __init__(self, prefix: str = "train") -> None:
        self.prefix = prefix
        self.history: list[dict[str, float]] = []
        self._last_time: float | None = None
        self._last_tokens = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._last_time = time.perf_counter()
        self._last_tokens = state.num_input_tokens_seen

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None,
               **kwargs: Any) -> None:
        if not logs:
            return
        row: dict[str, float] = {}
        for key, value in logs.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value):
                continue
            name = _RENAMES.get(key, key.replace("/", "_"))
            row[name] = float(value)
        now = time.perf_counter()
        tokens = state.num_input_tokens_seen
        if self._last_time is not None and now > self._last_time and tokens > self._last_tokens:
            row["tokens_per_second"] = (tokens - self._last_tokens) / (now - self._last_time)
        self._last_time, self._last_tokens = now, tokens
        row["step"] = float(state.global_step)
        self.history.append(row)
        if _mlflow_run_active():
            import mlflow

            namespace = current_node_namespace()
            prefix = f"{namespace}.{self.prefix}" if namespace else self.prefix
            metrics = {f"{prefix}_{k}": v for k, v in row.items() if k != "step"}
            mlflow.log_metrics(metrics, step=state.global_step)

"""Run context the library reads without importing Kedro: the namespace of the running node.

The tracking hook (:mod:`datarecipes.hooks`) sets it before each node; trainer callbacks
(:mod:`datarecipes.training.callbacks`) read it to prefix their per-step metrics, so the three
GRPO runs of the ThinkLite ablation, which share one MLflow run, keep separate curves
(``mcts.grpo_loss``, ``random.grpo_loss``). Outside a Kedro run it stays ``""``.
"""

from __future__ import annotations

import contextvars

#: The MLflow experiment of every run when ``conf/*/tracking.yml`` names none (the hook writes
#: into it, :mod:`datarecipes.experiments.mlflow_results` reads from it).
DEFAULT_EXPERIMENT = "datarecipes"

#: Namespace of the node now running ("" outside namespaces).
NODE_NAMESPACE: contextvars.ContextVar[str] = contextvars.ContextVar("node_namespace", default="")


def current_node_namespace() -> str:
    """The Kedro namespace of the node being run, or ``""``."""
    return NODE_NAMESPACE.get()

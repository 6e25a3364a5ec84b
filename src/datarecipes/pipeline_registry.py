"""Project pipelines.

Each recipe's package under ``pipelines/`` contributes only its own nodes. The registry
composes the chains a user runs with ``kedro run --pipelines=<name>``, so that running a
recipe on the built-in default also builds the world and data it needs (``thinklite`` =
scenes → provision → thinklite). Kedro deduplicates nodes when pipelines are added, so
``--pipelines=scenes,thinklite`` runs the scenes nodes once.

DVC stages run ``kedro run --pipelines=<name> --only-missing-outputs``: DVC deletes a stage's
own outputs before running it, so exactly that stage's nodes run while the upstream outputs
that earlier stages produced are reused.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

#: Recipe → the recipes whose outputs it consumes (transitively listed, in order).
UPSTREAM: dict[str, tuple[str, ...]] = {
    "provision": ("scenes",),
    "thinklite": ("scenes", "provision"),
    "thinklite_ablation": ("scenes", "provision", "thinklite"),
}

#: What ``kedro run`` (and ``make run``) runs: the headline recipe once it is registered.
MAIN_JOB = ("thinklite", "scenes")


def register_pipelines() -> dict[str, Pipeline]:
    own = find_pipelines(raise_errors=True)
    pipelines: dict[str, Pipeline] = {}
    for name, pipeline in own.items():
        upstream = [own[u] for u in UPSTREAM.get(name, ()) if u in own]
        pipelines[name] = sum(upstream, Pipeline([])) + pipeline
    pipelines["__default__"] = next(pipelines[n] for n in MAIN_JOB if n in pipelines)
    return pipelines

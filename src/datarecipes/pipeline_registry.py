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

import importlib
import pkgutil

from kedro.pipeline import Pipeline

import datarecipes.pipelines

#: Recipe → the recipes whose outputs it consumes (transitively listed, in order).
UPSTREAM: dict[str, tuple[str, ...]] = {
    "provision": ("scenes",),
    "thinklite": ("scenes", "provision"),
    "thinklite_ablation": ("scenes", "provision"),
    "thinklite_experiment": ("scenes", "provision"),
}

#: What ``kedro run`` (and ``make run``) runs: the headline recipe once it is registered.
MAIN_JOB = ("thinklite", "scenes")


def _own_pipelines() -> dict[str, Pipeline]:
    """Every package under ``datarecipes.pipelines`` with its ``create_pipeline()``.

    Not ``kedro.framework.project.find_pipelines``: since Kedro 1.7 it loads only the
    pipelines named on the command line, and a chain needs its upstream recipes too.
    """
    found: dict[str, Pipeline] = {}
    for module in pkgutil.iter_modules(datarecipes.pipelines.__path__):
        if module.ispkg:
            package = importlib.import_module(f"datarecipes.pipelines.{module.name}")
            found[module.name] = package.create_pipeline()
    return found


def register_pipelines() -> dict[str, Pipeline]:
    own = _own_pipelines()
    pipelines: dict[str, Pipeline] = {}
    for name, pipeline in own.items():
        upstream = [own[u] for u in UPSTREAM.get(name, ()) if u in own]
        pipelines[name] = sum(upstream, Pipeline([])) + pipeline
    pipelines["__default__"] = next(pipelines[n] for n in MAIN_JOB if n in pipelines)
    return pipelines

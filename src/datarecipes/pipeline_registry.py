"""Project pipelines.

Each recipe's pipeline package contributes its own nodes; the registry composes the recipe
chains a user runs (``kedro run --pipelines=<name>``) from them, so that running a recipe on
the built-in default also builds the world it needs. Kedro deduplicates nodes when pipelines
are added, so a chain that includes ``scenes`` runs it once.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    found = find_pipelines(raise_errors=True)
    pipelines: dict[str, Pipeline] = dict(found)
    pipelines["__default__"] = pipelines["scenes"]
    return pipelines

"""The project's Kedro context: parameters enter the catalog as the YAML has them, and
:class:`datarecipes.hooks.ParameterValidationHook` builds them into their dataclasses.

Kedro 1.7 builds a node's dataclass-typed ``params:`` input itself, as ``cls(**raw)``: one
level deep, so a nested sub-section (``scm.prior``, ``provision.generator_settings``) stays a
dict and the dataclass's own checks fail on it (``'dict' object has no attribute 'n_rows'``),
and an unknown key is a bare ``TypeError`` without the file. The project's hook builds every
``params:`` input with :func:`datarecipes.config.from_params` (nested, strict, errors naming
the file and the key) before the first node runs, so Kedro's step is left out here.
"""

from __future__ import annotations

from typing import Any
from warnings import warn

from kedro.config import MissingConfigException
from kedro.framework.context import KedroContext


class ProjectContext(KedroContext):
    """:class:`KedroContext` without Kedro's shallow dataclass instantiation of parameters."""

    def _get_validated_params(self) -> dict[str, Any]:
        try:
            return self.config_loader["parameters"]
        except MissingConfigException as exc:  # as Kedro's own context does
            warn(f"Parameters not found in your Kedro project config.\n{exc!s}", stacklevel=2)
            return self._runtime_params or {}

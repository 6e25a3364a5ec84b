"""The project's Kedro context: one place builds parameter objects, the start-up hook.

Kedro 1.7 builds a node's dataclass-annotated ``params:`` inputs itself, before any hook, as
``cls(**raw)`` (``kedro.validation.model_factory``): nested sections stay dicts (a
``ClipParams`` whose ``training`` is a dict), ``__post_init__`` checks that read a nested
field fail (``'dict' object has no attribute 'kinds'``), and no type is checked. Our
:class:`datarecipes.hooks.ParameterValidationHook` builds the same inputs with
:func:`datarecipes.config.from_params` (nested dataclasses, types checked, errors naming the
file and key), so Kedro's pass is switched off here and the parameters reach the hook as
the configuration files (and ``--params``) give them.
"""

from __future__ import annotations

from typing import Any
from warnings import warn

from kedro.config import MissingConfigException
from kedro.framework.context import KedroContext


class ProjectContext(KedroContext):
    """:class:`KedroContext` whose ``params`` are the raw parameters (built by our hook)."""

    def _get_validated_params(self) -> dict[str, Any]:
        if self._validated_params_cache is None:
            try:
                self._validated_params_cache = self.config_loader["parameters"]
            except MissingConfigException as exc:
                warn(f"Parameters not found in your Kedro project config.\n{exc!s}",
                     stacklevel=2)
                self._validated_params_cache = self._runtime_params or {}
        return self._validated_params_cache

"""datarecipes: data-curation recipes for training (multimodal) LMs, as Kedro pipelines."""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec
from importlib.util import spec_from_file_location
from pathlib import Path

__version__ = "0.1.0"

#: The repository's top-level ``kernels/src``: the sources of ``datarecipes.kernels``.
_KERNELS_SRC = Path(__file__).resolve().parents[2] / "kernels" / "src"


class _SourceTreeKernels:
    """Finds ``datarecipes.kernels`` in the source tree's ``kernels/src``.

    An install (wheel or editable) maps the package there through pyproject's
    ``[tool.setuptools.package-dir]``; runs from the source tree (``PYTHONPATH=src``, Kedro's
    ``src`` path, pytest's ``pythonpath``, a git worktree beside an install of another
    checkout) import ``datarecipes`` from ``src/`` and would not see it, so this finder maps
    it the same way, to the ``kernels/src`` beside the ``src/`` in use.
    """

    @staticmethod
    def find_spec(fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if fullname != "datarecipes.kernels":
            return None
        # The directory is not named like the package, so PathFinder cannot find it by name.
        return spec_from_file_location(
            fullname, _KERNELS_SRC / "__init__.py", submodule_search_locations=[str(_KERNELS_SRC)]
        )


if (_KERNELS_SRC / "__init__.py").is_file() and not any(
    getattr(f, "__name__", None) == "_SourceTreeKernels" for f in sys.meta_path
):
    sys.meta_path.insert(0, _SourceTreeKernels)  # type: ignore[arg-type]

"""Shared fixtures: a throw-away copy of the project to run Kedro, MLflow and DVC in."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import PROJECT_ROOT, set_params


@pytest.fixture
def project_copy(tmp_path: Path) -> Callable[..., Path]:
    """Copy the project's configuration, sources and DVC file into a temporary directory.

    The package itself is imported from the installed (editable) source; the copy gives each
    test its own ``data/``, ``mlflow.db`` and git/DVC state.
    """

    def make(params: dict[str, dict[str, object]] | None = None) -> Path:
        root = tmp_path / "project"
        root.mkdir()
        for item in ("pyproject.toml", "dvc.yaml", "README.md", ".gitignore", ".telemetry"):
            if (PROJECT_ROOT / item).exists():
                shutil.copy2(PROJECT_ROOT / item, root / item)
        shutil.copytree(
            PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local")
        )
        (root / "conf" / "local").mkdir()
        for sources in ("src", "kernels/src"):  # kernels/src is the datarecipes.kernels package
            shutil.copytree(PROJECT_ROOT / sources, root / sources,
                            ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(PROJECT_ROOT / "bin", root / "bin")  # bin/kedro: the DVC stage command
        for layer in ("01_raw", "02_intermediate", "03_primary", "04_feature",
                      "05_model_input", "06_models", "07_model_output", "08_reporting"):
            (root / "data" / layer).mkdir(parents=True)
        # ../shared/data relative to the copy must resolve like it does for the project.
        (tmp_path / "shared").symlink_to(PROJECT_ROOT.parent / "shared")
        for file, updates in (params or {}).items():
            set_params(root / "conf" / "base" / file, updates)
        return root

    return make

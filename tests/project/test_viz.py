"""`kedro viz build` writes the static DAG site with every registered pipeline."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_cmd

pytestmark = pytest.mark.slow


def test_viz_build_writes_every_pipeline(project_copy):
    root = project_copy()
    run_cmd(["kedro", "viz", "build"], cwd=root)
    assert (root / "build" / "index.html").is_file()
    pipelines = {p.name for p in (root / "build" / "api" / "pipelines").iterdir()}
    expected = {"scenes", "provision", "thinklite", "thinklite_ablation", "filtering", "scm"}
    assert expected <= pipelines
    thinklite = json.loads((root / "build" / "api" / "pipelines" / "thinklite").read_text())
    names = {node["name"] for node in thinklite["nodes"] if node.get("type") == "task"}
    # The ThinkLite chain starts from the world: the registry prepends its upstream recipes.
    assert "generate_scenes" in names and "thinklite_mcts_difficulty" in names

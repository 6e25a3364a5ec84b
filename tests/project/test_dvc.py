"""DVC reproduces every stage, caches it, and runs experiments over the YAML parameters."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import run_cmd, set_params, tool_env

pytestmark = pytest.mark.slow


def _tree_digest(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def dvc_repo(project_copy, tmp_path):
    root = project_copy(
        {
            "parameters_scenes.yml": {"scenes.n_scenes": 6},
            "parameters_provision.yml": {"provision.groups_per_split": 2},
        }
    )
    env = tool_env({"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'tracking.db'}"})
    for args in (
        ["git", "init", "-q"],
        ["git", "config", "user.email", "ci@example.invalid"],
        ["git", "config", "user.name", "ci"],
        ["dvc", "init", "-q"],
        ["dvc", "config", "core.analytics", "false"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "project"],
    ):
        run_cmd(args, cwd=root, env=env)
    return root, env


def test_repro_is_cached_and_reruns_only_downstream(dvc_repo):
    root, env = dvc_repo
    first = run_cmd(["dvc", "repro", "provision"], cwd=root, env=env)
    assert "Running stage 'scenes'" in first.stdout
    assert "Running stage 'provision'" in first.stdout
    metrics = json.loads((root / "data/08_reporting/scenes_metrics.json").read_text())
    assert metrics["n_images"] == 6
    questions = root / "data/03_primary/provision/questions.parquet"
    assert questions.stat().st_size > 0

    again = run_cmd(["dvc", "repro", "provision"], cwd=root, env=env)
    assert "Running stage" not in again.stdout
    assert "up to date" in again.stdout

    # A ProVision parameter re-runs ProVision only; the world is reused from the cache.
    set_params(root / "conf/base/parameters_provision.yml", {"provision.seed": 1})
    downstream = run_cmd(["dvc", "repro", "provision"], cwd=root, env=env)
    assert "Running stage 'scenes'" not in downstream.stdout
    assert "Running stage 'provision'" in downstream.stdout

    # A world parameter re-runs both.
    set_params(root / "conf/base/parameters_scenes.yml", {"scenes.n_scenes": 7})
    both = run_cmd(["dvc", "repro", "provision"], cwd=root, env=env)
    assert "Running stage 'scenes'" in both.stdout
    assert "Running stage 'provision'" in both.stdout
    metrics = json.loads((root / "data/08_reporting/scenes_metrics.json").read_text())
    assert metrics["n_images"] == 7


def test_experiment_lists_params_and_metrics(dvc_repo):
    root, env = dvc_repo
    run_cmd(["dvc", "repro", "scenes"], cwd=root, env=env)
    run_cmd(["git", "add", "-A"], cwd=root, env=env)
    run_cmd(["git", "commit", "-qm", "baseline"], cwd=root, env=env)
    run_cmd(
        ["dvc", "exp", "run", "scenes", "-n", "more-scenes", "-S",
         "conf/base/parameters_scenes.yml:scenes.n_scenes=9"],
        cwd=root, env=env,
    )
    shown = json.loads(run_cmd(["dvc", "exp", "show", "--json"], cwd=root, env=env).stdout)
    found = {}

    def walk(node):
        if isinstance(node, dict):
            if node.get("name") == "more-scenes" and "data" in node:
                found["data"] = node["data"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(shown)
    assert "data" in found, shown
    params = found["data"]["params"]["conf/base/parameters_scenes.yml"]["data"]
    metrics = found["data"]["metrics"]["data/08_reporting/scenes_metrics.json"]["data"]
    assert params["scenes"]["n_scenes"] == 9
    assert metrics["n_images"] == 9


def test_push_pull_round_trip(dvc_repo, tmp_path):
    root, env = dvc_repo
    run_cmd(["dvc", "repro", "scenes"], cwd=root, env=env)
    before = _tree_digest(root / "data/01_raw/scenes")
    remote = tmp_path / "remote"
    run_cmd(["dvc", "remote", "add", "-d", "local", str(remote)], cwd=root, env=env)
    run_cmd(["dvc", "push", "scenes"], cwd=root, env=env)
    shutil.rmtree(root / "data/01_raw/scenes")
    shutil.rmtree(root / ".dvc/cache")
    run_cmd(["dvc", "pull", "scenes"], cwd=root, env=env)
    assert _tree_digest(root / "data/01_raw/scenes") == before

"""DVC reproduces every stage, caches it, and runs experiments over the YAML parameters."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import PROJECT_ROOT, run_cmd, set_params, tool_env

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
    # As in a clean clone after `make install`: the project's .venv (ignored by git).
    (root / ".venv").symlink_to(Path(sys.executable).parents[1])
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


def _bare_env(env: dict[str, str]) -> dict[str, str]:
    """The README's situation: the venv is not activated, nothing of ours on PATH."""
    bare = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    bare["PATH"] = "/usr/bin:/bin"
    return bare


def test_repro_is_cached_and_reruns_only_downstream(dvc_repo):
    root, env = dvc_repo
    env = _bare_env(env)
    dvc = str(root / ".venv/bin/dvc")
    first = run_cmd([dvc, "repro", "provision"], cwd=root, env=env)
    assert "Running stage 'scenes'" in first.stdout
    assert "Running stage 'provision'" in first.stdout
    metrics = json.loads((root / "data/08_reporting/scenes_metrics.json").read_text())
    assert metrics["n_images"] == 6
    questions = root / "data/03_primary/provision/questions.parquet"
    assert questions.stat().st_size > 0

    again = run_cmd([dvc, "repro", "provision"], cwd=root, env=env)
    assert "Running stage" not in again.stdout
    assert "up to date" in again.stdout

    # A ProVision parameter re-runs ProVision only; the world is reused from the cache.
    set_params(root / "conf/base/parameters_provision.yml", {"provision.seed": 1})
    downstream = run_cmd([dvc, "repro", "provision"], cwd=root, env=env)
    assert "Running stage 'scenes'" not in downstream.stdout
    assert "Running stage 'provision'" in downstream.stdout

    # A world parameter re-runs both.
    set_params(root / "conf/base/parameters_scenes.yml", {"scenes.n_scenes": 7})
    both = run_cmd([dvc, "repro", "provision"], cwd=root, env=env)
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


def test_dvc_yaml_is_generated_from_the_pipelines():
    """dvc.yaml equals what the pipelines and the catalog say (python -m datarecipes.dvc_stages)."""
    proc = run_cmd([sys.executable, "-m", "datarecipes.dvc_stages", "--check"],
                   cwd=PROJECT_ROOT, env=tool_env({"DATARECIPES_TRACKING": "off"}), check=False)
    assert proc.returncode == 0, "dvc.yaml is stale; run python -m datarecipes.dvc_stages --write" \
        f"\n{proc.stdout[-4000:]}"
    stages = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]
    # The failures that were filed: scm's training section and checkpoint were missing.
    scm_params = {k for block in stages["scm"]["params"] for keys in block.values() for k in keys}
    assert {"scm", "scm_generation", "scm_training", "models.tabular_lm"} <= scm_params
    assert "data/06_models/scm/tabular_lm" in stages["scm"]["outs"]
    assert {"data/06_models/thinklite/warm_start", "data/06_models/thinklite/grpo"} <= set(
        o for o in stages["thinklite"]["outs"] if isinstance(o, str))
    for stage in stages.values():
        assert stage["cmd"].startswith("bin/kedro run --pipelines=")


def _leaves(value, prefix):
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _leaves(sub, f"{prefix}.{key}")
    else:
        yield prefix, value


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, list):
        return [*value, value[-1]] if value else [1]
    return f"{value}x" if value is not None else 1


def test_every_parameter_of_a_stage_is_tracked(dvc_repo, monkeypatch):
    """Change each leaf a stage lists, one at a time: `dvc status` reports it for that stage.

    DVC reports a change at the granularity the stage lists (a section), so every leaf is
    changed on its own; DVC's Python API keeps the loop in one process.
    """
    from dvc.repo import Repo

    root, env = dvc_repo
    env = _bare_env(env)
    dvc = str(root / ".venv/bin/dvc")
    run_cmd([dvc, "repro", "provision"], cwd=root, env=env)
    monkeypatch.chdir(root)  # DVC's API resolves stage paths against the working directory
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    checked = 0
    for name in ("provision", "scenes"):
        for file, keys in (item for block in stages[name]["params"] for item in block.items()):
            path = root / file
            original = path.read_text()
            data = yaml.safe_load(original)
            for key in keys:
                node = data
                for part in key.split("."):
                    node = node[part]
                for leaf, value in _leaves(node, key):
                    set_params(path, {leaf: _changed(value)})
                    with Repo(str(root)) as repo:
                        status = repo.status(targets=[name])
                        upstream = repo.status(targets=["scenes"]) if name != "scenes" else {}
                    path.write_text(original)
                    changed = [entry["changed deps"] for entry in status.get(name, [])
                               if isinstance(entry, dict) and "changed deps" in entry]
                    assert any(c.get(file, {}).get(key) == "modified" for c in changed), (
                        leaf, status)
                    # A downstream stage's parameter never touches the upstream stage.
                    assert upstream == {}, (leaf, upstream)
                    checked += 1
    assert checked >= 20
    with Repo(str(root)) as repo:
        assert repo.status(targets=["scenes", "provision"]) == {}

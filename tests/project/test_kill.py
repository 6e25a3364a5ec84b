"""``kill -9`` a real ``kedro run`` during each kind of write; the next run never accepts a
partial output.

Kill points are exact: a ``sitecustomize`` on the subprocess's path makes the write whose path
matches ``DATARECIPES_TEST_STALL`` (a regex) stall just before its fsync + rename — the window
in which a non-atomic writer would have left a half file under the final name — and writes
a flag file; the test waits for the flag and sends SIGKILL.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import run_cmd, tool_env

pytestmark = pytest.mark.slow

_SITECUSTOMIZE = textwrap.dedent(
    """
    import os, re, time
    if os.environ.get("DATARECIPES_TEST_STALL"):
        import datarecipes.io.atomic as atomic
        import datarecipes.io.unit as unit

        pattern = re.compile(os.environ["DATARECIPES_TEST_STALL"])
        flag = os.environ["DATARECIPES_TEST_FLAG"]

        def stalling(real):
            def fsync_tree(path):
                if pattern.search(str(path)):
                    with open(flag, "w") as fh:
                        fh.write(str(path))
                    time.sleep(600)
                return real(path)
            return fsync_tree

        atomic.fsync_tree = stalling(atomic.fsync_tree)
        unit.fsync_tree = stalling(unit.fsync_tree)
    """
)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A project copy with a complete seed-0 world (4 scenes) and its ProVision outputs."""
    from tests.conftest import PROJECT_ROOT, set_params

    base = tmp_path_factory.mktemp("kill")
    root = base / "project"
    root.mkdir()
    for item in ("pyproject.toml", "dvc.yaml", ".gitignore"):
        shutil.copy2(PROJECT_ROOT / item, root / item)
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf/local").mkdir()
    for sources in ("src", "kernels/src"):  # kernels/src is the datarecipes.kernels package
        shutil.copytree(PROJECT_ROOT / sources, root / sources,
                        ignore=shutil.ignore_patterns("__pycache__"))
    set_params(root / "conf/base/parameters_scenes.yml", {"scenes.n_scenes": 4})
    set_params(root / "conf/base/parameters_provision.yml", {"provision.groups_per_split": 2})
    site = base / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    run_cmd(["kedro", "run", "--pipelines=provision"], cwd=root,
            env=tool_env({"DATARECIPES_TRACKING": "off"}))
    return root, site


def _copy(baseline, tmp_path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(baseline[0], root, symlinks=True)
    return root


def _env(site: Path, root: Path, **extra: str) -> dict[str, str]:
    # COLUMNS: rich would wrap Kedro's log lines at 80 columns, splitting node names.
    env = tool_env({"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "COLUMNS": "400",
                    **extra})
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return env


def _kill_during(root: Path, site: Path, stall: str, args: list[str]) -> str:
    """Run ``kedro run <args>``, SIGKILL it while the write matching ``stall`` is under way."""
    flag = root / "stalled.flag"
    env = _env(site, root, DATARECIPES_TEST_STALL=stall, DATARECIPES_TEST_FLAG=str(flag))
    proc = subprocess.Popen(["kedro", "run", *args], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not flag.exists():
        if proc.poll() is not None:
            raise AssertionError(f"kedro exited {proc.returncode} before the kill point "
                                 f"{stall!r}:\n{proc.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the kill point {stall!r} was never reached")
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return flag.read_text()


def _remove_provision_outputs(root: Path, keep: str | None = None) -> None:
    """What DVC does before running the provision stage: remove the stage's outputs (as
    dvc.yaml lists them), except ``keep``."""
    import yaml

    stage = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]["provision"]
    paths = [*stage["outs"], *(next(iter(m)) for m in stage["metrics"])]
    for rel in paths:
        rel = rel if isinstance(rel, str) else next(iter(rel))
        if not rel.endswith(keep or "//") and (root / rel).is_file():
            (root / rel).unlink()


def _questions_image_ids(root: Path) -> set[str]:
    questions = pd.read_parquet(root / "data/03_primary/provision/questions.parquet")
    ids: set[str] = set()
    for value in questions["image"]:
        values = [value] if isinstance(value, str) else list(value)
        ids.update(Path(str(v)).stem for v in values)
    return ids


def test_kill_while_writing_the_world_images_keeps_the_old_complete_world(baseline, tmp_path):
    root = _copy(baseline, tmp_path)
    world = root / "data/01_raw/scenes"
    before = _digest(world)
    # Killed while the partitioned images directory is written inside the staged world.
    stalled = _kill_during(root, baseline[1], r"scene_000005\.png$",
                           ["--pipelines=scenes", "--params", "scenes.n_scenes=12,scenes.seed=1"])
    assert ".staging.tmp/" in stalled and "/images/" in stalled
    # The killed run's staging directory is beside the world, never inside it.
    assert any(p.name.endswith(".staging.tmp") for p in world.parent.iterdir())
    assert _digest(world) == before
    # The DVC stage's command: nothing is missing, the old world is complete and consistent.
    out = run_cmd(["kedro", "run", "--pipelines=provision", "--only-missing-outputs"], cwd=root,
                  env=_env(baseline[1], root))
    assert "Running node: generate_scenes" not in out.stdout + out.stderr
    metadata = pd.read_parquet(world / "metadata.parquet")
    images = {p.stem for p in (world / "images").iterdir()}
    assert len(metadata) == 4 and set(metadata["image_id"]) == images
    assert _questions_image_ids(root) <= images


def test_kill_before_the_complete_world_is_swapped_in(baseline, tmp_path):
    root = _copy(baseline, tmp_path)
    world = root / "data/01_raw/scenes"
    before = _digest(world)
    stalled = _kill_during(root, baseline[1], r"\.staging\.tmp$",
                           ["--pipelines=scenes", "--params", "scenes.n_scenes=12,scenes.seed=1"])
    staged = root / stalled  # the path as the writer saw it, relative to the project
    assert (staged / "_COMPLETE.json").is_file()  # complete, but never renamed into place
    assert _digest(world) == before


def test_kill_while_writing_a_world_that_did_not_exist(baseline, tmp_path):
    root = _copy(baseline, tmp_path)
    world = root / "data/01_raw/scenes"
    shutil.rmtree(world)
    _kill_during(root, baseline[1], r"annotations$", ["--pipelines=scenes"])
    assert not world.exists()  # images were staged; nothing appeared under the world's name
    # --only-missing-outputs would rebuild the world but keep the questions of the old one:
    # refused before any node runs, naming both.
    refused = run_cmd(["kedro", "run", "--pipelines=provision", "--only-missing-outputs"],
                      cwd=root, env=_env(baseline[1], root), check=False)
    log = " ".join((refused.stdout + refused.stderr).split())  # rich wraps long lines
    assert refused.returncode != 0
    assert "scene_graphs" in log and "'generate_provision_questions'" in log
    assert "provision_questions" in log and "would then be stale" in log
    assert not world.exists()


def test_kill_while_writing_a_parquet_file_leaves_it_missing_and_the_run_killed(baseline,
                                                                               tmp_path):
    root = _copy(baseline, tmp_path)
    out_dir = root / "data/03_primary/provision"
    _remove_provision_outputs(root)
    _kill_during(root, baseline[1], r"(^|/)questions\.parquet$",
                 ["--pipelines=provision", "--only-missing-outputs"])
    assert not (out_dir / "questions.parquet").exists()  # no half file under the final name
    assert [p for p in out_dir.iterdir() if p.name.startswith(".questions.parquet.")]
    out = run_cmd(["kedro", "run", "--pipelines=provision", "--only-missing-outputs"], cwd=root,
                  env=_env(baseline[1], root))
    assert "Running node: generate_provision_questions" in out.stdout + out.stderr
    assert len(pd.read_parquet(out_dir / "questions.parquet")) > 0
    json.loads((out_dir / "conversations.json").read_text())
    # The dead run's temporary is gone: only the two outputs remain.
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "conversations.json", "generated_questions.parquet", "questions.parquet"]
    # The killed run stayed RUNNING in MLflow; the next start marked it KILLED.
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("datarecipes")
    status = sorted(r.info.status for r in client.search_runs([experiment.experiment_id]))
    assert status == ["FINISHED", "KILLED"]


def test_kill_while_writing_a_json_file_keeps_the_old_file(baseline, tmp_path):
    root = _copy(baseline, tmp_path)
    path = root / "data/03_primary/provision/conversations.json"
    before = path.read_bytes()
    _remove_provision_outputs(root, keep="conversations.json")  # so that the node reruns
    _kill_during(root, baseline[1], r"conversations\.json$",
                 ["--pipelines=provision", "--only-missing-outputs"])
    assert path.read_bytes() == before  # the old complete file, never a truncated new one
    json.loads(path.read_text())

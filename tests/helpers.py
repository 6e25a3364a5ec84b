"""Helpers for tests that run the project's commands (kedro, dvc, git) in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for subprocesses: this interpreter's bin first on PATH, offline."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        {"DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1", "GIT_TERMINAL_PROMPT": "0",
         "KEDRO_DISABLE_TELEMETRY": "1"}
    )
    env.update(extra or {})
    return env


def run_cmd(args: list[str], cwd: Path, env: dict[str, str] | None = None, check=True):
    """Run a command, failing the test with its output when it fails."""
    proc = subprocess.run(args, cwd=cwd, env=env or tool_env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n"
            f"--- stderr\n{proc.stderr}"
        )
    return proc


def set_params(path: Path, updates: dict[str, object]) -> None:
    """Set dotted keys (``scenes.n_scenes``) in a parameters YAML file."""
    data = yaml.safe_load(path.read_text()) or {}
    for dotted, value in updates.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))



"""Every ``kedro run`` is one MLflow run with its parameters, tags and metrics."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import run_cmd, tool_env

pytestmark = pytest.mark.slow


def test_kedro_run_logs_one_mlflow_run(project_copy, tmp_path):
    root = project_copy({"parameters_scenes.yml": {"scenes.n_scenes": 8, "scenes.seed": 3}})
    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    env = tool_env({"MLFLOW_TRACKING_URI": uri})
    run_cmd(["kedro", "run", "--pipelines=scenes"], cwd=root, env=env)

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("datarecipes")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["scenes.n_scenes"] == "8"
    assert run.data.params["scenes.seed"] == "3"
    assert run.data.tags["pipeline"] == "scenes"
    assert run.data.tags["kedro_command"].endswith("run --pipelines=scenes")
    assert run.data.tags["git_dirty"] in {"true", "false", "unknown"}
    assert "git_commit" in run.data.tags
    # Metrics come from the `scenes_metrics` output, durations from the hook.
    assert run.data.metrics["scenes.n_images"] == 8
    assert any(key.startswith("node_seconds.") for key in run.data.metrics)


def test_invalid_parameter_stops_before_writing(project_copy, tmp_path):
    root = project_copy({"parameters_scenes.yml": {"scenes.n_scenes": -1}})
    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    proc = run_cmd(
        ["kedro", "run", "--pipelines=scenes"],
        cwd=root,
        env=tool_env({"MLFLOW_TRACKING_URI": uri}),
        check=False,
    )
    assert proc.returncode != 0
    assert "n_scenes" in proc.stdout + proc.stderr
    assert not any((root / "data" / "01_raw").iterdir())
    mlflow.set_tracking_uri(uri)
    experiment = MlflowClient(tracking_uri=uri).get_experiment_by_name("datarecipes")
    # Validation runs before tracking starts, so a refused run leaves no MLflow run behind.
    assert experiment is None or not MlflowClient(tracking_uri=uri).search_runs(
        [experiment.experiment_id]
    )

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
    assert run.info.run_name == "scenes"  # no tag parameter read, no --params override
    assert run.data.tags["datarecipes.pid"].isdigit()
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


def test_run_name_says_what_differs():
    from datarecipes.hooks import run_name

    assert run_name("thinklite_ablation", {"thinklite_grpo.seed": 1}, {}) == (
        "thinklite_ablation seed=1")
    assert run_name("filtering", {"filtering.pretrain.data": "filtered"}, {}) == (
        "filtering data=filtered")
    # --params overrides follow the tag parameters; an ambiguous leaf keeps its full key.
    assert run_name("thinklite", {"hard_sample_selection.strategy": "random",
                                  "thinklite_grpo.seed": 0},
                    {"scenes.seed": 3, "thinklite_grpo.seed": 0}) == (
        "thinklite strategy=random thinklite_grpo.seed=0 scenes.seed=3")
    assert len(run_name("x", {}, {f"k{i}": "v" * 20 for i in range(40)})) == 250


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_runs_left_running_by_a_dead_process_are_marked_killed(tmp_path):
    import os
    import socket

    from datarecipes.hooks import HOST_TAG, PID_TAG, START_TAG, mark_killed_runs, process_tags

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'tracking.db'}")
    experiment = client.create_experiment("datarecipes")
    dead = client.create_run(experiment, tags={PID_TAG: str(_dead_pid()),
                                               HOST_TAG: socket.gethostname(), START_TAG: "1"},
                             run_name="dead")
    client.create_run(experiment, tags=process_tags(), run_name="alive")
    # The pid exists but belongs to another process (reused): its start time differs.
    reused = client.create_run(experiment, tags={**process_tags(), START_TAG: "0"},
                               run_name="reused")
    client.create_run(experiment, tags={PID_TAG: "1", HOST_TAG: "another-host"},
                      run_name="elsewhere")
    killed = mark_killed_runs(client, [experiment])
    assert sorted(killed) == sorted([dead.info.run_id, reused.info.run_id])
    status = {r.info.run_name: r.info.status for r in client.search_runs([experiment])}
    assert status == {"dead": "KILLED", "reused": "KILLED", "alive": "RUNNING",
                      "elsewhere": "RUNNING"}
    assert os.getpid() == int(process_tags()[PID_TAG])


def test_experiment_namespaces_log_into_child_runs(tmp_path, monkeypatch):
    """Nodes of an arm × seed namespace log into a child run of the pipeline's run."""
    from types import SimpleNamespace

    from kedro.io import DataCatalog
    from kedro.pipeline import Node, Pipeline

    from datarecipes.hooks import MlflowTrackingHook, child_run_pattern

    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("DATARECIPES_TRACKING", raising=False)
    hook = MlflowTrackingHook()
    hook._config = {"experiment": "children", "tag_params": ["exp.seed"]}
    hook._child_patterns = [child_run_pattern("exp.{arm}.seed_{seed}")]
    pipeline = Pipeline([Node(lambda x: x, "params:exp", "out", name="n",
                              namespace="exp.mcts.seed_0")])
    catalog = DataCatalog()
    catalog["params:exp"] = {"arms": ["mcts", "random"], "seed": 0}
    hook.before_pipeline_run({"pipeline_name": "exp"}, pipeline, catalog)
    for arm, seed, accuracy in [("mcts", 0, 0.5), ("mcts", 1, 0.25), ("random", 0, 0.75)]:
        namespace = f"exp.{arm}.seed_{seed}"
        node = SimpleNamespace(name=f"{namespace}.evaluate", namespace=namespace)
        hook.after_node_run(node, {f"{namespace}.eval_metrics": {"accuracy": accuracy}})
    # A second node of one namespace reuses its child run.
    node = SimpleNamespace(name="exp.mcts.seed_0.select", namespace="exp.mcts.seed_0")
    hook.after_node_run(node, {"exp.mcts.seed_0.selection_metrics": {"kept": 7}})
    hook.after_node_run(SimpleNamespace(name="compare", namespace=None),
                        {"exp_compare_metrics": {"gap": 0.1}})
    hook.after_pipeline_run()

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("children")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = {r.info.run_name: r for r in runs if r is not parent}
    assert parent.info.run_name == "exp"  # no base seed in an experiment's own name
    assert set(children) == {"exp arm=mcts seed=0", "exp arm=mcts seed=1",
                             "exp arm=random seed=0"}
    for name, child in children.items():
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED"
        assert f"arm={child.data.params['arm']}" in name
    # Children hold their metrics without the namespace, so the runs table lines them up;
    # the parent keeps the namespaced copies and the comparison.
    assert children["exp arm=mcts seed=1"].data.metrics == {"eval.accuracy": 0.25}
    assert children["exp arm=mcts seed=0"].data.metrics == {"eval.accuracy": 0.5,
                                                            "selection.kept": 7}
    assert parent.data.metrics["exp.random.seed_0.eval.accuracy"] == 0.75
    assert parent.data.metrics["exp_compare.gap"] == 0.1
    assert not any(k.startswith("exp_compare") for c in children.values()
                   for k in c.data.metrics)

"""`kedro airflow create` turns a pipeline into an Airflow DAG that imports."""

from __future__ import annotations

import sys

import pytest

from tests.helpers import run_cmd, tool_env

pytestmark = pytest.mark.slow

IMPORT_DAG = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("generated_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from airflow.sdk import DAG
dags = [v for v in vars(module).values() if isinstance(v, DAG)]
dag = dags[0]
print(json.dumps({
    "dag_id": dag.dag_id,
    "tasks": sorted(t.task_id for t in dag.tasks),
    "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids),
}))
"""


def test_airflow_dag_is_generated_and_imports(project_copy, tmp_path):
    import json

    root = project_copy()
    dags = tmp_path / "dags"
    run_cmd(
        ["kedro", "airflow", "create", "--pipelines=scenes", "--group-by", "memory",
         "--target-dir", str(dags)],
        cwd=root,
    )
    [dag_file] = list(dags.glob("*.py"))
    env = tool_env({"AIRFLOW_HOME": str(tmp_path / "airflow"),
                    "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    out = run_cmd([sys.executable, "-c", IMPORT_DAG, str(dag_file)], cwd=root, env=env)
    dag = json.loads(out.stdout.strip().splitlines()[-1])
    assert dag["dag_id"].startswith("project") or dag["dag_id"]
    # Both scenes nodes become tasks, and the metrics task runs after generation.
    assert any("generate" in t for t in dag["tasks"])
    assert any("metrics" in t for t in dag["tasks"])
    assert any("generate" in a and "metrics" in b for a, b in dag["edges"])

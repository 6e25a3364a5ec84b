"""`kedro airflow create` turns a pipeline into an Airflow DAG that imports."""

from __future__ import annotations

import sys

import pytest

from tests.helpers import run_cmd, tool_env

pytestmark = pytest.mark.slow

IMPORT_DAG = """
import json, sys
from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
[dag] = bag.dags.values()
print(json.dumps({
    "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
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
    assert len(list(dags.glob("*.py"))) == 1
    env = tool_env({"AIRFLOW_HOME": str(tmp_path / "airflow"),
                    "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    out = run_cmd([sys.executable, "-c", IMPORT_DAG, str(dags)], cwd=root, env=env)
    dag = json.loads(out.stdout.strip().splitlines()[-1])
    assert dag["errors"] == {}
    assert dag["dag_id"] == "datarecipes"
    # Both scenes nodes become tasks, and the metrics task runs after generation.
    assert any("generate" in t for t in dag["tasks"])
    assert any("metrics" in t for t in dag["tasks"])
    assert any("generate" in a and "metrics" in b for a, b in dag["edges"])

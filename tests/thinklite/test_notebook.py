"""The ablation notebook runs on MLflow runs laid out exactly as the tracking hook logs them."""

from __future__ import annotations

import os

import mlflow
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from datarecipes.hooks import _log_metrics
from datarecipes.thinklite import ABLATION_STRATEGIES, ablation_summary
from tests.helpers import PROJECT_ROOT

NOTEBOOK = PROJECT_ROOT / "notebooks" / "thinklite_ablation.ipynb"


def log_ablation_run(seed: int, accuracies: dict[str, float]) -> None:
    """One ``kedro run --pipelines=thinklite_ablation`` as the hook records it: metrics of the
    ``*_metrics`` outputs under their dataset names (namespaced ones included)."""
    selection = {s: {"num_selected": 20.0 if s != "accuracy" else 14.0}
                 for s in ABLATION_STRATEGIES}
    evaluation = {s: {"accuracy": accuracies[s], "n": 48.0} for s in ABLATION_STRATEGIES}
    summary, _ = ablation_summary(selection, evaluation, {"accuracy": 0.1})
    with mlflow.start_run(run_name="thinklite_ablation") as run:
        client, run_id = mlflow.tracking.MlflowClient(), run.info.run_id
        mlflow.set_tags({"pipeline": "thinklite_ablation"})
        mlflow.log_params({"thinklite_data.seed": seed, "mcts_difficulty.seed": seed,
                           "thinklite_grpo.seed": seed})
        _log_metrics(client, run_id, "thinklite_ablation", summary)
        for s in ABLATION_STRATEGIES:
            _log_metrics(client, run_id, f"{s}.thinklite_eval", evaluation[s])
            _log_metrics(client, run_id, f"{s}.thinklite_selection", selection[s])
        _log_metrics(client, run_id, "thinklite_mcts", {
            "unsolved": 9.0, "solved_fraction": 0.7,
            "solved_at_iteration": [10.0, 5.0, 3.0, 2.0, 1.0, 0.0]})


def test_notebook_draws_the_comparison(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("datarecipes")
    for seed, shift in ((0, 0.0), (1, 0.04)):
        log_ablation_run(seed, {"mcts": 0.3 + shift, "accuracy": 0.2 + shift,
                                "random": 0.25 - shift})
    with mlflow.start_run(run_name="scenes"):  # another pipeline's run is ignored
        mlflow.set_tags({"pipeline": "scenes"})

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    try:
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute(
            env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    finally:
        mlflow.set_tracking_uri(None)  # (this also unsets $MLFLOW_TRACKING_URI)
    outputs = {i: cell.get("outputs", []) for i, cell in enumerate(notebook.cells)}
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for cell in outputs.values() for o in cell
    )
    assert "2 finished ablation run(s)" in text
    assert "solved fraction: 0.700" in text
    images = sum("image/png" in o.get("data", {}) for cell in outputs.values() for o in cell)
    assert images == 2
    # The summary table: mean over the two seeds, per strategy.
    summary_cell = next(c for c in outputs.values() for o in c
                        if "accuracy_mean" in str(o.get("data", {}).get("text/plain", "")))
    table = summary_cell[0]["data"]["text/plain"]
    mcts_row = next(line for line in table.splitlines() if line.startswith("mcts"))
    assert np.isclose(float(mcts_row.split()[2]), 0.32)


def test_notebook_says_when_there_is_no_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    with pytest.raises(Exception, match="no finished thinklite_ablation run"):
        client.execute(env=dict(os.environ))

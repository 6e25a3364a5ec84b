"""notebooks/experiments.ipynb draws the three experiments from a miniature MLflow store that
the real tracking hook logged (tests/experiments/mlflow_store.py)."""

from __future__ import annotations

import os
import re

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from tests.experiments.mlflow_store import plant_filtering, plant_scm, plant_thinklite, scm_table
from tests.helpers import PROJECT_ROOT

NOTEBOOK = PROJECT_ROOT / "notebooks" / "experiments.ipynb"
THINKLITE = {(a, s): 0.30 + 0.03 * s + {"mcts": 0.06, "random": 0.0}[a]
             for a in ("mcts", "random") for s in (0, 1)}
FILTERING = {(a, s): 0.20 + 0.05 * s + {"filtered": 0.04, "unfiltered": 0.0, "top_50": 0.02}[a]
             for a in ("unfiltered", "filtered", "top_50") for s in (0, 1)}


def execute(uri: str):
    """Run the notebook with ``uri`` as the tracking URI; (cells' outputs, all their text)."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        "commit the notebook with its outputs cleared")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1",
           # the kernel imports this checkout's package (the venv's editable one may be another)
           "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "src"), str(PROJECT_ROOT),
                                          os.environ.get("PYTHONPATH", "")])}
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute(env=env)
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for o in outputs)
    return outputs, text


def _stat(text: str, line_start: str) -> tuple[float, float, float]:
    """``mean [low, high]`` of the printed line that starts with ``line_start``."""
    line = next(line for line in text.splitlines() if line.strip().startswith(line_start))
    mean, low, high = re.search(r": \S+ ([-\d.]+) \[([-\d.]+), ([-\d.]+)\]", line).groups()
    return float(mean), float(low), float(high)


def test_notebook_draws_every_experiment_from_mlflow(uri):
    plant_thinklite(THINKLITE)
    plant_scm({(suite, seed): scm_table(
        lambda m, t, shots, seed=seed: 0.5 + 0.1 * seed + (0.002 * shots if m == "lm" else 0))
        for suite in ("heldout_prior", "real_tables") for seed in (0, 1)})
    plant_filtering(FILTERING)
    outputs, text = execute(uri)

    assert "skipped" not in text
    assert "Traceback" not in text and not any(o.get("output_type") == "error" for o in outputs)
    # Child runs reproduce each logged table: per-arm tables and both curves.
    for name in ("thinklite_experiment per-arm table", "filtering_experiment per-arm table",
                 "scm_experiment_curve_table"):
        assert f"{name}: recomputed from MLflow equals the logged table" in text, name
    # The printed per-arm means are the planted ones (mean over the two seeds).
    for arm in ("mcts", "random"):
        mean = np.mean([THINKLITE[arm, s] for s in (0, 1)])
        assert _stat(text, f"{arm}: accuracy")[0] == pytest.approx(mean, abs=5e-4)
    assert _stat(text, "filtered: mean_recall")[0] == pytest.approx(0.265, abs=5e-4)
    assert _stat(text, "top_50: mean_recall")[0] == pytest.approx(0.245, abs=5e-4)
    assert "Δ vs random 0.060 [0.060, 0.060] (excludes 0)" in text
    assert "Δ vs unfiltered 0.040 [0.040, 0.040] (excludes 0)" in text
    # scm: lm on the real tables at 32 shots, 0.5 + 0.1 seed + 0.064, over seeds 0 and 1.
    real = next(line for line in text.splitlines() if line.strip().startswith("real_tables / lm"))
    assert "32: 0.614" in real
    # Plots: thinklite 2 (means, differences), scm 2 (curve, differences vs shots),
    # filtering 3 (means, differences, retrieval vs kept fraction).
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 7


def test_notebook_skips_an_experiment_without_a_run(uri):
    plant_thinklite(THINKLITE)
    outputs, text = execute(uri)
    assert "thinklite_experiment: run " in text
    for pipeline in ("scm_experiment", "filtering_experiment"):
        assert (f"skipped {pipeline}: no finished {pipeline} run in experiment 'datarecipes' "
                f"at {uri}; run `kedro run --pipelines={pipeline}` first") in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2

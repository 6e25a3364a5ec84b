"""A fresh tracking store per test, left as it was found (MLflow's global URI included)."""

from __future__ import annotations

import mlflow
import pytest


@pytest.fixture
def uri(tmp_path, monkeypatch):
    """``sqlite:///<tmp>/mlflow.db`` as ``$MLFLOW_TRACKING_URI``, with tracking on."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("DATARECIPES_TRACKING", raising=False)
    yield uri
    while mlflow.active_run() is not None:  # a failed test may leave its run open
        mlflow.end_run("FAILED")
    mlflow.set_tracking_uri(None)  # the hook set it globally (this also unsets the env var)

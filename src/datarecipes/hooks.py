"""Project hooks: parameter validation before a run, and MLflow tracking of every run.

Why a small hook of ours rather than kedro-mlflow: we need exactly one MLflow run per
``kedro run`` with the git commit and dirty flag, node durations, and metrics taken from a
naming convention (outputs named ``*_metrics``) — kedro-mlflow logs params per node and
metrics only through its own dataset types written into the catalog, has no node timings or
git state, and its thread-safety and API-churn issues (#613, #624, #686) bite exactly the
runners and Kedro versions we use. The hook is ~200 lines and nodes never see MLflow.

Conventions (any pipeline, any namespace):

* an output named ``*_metrics`` holding a mapping is logged as metrics under
  ``<dataset name without _metrics>.<key>`` (nested keys flattened with ``.``; a list of
  numbers is logged as a history with ``step`` = its index);
* an output named ``*_plot`` holding a matplotlib figure (or a mapping of them) is logged as
  a PNG artifact under ``plots/``;
* an output named ``*_table`` holding a pandas DataFrame is logged as a CSV artifact under
  ``tables/``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from datarecipes.config import from_params
from datarecipes.parameter_sections import PARAMETER_SECTIONS
from datarecipes.tracking_context import NODE_NAMESPACE as _NODE_NAMESPACE

logger = logging.getLogger(__name__)

MAX_PARAM_CHARS = 500


def flatten(mapping: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Flatten nested mappings into ``{"a.b.c": value}``."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten(value, name, sep))
        else:
            flat[name] = value
    return flat


def _params_inputs(pipeline) -> list[str]:
    return sorted(name for name in pipeline.inputs() if name.startswith("params:"))


class ParameterValidationHook:
    """Validate every registered parameter section the run consumes, before any node runs.

    A section registered with :func:`datarecipes.config.parameters_section` is built into its
    dataclass here, so an unknown key or an impossible value stops the run with a message
    naming the key, before anything is written.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        for name in _params_inputs(pipeline):
            section = name.removeprefix("params:")
            # A namespaced section (``ablation.mcts.thinklite``) has its base section's schema.
            schema = PARAMETER_SECTIONS.get(section) or PARAMETER_SECTIONS.get(
                section.rsplit(".", 1)[-1]
            )
            if schema is not None:
                from_params(schema, catalog.load(name), where=f"parameters: {section}")


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


class MlflowTrackingHook:
    """One MLflow run per ``kedro run``, in the experiment named in ``conf/*/tracking.yml``."""

    def __init__(self) -> None:
        self._config: dict[str, Any] = {}
        self._project_path = Path.cwd()
        self._started: dict[str, float] = {}
        self._active = False

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project_path = Path(context.project_path)
        try:
            self._config = dict(context.config_loader["tracking"].get("mlflow", {}))
        except KeyError:
            self._config = {}

    # -- run lifecycle -------------------------------------------------------------------
    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if not self._config.get("enabled", True) or os.environ.get("DATARECIPES_TRACKING") == "off":
            return
        if int(os.environ.get("RANK", "0")) != 0:
            return  # under `accelerate launch` only the main process tracks the run
        import mlflow

        uri = (
            os.environ.get("MLFLOW_TRACKING_URI")
            or self._config.get("tracking_uri")
            or f"sqlite:///{self._project_path / 'mlflow.db'}"
        )
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(self._config.get("experiment", "datarecipes"))
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name")]
        names = [n for n in names if n] or ["__default__"]
        run_name = "+".join(names)
        mlflow.start_run(run_name=run_name, nested=mlflow.active_run() is not None)
        self._active = True

        params: dict[str, Any] = {}
        for name in _params_inputs(pipeline):
            value = catalog.load(name)
            key = name.removeprefix("params:")
            if isinstance(value, Mapping):
                params.update(flatten(value, key))
            else:
                params[key] = value
        mlflow.log_params({k: _param_value(v) for k, v in params.items()})

        commit = _git("rev-parse", "HEAD", cwd=self._project_path)
        status = _git("status", "--porcelain", "--untracked-files=no", cwd=self._project_path)
        tags = {
            "pipeline": run_name,
            "kedro_command": " ".join(["kedro", *sys.argv[1:]])
            if Path(sys.argv[0]).name == "kedro"
            else " ".join(sys.argv),
            "kedro_env": str(run_params.get("env") or "local"),
            "kedro_session_id": str(run_params.get("session_id") or run_params.get("run_id")),
            "git_commit": commit or "unknown",
            "git_dirty": "unknown" if status is None else str(bool(status)).lower(),
        }
        for key in self._config.get("tag_params", []) or []:
            if key in params:
                tags[key] = str(params[key])
        extra = run_params.get("runtime_params") or run_params.get("extra_params") or {}
        if extra:
            tags["runtime_params"] = _param_value(flatten(extra))
        mlflow.set_tags(tags)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._end("FINISHED")

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._end("FAILED")

    def _end(self, status: str) -> None:
        if self._active:
            import mlflow

            mlflow.end_run(status=status)
            self._active = False

    # -- nodes ---------------------------------------------------------------------------
    @hook_impl
    def before_node_run(self, node) -> None:
        self._started[node.name] = time.perf_counter()
        _NODE_NAMESPACE.set(node.namespace or "")

    @hook_impl
    def after_node_run(self, node, outputs: dict[str, Any]) -> None:
        if not self._active:
            return
        import mlflow

        started = self._started.pop(node.name, None)
        if started is not None:
            seconds = time.perf_counter() - started
            mlflow.log_metric(f"node_seconds.{_metric_key(node.name)}", seconds)
        for name, value in outputs.items():
            short = name.rsplit(".", 1)[-1]
            if short.endswith("_metrics") and isinstance(value, Mapping):
                _log_metrics(name.removesuffix("_metrics"), value)
            elif short.endswith("_plot"):
                _log_figures(name, value)
            elif short.endswith("_table") and hasattr(value, "to_csv"):
                mlflow.log_text(value.to_csv(index=False), f"tables/{name}.csv")


def _param_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 3] + "..."


def _metric_key(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-/ " else "_" for c in name)


def _log_metrics(prefix: str, metrics: Mapping[str, Any]) -> None:
    import mlflow

    scalars: dict[str, float] = {}
    for key, value in flatten(metrics).items():
        full = _metric_key(f"{prefix}.{key}")
        if isinstance(value, bool):
            scalars[full] = float(value)
        elif isinstance(value, (int, float)):
            scalars[full] = float(value)
        elif isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        ):
            for step, v in enumerate(value):
                mlflow.log_metric(full, float(v), step=step)
        elif hasattr(value, "item"):  # numpy / torch scalars
            scalars[full] = float(value.item())
    if scalars:
        mlflow.log_metrics(scalars)


def _log_figures(name: str, value: Any) -> None:
    import mlflow

    figures = value.items() if isinstance(value, Mapping) else [(None, value)]
    for key, fig in figures:
        if hasattr(fig, "savefig"):
            suffix = f"_{key}" if key is not None else ""
            mlflow.log_figure(fig, f"plots/{name}{suffix}.png")

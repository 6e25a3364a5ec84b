"""Project hooks: checks and parameter validation before a run, MLflow tracking of every run.

Why a small hook of ours rather than kedro-mlflow: see docs/architecture.md ("Why our own
MLflow hook") — metrics come from output names without catalog entries, one run per
``kedro run`` with git state and node timings; kedro-mlflow's old issues are fixed, #689
(threaded runners) is still open.

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

import dataclasses
import difflib
import functools
import importlib.util
import logging
import os
import re
import socket
import subprocess
import sys
import time
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from kedro.framework.hooks import hook_impl

from datarecipes.config import from_params
from datarecipes.parameter_sections import PARAMETER_SECTIONS
from datarecipes.tracking_context import DEFAULT_EXPERIMENT
from datarecipes.tracking_context import NODE_NAMESPACE as _NODE_NAMESPACE

logger = logging.getLogger(__name__)

MAX_PARAM_CHARS = 500


def flatten(mapping: Any, prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Flatten nested mappings and parameter dataclasses into ``{"a.b.c": value}``."""
    if dataclasses.is_dataclass(mapping) and not isinstance(mapping, type):
        mapping = {f.name: getattr(mapping, f.name) for f in dataclasses.fields(mapping)}
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping) or (
            dataclasses.is_dataclass(value) and not isinstance(value, type)
        ):
            flat.update(flatten(value, name, sep))
        else:
            flat[name] = value
    return flat


def _params_inputs(pipeline) -> list[str]:
    return sorted(name for name in pipeline.inputs() if name.startswith("params:"))


def section_files(conf_source: Path) -> dict[str, str]:
    """Section name → the ``parameters_*.yml`` file (in ``conf/base``) that defines it."""
    files: dict[str, str] = {}
    for path in sorted((conf_source / "base").glob("parameters*.yml")):
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        for section in config:
            files.setdefault(str(section), path.name)
    return files


@functools.cache
def _PROJECT_SECTION_FILES() -> dict[str, str]:  # noqa: N802 - a cached constant
    return section_files(Path(__file__).resolve().parents[2] / "conf")


def typed_parameters(names: list[str], load, files: Mapping[str, str] | None = None,
                     ) -> dict[str, Any]:
    """Build each ``params:`` input in ``names`` into its dataclass, validating it once.

    A registered section (``params:scm``) is built from its mapping; a dotted input
    (``params:filtering.clip``, ``params:models.tabular_lm``) is the matching field of its
    section's built object, so the whole section is still checked (an unknown key anywhere in
    it stops the run); a namespaced copy of a section (``params:filtering_world.scenes``) is
    built with that section's class. Inputs without a schema are left out. ``load(name)``
    returns the raw value of a ``params:`` dataset; errors name the file and the key.
    """
    files = _PROJECT_SECTION_FILES() if files is None else files
    built: dict[str, Any] = {}
    typed: dict[str, Any] = {}

    def where(section: str) -> str:
        head = section.split(".")[0]
        return f"{files.get(head, 'parameters')}: {section}"

    for name in names:
        section = name.removeprefix("params:")
        head, *path = section.split(".")
        if head in PARAMETER_SECTIONS:
            if head not in built:
                schema, raw = PARAMETER_SECTIONS[head], load(f"params:{head}")
                built[head] = raw if isinstance(raw, schema) else from_params(
                    schema, raw, where=where(head))
            value = built[head]
            for key in path:
                value = value[key] if isinstance(value, Mapping) else getattr(value, key)
            typed[name] = value
        elif (schema := section_schema(section)) is not None:
            raw = load(name)
            typed[name] = raw if isinstance(raw, schema) else from_params(
                schema, raw, where=where(section))
    return typed


def use_typed_parameters(catalog, pipeline, files: Mapping[str, str] | None = None) -> None:
    """Replace each of ``pipeline``'s ``params:`` inputs in ``catalog`` by its built object.

    What the start-up hook does; also for a runner driven by hand (tests, notebooks).
    """
    for name, value in typed_parameters(_params_inputs(pipeline), catalog.load, files).items():
        catalog[name] = value


class ParameterValidationHook:
    """Validate every parameter section the run consumes and hand nodes the built objects.

    Each ``params:`` input with a registered schema (dotted sub-sections included, see
    :func:`typed_parameters`) is built into its frozen dataclass before any node runs, so an
    unknown key or an impossible value stops the run with a message naming the file and the
    key before anything is written; the catalog then serves the built object, so nodes take
    dataclasses, never dicts.
    """

    def __init__(self) -> None:
        self._files: dict[str, str] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        from kedro.framework.project import settings

        self._files = section_files(Path(context.project_path) / settings.CONF_SOURCE)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        use_typed_parameters(catalog, pipeline, self._files)


def section_schema(section: str) -> type | None:
    """The dataclass a ``params:<section>`` input maps onto, or None when none is registered.

    * a registered section: its dataclass (``scm_training``);
    * a dotted key into one (``models.tabular_lm``, ``thinklite_ablation.mcts``): the nested
      dataclass field's type, followed through the section's type hints;
    * a namespaced section (``filtering_world.scenes``): its base section's dataclass.
    """
    if section in PARAMETER_SECTIONS:
        return PARAMETER_SECTIONS[section]
    head, *path = section.split(".")
    schema: Any = PARAMETER_SECTIONS.get(head)
    for key in path if schema is not None else ():
        hint = typing.get_type_hints(schema).get(key) if dataclasses.is_dataclass(schema) else None
        if typing.get_origin(hint) in (typing.Union, types.UnionType):  # ``X | None`` → X
            hint = next((a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)), None)
        schema = hint if dataclasses.is_dataclass(hint) else None
        if schema is None:
            break
    if schema is not None:
        return schema
    return PARAMETER_SECTIONS.get(section.rsplit(".", 1)[-1])


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def tracking_uri(config: Mapping[str, Any], project_path: Path) -> str:
    """Where a run of the project is tracked: ``$MLFLOW_TRACKING_URI``, else ``tracking_uri``
    of the ``mlflow`` section of ``conf/*/tracking.yml`` (``config``), else
    ``sqlite:///<project_path>/mlflow.db``. The hook and the notebooks both resolve it here."""
    return (
        os.environ.get("MLFLOW_TRACKING_URI")
        or config.get("tracking_uri")
        or f"sqlite:///{Path(project_path) / 'mlflow.db'}"
    )


def project_tracking_config(project_path: Path, env: str | None = None) -> dict[str, Any]:
    """The ``mlflow`` section of the project's tracking configuration in ``env`` (default:
    ``local`` over ``base``), loaded as ``kedro run`` loads it (the settings' config loader),
    for a reader outside a run (a notebook); ``{}`` when there is none."""
    from datarecipes import settings

    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(Path(project_path) / "conf"), env=env, **settings.CONFIG_LOADER_ARGS)
    try:
        return dict(loader["tracking"].get("mlflow", {}) or {})
    except KeyError:
        return {}


class MlflowTrackingHook:
    """One MLflow run per ``kedro run``, in the experiment named in ``conf/*/tracking.yml``."""

    def __init__(self) -> None:
        self._config: dict[str, Any] = {}
        self._project_path = Path.cwd()
        self._started: dict[str, float] = {}
        self._active = False
        self._run_label = ""
        self._children: dict[str, str] = {}  # namespace → child run id
        self._child_patterns: list[tuple[re.Pattern[str], str]] = []

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project_path = Path(context.project_path)
        try:
            self._config = dict(context.config_loader["tracking"].get("mlflow", {}))
        except KeyError:
            self._config = {}
        self._child_patterns = [child_run_pattern(t) for t in self._config.get("child_runs") or ()]

    # -- run lifecycle -------------------------------------------------------------------
    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if not self._config.get("enabled", True) or os.environ.get("DATARECIPES_TRACKING") == "off":
            return
        if int(os.environ.get("RANK", "0")) != 0:
            return  # under `accelerate launch` only the main process tracks the run
        import mlflow

        mlflow.set_tracking_uri(tracking_uri(self._config, self._project_path))
        experiment = mlflow.set_experiment(self._config.get("experiment", DEFAULT_EXPERIMENT))
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name")]
        names = [n for n in names if n] or ["__default__"]
        pipeline_label = "+".join(names)

        params: dict[str, Any] = {}
        for name in _params_inputs(pipeline):
            params.update(flatten({name.removeprefix("params:"): catalog.load(name)}))
        extra = run_params.get("runtime_params") or run_params.get("extra_params") or {}
        tag_keys = [k for k in self._config.get("tag_params", []) or [] if k in params]
        if any(pattern.match(node.namespace or "") for node in pipeline.nodes
               for pattern, _ in self._child_patterns):
            # An experiment: its child runs vary the seeds and arms, so a tag parameter's base
            # value (scm_training.seed=0) would mislabel the parent.
            tag_keys = []

        mark_killed_runs(mlflow.tracking.MlflowClient(), [experiment.experiment_id])
        mlflow.start_run(
            run_name=run_name(pipeline_label, {k: params[k] for k in tag_keys}, flatten(extra)),
            nested=mlflow.active_run() is not None,
        )
        self._active = True
        self._run_label = mlflow.active_run().info.run_name
        self._children = {}
        # MLflow 3's UI is a hash router; /runs is the runs table (the bare experiment URL
        # opens the GenAI overview).
        logger.info("MLflow run %r; runs table: http://127.0.0.1:5000/#/experiments/%s/runs "
                    "(after `make mlflow-ui`)", mlflow.active_run().info.run_name,
                    experiment.experiment_id)
        mlflow.log_params({k: _param_value(v) for k, v in params.items()})

        commit = _git("rev-parse", "HEAD", cwd=self._project_path)
        status = _git("status", "--porcelain", "--untracked-files=no", cwd=self._project_path)
        tags = {
            "pipeline": pipeline_label,
            # `kedro ...`, or `python -m kedro ...` (bin/kedro, the DVC stages' command)
            "kedro_command": " ".join(["kedro", *sys.argv[1:]])
            if Path(sys.argv[0]).name == "kedro" or Path(sys.argv[0]).parent.name == "kedro"
            else " ".join(sys.argv),
            "kedro_env": str(run_params.get("env") or "local"),
            "kedro_session_id": str(run_params.get("session_id") or run_params.get("run_id")),
            "git_commit": commit or "unknown",
            "git_dirty": "unknown" if status is None else str(bool(status)).lower(),
            **process_tags(),
        }
        for key in tag_keys:
            tags[key] = str(params[key])
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

            client = mlflow.tracking.MlflowClient()
            for child in self._children.values():
                client.set_terminated(child, status=status)
            self._children = {}
            mlflow.end_run(status=status)
            self._active = False

    def _child_run(self, namespace: str | None) -> tuple[str, str] | None:
        """(run id, namespace) of the child run a node of ``namespace`` logs into, if any.

        Created on first use under the pipeline's run (``mlflow.parentRunId``), named after
        the parent and the pattern's fields (``thinklite_experiment arm=mcts seed=0``), with
        each field as a parameter and a tag, so the runs table compares arms and seeds.
        """
        import mlflow

        for pattern, template in self._child_patterns:
            match = pattern.match(namespace or "")
            if match is None:
                continue
            key = match.group(0)
            if key not in self._children:
                fields = match.groupdict()
                parent = mlflow.active_run()
                name = " ".join([self._run_label.split(" ")[0],
                                 *(f"{k}={v}" for k, v in fields.items())])
                client = mlflow.tracking.MlflowClient()
                child = client.create_run(
                    parent.info.experiment_id, run_name=name,
                    tags={"mlflow.parentRunId": parent.info.run_id, "namespace": key,
                          "child_run_pattern": template, **process_tags(), **fields})
                for field, value in fields.items():
                    client.log_param(child.info.run_id, field, value)
                self._children[key] = child.info.run_id
            return self._children[key], key
        return None

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
        targets = [(mlflow.active_run().info.run_id, "")]
        child = self._child_run(node.namespace)
        if child is not None:  # also in the arm × seed's own run, without the namespace
            targets.append((child[0], f"{child[1]}."))
        client = mlflow.tracking.MlflowClient()
        for run_id, strip in targets:
            for name, value in outputs.items():
                short, local = name.rsplit(".", 1)[-1], name.removeprefix(strip)
                if short.endswith("_metrics") and isinstance(value, Mapping):
                    _log_metrics(client, run_id, local.removesuffix("_metrics"), value)
                elif short.endswith("_plot"):
                    _log_figures(client, run_id, local, value)
                elif short.endswith("_table") and hasattr(value, "to_csv"):
                    client.log_text(run_id, value.to_csv(index=False), f"tables/{local}.csv")


#: Tags naming the process that owns a RUNNING run, so a later start can tell a dead one.
PID_TAG, HOST_TAG, START_TAG = "datarecipes.pid", "datarecipes.host", "datarecipes.pid_start"
MAX_RUN_NAME = 250


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (``/proc/<pid>/stat`` field 22), to detect reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def process_tags() -> dict[str, str]:
    """pid, host and pid start time of this process, recorded on the run it starts."""
    pid = os.getpid()
    return {PID_TAG: str(pid), HOST_TAG: socket.gethostname(),
            START_TAG: _process_start(pid) or ""}


def run_name(pipeline: str, tag_values: Mapping[str, Any], overrides: Mapping[str, Any]) -> str:
    """``<pipeline> key=value ...``: the tag parameters, then the ``--params`` overrides.

    Keys are shortened to their last component where that is unambiguous
    (``thinklite_ablation seed=1``, ``filtering data=filtered``).
    """
    items = dict(tag_values)
    for key, value in overrides.items():
        items.setdefault(key, value)
    leaves = [key.rsplit(".", 1)[-1] for key in items]
    parts = [pipeline]
    for (key, value), leaf in zip(items.items(), leaves, strict=True):
        parts.append(f"{leaf if leaves.count(leaf) == 1 else key}={value}")
    name = " ".join(parts)
    return name if len(name) <= MAX_RUN_NAME else name[: MAX_RUN_NAME - 3] + "..."


def mark_killed_runs(client, experiment_ids: list[str]) -> list[str]:
    """Mark KILLED every RUNNING run whose process (on this host) no longer runs.

    A ``kill -9`` never reaches ``on_pipeline_error``, so its run would stay RUNNING forever.
    Runs started on another host are left alone: their process cannot be checked from here.
    """
    from datarecipes.io.atomic import pid_alive

    host = socket.gethostname()
    killed = []
    for run in client.search_runs(experiment_ids, filter_string="attributes.status = 'RUNNING'"):
        tags = run.data.tags
        if tags.get(HOST_TAG) != host or not tags.get(PID_TAG, "").isdigit():
            continue
        pid = int(tags[PID_TAG])
        alive = pid_alive(pid) and (_process_start(pid) or "") == tags.get(START_TAG, "")
        if alive:
            continue
        client.set_tag(run.info.run_id, "datarecipes.killed", "process gone at next start")
        client.set_terminated(run.info.run_id, status="KILLED")
        logger.warning("MLflow run %s (%s, pid %d) was left RUNNING by a killed process: "
                       "marked KILLED", run.info.run_id, run.info.run_name, pid)
        killed.append(run.info.run_id)
    return killed


def _param_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 3] + "..."


def _metric_key(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-/ " else "_" for c in name)


def _log_metrics(client, run_id: str, prefix: str, metrics: Mapping[str, Any]) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    rows: list[Metric] = []
    for key, value in flatten(metrics).items():
        full = _metric_key(f"{prefix}.{key}")
        if isinstance(value, bool):
            rows.append(Metric(full, float(value), now, 0))
        elif isinstance(value, (int, float)):
            rows.append(Metric(full, float(value), now, 0))
        elif isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        ):
            rows += [Metric(full, float(v), now, step) for step, v in enumerate(value)]
        elif hasattr(value, "item"):  # numpy / torch scalars
            rows.append(Metric(full, float(value.item()), now, 0))
    for start in range(0, len(rows), 1000):  # MLflow's batch limit
        client.log_batch(run_id, metrics=rows[start:start + 1000])


def _log_figures(client, run_id: str, name: str, value: Any) -> None:
    figures = value.items() if isinstance(value, Mapping) else [(None, value)]
    for key, fig in figures:
        if hasattr(fig, "savefig"):
            suffix = f"_{key}" if key is not None else ""
            client.log_figure(run_id, fig, f"plots/{name}{suffix}.png")


def child_run_pattern(template: str) -> tuple[re.Pattern[str], str]:
    """A namespace template (``thinklite_experiment.{arm}.seed_{seed}``) as a regex whose named
    groups are the fields; it matches the namespace and any namespace below it."""
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^.]+)"
                    for i, p in enumerate(parts))
    return re.compile(f"^{regex}(?=$|\\.)"), template


# -- checks before the first node -------------------------------------------------------------

#: A parameter whose flattened key ends in ``<leaf>`` with this value needs this package.
ENGINE_PACKAGES: dict[tuple[str, str], str] = {
    ("engine", "vllm"): "vllm",
    ("kind", "ray"): "ray",
}

_RUNTIME_REF = re.compile(r"\$\{\s*runtime_params:\s*([A-Za-z0-9_.\-]+)")


class PreRunCheckError(ValueError):
    """What makes a run impossible, found before any node runs (one line per problem)."""


def _looks_local(value: str) -> bool:
    """A ``name_or_path`` that is a local directory rather than a hub id (``org/name``)."""
    return value.startswith(("/", "./", "../", "~")) or value.count("/") > 1 or (
        os.sep != "/" and os.sep in value
    )


def _dataset_paths(dataset: Any) -> list[str]:
    try:
        described = dataset._describe()
    except Exception:  # noqa: BLE001 - a dataset that cannot describe itself has no path
        return []
    return [str(described[key]) for key in ("filepath", "path", "unit")
            if isinstance(described, Mapping) and described.get(key)]


def _exists(dataset: Any) -> bool:
    try:
        return bool(dataset.exists())
    except Exception:  # noqa: BLE001 - a broken source is reported by its path below
        return False


def _overlaps(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents


class PreRunCheckHook:
    """Everything checkable about a run, checked before the first node runs.

    Each problem is one line naming the key: an unknown parameter section in ``--params``
    (a typo such as ``scnes.n_scenes``), a ``--params`` section or runtime parameter that
    nothing in the selected pipeline reads, an engine whose package is not installed, a local
    checkpoint directory that does not exist, a source dataset (a free input of the pipeline
    that nothing in the run writes) whose path does not exist. All are reported at once, and
    nothing has been written when they are.
    """

    def __init__(self) -> None:
        self._known_keys: set[str] | None = None
        self._runtime_refs: dict[str, set[str]] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self._known_keys = None
        self._runtime_refs = {}
        try:
            from kedro.framework.project import settings

            conf_source = Path(context.project_path) / settings.CONF_SOURCE
            loader = settings.CONFIG_LOADER_CLASS(
                conf_source=str(conf_source), env=context.env, **settings.CONFIG_LOADER_ARGS
            )
            self._known_keys = set(loader["parameters"])
        except Exception as exc:  # noqa: BLE001 - without it the section check is skipped
            logger.debug("pre-run check: could not load parameters without overrides: %s", exc)
        # Runtime parameters the configuration reads itself (``${runtime_params:name}``, e.g.
        # a catalog source path) are legitimate ``--params`` names though no section has them.
        conf = Path(context.project_path) / "conf"
        for path in sorted(conf.glob("*/catalog*.yml")) + sorted(conf.glob("*/catalog*/**/*.yml")):
            self._scan_runtime_refs(path)
        for path in sorted(conf.glob("*/parameters*.yml")):
            self._scan_runtime_refs(path, parameters=True)

    def _scan_runtime_refs(self, path: Path, parameters: bool = False) -> None:
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            return
        for name, entry in config.items():
            for ref in _RUNTIME_REF.findall(yaml.safe_dump(entry)):
                users = self._runtime_refs.setdefault(ref.split(".")[0], set())
                users.add(f"params:{name}" if parameters else str(name))

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        runtime = run_params.get("runtime_params") or {}
        problems: list[str] = []
        problems += self._check_overrides(runtime, pipeline)
        params = self._pipeline_params(pipeline, catalog)
        problems += check_engines(params)
        problems += check_checkpoints(params)
        problems += check_sources(pipeline, catalog)
        problems += check_rollouts(pipeline, catalog)
        if run_params.get("only_missing_outputs"):
            problems += check_stale_downstream(pipeline, catalog)
        if problems:
            raise PreRunCheckError(
                "the run cannot start (nothing was written):\n" + "\n".join(
                    f"  - {p}" for p in problems)
            )

    @staticmethod
    def _pipeline_params(pipeline, catalog) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for name in _params_inputs(pipeline):
            try:
                value = catalog.load(name)
            except Exception:  # noqa: BLE001 - ParameterValidationHook reports bad sections
                continue
            flat.update(flatten({name.removeprefix("params:"): value}))
        return flat

    def _check_overrides(self, runtime: Mapping[str, Any], pipeline) -> list[str]:
        problems: list[str] = []
        read = [name.removeprefix("params:") for name in _params_inputs(pipeline)]
        datasets = set(pipeline.datasets()) | {f"params:{r.split('.')[0]}" for r in read}
        known = set(PARAMETER_SECTIONS) | set(self._known_keys or ())
        for key in sorted(flatten(runtime)):
            section = key.split(".")[0]
            if section in self._runtime_refs:
                users = self._runtime_refs[section]
                if not users & datasets:
                    problems.append(
                        f"--params {section}: read by configuration entr"
                        f"{'y' if len(users) == 1 else 'ies'} {', '.join(sorted(users))}, "
                        "which this pipeline does not use"
                    )
                continue
            if self._known_keys is not None and section not in known:
                close = difflib.get_close_matches(section, sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"--params {key}: unknown parameter section {section!r}{hint}")
                continue
            # Read when a node takes the key, a section above it, or a part below it.
            if not any(key == r or key.startswith(f"{r}.") or r.startswith(f"{key}.")
                       for r in read):
                problems.append(
                    f"--params {key}: no node of this pipeline reads it (the pipeline reads "
                    f"{', '.join(sorted(read)) or 'no parameters'})"
                )
        return problems


def check_engines(params: Mapping[str, Any]) -> list[str]:
    """Engines and executors whose package is not installed."""
    problems = []
    for key, value in sorted(params.items()):
        package = ENGINE_PACKAGES.get((key.rsplit(".", 1)[-1], str(value)))
        if package and importlib.util.find_spec(package) is None:
            problems.append(
                f"{key}={value}: the package {package!r} is not installed "
                f"(pip install {package}; docs/scaling.md)"
            )
    return problems


def check_rollouts(pipeline, catalog) -> list[str]:
    """GRPO sections whose rollouts the configured ``generation`` engine cannot hold.

    A GRPO section is one whose schema is the trainer's own ``GRPOParams`` (``thinklite_grpo``);
    the ``hf`` engine refuses the -e gpu batch (``generation.engine`` names the fix). Sections
    that do not build are left to the validation hook, which reports them.
    """
    from datarecipes.config import ParameterError
    from datarecipes.engines import GenerationParams, check_grpo_rollouts
    from datarecipes.training.grpo import GRPOParams

    names = [n for n in _params_inputs(pipeline)
             if PARAMETER_SECTIONS.get(n.removeprefix("params:")) is GRPOParams]
    if not names:
        return []
    try:
        generation = (typed_parameters(["params:generation"], catalog.load)["params:generation"]
                      if catalog.exists("params:generation") else GenerationParams())
        typed = typed_parameters(names, catalog.load)
    except ParameterError:
        return []
    problems = []
    for name, params in typed.items():
        try:
            check_grpo_rollouts(params, generation)
        except ParameterError as err:
            problems.append(f"{name.removeprefix('params:')}: {err}")
    return problems


def check_checkpoints(params: Mapping[str, Any]) -> list[str]:
    """Local checkpoint directories (``name_or_path``, ``local-dir:`` models) that are absent."""
    problems = []
    for key, value in sorted(params.items()):
        if not isinstance(value, str):
            continue
        leaf = key.rsplit(".", 1)[-1]
        path = None
        if leaf == "name_or_path" and _looks_local(value):
            path = value
        elif value.startswith("local-dir:"):
            path = value.removeprefix("local-dir:")
        if path is not None and not Path(path).expanduser().is_dir():
            problems.append(f"{key}: checkpoint directory {path} does not exist")
    return problems


def check_sources(pipeline, catalog) -> list[str]:
    """Free inputs of the pipeline that nothing in the run writes and that do not exist."""
    written: list[Path] = []
    for name in pipeline.all_outputs():
        try:
            written += [Path(p).resolve() for p in _dataset_paths(catalog.get(name))]
        except Exception:  # noqa: BLE001 - a dataset the catalog cannot build fails in Kedro
            continue
    problems = []
    for name in sorted(pipeline.inputs()):
        if name.startswith("params:") or name == "parameters":
            continue
        try:
            dataset = catalog.get(name)
        except Exception:  # noqa: BLE001
            continue
        paths = [Path(p) for p in _dataset_paths(dataset)]
        if not paths or getattr(dataset, "_create", False) or _exists(dataset):
            continue  # in memory, a work directory it creates itself, or optional and present
        for path in paths:
            if path.exists() or any(_overlaps(path.resolve(), w) for w in written):
                continue
            problems.append(f"input dataset {name!r}: {path} does not exist")
    return problems


def _persistent(catalog, name: str) -> bool:
    from kedro.io import MemoryDataset

    try:
        # A name the catalog does not declare is a MemoryDataset at run time (the default
        # runtime pattern): ``get`` alone returns None for it, which is not a file.
        dataset = catalog.get(name, fallback_to_runtime_pattern=True)
    except TypeError:  # a catalog without runtime patterns
        dataset = catalog.get(name)
    except Exception:  # noqa: BLE001
        return False
    return dataset is not None and not isinstance(dataset, MemoryDataset)


def check_stale_downstream(pipeline, catalog) -> list[str]:
    """``--only-missing-outputs`` would rebuild an output but keep what was derived from it.

    Kedro reruns a node whose persistent output is missing, but not the nodes downstream of
    it whose outputs exist: a world rebuilt after an interrupted write would sit beside
    questions generated from the old one. Such a run is refused, naming both.
    """
    missing: dict[str, list[str]] = {}
    for node in pipeline.nodes:
        gone = [o for o in node.outputs if _persistent(catalog, o) and not _exists_named(
            catalog, o)]
        if gone:
            missing[node.name] = gone
    if not missing:
        return []
    problems = []
    downstream = pipeline.from_nodes(*missing)
    for node in downstream.nodes:
        if node.name in missing:
            continue
        kept = [o for o in node.outputs if _persistent(catalog, o)]
        if not kept:
            continue
        # Which rebuilt output does this node depend on?
        upstream = pipeline.to_nodes(node.name)
        causes = sorted({o for n in upstream.nodes if n.name in missing for o in missing[n.name]})
        problems.append(
            f"--only-missing-outputs: {', '.join(causes)} will be rebuilt but node "
            f"{node.name!r} downstream keeps its existing {', '.join(sorted(kept))}, which "
            "would then be stale; remove them or run without --only-missing-outputs"
        )
    return problems


def _exists_named(catalog, name: str) -> bool:
    try:
        return bool(catalog.exists(name))
    except Exception:  # noqa: BLE001
        return False

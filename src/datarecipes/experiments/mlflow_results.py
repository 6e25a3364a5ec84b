"""An experiment's results read back from MLflow, as the tracking hook logged them (no Kedro).

How runs are found — the layout :class:`datarecipes.hooks.MlflowTrackingHook` writes:

* **the parent run** of ``kedro run --pipelines=<pipeline>`` carries the tag
  ``pipeline = <pipeline>`` (the ``--pipelines`` label; several pipelines are joined with
  ``+``) and no ``mlflow.parentRunId``; it holds the flattened parameters of every
  ``params:`` input (``thinklite_experiment.baseline`` ...), the comparison node's
  ``*_metrics`` and its ``*_table`` outputs as ``tables/<output>.csv`` artifacts. Its *name*
  is not used: it also lists ``--params`` overrides, so it is not a stable key. The latest
  ``FINISHED`` one (by start time) is the experiment's result; a ``RUNNING``, ``FAILED`` or
  ``KILLED`` run is never read.
* **its child runs**, one per arm × seed namespace matched by ``child_runs`` in
  ``conf/base/tracking.yml``, carry ``mlflow.parentRunId = <parent id>``, the template as tag
  ``child_run_pattern`` (``thinklite_experiment.{arm}.seed_{seed}``) and each field of it as a
  tag and a parameter (``arm``, ``seed``); their metrics are the namespace's ``*_metrics``
  outputs without the namespace (``thinklite_eval.accuracy``).
"""

from __future__ import annotations

import ast
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

from datarecipes.experiments.report import compare_arms
from datarecipes.tracking_context import DEFAULT_EXPERIMENT

#: Where the hook logs ``*_table`` outputs and ``*_plot`` figures, under each run's artifacts.
TABLES, PLOTS = "tables", "plots"
PARENT_TAG = "mlflow.parentRunId"
_FIELD = re.compile(r"\{(\w+)\}")
_PAGE = 200


class NoRunError(LookupError):
    """No finished run of the pipeline in the tracking store (the message says where)."""


@dataclass(frozen=True)
class ExperimentResults:
    """One experiment run read back: the parent run, its child runs and its tables."""

    tracking_uri: str
    experiment: str
    pipeline: str
    run: Any  # mlflow.entities.Run of the parent
    #: One row per child run (see :func:`child_runs`).
    runs: pd.DataFrame
    #: Output name (``thinklite_experiment_table``) → the parent's logged CSV table.
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Artifact paths of the parent's logged figures (``plots/<output>.png``).
    plots: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    @property
    def params(self) -> dict[str, str]:
        """The parent's logged parameters (flattened keys, values as MLflow stores them)."""
        return dict(self.run.data.params)

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.run.data.metrics)

    def param(self, key: str, default: Any = None) -> Any:
        """Parameter ``key`` of the parent parsed back from its string (a number, list, bool
        or string as logged), or ``default`` when the run has no such parameter."""
        if key not in self.run.data.params:
            return default
        text = self.run.data.params[key]
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text

    def table(self, name: str) -> pd.DataFrame:
        """The logged table ``name`` (the output's name, e.g. ``scm_experiment_curve_table``)."""
        if name not in self.tables:
            raise KeyError(f"run {self.run_id} of {self.pipeline} in {self.tracking_uri} logged "
                           f"no table {name!r}; it has {sorted(self.tables)}")
        return self.tables[name]

    def tables_with(self, columns: Sequence[str]) -> dict[str, pd.DataFrame]:
        """The logged tables that have every one of ``columns`` (e.g. a curve's columns)."""
        return {name: t for name, t in self.tables.items() if set(columns) <= set(t.columns)}

    def describe(self) -> str:
        """One line: which run this is (id, name, start, status, commit, command)."""
        info, tags = self.run.info, self.run.data.tags
        start = pd.Timestamp(info.start_time, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
        dirty = " (dirty)" if tags.get("git_dirty") == "true" else ""
        return (f"{self.pipeline}: run {info.run_id} {info.run_name!r}, started {start}, "
                f"{info.status}, {len(self.runs)} child run(s), commit "
                f"{tags.get('git_commit', 'unknown')[:10]}{dirty}, env "
                f"{tags.get('kedro_env', '?')}, `{tags.get('kedro_command', '?')}` "
                f"(tracking URI {self.tracking_uri})")


def _client(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores or in memory)."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme != "sqlite" or parsed.path in ("", "/", "/:memory:"):
        return None
    # sqlite:///rel.db is relative, sqlite:////abs.db absolute (SQLAlchemy's form).
    return Path(unquote(parsed.path[1:]))


def _search(client, experiment_ids: list[str], filter_string: str,
            order_by: list[str] | None = None):
    token = None
    while True:
        page = client.search_runs(experiment_ids, filter_string=filter_string,
                                  max_results=_PAGE, order_by=order_by, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def latest_parent_run(tracking_uri: str, pipeline: str, *,
                      experiment: str = DEFAULT_EXPERIMENT, env: str | None = None):
    """The latest ``FINISHED`` run tagged ``pipeline = <pipeline>`` that is not a child run
    (with ``env``: only runs of that Kedro environment, tag ``kedro_env``, e.g. ``smollm2``).

    Raises :class:`NoRunError` naming the tracking URI, the experiment and the pipeline (and
    the unfinished runs it saw) when there is none. A missing ``sqlite`` database is reported,
    not created.
    """
    where = f"experiment {experiment!r} at {tracking_uri}"
    env_flag = f" -e {env}" if env else ""
    hint = f"run `kedro run{env_flag} --pipelines={pipeline}` first (with tracking on)"
    wanted = f"tags.pipeline = {_quote(pipeline)}" + (
        f" and tags.kedro_env = {_quote(env)}" if env else "")
    what = f"{pipeline} run" + (f" of env {env!r}" if env else "")
    db = _sqlite_path(tracking_uri)
    if db is not None and not db.is_file():
        raise NoRunError(f"no finished {what}: the tracking database {db} does not "
                         f"exist (tracking URI {tracking_uri}); {hint}")
    client = _client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise NoRunError(f"no finished {what}: there is no {where}; {hint}")
    ids = [found.experiment_id]
    runs = _search(client, ids, f"{wanted} and attributes.status = 'FINISHED'",
                   ["attributes.start_time DESC"])
    for run in runs:
        if PARENT_TAG not in run.data.tags:
            return run
    others = sorted({r.info.status for r in _search(client, ids, wanted)
                     if PARENT_TAG not in r.data.tags})
    seen = f" (only {', '.join(others)} ones)" if others else ""
    raise NoRunError(f"no finished {what} in {where}{seen}; {hint}")


def _fields(template: str) -> list[str]:
    return _FIELD.findall(template)


def child_runs(tracking_uri: str, parent_run_id: str) -> pd.DataFrame:
    """The child runs of ``parent_run_id``, one row each: the ``child_run_pattern`` fields
    (``arm``, ``seed``; a field of digits only as an int), ``run_id``, ``run_name``,
    ``status``, ``namespace``, then ``metrics.<key>`` and ``params.<key>`` (the fields'
    own parameters left out: they are the columns above), as in ``mlflow.search_runs``.
    Sorted by the fields; empty (with those first columns) when the run has no children."""
    client = _client(tracking_uri)
    parent = client.get_run(parent_run_id)
    rows, fields = [], []
    for run in _search(client, [parent.info.experiment_id],
                       f"tags.{PARENT_TAG} = {_quote(parent_run_id)}"):
        tags = run.data.tags
        names = _fields(tags.get("child_run_pattern", ""))
        fields += [f for f in names if f not in fields]
        row: dict[str, Any] = {f: tags.get(f, run.data.params.get(f)) for f in names}
        row |= {"run_id": run.info.run_id, "run_name": run.info.run_name,
                "status": run.info.status, "namespace": tags.get("namespace")}
        row |= {f"metrics.{k}": v for k, v in run.data.metrics.items()}
        row |= {f"params.{k}": v for k, v in run.data.params.items() if k not in names}
        rows.append(row)
    head = [*fields, "run_id", "run_name", "status", "namespace"]
    frame = pd.DataFrame(rows, columns=None if rows else head)
    for name in fields:
        values = frame[name].dropna().astype(str)
        if len(values) and values.str.fullmatch(r"\d+").all():
            frame[name] = pd.to_numeric(frame[name]).astype("Int64")
    rest = sorted(c for c in frame.columns if c not in head)
    frame = frame[head + rest]
    return frame.sort_values(fields).reset_index(drop=True) if fields and rows else frame


def run_tables(tracking_uri: str, run_id: str, folder: str = TABLES) -> dict[str, pd.DataFrame]:
    """Every CSV artifact under ``folder`` of run ``run_id``, by file name without ``.csv``
    (the output's name); downloaded to a temporary directory that is removed after."""
    client = _client(tracking_uri)
    names = [Path(f.path).name for f in client.list_artifacts(run_id, folder)
             if not f.is_dir and f.path.endswith(".csv")]
    if not names:
        return {}
    import mlflow

    tables = {}
    with tempfile.TemporaryDirectory(prefix="datarecipes-mlflow-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=folder, dst_path=tmp, tracking_uri=tracking_uri))
        for name in sorted(names):
            path = local / name
            try:
                tables[name.removesuffix(".csv")] = pd.read_csv(path)
            except pd.errors.EmptyDataError:  # an empty DataFrame logs as an empty CSV
                tables[name.removesuffix(".csv")] = pd.DataFrame()
    return tables


def run_plots(tracking_uri: str, run_id: str) -> list[str]:
    """Artifact paths of the figures the hook logged on run ``run_id`` (``plots/*.png``)."""
    return sorted(f.path for f in _client(tracking_uri).list_artifacts(run_id, PLOTS)
                  if f.path.endswith(".png"))


def load_experiment(tracking_uri: str, pipeline: str, *,
                    experiment: str = DEFAULT_EXPERIMENT, env: str | None = None,
                    ) -> ExperimentResults:
    """The latest finished run of ``pipeline`` (of Kedro environment ``env``, if given):
    parent, child runs, logged tables, plots (:func:`latest_parent_run`)."""
    run = latest_parent_run(tracking_uri, pipeline, experiment=experiment, env=env)
    run_id = run.info.run_id
    return ExperimentResults(
        tracking_uri=tracking_uri, experiment=experiment, pipeline=pipeline, run=run,
        runs=child_runs(tracking_uri, run_id), tables=run_tables(tracking_uri, run_id),
        plots=run_plots(tracking_uri, run_id))


def metric_column(runs: pd.DataFrame, metric: str) -> str:
    """The column of :func:`child_runs` holding ``metric``: ``metrics.<metric>`` itself, else
    the one ``metrics.<output>.<metric>`` (``metrics.thinklite_eval.accuracy``)."""
    if f"metrics.{metric}" in runs.columns:
        return f"metrics.{metric}"
    matches = [c for c in runs.columns if c.startswith("metrics.") and c.endswith(f".{metric}")]
    if len(matches) != 1:
        have = sorted(c for c in runs.columns if c.startswith("metrics."))
        which = "several" if matches else "no"
        raise KeyError(f"{which} child-run metric column(s) for {metric!r}: "
                       f"{matches or have}; name one of them")
    return matches[0]


def arm_comparison(results: ExperimentResults, *, metric: str | None = None,
                   baseline: str | None = None, arms: Sequence[str] | None = None,
                   ) -> pd.DataFrame:
    """Per arm, from the child runs: the mean of ``metric`` over seeds with its 95 % interval
    and the paired difference to ``baseline`` (:func:`datarecipes.experiments.compare_arms`),
    with the parent's bootstrap seed and resamples, so it equals the logged comparison table.

    ``metric``, ``baseline`` and ``arms`` default to the run's ``<pipeline>.metric``,
    ``.baseline`` and ``.arms`` parameters.
    """
    section = results.pipeline
    metric = metric or results.param(f"{section}.metric")
    baseline = baseline or results.param(f"{section}.baseline")
    logged_arms = results.param(f"{section}.arms")
    # (a list parameter longer than the hook's 500 characters is logged truncated: unparsed)
    arms = list(arms or (logged_arms if isinstance(logged_arms, list) else []))
    if metric is None or baseline is None:
        raise KeyError(f"run {results.run_id} has no {section}.metric / {section}.baseline "
                       "parameter: pass metric= and baseline=")
    runs = results.runs
    if runs.empty or "arm" not in runs.columns:
        raise ValueError(f"run {results.run_id} of {section} has no arm × seed child runs "
                         f"(is {section}.{{arm}}.seed_{{seed}} in tracking.yml's child_runs?)")
    column = metric_column(runs, metric)
    table = runs[["arm", "seed", column]].rename(columns={column: metric})
    table["seed"] = table["seed"].astype(int)
    return compare_arms(table, metric, baseline, arms=arms or None,
                        seed=int(results.param(f"{section}.bootstrap_seed", 0)),
                        resamples=int(results.param(f"{section}.bootstrap_resamples", 10_000)))


def seed_means(runs: pd.DataFrame, columns: Mapping[str, str] | Sequence[str], *,
               seed: int = 0, resamples: int = 10_000) -> pd.DataFrame:
    """Per column of ``runs`` (one row per seed): mean over the rows with its 95 % interval.

    ``columns`` maps a label → column (or lists columns, labelled by themselves); for a
    per-seed metric of experiments whose arms are not child runs (scm's methods)."""
    from datarecipes.experiments.stats import bootstrap_mean

    pairs = columns.items() if isinstance(columns, Mapping) else ((c, c) for c in columns)
    rows = []
    for label, column in pairs:
        values = runs[column].dropna().to_numpy(dtype=float)
        if values.size == 0:
            continue
        iv = bootstrap_mean(values, seed=seed, resamples=resamples)
        rows.append({"arm": label, "seeds": iv.n, "mean": iv.mean, "ci_low": iv.low,
                     "ci_high": iv.high})
    return pd.DataFrame(rows, columns=["arm", "seeds", "mean", "ci_low", "ci_high"])

"""Read-only source datasets: the data a user brings, which no run may ever write.

Every recipe reads a user's data through one catalog entry whose path comes from the command
line (Kedro's ``${runtime_params:<name>, <default>}`` resolver), e.g.::

    provision_source:
      type: datarecipes.io.sources.SceneGraphSource
      path: ${runtime_params:provision_source, null}

A source is never a node output, and its ``save`` refuses, naming the path: a pipeline that
tried to write there (as the built-in world once wrote into a user's annotation directory)
stops instead of replacing the user's files. A source whose path is ``null`` (the runtime
parameter not given) loads as ``None``: the recipe then runs on the built-in world, whose
outputs live under ``data/`` paths of its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Generic, TypeVar

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractDataset, DatasetError

T = TypeVar("T")

#: The runtime parameters (``kedro run --params name=value``) that name a source or how to read
#: it, as the catalog's ``${runtime_params:...}`` entries use them. Kedro also merges them into
#: the parameters as top-level keys: a check for unknown parameter sections must allow these.
SOURCE_RUNTIME_PARAMS = frozenset({
    "thinklite_pool_source", "thinklite_pool_image_root",
    "thinklite_heldout_source", "thinklite_heldout_image_root",
    "provision_source", "provision_source_format", "provision_image_root",
    "provision_splits_source",
    "scm_tables_source",
    "filtering_source", "filtering_source_format", "filtering_caption_column",
    "filtering_image_column", "filtering_key_column", "filtering_image_root",
})


class ReadOnlyDataset(AbstractDataset[None, T], Generic[T]):
    """Base of every source dataset: ``path`` is where the user's data is; saving refuses.

    Subclasses implement ``_load``, ``_describe`` and ``_exists``.
    """

    def __init__(self, path: str | os.PathLike[str] | None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path) if path not in (None, "") else None
        self.metadata = metadata

    @property
    def path(self) -> Path | None:
        """Where the source is (``None``: no source given)."""
        return self._path

    def _save(self, data: Any) -> None:
        where = getattr(self, "_source_path", None) or str(self._path)
        raise DatasetError(
            f"{type(self).__name__}({where!r}) is a source (read-only): the run "
            "may read it but never writes it; outputs go to data/"
        )

    def _require_path(self) -> Path:
        """The path, which must exist (a clear error naming it otherwise)."""
        if self._path is None:
            raise DatasetError(f"{type(self).__name__}: no path given")
        if not self._path.exists():
            raise DatasetError(f"{type(self).__name__}: {str(self._path)!r} does not exist")
        return self._path


class OptionalFileSource(ReadOnlyDataset[Any]):
    """A user's file (or directory) that may be absent: loads as its path, or ``None``."""

    def _load(self) -> str | None:
        return None if self._path is None else str(self._require_path())

    def _exists(self) -> bool:
        return self._path is None or self._path.exists()

    def _describe(self) -> dict[str, Any]:
        return {"path": None if self._path is None else str(self._path)}


def _output_path(dataset: Any) -> Path | None:
    """Where a dataset writes, from its description (``filepath`` or ``path``), if anywhere."""
    try:
        described = dataset._describe()
    except Exception:  # a dataset that cannot describe itself writes nowhere we can check
        return None
    value = described.get("filepath") or described.get("path")
    return Path(str(value)) if value else None


def _overlaps(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def check_sources_not_written(pipeline: Any, catalog: Any) -> None:
    """Refuse a run in which a node output would be written at, inside or around a source path
    (e.g. ``--params provision_source=data/01_raw/scenes/annotations``, the world's own output:
    the world would replace what the user pointed at). Raises ``ValueError`` naming both."""
    sources = {}
    for name in sorted(pipeline.inputs()):
        dataset = catalog.get(name)
        if isinstance(dataset, ReadOnlyDataset) and dataset.path is not None:
            sources[name] = dataset.path
    if not sources:
        return
    # Outputs, and inputs that are written into (a resumable work directory, ``create: true``).
    written = sorted(pipeline.all_outputs()) + sorted(
        name for name in pipeline.inputs()
        if getattr(catalog.get(name), "writes_on_load", False))
    for output in written:
        target = _output_path(catalog.get(output, fallback_to_runtime_pattern=True))
        if target is None:
            continue
        for name, path in sources.items():
            if _overlaps(target, path):
                raise ValueError(
                    f"{name} is {str(path)!r}, but this run writes {output} at "
                    f"{str(target)!r}: a source is never written; copy your data elsewhere "
                    "or point the source outside the project's outputs"
                )


class SourceGuardHook:
    """Before any node runs, :func:`check_sources_not_written` on the run's pipeline."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any,
                            catalog: Any) -> None:
        check_sources_not_written(pipeline, catalog)

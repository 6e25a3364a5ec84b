"""Multi-file outputs committed as one unit, with a completion marker loaders check.

A world is images + annotations + metadata written by one node as three catalog outputs.
Written one by one into place, a ``kill -9`` between (or during) them leaves new images beside
old annotations, and ``kedro run --only-missing-outputs`` accepts the mix. Here each part is a
:class:`UnitMemberDataset`: its save goes into a staging directory beside the unit
(``.<unit>.<pid>.<random>.staging.tmp``); when the last member of the unit is saved, a marker
``_COMPLETE.json`` (the member list) is written into the staging directory, and the staging
directory is swapped in for the unit as a whole (:func:`datarecipes.io.atomic.replace_path`).

So the unit on disk is always the previous complete one, the new complete one, or absent.
A member loads only when the unit's marker lists it; otherwise the load is refused with a
message naming the unit and the command that rebuilds it, and ``exists()`` is false, so
``--only-missing-outputs`` reruns the node.

Catalog entry (YAML anchors keep the unit's definition in one place)::

    _world: &world
      type: datarecipes.io.unit.UnitMemberDataset
      unit: data/01_raw/scenes
      members: [images, annotations, metadata.parquet]
      rebuild: kedro run --pipelines=scenes

    scene_metadata:
      <<: *world
      member: metadata.parquet
      dataset: {type: datarecipes.io.atomic_datasets.ParquetDataset}
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import parse_dataset_definition

from datarecipes.io.atomic import (
    TMP_SUFFIX,
    fsync_tree,
    remove_stale_temporaries,
    replace_path,
)

#: Name of the completion marker inside a unit directory.
MARKER = "_COMPLETE.json"

_LOCK = threading.Lock()
#: unit directory -> (staging directory, members saved so far), for this process.
_STAGING: dict[Path, tuple[Path, set[str]]] = {}


def unit_complete(unit: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The unit's completion marker, or ``None`` when the unit is absent or incomplete."""
    marker = Path(unit) / MARKER
    try:
        return json.loads(marker.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


class UnitMemberDataset(AbstractDataset[Any, Any]):
    """One part (``member``, a path relative to ``unit``) of a unit written as a whole.

    ``dataset`` is the part's own dataset definition without its path; ``path`` or
    ``filepath`` (whichever the type takes) is set to ``<unit>/<member>``.
    """

    def __init__(
        self,
        unit: str,
        member: str,
        members: list[str],
        dataset: dict[str, Any] | str,
        rebuild: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if member not in members:
            raise DatasetError(f"unit {unit!r}: member {member!r} is not in members {members}")
        self._unit = Path(unit)
        self._member = member
        self._members = sorted(set(members))
        config = {"type": dataset} if isinstance(dataset, str) else dict(dataset)
        self._dataset_type, self._dataset_config = parse_dataset_definition(config)
        params = inspect.signature(self._dataset_type.__init__).parameters
        self._path_arg = "filepath" if "filepath" in params else "path"
        self._rebuild = rebuild
        self.metadata = metadata
        self._final = self._inner(self._unit / member)

    def _inner(self, path: Path) -> AbstractDataset:
        return self._dataset_type(**{**self._dataset_config, self._path_arg: str(path)})

    def _how_to_rebuild(self) -> str:
        return f"; rebuild it with `{self._rebuild}`" if self._rebuild else ""

    # -- load ------------------------------------------------------------------------------
    def _check_complete(self) -> None:
        marker = unit_complete(self._unit)
        if marker is None:
            state = ("does not exist" if not self._unit.exists() else
                     f"is incomplete (no {MARKER}: an interrupted or older write)")
            raise DatasetError(f"{self._unit} {state}{self._how_to_rebuild()}")
        if self._member not in marker.get("members", []):
            raise DatasetError(
                f"{self._unit}: its {MARKER} does not list {self._member!r} (written by another "
                f"version of the catalog){self._how_to_rebuild()}"
            )

    def load(self) -> Any:
        self._check_complete()
        return self._final.load()

    def _exists(self) -> bool:
        marker = unit_complete(self._unit)
        return marker is not None and self._member in marker.get("members", [])

    # -- save ------------------------------------------------------------------------------
    def save(self, data: Any) -> None:
        with _LOCK:
            staging, saved = _STAGING.get(self._unit, (None, set()))
            if staging is None or not staging.is_dir():
                staging = _new_staging(self._unit)
                saved = set()
                _STAGING[self._unit] = (staging, saved)
        target = staging / self._member
        target.parent.mkdir(parents=True, exist_ok=True)
        self._inner(target).save(data)
        with _LOCK:
            saved.add(self._member)
            if not set(self._members) <= saved:
                return
            _STAGING.pop(self._unit, None)
        # Only the member list: the same world gives the same bytes (DVC hashes, byte tests).
        marker = {"members": self._members}
        (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        fsync_tree(staging)
        replace_path(staging, self._unit)

    def _describe(self) -> dict[str, Any]:
        return {
            "unit": str(self._unit),
            "member": self._member,
            "members": self._members,
            "dataset": self._dataset_type.__name__,
            "rebuild": self._rebuild,
        }


def _new_staging(unit: Path) -> Path:
    unit.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(unit)
    return Path(
        tempfile.mkdtemp(prefix=f".{unit.name}.{os.getpid()}.", suffix=f".staging{TMP_SUFFIX}",
                         dir=unit.parent)
    )

"""Custom Kedro datasets: scene graphs (ProVision / Visual Genome), encoded files as bytes
(:class:`BytesDataset`, one file; :class:`ImageDirectoryDataset`, a folder of images), directory
handles (:class:`DirectoryDataset`) and the provision recipe's read-only sources
(:class:`SceneGraphSource`, :class:`SceneSplitsSource`).

Saves are atomic (temporary sibling, then rename), so an interrupted run never leaves a
half-written file or annotation directory that a later run would take for finished.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from PIL import Image, UnidentifiedImageError

from datarecipes.annotations import load_provision, load_visual_genome, write_provision
from datarecipes.io.atomic import atomic_write_bytes
from datarecipes.io.atomic_datasets import ParquetDataset
from datarecipes.io.paths import resolve_image_path
from datarecipes.io.sources import ReadOnlyDataset
from datarecipes.scenegraph import LAYER_FILES, SceneGraph

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BytesFormat = Literal["bytes", "image", "png"]


class SceneGraphDataset(AbstractDataset[dict[str, SceneGraph], dict[str, SceneGraph]]):
    """Scene graphs by image id, stored in the ProVision annotation format: the built-in
    world's output (a user's annotations are read through :class:`SceneGraphSource`, which
    never writes).

    Example catalog entry::

        scene_graphs:
          type: datarecipes.io.datasets.SceneGraphDataset
          path: data/01_raw/scenes/annotations
          image_root: data/01_raw/scenes/images

    ``format: visual_genome`` reads a VG ``scene_graphs.json`` file at ``path`` instead
    (read-only). ``allow_pickle: true`` lets ProVision ``.pkl`` masks be unpickled; leave
    it off for files you did not make.
    """

    def __init__(
        self,
        path: str,
        image_root: str | None = None,
        allow_pickle: bool = False,
        format: Literal["provision", "visual_genome"] = "provision",
        layers: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if format not in ("provision", "visual_genome"):
            raise DatasetError(
                f"SceneGraphDataset({path!r}): format must be 'provision' or 'visual_genome', "
                f"got {format!r}"
            )
        if layers is not None and format != "provision":
            raise DatasetError(f"SceneGraphDataset({path!r}): 'layers' is for format provision")
        self._path = Path(path)
        self._image_root = image_root
        self._allow_pickle = allow_pickle
        self._format = format
        self._layers = layers
        self.metadata = metadata

    def _load(self) -> dict[str, SceneGraph]:
        if self._format == "visual_genome":
            return load_visual_genome(self._path, image_root=self._image_root)
        return load_provision(
            self._path,
            image_root=self._image_root,
            allow_pickle=self._allow_pickle,
            layers=self._layers,
        )

    def _save(self, data: dict[str, SceneGraph]) -> None:
        if self._format != "provision":
            raise DatasetError(
                f"SceneGraphDataset({str(self._path)!r}): saving is only supported in the "
                "provision format"
            )
        if not isinstance(data, dict):
            raise DatasetError(
                f"SceneGraphDataset({str(self._path)!r}): expected a dict of image id -> "
                f"SceneGraph, got {type(data).__name__}"
            )
        for key, graph in data.items():
            if not isinstance(graph, SceneGraph) or graph.image_id != key:
                raise DatasetError(
                    f"SceneGraphDataset({str(self._path)!r}): entry {key!r} is not a "
                    "SceneGraph with that image id"
                )
        write_provision(data.values(), self._path)

    def _exists(self) -> bool:
        if self._format == "visual_genome":
            return self._path.is_file()
        return (self._path / LAYER_FILES["objects"]).is_file()

    def _describe(self) -> dict[str, Any]:
        return {
            "path": str(self._path),
            "image_root": self._image_root,
            "allow_pickle": self._allow_pickle,
            "format": self._format,
            "layers": self._layers,
        }


class BytesDataset(AbstractDataset[bytes, bytes]):
    """One file as its bytes, saved as given (no re-encoding, so saves are byte-exact) and
    atomically (temporary sibling, then rename).

    ``format`` says what the bytes must be, checked before anything is written:

    * ``bytes`` (default): anything;
    * ``image``: an encoded image Pillow reads (``verify``: header and structure, not a full
      decode);
    * ``png``: PNG, by its signature, checked on load too (the worlds' images: a partition
      that is not PNG is refused by name).

    The partition type of the worlds' image folders::

        scene_images:
          type: datarecipes.io.atomic_datasets.PartitionedDataset
          dataset: {type: datarecipes.io.datasets.BytesDataset, format: png}
          filename_suffix: .png
    """

    def __init__(self, filepath: str, format: BytesFormat = "bytes",
                 metadata: dict[str, Any] | None = None) -> None:
        if format not in ("bytes", "image", "png"):
            raise DatasetError(f"BytesDataset({filepath!r}): format must be bytes, image or "
                               f"png, got {format!r}")
        self._filepath = Path(filepath)
        self._format = format
        self.metadata = metadata

    def _load(self) -> bytes:
        data = self._filepath.read_bytes()
        if self._format == "png" and not data.startswith(_PNG_SIGNATURE):
            raise DatasetError(f"{self._filepath}: not a PNG file")
        return data

    def _save(self, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DatasetError(f"{self._filepath}: expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if self._format == "png" and not data.startswith(_PNG_SIGNATURE):
            raise DatasetError(f"{self._filepath}: refusing to save data that is not PNG bytes")
        if self._format == "image":
            try:
                with Image.open(io.BytesIO(data)) as img:
                    img.verify()
            except (OSError, UnidentifiedImageError, SyntaxError) as err:
                raise DatasetError(
                    f"{self._filepath}: refusing bytes that are no image ({err})"
                ) from err
        atomic_write_bytes(self._filepath, data)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": os.fspath(self._filepath), "format": self._format}


class DirectoryDataset(AbstractDataset[None, str]):
    """A directory, loaded as its path (created first with ``create: true``).

    For libraries that read or write a directory themselves (resumable partitions, images
    addressed by relative paths)::

        thinklite_mcts_work_dir:
          type: datarecipes.io.datasets.DirectoryDataset
          path: data/07_model_output/thinklite/mcts
          create: true
    """

    def __init__(self, path: str, create: bool = False,
                 metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self._create = create
        self.metadata = metadata

    @property
    def writes_on_load(self) -> bool:
        """A work directory (``create: true``) that nodes write into: the source guard checks
        it like an output (:func:`datarecipes.io.sources.check_sources_not_written`)."""
        return self._create

    def load(self) -> str:
        if self._create:
            self._path.mkdir(parents=True, exist_ok=True)
        elif not self._path.is_dir():
            raise DatasetError(f"directory {str(self._path)!r} does not exist")
        return str(self._path)

    def save(self, data: None) -> None:
        raise DatasetError(f"DirectoryDataset({str(self._path)!r}) is read-only: nodes write "
                           "into the directory it loads as")

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "create": self._create}


SceneFormat = Literal["auto", "provision", "visual_genome"]
_VG_FILE = "scene_graphs.json"


def detect_scene_format(path: Path) -> tuple[Literal["provision", "visual_genome"], Path]:
    """(format, the directory or file to read) of a user's scene graphs at ``path``.

    A directory holding ProVision's object layer is ProVision; a directory holding
    ``scene_graphs.json`` is Visual Genome; a file named like a ProVision layer means its
    directory; any other ``.json`` file is a Visual Genome scene-graph file.
    """
    if path.is_dir():
        if (path / LAYER_FILES["objects"]).is_file():
            return "provision", path
        if (path / _VG_FILE).is_file():
            return "visual_genome", path / _VG_FILE
        raise DatasetError(
            f"provision source {str(path)!r}: a directory, but neither ProVision annotations "
            f"({LAYER_FILES['objects']}) nor a Visual Genome {_VG_FILE} is in it"
        )
    if path.name in LAYER_FILES.values():
        return "provision", path.parent
    if path.suffix.lower() == ".json":
        return "visual_genome", path
    raise DatasetError(
        f"provision source {str(path)!r}: not a ProVision annotation directory or a Visual "
        "Genome .json file; name the format with provision_source_format"
    )


class SceneGraphSource(ReadOnlyDataset[dict[str, SceneGraph] | None]):
    """A user's scene graphs (read-only): ProVision annotation files or Visual Genome
    scene graphs, the format detected (``auto``) or named. Loads as ``{image_id: SceneGraph}``,
    or ``None`` when no path is given (the recipe then uses the built-in world)::

        provision_source:
          type: datarecipes.io.datasets.SceneGraphSource
          path: ${runtime_params:provision_source, null}
          format: ${runtime_params:provision_source_format, auto}
          image_root: ${runtime_params:provision_image_root, null}

    Images are resolved against ``image_root`` (default: the annotation directory, or the
    directory of the VG file), by the longest trailing part of each image's recorded path
    that exists there (:func:`datarecipes.io.paths.resolve_image_path`).
    """

    def __init__(
        self,
        path: str | None,
        format: SceneFormat = "auto",
        image_root: str | None = None,
        allow_pickle: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(path, metadata)
        if format not in ("auto", "provision", "visual_genome"):
            raise DatasetError(
                f"SceneGraphSource({path!r}): format must be auto, provision or visual_genome, "
                f"got {format!r}"
            )
        self._format = format
        self._image_root = image_root or None
        self._allow_pickle = bool(allow_pickle)

    def resolved(self) -> tuple[str, Path, str]:
        """(format, what is read, image root) for this source's path."""
        path = self._require_path()
        if self._format == "auto":
            fmt, target = detect_scene_format(path)
        elif self._format == "provision":
            fmt, target = "provision", path if path.is_dir() else path.parent
        else:
            fmt, target = "visual_genome", path / _VG_FILE if path.is_dir() else path
        root = self._image_root or str(target if target.is_dir() else target.parent)
        return fmt, target, root

    def _load(self) -> dict[str, SceneGraph] | None:
        if self._path is None:
            return None
        fmt, target, root = self.resolved()
        if not Path(root).is_dir():
            raise DatasetError(f"provision source: image root {root!r} is not a directory")
        if fmt == "visual_genome":
            graphs = load_visual_genome(target, image_root=root)
        else:
            graphs = load_provision(target, image_root=root, allow_pickle=self._allow_pickle)
        if not graphs:
            raise DatasetError(f"provision source {str(target)!r} holds no image")
        for graph in graphs.values():
            graph.extra.setdefault("source_format", fmt)
        return graphs

    def _exists(self) -> bool:
        return self._path is None or self._path.exists()

    def _describe(self) -> dict[str, Any]:
        return {"path": None if self._path is None else str(self._path),
                "format": self._format, "image_root": self._image_root,
                "allow_pickle": self._allow_pickle}


class SceneSplitsSource(ReadOnlyDataset[pd.DataFrame | None]):
    """An optional file assigning splits to a user's images: columns ``image_id`` and
    ``split``, as CSV, parquet, JSON (a list of records, or ``{image_id: split}``) or JSON
    lines. Loads as a two-column DataFrame, or ``None`` without a path (every image ``train``).
    """

    def _load(self) -> pd.DataFrame | None:
        if self._path is None:
            return None
        path = self._require_path()
        suffix = path.suffix.lower()
        try:
            if suffix == ".parquet":
                frame = pd.read_parquet(path)
            elif suffix in (".jsonl", ".ndjson"):
                frame = pd.read_json(path, lines=True, dtype=False)
            elif suffix == ".json":
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    data = [{"image_id": k, "split": v} for k, v in data.items()]
                frame = pd.DataFrame(data)
            else:
                frame = pd.read_csv(path, dtype=str, skipinitialspace=True)
        except (ValueError, OSError) as err:
            raise DatasetError(f"splits file {str(path)!r}: unreadable ({err})") from None
        frame.columns = [str(c).strip() for c in frame.columns]
        missing = {"image_id", "split"} - set(frame.columns)
        if missing:
            raise DatasetError(
                f"splits file {str(path)!r}: needs columns image_id and split; missing "
                f"{sorted(missing)} (columns are {list(frame.columns)[:10]})"
            )
        frame = frame[["image_id", "split"]].astype(str)
        frame["image_id"] = frame["image_id"].str.strip()
        frame["split"] = frame["split"].str.strip()
        dup = frame["image_id"][frame["image_id"].duplicated()]
        if len(dup):
            raise DatasetError(f"splits file {str(path)!r}: image {dup.iloc[0]!r} appears twice")
        return frame.reset_index(drop=True)

    def _exists(self) -> bool:
        return self._path is None or self._path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": None if self._path is None else str(self._path)}


class ImageTableDataset(ParquetDataset):
    """A parquet table (atomic save) whose ``image_column`` holds image paths relative to the
    table's folder (or ``image_root``); it loads with every path resolved
    (:func:`datarecipes.io.paths.resolve_image_path`) and saves the paths as given, so the
    folder can move without rewriting the table.

    The filtering world's metadata: nodes receive paths they can open, and no node or
    parameter knows where the world lies::

        filtering_world.scene_metadata:
          type: datarecipes.io.unit.UnitMemberDataset
          unit: data/01_raw/filtering_world
          member: metadata.parquet
          dataset: {type: datarecipes.io.datasets.ImageTableDataset, image_column: image_path}
    """

    def __init__(self, filepath: str, image_column: str = "image_path",
                 image_root: str | None = None, **kwargs: Any) -> None:
        super().__init__(filepath=filepath, **kwargs)
        self._image_column = image_column
        self._image_root = Path(image_root) if image_root else Path(filepath).parent

    def load(self) -> pd.DataFrame:
        table = super().load()
        if self._image_column not in table.columns and len(table) == 0:
            return table  # an empty table (no world built: a user's pairs) names no image
        if self._image_column not in table.columns:
            raise DatasetError(f"{self._filepath}: no image column {self._image_column!r} "
                               f"(columns: {list(table.columns)})")
        table[self._image_column] = [
            resolve_image_path(path, self._image_root) if isinstance(path, str) and path
            else path
            for path in table[self._image_column]
        ]
        return table

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "image_column": self._image_column,
                "image_root": str(self._image_root)}


class ImageDirectoryDataset(AbstractDataset[dict[str, bytes], dict[str, Path]]):
    """A directory of encoded images written from ``{file name: bytes}`` (each file atomic,
    checked to decode; files already there are kept, so digest-named images accumulate).

    Exists once the directory does, even empty: a run whose source has no image bytes (the
    built-in world, LLaVA JSON) has nothing to write, and ``--only-missing-outputs`` must not
    take that for a missing output. Loads as ``{file name: path}``.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def _load(self) -> dict[str, Path]:
        if not self._path.is_dir():
            raise DatasetError(f"image directory {str(self._path)!r} does not exist")
        return {p.name: p for p in sorted(self._path.iterdir())
                if p.is_file() and not p.name.startswith(".")}

    def _save(self, data: dict[str, bytes]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(f"{self._path}: expected {{file name: image bytes}}, got "
                               f"{type(data).__name__}")
        self._path.mkdir(parents=True, exist_ok=True)
        for name, payload in data.items():
            if Path(name).name != name or name.startswith("."):
                raise DatasetError(f"{self._path}: {name!r} is not a plain file name")
            target = self._path / name
            if not target.is_file():
                BytesDataset(str(target), format="image").save(payload)

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": os.fspath(self._path)}

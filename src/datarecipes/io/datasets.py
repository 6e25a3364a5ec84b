"""Custom Kedro datasets: scene graphs (ProVision / Visual Genome) and PNG image bytes.

Saves are atomic (temporary sibling, then rename), so an interrupted run never leaves a
half-written file or annotation directory that a later run would take for finished.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from kedro.io import AbstractDataset, DatasetError

from datarecipes.annotations import load_provision, load_visual_genome, write_provision
from datarecipes.io.atomic import atomic_write_bytes
from datarecipes.scenegraph import LAYER_FILES, SceneGraph

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class SceneGraphDataset(AbstractDataset[dict[str, SceneGraph], dict[str, SceneGraph]]):
    """Scene graphs by image id, stored in the ProVision annotation format.

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


class PNGBytesDataset(AbstractDataset[bytes, bytes]):
    """One PNG image as its encoded bytes (no decoding, so saves are byte-exact).

    Used as the partition type of a ``partitions.PartitionedDataset`` of images.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _load(self) -> bytes:
        data = self._filepath.read_bytes()
        if not data.startswith(_PNG_SIGNATURE):
            raise DatasetError(f"{self._filepath}: not a PNG file")
        return data

    def _save(self, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray)) or not bytes(data).startswith(_PNG_SIGNATURE):
            raise DatasetError(f"{self._filepath}: refusing to save data that is not PNG bytes")
        atomic_write_bytes(self._filepath, bytes(data))

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": os.fspath(self._filepath)}

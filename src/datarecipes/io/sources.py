"""Read-only source datasets: a user's data is loaded, never saved over.

A recipe pointed at a researcher's files must not be able to write them back: a source's
``save`` raises, naming the path, whatever a node or a catalog override tries.
"""

from __future__ import annotations

from typing import Any, TypeVar

from kedro.io import AbstractDataset, DatasetError

T = TypeVar("T")


class ReadOnlyDataset(AbstractDataset[Any, T]):
    """Base of a source dataset: subclasses implement ``_load``/``_describe`` and set
    ``self._source_path``; ``save`` is refused."""

    _source_path: str = "?"

    def _save(self, data: Any) -> None:
        raise DatasetError(
            f"{self._source_path}: is a source (read-only); a run never writes into it. "
            "Point the output at a data/ path of the project instead."
        )

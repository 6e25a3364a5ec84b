"""The local executor: this process runs the model, DataLoader workers run ``preprocess``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd

from datarecipes.executors.base import BatchFn, RowFn, collate_columns, output_frame


class _RowDataset:
    """Map-style dataset over a DataFrame's rows, applying ``preprocess`` in the worker."""

    def __init__(self, rows: pd.DataFrame, preprocess: RowFn | None) -> None:
        self._records = rows.to_dict("records")
        self._preprocess = preprocess

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self._records[index]
        return self._preprocess(row) if self._preprocess is not None else row


class LocalExecutor:
    """This process runs the model; ``num_workers`` DataLoader processes run ``preprocess``."""

    def __init__(self, num_workers: int = 0, prefetch_batches: int = 2) -> None:
        self.num_workers = num_workers
        self.prefetch_batches = prefetch_batches

    def map_batches(
        self,
        fn_factory: Callable[[], BatchFn],
        rows: pd.DataFrame,
        *,
        batch_size: int,
        preprocess: RowFn | None = None,
        desc: str = "",
    ) -> pd.DataFrame:
        parts = [part for _, part in self.iter_batches(
            fn_factory, rows, batch_size=batch_size, preprocess=preprocess, desc=desc)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def iter_batches(
        self,
        fn_factory: Callable[[], BatchFn],
        rows: pd.DataFrame,
        *,
        batch_size: int,
        preprocess: RowFn | None = None,
        desc: str = "",
    ) -> Iterator[tuple[int, pd.DataFrame]]:
        from torch.utils.data import DataLoader
        from tqdm.auto import tqdm

        if len(rows) == 0:
            return
        loader = DataLoader(
            _RowDataset(rows, preprocess),  # type: ignore[arg-type]
            batch_size=batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=collate_columns,
            prefetch_factor=self.prefetch_batches if self.num_workers else None,
        )
        fn = fn_factory()
        done = 0
        for batch in tqdm(loader, desc=desc or "map_batches", unit="batch", leave=False):
            n = len(next(iter(batch.values())))
            where = f"{desc or 'map_batches'} (rows {done}..{done + n - 1})"
            part = output_frame(fn(batch), n, where)
            yield done, part
            done += n

"""Under ``accelerate launch`` only the main process persists node outputs.

Every rank runs the Kedro session (the training node needs all of them); without this each
GPU would write every output. Ranks other than 0 still save to ``MemoryDataset``s so their
next node can read what the previous one produced.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from kedro.io import DataCatalog, MemoryDataset

logger = logging.getLogger(__name__)


class RankZeroCatalog(DataCatalog):
    """A :class:`~kedro.io.DataCatalog` whose persisted saves happen on rank 0 only."""

    def save(self, ds_name: str, data: Any) -> None:
        rank = int(os.environ.get("RANK", "0"))
        if rank != 0 and not isinstance(self.get(ds_name), MemoryDataset):
            logger.debug("rank %d: not saving %s (rank 0 writes it)", rank, ds_name)
            return
        super().save(ds_name, data)

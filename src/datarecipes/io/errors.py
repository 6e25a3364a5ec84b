"""The error a reader raises for input it cannot read, without importing Kedro.

The readers (:mod:`datarecipes.filtering.sources`, :mod:`datarecipes.thinklite.sources`) are
library code usable without Kedro; they raise :class:`SourceError` naming the file, row or
column. The catalog datasets in ``io/`` that call them re-raise it as Kedro's
``DatasetError`` with the same message, so a run reports exactly what the reader said.
"""

from __future__ import annotations


class SourceError(ValueError):
    """A user's input cannot be read as its format; the message names the file (row, column)."""

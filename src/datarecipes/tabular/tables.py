"""Real classification tables from CSV: decoding, cleaning, label codes, the 80/20 split.

What a user's CSV may contain and what we do with it (each case is tested):

* encoding: UTF-8 (a BOM is fine); otherwise, with ``encoding_fallback`` (default), Latin-1
  (every byte sequence decodes) with a warning naming the file; without it, refused.
* an empty file, or a header without rows: refused.
* the class column: ``label_column`` by name (after stripping whitespace from header names),
  or the last column when ``None`` (the default; the shared tables' ``label`` is last); a name
  that is not a column is refused, listing the columns found. A file with a single column
  has no feature: refused.
* rows with a missing label: dropped (noted, with their count and first row numbers).
* a non-numeric label: mapped to codes 0..k-1 in sorted order of the label strings; numeric
  labels are sorted numerically. ``Table.classes[i]`` is the original value of code ``i``.
* one class: refused. More than 10 classes: kept by default (the prompt lists the label set,
  labels print as 2-digit codes) or refused when ``max_classes`` is set.
* text columns (non-ASCII too): ordinal codes 0..m-1 in sorted (Unicode code point) order of
  the stripped strings; a missing entry is its own category, code m. Columns whose every
  non-missing entry parses as a number are numeric.
* numeric missing values stay NaN here; serialisation puts the shots' mean there (code 500),
  the baselines impute the training mean.
* constant columns (one value, missing included): dropped (noted); none left: refused.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

log = logging.getLogger(__name__)


class TableError(ValueError):
    """A CSV cannot be used as a classification table; the message names the file."""


@dataclasses.dataclass
class Table:
    """A cleaned classification table: float features (NaN = missing) and label codes."""

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    classes: list[str]
    categorical: dict[str, list[str]]
    notes: list[str]
    #: The class column read, the data rows in the file, and the data rows (1-based, as below
    #: the header) dropped for a missing class: every row of the file is accounted for.
    target_column: str = "label"
    rows_read: int = 0
    dropped_rows: list[int] = dataclasses.field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def _decode(data: bytes, name: str, encoding_fallback: bool, notes: list[str]) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        if not encoding_fallback:
            raise TableError(
                f"{name}: not UTF-8 (byte {err.start}: {data[err.start:err.start + 1]!r}); "
                "re-save it as UTF-8 or enable encoding_fallback (Latin-1)"
            ) from None
        note = f"{name}: not UTF-8 (byte {err.start}); read as Latin-1"
        log.warning(note)
        notes.append(note)
        return data.decode("latin-1")


def _label_codes(labels: pd.Series) -> tuple[np.ndarray, list[str]]:
    values = labels.to_numpy()
    numeric = pd.to_numeric(labels, errors="coerce")
    if numeric.notna().all():
        uniques = np.unique(numeric.to_numpy(dtype=np.float64))
        codes = np.searchsorted(uniques, numeric.to_numpy(dtype=np.float64))
        classes = [str(int(u)) if float(u).is_integer() else str(u) for u in uniques]
        return codes.astype(np.int64), classes
    strings = np.array([str(v).strip() for v in values], dtype=object)
    uniques = sorted(set(strings))
    lookup = {u: i for i, u in enumerate(uniques)}
    return np.array([lookup[s] for s in strings], dtype=np.int64), uniques


def _feature_column(col: pd.Series, notes: list[str], where: str):
    """(float values, categories or None) of one feature column."""
    if pd.api.types.is_bool_dtype(col):
        return col.astype(np.float64).to_numpy(), None
    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype=np.float64), None
    text = col.map(lambda v: v.strip() if isinstance(v, str) else v)
    text = text.replace("", np.nan)
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().sum() == text.notna().sum():
        return numeric.to_numpy(dtype=np.float64), None
    present = text.notna().to_numpy()
    categories = sorted({str(v) for v in text[present]})
    lookup = {c: float(i) for i, c in enumerate(categories)}
    codes = np.array([lookup[str(v)] if ok else float(len(categories))
                      for v, ok in zip(text, present)])
    if not present.all():
        categories = categories + ["<missing>"]
    notes.append(f"{where}: text column -> {len(categories)} ordinal codes")
    return codes, categories


def parse_table(
    data: bytes,
    name: str,
    label_column: str | None = None,
    max_classes: int | None = None,
    encoding_fallback: bool = True,
    source: str | None = None,
) -> Table:
    """Clean CSV bytes into a :class:`Table` (rules in the module docstring).

    ``label_column`` names the class column (``None``: the last column). ``name`` names the
    table; errors and notes name ``source`` (the file) when given.
    """
    notes: list[str] = []
    table_name, name = name, source or name
    text = _decode(data, name, encoding_fallback, notes)
    if not text.strip():
        raise TableError(f"{name}: the file is empty")
    try:
        frame = pd.read_csv(io.StringIO(text), skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise TableError(f"{name}: the file is empty") from None
    except pd.errors.ParserError as err:
        raise TableError(f"{name}: not a readable CSV ({err})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if label_column is None:
        label_column = str(frame.columns[-1])
    elif label_column not in frame.columns:
        raise TableError(
            f"{name}: no label column {label_column!r}; columns are {list(frame.columns)[:20]}"
        )
    if len(frame) == 0:
        raise TableError(f"{name}: the file has a header but no rows")
    missing_label = frame[label_column].isna() | (
        frame[label_column].astype(str).str.strip() == ""
    )
    rows_read = len(frame)
    # Data rows numbered from 1 as a spreadsheet shows them below the header.
    rows = [int(i) + 1 for i in np.flatnonzero(missing_label.to_numpy())]
    if missing_label.any():
        shown = ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")
        notes.append(f"{name}: dropped {len(rows)} rows without a label in {label_column!r} "
                     f"(data rows {shown})")
        frame = frame.loc[~missing_label].reset_index(drop=True)
    y, classes = _label_codes(frame[label_column])
    if len(classes) < 2:
        raise TableError(
            f"{name}: column {label_column!r} has a single class ({classes[:1]}); "
            "classification needs at least two"
        )
    if max_classes is not None and len(classes) > max_classes:
        raise TableError(
            f"{name}: column {label_column!r} has {len(classes)} classes, more than "
            f"max_classes={max_classes}"
        )
    if len(classes) > 10:
        notes.append(f"{name}: {len(classes)} classes (labels 0..{len(classes) - 1})")
    columns, names, categorical = [], [], {}
    for column in frame.columns:
        if column == label_column:
            continue
        where = f"{name}: column {column!r}"
        if frame[column].nunique(dropna=False) <= 1:
            notes.append(f"{where}: constant, dropped")
            continue
        values, categories = _feature_column(frame[column], notes, where)
        columns.append(values)
        names.append(column)
        if categories is not None:
            categorical[column] = categories
    if not columns:
        raise TableError(f"{name}: no usable feature column besides {label_column!r}")
    for note in notes:
        log.info(note)
    return Table(name=table_name, X=np.stack(columns, axis=1), y=y, feature_names=names,
                 classes=classes, categorical=categorical, notes=notes,
                 target_column=label_column, rows_read=rows_read, dropped_rows=rows)


def load_table(path: str | Path, **kwargs) -> Table:
    """Read and clean one CSV file (the table is named after the file's stem)."""
    path = Path(path)
    return parse_table(path.read_bytes(), path.stem, source=str(path), **kwargs)


def split_table(
    table: Table, test_fraction: float = 0.2, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices: the reference's 80/20 split with seed 42, stratified when
    every class has at least two rows (otherwise a plain random split, noted)."""
    rows = np.arange(len(table.y))
    counts = np.bincount(table.y)
    stratify = table.y if counts[counts > 0].min() >= 2 else None
    try:
        train, test = train_test_split(rows, test_size=test_fraction, random_state=seed,
                                       stratify=stratify)
    except ValueError:  # too few test rows for all classes
        table.notes.append(f"{table.name}: split not stratified")
        train, test = train_test_split(rows, test_size=test_fraction, random_state=seed)
    return np.sort(train), np.sort(test)

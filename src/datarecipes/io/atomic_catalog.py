"""Point every kedro-datasets file type in catalog files at its atomic subclass.

``python -m datarecipes.io.atomic_catalog conf/*/catalog*.yml`` rewrites the files in place
(``type: pandas.ParquetDataset`` -> ``type: datarecipes.io.atomic_datasets.ParquetDataset``,
nested ``dataset:`` blocks included); ``--check`` lists the entries still using a non-atomic
type and exits 1. Re-run it after adding catalog entries.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

#: kedro-datasets type (short or ``kedro_datasets.``-qualified) -> our atomic subclass.
ATOMIC_TYPES: dict[str, str] = {
    "pandas.ParquetDataset": "ParquetDataset",
    "pandas.CSVDataset": "CSVDataset",
    "pandas.JSONDataset": "PandasJSONDataset",
    "json.JSONDataset": "JSONDataset",
    "matplotlib.MatplotlibDataset": "MatplotlibDataset",
    "partitions.PartitionedDataset": "PartitionedDataset",
}

_PATTERN = re.compile(
    r"(?P<key>\btype:\s*[\"']?)(?:kedro_datasets\.)?(?P<type>"
    + "|".join(re.escape(t) for t in ATOMIC_TYPES) + r")(?=[\"'\s#]|$)",
    re.MULTILINE,
)


def rewrite(text: str) -> str:
    """``text`` with every non-atomic file type replaced by its atomic subclass."""
    return _PATTERN.sub(
        lambda m: f"{m['key']}datarecipes.io.atomic_datasets.{ATOMIC_TYPES[m['type']]}", text)


def non_atomic(text: str) -> list[str]:
    """The non-atomic types still named in ``text``, one per occurrence with its line."""
    return [f"line {text.count(chr(10), 0, m.start()) + 1}: {m['type']}"
            for m in _PATTERN.finditer(text)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="report, do not rewrite")
    args = parser.parse_args(argv)
    stale = 0
    for file in args.files:
        text = file.read_text(encoding="utf-8")
        if args.check:
            for hit in non_atomic(text):
                print(f"{file}: {hit}")
                stale += 1
        elif rewrite(text) != text:
            from datarecipes.io.atomic import atomic_write_text

            atomic_write_text(file, rewrite(text))
            print(f"rewrote {file}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

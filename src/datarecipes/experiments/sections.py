"""What every experiment's parameter section shares: its seeds and bootstrap checked alike,
and the section read from its file before Kedro loads any parameter (a pipeline's nodes, one
namespace per arm × seed, are fixed before the parameters are)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import yaml

from datarecipes.config import from_params, require

T = TypeVar("T")


def check_seeds_and_resamples(seeds: Sequence[int], bootstrap_resamples: int) -> None:
    """Seeds non-empty, distinct and >= 0; at least 100 bootstrap resamples."""
    require(bool(seeds), "seeds must list at least one seed")
    require(len(set(seeds)) == len(seeds), f"seeds repeat a value: {seeds}")
    require(all(s >= 0 for s in seeds), f"seeds must be >= 0, got {seeds}")
    require(bootstrap_resamples >= 100,
            f"bootstrap_resamples must be >= 100, got {bootstrap_resamples}")


def section_from_file(cls: type[T], conf_dir: str | Path, file: str, section: str) -> T:
    """``section`` of ``<conf_dir>/<file>`` built as ``cls`` (its defaults when the file is not
    there, e.g. outside the project directory); errors name the file and the section. The
    start-up hook checks the section again, with every environment merged."""
    path = Path(conf_dir) / file
    raw = {}
    if path.is_file():
        raw = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(section) or {}
    return from_params(cls, raw, where=f"{path}: {section}")

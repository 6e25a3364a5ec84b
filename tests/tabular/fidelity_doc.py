"""Rows of ``docs/fidelity.md`` against the merged ``kedro run -e gpu`` parameters.

A small reader for this branch's sections (``## MachineLearningLM``, ``## ProVision``); the
project-wide check of every section is ``tests/project/test_fidelity_doc.py``.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from kedro.config import OmegaConfigLoader
from omegaconf import DictConfig, OmegaConf

from datarecipes import settings
from tests.helpers import PROJECT_ROOT

COLUMNS = ["setting", "reference (file:function)", "ours", "why", "parameter", "gpu value"]


def section_rows(title: str) -> list[dict[str, str]]:
    """The table rows under ``## <title>``, as {column: cell}."""
    rows: list[dict[str, str]] = []
    inside, header = False, None
    for line in (PROJECT_ROOT / "docs" / "fidelity.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside, header = line[3:].strip() == title, None
            continue
        if not inside or not line.startswith("|"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line[1:-1])]
        if header is None:
            assert cells == COLUMNS, f"## {title}: columns {cells}"
            header = cells
        elif not set("".join(cells)) <= set("-: "):
            assert len(cells) == len(COLUMNS), f"## {title}: row {cells[0]!r}"
            rows.append(dict(zip(COLUMNS, cells)))
    assert rows, f"docs/fidelity.md has no table under ## {title}"
    return rows


def checked(title: str) -> list[tuple[str, str, Any]]:
    """(setting, dotted key, expected value) of every row with a parameter and a gpu value."""
    out = []
    for row in section_rows(title):
        if row["parameter"] == "—" or row["gpu value"] == "—":
            continue
        key = re.fullmatch(r"`([A-Za-z0-9_.\[\]]+)`", row["parameter"])
        value = re.fullmatch(r"`(.+)`", row["gpu value"])
        assert key and value, f"## {title} / {row['setting']}: not backticked"
        out.append((row["setting"], key.group(1), yaml.safe_load(value.group(1))))
    return out


def gpu_parameters() -> dict[str, Any]:
    loader = OmegaConfigLoader(conf_source=str(PROJECT_ROOT / "conf"), env="gpu",
                               **settings.CONFIG_LOADER_ARGS)
    params = loader["parameters"]
    return OmegaConf.to_container(params, resolve=True) if isinstance(params, DictConfig) \
        else params


def lookup(params: Any, dotted: str) -> Any:
    node = params
    for part in dotted.split("."):
        name, indices = re.fullmatch(r"([^\[]*)((?:\[\d+\])*)", part).groups()
        node = node[name] if name else node
        for index in re.findall(r"\d+", indices):
            node = node[int(index)]
    return node

"""docs/fidelity.md is true of conf/gpu: every row with a parameter and a gpu value holds that
value in the ``kedro run -e gpu`` parameters, loaded as Kedro loads them (OmegaConfigLoader,
``base`` + ``gpu``, the project's soft merge); and every section of those parameters validates.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from kedro.config import OmegaConfigLoader
from omegaconf import DictConfig, ListConfig, OmegaConf

from datarecipes import settings
from datarecipes.config import PARAMETER_SECTIONS, ParameterError, from_params
from tests.helpers import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "fidelity.md"
COLUMNS = ["setting", "reference (file:function)", "ours", "why", "parameter", "gpu value"]
#: Sections this document must have (helpers add theirs in the same format).
REQUIRED_SECTIONS = ("ThinkLite-VL / MM-UPT", "Open-Qwen2VL / MLM-Filter")


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row; ``\\|`` is a pipe inside a cell."""
    inner = line.strip()[1:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def parse_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """``{section title: [row as {column: cell}]}`` for every table under a ``## `` title."""
    tables: dict[str, list[dict[str, str]]] = {}
    section = None
    header: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            section, header = line[3:].strip(), None
            continue
        if section is None or not line.strip().startswith("|"):
            header = None if not line.strip() else header
            continue
        cells = _cells(line)
        if header is None:
            header = cells
            assert header == COLUMNS, f"## {section}: table columns {header} != {COLUMNS}"
            tables.setdefault(section, [])
        elif set("".join(cells)) <= set("-: "):
            continue  # the separator row
        else:
            assert len(cells) == len(header), (
                f"## {section}: row {cells[0]!r} has {len(cells)} cells")
            tables[section].append(dict(zip(header, cells, strict=True)))
    return tables


def doc_rows() -> list[tuple[str, str, str, Any]]:
    """``(section, setting, dotted parameter, expected value)`` of every checked row."""
    rows = []
    for section, table in parse_tables(DOC.read_text(encoding="utf-8")).items():
        for row in table:
            param, value = row["parameter"], row["gpu value"]
            if param == "—" or value == "—":
                continue
            match_param = re.fullmatch(r"`([A-Za-z0-9_.\[\]]+)`", param)
            match_value = re.fullmatch(r"`(.+)`", value)
            where = f"## {section} / {row['setting']}"
            assert match_param, f"{where}: parameter {param!r} is not a backticked key"
            assert match_value, f"{where}: gpu value {value!r} is not backticked"
            rows.append((section, row["setting"], match_param.group(1),
                         yaml.safe_load(match_value.group(1))))
    return rows


def load_parameters(env: str) -> dict[str, Any]:
    """The run's parameters as Kedro builds them (settings.py's loader and merge strategy)."""
    loader = OmegaConfigLoader(conf_source=str(PROJECT_ROOT / "conf"), env=env,
                               **settings.CONFIG_LOADER_ARGS)
    params = loader["parameters"]
    if isinstance(params, (DictConfig, ListConfig)):
        params = OmegaConf.to_container(params, resolve=True)
    return params


def lookup(params: Any, dotted: str) -> Any:
    """``params`` at ``a.b[0].c`` through nested mappings and lists; KeyError names the part."""
    node = params
    for part in dotted.split("."):
        name, indices = re.fullmatch(r"([^\[]*)((?:\[\d+\])*)", part).groups()
        if name:
            if not isinstance(node, dict) or name not in node:
                raise KeyError(f"{dotted}: no {name!r}")
            node = node[name]
        for index in re.findall(r"\d+", indices):
            node = node[int(index)]
    return node


@pytest.fixture(scope="module")
def gpu_params() -> dict[str, Any]:
    return load_parameters("gpu")


def test_doc_has_the_sections_and_columns():
    tables = parse_tables(DOC.read_text(encoding="utf-8"))
    for section in REQUIRED_SECTIONS:
        assert tables.get(section), f"docs/fidelity.md lacks a table under ## {section}"
    assert len(doc_rows()) >= 40


@pytest.mark.parametrize(("section", "setting", "key", "expected"), doc_rows(),
                         ids=lambda v: v if isinstance(v, str) and "." in v else None)
def test_gpu_parameters_equal_the_doc(gpu_params, section, setting, key, expected):
    try:
        got = lookup(gpu_params, key)
    except KeyError as err:
        pytest.fail(f"## {section} / {setting}: {err} in the -e gpu parameters")
    if isinstance(expected, float) or isinstance(got, float):
        assert isinstance(got, (int, float)) and not isinstance(got, bool)
        assert got == pytest.approx(expected, rel=1e-12), f"## {section} / {setting}: {key}"
    else:
        assert got == expected, (
            f"## {section} / {setting}: {key} is {got!r}, the doc says {expected!r}")


def test_lookup_walks_mappings_and_lists():
    params = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert lookup(params, "a.b[1].c") == 2
    with pytest.raises(KeyError, match="no 'x'"):
        lookup(params, "a.x")


def _sections(params: dict[str, Any]) -> list[str]:
    return sorted(name for name in PARAMETER_SECTIONS if name in params)


def test_every_gpu_section_validates(gpu_params, vllm_importable):
    failures = {}
    for name in _sections(gpu_params):
        try:
            from_params(PARAMETER_SECTIONS[name], gpu_params[name], where=f"parameters: {name}")
        except ParameterError as err:
            failures[name] = str(err)
    assert not failures, failures


def test_missing_vllm_stops_validation_naming_generation_engine(gpu_params):
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vllm is installed here")
    from datarecipes.engines import GenerationParams

    with pytest.raises(ParameterError, match="generation.engine is 'vllm'.*not installed"):
        from_params(GenerationParams, gpu_params["generation"], where="parameters: generation")

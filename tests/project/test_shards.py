"""The executor package: one resumable shard writer, objects through the executor, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datarecipes.executors import (
    LocalExecutor,
    carried_column,
    json_lines_format,
    resume_shards,
    uncarried,
)

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "datarecipes" / "executors"
FORMAT = json_lines_format(lambda i: f"part-{i:05d}.jsonl", "id")
IDS = [f"r{i}" for i in range(7)]


def _records(ids):
    return [{"id": i, "value": len(i)} for i in ids]


def _compute(log):
    def compute(todo):
        for shard in todo:
            log.append(shard)
            yield shard, _records(IDS[shard * 3 : (shard + 1) * 3])
    return compute


def test_finished_shards_are_read_back_and_only_the_rest_computed(tmp_path):
    log: list[int] = []
    parts, stats = resume_shards(IDS, _compute(log), FORMAT, shard_size=3, directory=tmp_path,
                                 name="t")
    assert (stats.shards, stats.computed, stats.reused, log) == (3, 3, 0, [0, 1, 2])
    assert [r["id"] for p in parts for r in p] == IDS
    (tmp_path / "part-00001.jsonl").unlink()
    log.clear()
    again, stats = resume_shards(IDS, _compute(log), FORMAT, shard_size=3, directory=tmp_path,
                                 name="t")
    assert (stats.computed, stats.reused, log) == (1, 2, [1]) and again == parts


def test_a_shard_holding_other_ids_is_refused_or_recomputed(tmp_path):
    resume_shards(IDS, _compute([]), FORMAT, shard_size=3, directory=tmp_path, name="t")
    other = ["x", *IDS[1:]]

    def refuse(path, found, expected):
        raise ValueError(f"{path.name}: {found[0]} is not {expected[0]}")

    with pytest.raises(ValueError, match="part-00000.jsonl: r0 is not x"):
        resume_shards(other, _compute([]), FORMAT, shard_size=3, directory=tmp_path, name="t",
                      on_mismatch=refuse)

    def compute(todo):
        yield from ((s, _records(other[s * 3 : (s + 1) * 3])) for s in todo)

    parts, stats = resume_shards(other, compute, FORMAT, shard_size=3, directory=tmp_path,
                                 name="t")
    assert (stats.computed, stats.reused) == (1, 2) and parts[0][0]["id"] == "x"


def test_results_that_do_not_match_their_shard_are_an_error_and_nothing_is_lost(tmp_path):
    def shifted(todo):
        yield 0, _records(IDS[0:3])
        yield 1, _records(IDS[4:7])  # an executor that split a batch

    with pytest.raises(RuntimeError, match=r"t shard 1: got results for \['r4'"):
        resume_shards(IDS, shifted, FORMAT, shard_size=3, directory=tmp_path, name="t")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-00000.jsonl"]

    with pytest.raises(RuntimeError, match=r"no result came back for shards \[1, 2\]"):
        resume_shards(IDS, lambda todo: iter(()), FORMAT, shard_size=3, directory=tmp_path,
                      name="t")


@pytest.mark.parametrize("num_workers", [0, 2])
def test_carried_rows_reach_the_batch_function_as_given(num_workers):
    rows = [{"id": "a", "options": ["x", "y"], "image": None},
            {"id": "b", "options": [], "extra": {"k": 1.5}}]
    frame = pd.DataFrame({"id": ["a", "b"], "row": carried_column(rows)})

    def factory():
        return lambda batch: {"same": np.asarray([r == rows[i] for i, r in
                                                  enumerate(uncarried(batch["row"]))])}

    out = LocalExecutor(num_workers=num_workers).map_batches(factory, frame, batch_size=2)
    assert out["same"].tolist() == [True, True]


def _imports(module: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    # A module importing the package itself would import every module: call that "__init__".
    package = "datarecipes.executors"
    return {"__init__" if n == package else n.rsplit(".", 1)[-1]
            for n in names if n == package or n.startswith(package + ".")}


def test_the_executor_modules_import_downwards_only():
    graph = {p.stem: _imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert graph["base"] == set() and graph["params"] == set()

    def reach(start, seen=()):
        for dep in graph[start]:
            assert dep not in (*seen, start), f"import cycle through {start} -> {dep}"
            reach(dep, (*seen, start))

    assert "__init__" not in {d for deps in graph.values() for d in deps}
    for name in graph:
        reach(name)

"""The scm recipe's input contract: a read-only folder of CSVs, the target column by name or
the last column, every row of every file accounted for."""

from __future__ import annotations

import re

import pytest
from kedro.io import DatasetError

from datarecipes.io.tabular import CSVTablesSource
from datarecipes.pipelines.scm.nodes import load_real_tables, real_tables_report
from datarecipes.tabular.evaluate import RefusedTable
from datarecipes.tabular.params import ScmParams


def folder(tmp_path):
    root = tmp_path / "tables"
    (root / "nested").mkdir(parents=True)
    (root / "wine.csv").write_text("quality,acid,sugar\nhigh,1,2\nlow,2,3\nhigh,3,1\n,4,4\n"
                                   "low,5,2\nhigh,6,6\n")
    (root / "iris.CSV").write_text("petal,sepal,species\n1,2,a\n2,3,b\n3,1,a\n4,4,b\n")
    (root / ".wine.csv.tmp.csv").write_text("half a copy")
    (root / "notes.txt").write_text("not a table")
    (root / "nested" / "other.csv").write_text("a,b\n1,2\n")
    return root


def test_folder_loads_its_csvs_only_and_is_read_only(tmp_path):
    root = folder(tmp_path)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    source = CSVTablesSource(str(root))
    tables = source.load()
    assert sorted(tables) == ["iris", "wine"]
    assert tables["wine"]().startswith(b"quality,")
    with pytest.raises(DatasetError, match=r"tables.*is a source \(read-only\)"):
        source.save({})
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_missing_or_empty_folders_are_refused(tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere.*does not exist"):
        CSVTablesSource(str(tmp_path / "nowhere")).load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"no \*\.csv file in .*empty"):
        CSVTablesSource(str(tmp_path / "empty")).load()
    (tmp_path / "a.csv").write_text("x,label\n1,0\n")
    with pytest.raises(DatasetError, match="is not a folder"):
        CSVTablesSource(str(tmp_path / "a.csv")).load()


def test_target_column_named_or_last_and_rows_accounted_for(tmp_path):
    raw = CSVTablesSource(str(folder(tmp_path))).load()
    by_name = load_real_tables(raw, ScmParams(target_column="quality", tables=["wine"]))
    wine = by_name["wine"]
    assert wine.feature_names == ["acid", "sugar"] and wine.classes == ["high", "low"]
    report = real_tables_report(by_name)
    assert report.to_dict("records") == [{
        "table": "wine", "target_column": "quality", "classes": 2, "features": 2,
        "rows_read": 6, "rows_used": 5, "rows_dropped": 1, "dropped_rows": "4", "refused": ""}]
    last = load_real_tables(raw, ScmParams(tables=["iris"]))  # default: the last column
    assert last["iris"].target_column == "species" and last["iris"].classes == ["a", "b"]
    # A table without the named column is refused with the reason; the others go on.
    species = load_real_tables(raw, ScmParams(target_column="species"))
    assert isinstance(species["wine"], RefusedTable)
    assert re.search(r"wine\.csv: no label column 'species'", species["wine"].reason)
    assert species["iris"].classes == ["a", "b"]
    assert real_tables_report(species).set_index("table").loc["wine", "refused"]
    with pytest.raises(ValueError, match=r"no usable table.*no label column 'nothing'"):
        load_real_tables(raw, ScmParams(target_column="nothing"))

"""The catalog's file datasets save atomically and partitioned datasets skip temporaries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from kedro.io import DatasetError  # noqa: E402

from datarecipes.io import atomic  # noqa: E402
from datarecipes.io.atomic_datasets import (  # noqa: E402
    CSVDataset,
    JSONDataset,
    MatplotlibDataset,
    PandasJSONDataset,
    ParquetDataset,
    PartitionedDataset,
)


def _frame(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame({"a": range(n), "b": [f"x{i}" for i in range(n)]})


@pytest.mark.parametrize(
    ("cls", "name", "data"),
    [
        (ParquetDataset, "t.parquet", _frame()),
        (CSVDataset, "t.csv", _frame()),
        (PandasJSONDataset, "t.jsonl", _frame()),
        (JSONDataset, "t.json", {"k": [1, 2, 3]}),
    ],
)
def test_failed_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path, cls, name, data,
                                                                monkeypatch):
    path = tmp_path / name
    kwargs = {"save_args": {"orient": "records", "lines": True},
              "load_args": {"orient": "records", "lines": True}} if name.endswith("l") else {}
    ds = cls(filepath=str(path), **kwargs)
    ds.save(data)
    before = path.read_bytes()
    # The writer dies half-way: the final file must be untouched.
    real_replace = os.replace

    def boom(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(DatasetError, match="disk gone"):
        ds.save(_frame(50) if isinstance(data, pd.DataFrame) else {"k": list(range(99))})
    monkeypatch.setattr(atomic.os, "replace", real_replace)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    loaded = ds.load()
    if isinstance(data, pd.DataFrame):
        assert loaded.shape == data.shape
    else:
        assert loaded == data


def test_save_writes_through_a_temporary_sibling(tmp_path, monkeypatch):
    seen: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spy)
    path = tmp_path / "q.parquet"
    ParquetDataset(filepath=str(path)).save(_frame())
    assert len(seen) == 1
    src, dst = map(Path, seen[0])
    assert dst == path
    assert src.parent.parent == tmp_path  # same directory: rename never crosses filesystems
    assert src.parent.name.startswith(f".q.parquet.{os.getpid()}.") and src.name == path.name
    assert pd.read_parquet(path).shape == (5, 2)


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = tmp_path / ".m.json.999999999.abc.tmp"
    dead.mkdir()
    (dead / "m.json").write_text('{"trunc')
    JSONDataset(filepath=str(tmp_path / "m.json")).save({"ok": 1})
    assert not dead.exists()
    assert json.loads((tmp_path / "m.json").read_text()) == {"ok": 1}


def test_matplotlib_single_figure_and_folder(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    MatplotlibDataset(filepath=str(tmp_path / "p.png")).save(fig)
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")
    figs = {}
    for name in ("a.png", "b.png"):
        figs[name], _ = plt.subplots()
    folder = MatplotlibDataset(filepath=str(tmp_path / "plots"))
    folder.save(figs)
    folder.save({"c.png": plt.subplots()[0]})  # overwrite: the folder is replaced as a whole
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["c.png"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _partitioned(path: Path, overwrite: bool = True) -> PartitionedDataset:
    return PartitionedDataset(path=str(path),
                              dataset={"type": "datarecipes.io.datasets.BytesDataset",
                                       "format": "png"},
                              filename_suffix=".png", overwrite=overwrite)


_PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 8


def test_partitioned_ignores_temporary_and_hidden_names(tmp_path):
    root = tmp_path / "images"
    _partitioned(root).save({"a": _PNG, "b": _PNG})
    # What a killed run leaves behind: a temporary folder of partitions, a hidden file.
    (root / ".c.png.4242.xy.tmp").mkdir()
    (root / ".c.png.4242.xy.tmp" / "c.png").write_bytes(_PNG)
    (root / "sub.tmp").mkdir()
    (root / "sub.tmp" / "d.png").write_bytes(_PNG)
    (root / ".hidden.png").write_bytes(_PNG)
    assert sorted(_partitioned(root).load()) == ["a", "b"]


def test_partitioned_save_swaps_the_directory(tmp_path):
    root = tmp_path / "images"
    _partitioned(root).save({"a": _PNG, "b": _PNG})
    _partitioned(root).save({"c": _PNG})
    assert sorted(p.name for p in root.iterdir()) == ["c.png"]
    _partitioned(root, overwrite=False).save({"d": _PNG})
    assert sorted(p.name for p in root.iterdir()) == ["c.png", "d.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["images"]


def test_partitioned_failed_save_keeps_old_partitions(tmp_path):
    root = tmp_path / "images"
    _partitioned(root).save({"a": _PNG})
    with pytest.raises(DatasetError, match="not PNG"):
        _partitioned(root).save({"b": _PNG, "c": b"not a png"})
    assert sorted(p.name for p in root.iterdir()) == ["a.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["images"]


def test_catalog_rewrite_covers_every_file_type():
    from datarecipes.io.atomic_catalog import non_atomic, rewrite

    text = ("a:\n  type: pandas.ParquetDataset\nb:\n  type: kedro_datasets.json.JSONDataset\n"
            "c:\n  dataset:\n    type: \"partitions.PartitionedDataset\"  # x\n"
            "d:\n  type: pandas.JSONDataset\ne:\n  type: pandas.ParquetDatasetV2\n")
    out = rewrite(text)
    assert "datarecipes.io.atomic_datasets.ParquetDataset\n" in out
    assert "datarecipes.io.atomic_datasets.JSONDataset\n" in out
    assert '"datarecipes.io.atomic_datasets.PartitionedDataset"  # x' in out
    assert "datarecipes.io.atomic_datasets.PandasJSONDataset" in out
    assert "pandas.ParquetDatasetV2" in out  # another type is left alone
    assert non_atomic(out) == [] and len(non_atomic(text)) == 4


def test_every_catalog_entry_saves_atomically():
    """No catalog in conf/ names a kedro-datasets file type that writes in place."""
    from datarecipes.io.atomic_catalog import non_atomic
    from tests.helpers import PROJECT_ROOT

    stale = {str(f.relative_to(PROJECT_ROOT)): non_atomic(f.read_text())
             for f in sorted(PROJECT_ROOT.glob("conf/*/catalog*.yml"))}
    assert {f: hits for f, hits in stale.items() if hits} == {}, (
        "run: python -m datarecipes.io.atomic_catalog conf/*/catalog*.yml")

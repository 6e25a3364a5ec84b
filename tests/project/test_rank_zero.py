"""Under accelerate, ranks other than 0 keep in-memory data flowing but write no files."""

from __future__ import annotations

from kedro.io import MemoryDataset
from kedro_datasets.json import JSONDataset

from datarecipes.io.rank_zero import RankZeroCatalog


def test_only_rank_zero_persists(tmp_path, monkeypatch):
    catalog = RankZeroCatalog(
        datasets={"report": JSONDataset(filepath=str(tmp_path / "r.json")), "mem": MemoryDataset()}
    )
    monkeypatch.setenv("RANK", "1")
    catalog.save("report", {"x": 1})
    catalog.save("mem", 3)
    assert not (tmp_path / "r.json").exists()
    assert catalog.load("mem") == 3
    monkeypatch.setenv("RANK", "0")
    catalog.save("report", {"x": 1})
    assert catalog.load("report") == {"x": 1}

"""The experiment's catalog: its patterns win over the ablation's, and the page is atomic."""

from __future__ import annotations

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, DatasetError

from datarecipes.io.text import AtomicTextDataset
from tests.helpers import PROJECT_ROOT


@pytest.fixture(scope="module")
def catalog() -> DataCatalog:
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base",
                               default_run_env="local")
    return DataCatalog.from_config(loader["catalog"])


@pytest.mark.parametrize(("name", "path"), [
    ("thinklite_experiment.mcts.seed_0.thinklite_selected",
     "data/05_model_input/thinklite_experiment/mcts/seed_0/selected.parquet"),
    ("thinklite_experiment.diverse.seed_3.thinklite_eval_metrics",
     "data/08_reporting/thinklite_experiment/diverse/seed_3/thinklite_eval_metrics.json"),
    ("mcts.thinklite_selected", "data/05_model_input/thinklite/ablation/mcts/selected.parquet"),
    ("thinklite_experiment_markdown", "data/08_reporting/thinklite_experiment.md"),
])
def test_each_run_has_its_own_files(catalog, name, path):
    described = catalog.get(name)._describe()
    assert str(described.get("filepath", described.get("path"))) == path


def test_text_dataset_round_trips_and_refuses_non_text(tmp_path):
    target = tmp_path / "reports" / "page.md"
    dataset = AtomicTextDataset(str(target))
    assert not dataset.exists()
    dataset.save("# Résultats\n")
    assert dataset.load() == "# Résultats\n" and dataset.exists()
    assert [p.name for p in target.parent.iterdir()] == ["page.md"]  # no temporary left
    with pytest.raises(DatasetError, match="expected text"):
        dataset.save(b"bytes")
    assert dataset.load() == "# Résultats\n"

"""scm_experiment end to end on a miniature: 2 seeds, tiny prior, tiny-lm, in memory."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from datarecipes.experiments.curves import curve_summary
from datarecipes.hooks import use_typed_parameters
from datarecipes.pipelines.scm_experiment import create_pipeline
from datarecipes.pipelines.scm_experiment.pipeline import namespace
from tests.helpers import SHARED_DATA

pytestmark = pytest.mark.slow

SEEDS = [0, 1]
METHODS = ["lm", "majority", "knn", "random_forest"]


class KeptMemoryDataset(MemoryDataset):
    """Keeps its data after the runner releases it, so the test can inspect every output."""

    def _release(self) -> None:
        pass


def parameters(preset_cache: str) -> dict[str, object]:
    return {
        "scm": {"n_tasks": 4, "prior": {"n_rows": 64, "batch_size": 4, "max_features": 6},
                "sft_shots": [8], "sft_test_rows": 4, "val_fraction": 0.25,
                "tables": ["blood"], "max_test_rows": 10, "test_rows_per_prompt": 10,
                "shuffle_seeds": [40], "max_prompt_tokens": 4096, "on_too_long": "fewer_shots"},
        # 512 shots: blood's prompt is over the context (refused), the prior tables have
        # fewer training rows (not evaluated); both are excluded with their reason.
        "scm_experiment": {"seeds": SEEDS, "eval_shots": [8, 16, 512], "heldout_tasks": 2,
                           "bootstrap_resamples": 500},
        "scm_training": {"max_steps": 4, "per_device_train_batch_size": 1, "logging_steps": 1,
                         "max_length": 4096, "learning_rate": 0.003, "warmup_steps": 0},
        "scm_generation": {"mode": "score"},
        "models": {"tabular_lm": {"preset": "tiny-lm", "preset_cache_dir": preset_cache}},
    }


@pytest.fixture(scope="module")
def run(preset_cache):
    pipeline = create_pipeline(seeds=SEEDS)
    datasets = {name: KeptMemoryDataset(copy_mode="assign") for name in pipeline.datasets()
                if not name.startswith("params:")}
    folder = SHARED_DATA / "tabular"
    datasets["scm_real_tables"] = MemoryDataset(
        {p.stem: (lambda p=p: p.read_bytes()) for p in folder.glob("*.csv")}, copy_mode="assign")
    for key, value in parameters(preset_cache).items():
        datasets[f"params:{key}"] = MemoryDataset(value)
    catalog = DataCatalog(datasets)
    use_typed_parameters(catalog, pipeline)  # what the start-up hook does
    SequentialRunner().run(pipeline, catalog)
    return catalog


def test_every_seed_ran_and_the_comparison_is_the_library_statistics(run):
    catalog = run
    for seed in SEEDS:
        for suite in ("real_tables", "heldout_prior"):
            table = catalog.load(f"{namespace(seed)}.scm_{suite}_eval_table")
            assert set(table["method"]) == set(METHODS)
    heldout = catalog.load(f"{namespace(0)}.scm_heldout_prior_eval_table")
    assert set(heldout["dataset"]) == {"prior_1000_0", "prior_1000_1"}
    points = catalog.load("scm_experiment_points_table")
    assert set(points["seed"]) == set(SEEDS) and set(points["arm"]) == set(METHODS)
    assert set(points["x"]) == {8, 16}
    # A point is the mean over tables of the seed's own evaluation table.
    real = catalog.load(f"{namespace(1)}.scm_real_tables_eval_table")
    lm16 = real[(real.method == "lm") & (real.shots == 16)]["accuracy"].mean()
    got = points[(points.panel == "real_tables") & (points.arm == "lm") & (points.x == 16)
                 & (points.seed == 1)]["accuracy"]
    assert got.iloc[0] == pytest.approx(lm16)
    expected = curve_summary(points, "accuracy", METHODS, resamples=500)
    pd.testing.assert_frame_equal(catalog.load("scm_experiment_curve_table"), expected)
    excluded = catalog.load("scm_experiment_excluded_table")
    assert set(excluded["shots"]) == {512}
    blood = excluded[excluded.dataset == "blood"]["reason"].iloc[0]
    assert "needs" in blood and "max_length=4096" in blood
    assert (excluded[excluded.suite == "heldout_prior"]["reason"]
            == "not evaluated: fewer training rows than shots").all()
    diffs = catalog.load("scm_experiment_differences_table")
    assert len(diffs) == 2 * 2 * 2  # suites x shot counts x (RF, majority)
    assert isinstance(catalog.load("scm_experiment_accuracy_plot"), Figure)
    page = catalog.load("scm_experiment_markdown")
    assert "### real_tables: paired per-seed differences" in page and "blood" in page
    # The answer spread counts exactly the cells of the seeds' own LM predictions.
    spread = catalog.load("scm_experiment_answer_spread_table")
    assert set(spread["seed"]) == set(SEEDS) and set(spread["suite"]) == {"real_tables",
                                                                          "heldout_prior"}
    predictions = catalog.load(f"{namespace(1)}.scm_real_tables_lm_predictions")
    cells = predictions.groupby(["dataset", "shots", "seed"])["label"].nunique()
    got = spread[(spread.suite == "real_tables") & (spread.seed == 1)]
    assert got["cells"].sum() == len(cells)
    assert got["one_label_cells"].sum() == int((cells == 1).sum())


def test_each_seed_trains_its_own_model_on_its_own_prior(run):
    catalog = run
    bases = [catalog.load(f"{namespace(s)}.scm_base_lm").model for s in SEEDS]
    assert bases[0] is not bases[1]  # the trainer changes its model: never shared
    configs = [catalog.load(f"{namespace(s)}.scm_task_configs") for s in SEEDS]
    assert [c[0]["seed"] for c in configs] == SEEDS
    for seed in SEEDS:
        assert catalog.load(f"{namespace(seed)}.run_training_params").seed == seed
        metrics = catalog.load(f"{namespace(seed)}.scm_training_metrics")
        assert metrics["sft_final_loss"] < metrics["sft_first_loss"]  # it learned
    weights = [next(catalog.load(f"{namespace(s)}.scm_tabular_lm").model.parameters())
               for s in SEEDS]
    assert not bool((weights[0] == weights[1]).all())

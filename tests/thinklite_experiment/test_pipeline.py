"""thinklite_experiment end to end on a miniature: 5 arms × 2 seeds, tiny model, in memory."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from datarecipes.experiments import compare_arms
from datarecipes.hooks import use_typed_parameters
from datarecipes.io.thinklite import VQASource
from datarecipes.pipelines.thinklite_experiment import create_pipeline
from datarecipes.pipelines.thinklite_experiment.pipeline import namespace
from tests.thinklite.conftest import tiny_parameters

pytestmark = pytest.mark.slow

ARMS = ["mcts", "random", "accuracy", "all", "diverse"]
SEEDS = [0, 1]


class KeptMemoryDataset(MemoryDataset):
    """Keeps its data after the runner releases it, so the test can inspect every output."""

    def _release(self) -> None:
        pass


def experiment_parameters(preset_cache: str) -> dict[str, object]:
    params = tiny_parameters(preset_cache)
    # tiny: iters_threshold 0 (keep solved after the first iteration, plus unsolved).
    selection = dict(params["hard_sample_selection"])
    params["thinklite_experiment"] = {
        "arms": ARMS, "seeds": SEEDS, "baseline": "random", "bootstrap_resamples": 1000,
        "selection": {"mcts": selection, "random": {**selection, "strategy": "random"},
                      "accuracy": {**selection, "strategy": "accuracy"},
                      "all": {"strategy": "all"},
                      "diverse": {**selection, "strategy": "diverse",
                                  "candidate_iters_threshold": -1}},
    }
    return params


@pytest.fixture(scope="module")
def run(tiny_world, preset_cache, tmp_path_factory):
    questions, scene_root = tiny_world
    pipeline = create_pipeline(arms=ARMS, seeds=SEEDS)
    datasets = {name: KeptMemoryDataset() for name in pipeline.datasets()
                if not name.startswith("params:")}
    datasets |= {
        "provision_questions": MemoryDataset(questions),
        "thinklite_scene_root": MemoryDataset(scene_root),
        "thinklite_mcts_work_dir": MemoryDataset(str(tmp_path_factory.mktemp("mcts"))),
        "thinklite_dedup_work_dir": MemoryDataset(str(tmp_path_factory.mktemp("dedup"))),
        "thinklite_benchmark_sources": MemoryDataset({}, copy_mode="assign"),
        # No user pool or held-out set: the world's (README "Your own data").
        "thinklite_pool_source": VQASource(None),
        "thinklite_heldout_source": VQASource(None),
        "thinklite_source_image_dir": MemoryDataset(str(tmp_path_factory.mktemp("images"))),
    }
    for name in ["thinklite_warm_start_checkpoint"] + [
            f"{namespace(a, s)}.thinklite_grpo_checkpoint" for a in ARMS for s in SEEDS]:
        datasets[name] = KeptMemoryDataset(copy_mode="assign")
    for key, value in experiment_parameters(preset_cache).items():
        datasets[f"params:{key}"] = MemoryDataset(value)
        if isinstance(value, dict):  # dotted inputs such as params:thinklite_dedup.executor
            for sub, subvalue in value.items():
                datasets.setdefault(f"params:{key}.{sub}", MemoryDataset(subvalue))
    catalog = DataCatalog(datasets)
    use_typed_parameters(catalog, pipeline)  # what the start-up hook does
    SequentialRunner().run(pipeline, catalog)
    return catalog


def test_every_arm_and_seed_ran_and_the_statistics_match_the_library(run):
    catalog = run
    per_run = catalog.load("thinklite_experiment_runs_table")
    assert sorted(zip(per_run["arm"], per_run["seed"])) == sorted(
        (a, s) for a in ARMS for s in SEEDS)
    for row in per_run.itertuples():
        evaluation = catalog.load(f"{namespace(row.arm, row.seed)}.thinklite_eval_metrics")
        assert row.accuracy == evaluation["accuracy"]
    # The table is the library's statistics of the per-seed numbers, recomputed here.
    expected = compare_arms(per_run, "accuracy", "random", arms=ARMS, resamples=1000)
    summary = catalog.load("thinklite_experiment_table")
    pd.testing.assert_frame_equal(summary[expected.columns], expected)
    metrics = catalog.load("thinklite_experiment_metrics")
    assert metrics["mcts/mean"] == pytest.approx(
        per_run.loc[per_run.arm == "mcts", "accuracy"].mean())
    for plot in ("thinklite_experiment_means_plot", "thinklite_experiment_differences_plot"):
        assert isinstance(catalog.load(plot), Figure)
    page = catalog.load("thinklite_experiment_markdown")
    assert all(f"| {arm} " in page for arm in ARMS)


def test_arms_keep_their_counts_and_seeds_reach_selection_and_grpo(run):
    catalog = run
    pool = catalog.load("thinklite_pool")
    for seed in SEEDS:
        sets = {a: set(catalog.load(f"{namespace(a, seed)}.thinklite_selected")["sample_id"])
                for a in ARMS}
        assert len(sets["random"]) == len(sets["diverse"]) == len(sets["mcts"])
        assert sets["all"] == set(pool["sample_id"])
        grpo = catalog.load(f"{namespace('mcts', seed)}.run_grpo_params")
        assert grpo.seed == seed
        assert catalog.load(f"{namespace('random', seed)}.run_selection_params").seed == seed
    overlap = catalog.load("thinklite_experiment_overlap_table")
    assert len(overlap) == len(SEEDS) * len(ARMS) * (len(ARMS) - 1) // 2
    row = overlap[(overlap.seed == 0) & (overlap.arm_a == "mcts") & (overlap.arm_b == "all")]
    mcts0 = set(catalog.load(f"{namespace('mcts', 0)}.thinklite_selected")["sample_id"])
    assert row["shared"].iloc[0] == len(mcts0)  # all contains mcts's set


def test_the_accuracy_arm_samples_its_answers_once_for_every_seed(run):
    catalog = run
    pipeline = create_pipeline(arms=ARMS, seeds=SEEDS)
    samplers = [n for n in pipeline.nodes if n.name.endswith("answer_accuracy")]
    assert sorted(n.name for n in samplers) == sorted(["thinklite_experiment_answer_accuracy"] + [
        f"{namespace(a, s)}.thinklite_answer_accuracy"
        for a in ARMS if a != "accuracy" for s in SEEDS])
    shared = catalog.load("thinklite_experiment_accuracy_table")
    assert sorted(shared["sample_id"]) == sorted(catalog.load("thinklite_pool")["sample_id"])
    for seed in SEEDS:
        selected = catalog.load(f"{namespace('accuracy', seed)}.thinklite_selected")
        low = shared.loc[shared["accuracy"] <= 1.0, "sample_id"]  # tiny max_accuracy: 1.0
        assert set(selected["sample_id"]) == set(low)
        # The other arms ran no baseline: their own tables are empty.
        assert catalog.load(f"{namespace('mcts', seed)}.thinklite_accuracy_table").empty

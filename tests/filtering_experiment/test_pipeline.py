"""filtering_experiment end to end on a miniature: 4 arms × 2 seeds, tiny world, in memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from datarecipes.experiments import compare_arms
from datarecipes.filtering.sources import PairSource
from datarecipes.hooks import use_typed_parameters
from datarecipes.io.datasets import DirectoryDataset
from datarecipes.pipelines.filtering_experiment import create_pipeline
from datarecipes.pipelines.filtering_experiment.pipeline import namespace

pytestmark = pytest.mark.slow

SEEDS = [0, 1]
FRACTIONS = [0.25, 0.5]
ARMS = ["unfiltered", "filtered", "top_25", "top_50"]
STEPS, BATCH = 8, 16


class KeptMemoryDataset(MemoryDataset):
    """Keeps its data after the runner releases it, so the test can inspect every output."""

    def _release(self) -> None:
        pass


def parameters() -> dict[str, object]:
    return {
        "filtering": {
            "executor": {"num_workers": 0},
            "clip": {"training": {"steps": 40, "batch_size": 32, "learning_rate": 0.002,
                                  "warmup_steps": 4}},
            "scoring": {"batch_size": 128, "shard_size": 64},
            "filter": {"rules": {"clip_top70": "top(clip, 0.7)"}, "apply": "clip_top70"},
            # The recipe's own 300 steps would be the budget without the experiment's.
            "pretrain": {"training": {"steps": 300, "batch_size": 64, "warmup_steps": 2}},
        },
        "filtering_experiment": {"seeds": SEEDS, "kept_fractions": FRACTIONS,
                                 "steps": STEPS, "batch_size": BATCH,
                                 "bootstrap_resamples": 500},
        "models": {"scorer": {"preset": "tiny-vlm"}},
        "generation": {"engine": "hf"},
    }


@pytest.fixture(scope="module")
def run(tiny_world, tmp_path_factory):
    metadata, _ = tiny_world
    built = create_pipeline(arms=ARMS, seeds=SEEDS)
    # The world is given (written once for the session), not generated.
    pipeline = Pipeline([n for n in built.nodes if n.name != "filtering_world.generate_scenes"])
    datasets = {name: KeptMemoryDataset(copy_mode="assign") for name in pipeline.datasets()
                if not name.startswith("params:")}
    datasets |= {
        "filtering_source": MemoryDataset(PairSource(), copy_mode="assign"),
        "filtering_world.scene_metadata": metadata,
        "filtering_scoring_work_dir": DirectoryDataset(
            str(tmp_path_factory.mktemp("scores")), create=True),
    }
    for key, value in parameters().items():
        datasets[f"params:{key}"] = MemoryDataset(value)
    catalog = DataCatalog(datasets)
    use_typed_parameters(catalog, pipeline)  # what the start-up hook does
    SequentialRunner().run(pipeline, catalog)
    return catalog


def test_every_arm_and_seed_ran_and_the_table_is_the_librarys_statistics(run):
    catalog = run
    per_run = catalog.load("filtering_experiment_runs_table")
    assert sorted(zip(per_run["arm"], per_run["seed"])) == sorted(
        (a, s) for a in ARMS for s in SEEDS)
    for row in per_run.itertuples():
        metrics = catalog.load(f"{namespace(row.arm, row.seed)}.pretrain_metrics")
        assert row.mean_recall == metrics["mean_recall"]
        assert metrics["mean_recall"] == pytest.approx(np.mean(
            [metrics[f"{d}_recall_at_{k}"] for d in ("image_to_text", "text_to_image")
             for k in (1, 5)]))
        assert len(metrics["loss"]) == STEPS
    expected = compare_arms(per_run, "mean_recall", "unfiltered", arms=ARMS, resamples=500)
    summary = catalog.load("filtering_experiment_table")
    pd.testing.assert_frame_equal(summary[expected.columns], expected)
    by_metric = catalog.load("filtering_experiment_by_metric_table")
    assert {"mean_recall", "image_to_text_recall_at_1", "mean_recall_at_5"} <= set(
        by_metric["metric"])
    metrics = catalog.load("filtering_experiment_metrics")
    assert metrics["top_25/mean"] == pytest.approx(
        per_run.loc[per_run.arm == "top_25", "mean_recall"].mean())
    assert metrics["chance/mean_recall"] == pytest.approx(
        (1 + 5) / 2 / metrics["heldout_pairs"])
    assert isinstance(catalog.load("filtering_experiment_retrieval_plot"), Figure)
    page = catalog.load("filtering_experiment_markdown")
    assert all(f"| {arm} " in page for arm in ARMS) and "Δ vs unfiltered" in page


def test_every_arm_sees_the_same_samples_and_the_sweep_keeps_the_top_by_score(run):
    catalog = run
    per_run = catalog.load("filtering_experiment_runs_table")
    # Equal compute: the experiment's steps × batch for every arm, whatever its size (not the
    # recipe's 300 × 64), so a smaller arm is seen for more epochs.
    assert set(per_run["samples_seen"]) == {STEPS * BATCH}
    assert set(per_run["steps"]) == {STEPS}
    epochs = per_run.groupby("arm")["epochs"].first()
    assert epochs["top_25"] > epochs["top_50"] > epochs["unfiltered"]
    assert catalog.load(f"{namespace('top_25', 1)}.run_pretrain_params").training.seed == 1

    arms = catalog.load("filtering_experiment_arms")
    scored = catalog.load("filtering_scored_pool")
    eligible = arms["in.unfiltered"].to_numpy()
    assert eligible.sum() == (scored["clip_status"] == "success").sum() - scored[
        "drop.contamination"].fillna(False).sum()
    clip = arms["clip"].to_numpy()
    for arm, fraction in (("top_25", 0.25), ("top_50", 0.5)):
        member = arms[f"in.{arm}"].to_numpy()
        assert member.sum() == int(np.ceil(fraction * eligible.sum()))
        assert not (member & ~eligible).any()
        # Every kept pair scores at least as high as every eligible pair left out.
        assert clip[member].min() >= clip[eligible & ~member].max()
        pairs = per_run.loc[per_run.arm == arm, "pairs"]
        assert set(pairs) == {member.sum()}
    assert (arms["in.top_25"] <= arms["in.top_50"]).all()
    kept = set(catalog.load("filtering_kept_pairs")["image_id"])
    assert set(arms.loc[arms["in.filtered"], "image_id"]) == kept
    selection = catalog.load("filtering_experiment_selection_table").set_index("arm")
    # The CLIP score ranks corrupted captions low: the top quarter is cleaner than the pool.
    assert selection.loc["top_25", "corrupted_share"] < selection.loc[
        "unfiltered", "corrupted_share"]
    assert selection.loc["unfiltered", "kept_fraction"] == 1.0

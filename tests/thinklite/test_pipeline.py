"""The thinklite and thinklite_ablation nodes end to end on an in-memory catalog."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from datarecipes.hooks import use_typed_parameters
from datarecipes.io.thinklite import VQASource
from datarecipes.ledger import stage_counts
from datarecipes.models import LoadedModel
from datarecipes.pipelines.thinklite import create_pipeline
from datarecipes.pipelines.thinklite_ablation import create_pipeline as create_ablation
from datarecipes.thinklite import ABLATION_STRATEGIES
from tests.thinklite.conftest import tiny_parameters

pytestmark = pytest.mark.slow


class KeptMemoryDataset(MemoryDataset):
    """Keeps its data after the runner releases it, so the test can inspect every output."""

    def _release(self) -> None:
        pass


@pytest.fixture(scope="module")
def run(tiny_world, preset_cache, tmp_path_factory):
    questions, scene_root = tiny_world
    work_dir = tmp_path_factory.mktemp("mcts")
    pipeline = create_pipeline() + create_ablation()
    datasets = {name: KeptMemoryDataset() for name in pipeline.datasets()
                if not name.startswith("params:")}
    datasets |= {
        "provision_questions": MemoryDataset(questions),
        "thinklite_scene_root": MemoryDataset(scene_root),
        "thinklite_mcts_work_dir": MemoryDataset(str(work_dir)),
        "thinklite_dedup_work_dir": MemoryDataset(str(tmp_path_factory.mktemp("dedup"))),
        "thinklite_benchmark_sources": MemoryDataset({}, copy_mode="assign"),
        # No user sources: the world's pool and held-out set.
        "thinklite_pool_source": VQASource(None),
        "thinklite_heldout_source": VQASource(None),
        "thinklite_source_image_dir": MemoryDataset(str(tmp_path_factory.mktemp("images"))),
    }
    # Models pass by reference between nodes (the catalog would write checkpoints).
    for name in ["thinklite_warm_start_checkpoint", "thinklite_grpo_checkpoint"] + [
        f"{s}.thinklite_grpo_checkpoint" for s in ABLATION_STRATEGIES
    ]:
        datasets[name] = KeptMemoryDataset(copy_mode="assign")
    for key, value in tiny_parameters(preset_cache).items():
        datasets[f"params:{key}"] = MemoryDataset(value)
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                datasets[f"params:{key}.{sub}"] = MemoryDataset(subvalue)
    catalog = DataCatalog(datasets)
    use_typed_parameters(catalog, pipeline)  # what the start-up hook does
    SequentialRunner().run(pipeline, catalog)
    return catalog, work_dir


def test_sets_never_overlap_and_every_stage_produced_its_output(run):
    catalog, work_dir = run
    pool = catalog.load("thinklite_pool")
    heldout = catalog.load("thinklite_heldout")
    warm = catalog.load("thinklite_warm_start_set")
    assert (len(warm), len(pool), len(heldout)) == (8, 6, 4)
    # Without sources the world's sets pass through unchanged, and nothing is refused.
    pd.testing.assert_frame_equal(pool, catalog.load("thinklite_world_pool"))
    pd.testing.assert_frame_equal(pool, catalog.load("thinklite_candidate_pool"))
    pd.testing.assert_frame_equal(heldout, catalog.load("thinklite_world_heldout"))
    assert catalog.load("thinklite_input_refusals_table").empty
    assert catalog.load("thinklite_inputs_metrics")["pool_from_source"] == 0.0
    pd.testing.assert_frame_equal(catalog.load("thinklite_selected_llava"),
                                  catalog.load("thinklite_selected"))
    trained = set(pool["sample_id"]) | set(warm["sample_id"])
    assert not set(heldout["sample_id"]) & trained
    assert not set(heldout["image"]) & (set(pool["image"]) | set(warm["image"]))
    difficulty = catalog.load("thinklite_difficulty")
    assert list(difficulty["sample_id"]) == list(pool["sample_id"])
    assert difficulty["iterations_run"].between(1, 2).all()
    # Two resumable partitions of 4 questions, in one search directory.
    (search,) = [p for p in work_dir.iterdir() if p.is_dir()]
    assert sorted(p.name for p in search.glob("part-*.jsonl")) == ["part-00000.jsonl",
                                                                   "part-00001.jsonl"]
    selected = catalog.load("thinklite_selected")
    assert set(selected["sample_id"]) <= set(pool["sample_id"])
    table = catalog.load("thinklite_eval_table")
    assert list(table["id"]) == list(heldout["sample_id"])
    assert not set(table["id"]) & set(selected["sample_id"])
    metrics = catalog.load("thinklite_eval_metrics")
    assert metrics["n"] == 4 and 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["accuracy"] == pytest.approx(table["correct"].mean())
    for generator in heldout["generator"]:
        assert f"generator/{generator}" in metrics
    for plot in ("thinklite_difficulty_plot", "thinklite_eval_plot",
                 "thinklite_selection_difficulty_plot", "thinklite_selection_type_plot"):
        assert isinstance(catalog.load(plot), Figure)


def test_the_ledger_has_every_stage_of_every_pool_sample(run):
    catalog, _ = run
    pool = catalog.load("thinklite_pool")
    ledger = catalog.load("thinklite_ledger")
    selected = set(catalog.load("thinklite_selected")["sample_id"])
    counts = stage_counts(ledger).set_index("stage")
    assert list(counts.index) == ["inputs", "dedup", "decontamination", "mcts_difficulty",
                                  "selection"]
    # The world's pool has no duplicate or contamination: every stage saw all 6.
    assert (counts["seen"].iloc[:4] == len(pool)).all()
    assert set(ledger.loc[(ledger["stage"] == "selection") & ledger["kept"], "sample_id"]) \
        == selected
    metrics = catalog.load("thinklite_ledger_metrics")
    assert metrics["stage/selection/kept"] == len(selected)
    assert catalog.load("thinklite_curation_metrics")["pool"] == len(pool)
    assert isinstance(catalog.load("thinklite_funnel_plot"), Figure)
    assert set(catalog.load("thinklite_before_after_table")["column"]) >= {
        "generator", "answer", "difficulty", "image_side"}
    # Each ablation strategy has its own ledger over the same shared stages.
    for s in ABLATION_STRATEGIES:
        other = catalog.load(f"{s}.thinklite_ledger")
        shared = ["inputs", "dedup", "decontamination", "mcts_difficulty"]
        pd.testing.assert_frame_equal(other[other["stage"].isin(shared)].reset_index(drop=True),
                                      ledger[ledger["stage"].isin(shared)].reset_index(drop=True))
        assert ("accuracy_baseline" in set(other["stage"])) == (s == "accuracy")
    accuracy = catalog.load("accuracy.thinklite_accuracy_table")
    assert sorted(accuracy["sample_id"]) == sorted(pool["sample_id"])
    assert catalog.load("thinklite_accuracy_table").empty  # strategy mcts: no baseline run


def test_training_changed_the_policy_and_kept_the_warm_start(run):
    catalog, _ = run
    warm: LoadedModel = catalog.load("thinklite_warm_start_checkpoint")
    tuned: LoadedModel = catalog.load("thinklite_grpo_checkpoint")
    assert catalog.load("thinklite_warm_start_metrics")["sft_examples"] == 8
    assert catalog.load("thinklite_grpo_metrics")["grpo_steps"] == 1
    warm_weights = dict(warm.model.named_parameters())
    changed = [n for n, p in tuned.model.named_parameters()
               if not torch.equal(p, warm_weights[n])]
    assert changed, "GRPO left every weight of the warm start unchanged"
    assert tuned.model is not warm.model  # GRPO trained a copy, not the shared warm start


def test_ablation_compares_strategies_on_the_same_pool(run):
    catalog, _ = run
    counts = {s: catalog.load(f"{s}.thinklite_selection_metrics")["num_selected"]
              for s in ABLATION_STRATEGIES}
    assert counts["random"] == counts["mcts"]
    mcts = catalog.load("mcts.thinklite_selected")
    random = catalog.load("random.thinklite_selected")
    assert len(random) == len(mcts)
    summary = catalog.load("thinklite_ablation_metrics")
    for s in ABLATION_STRATEGIES:
        assert summary[f"{s}/num_selected"] == counts[s]
        assert summary[f"{s}/accuracy"] == catalog.load(f"{s}.thinklite_eval_metrics")["accuracy"]
    assert summary["warm_start/accuracy"] == pytest.approx(
        catalog.load("thinklite_warm_start_eval_metrics")["accuracy"])
    assert isinstance(catalog.load("thinklite_ablation_plot"), Figure)
    # The accuracy strategy scored every pool question with K sampled answers.
    accuracy_set = catalog.load("accuracy.thinklite_selected")
    assert accuracy_set["accuracy"].between(0, 1).all()
    assert isinstance(catalog.load("mcts.thinklite_selected"), pd.DataFrame)

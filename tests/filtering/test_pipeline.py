"""The ``filtering`` pipeline end to end on a small world, and its configuration files."""

from __future__ import annotations

import copy
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from datarecipes.config import from_params
from datarecipes.filtering.params import FilteringParams
from datarecipes.filtering.sources import PairSource
from datarecipes.hooks import use_typed_parameters
from datarecipes.io.datasets import DirectoryDataset, ImageTableDataset
from datarecipes.io.shards import PackedShardsDataset
from datarecipes.pipelines.filtering import create_pipeline
from datarecipes.scenes.params import ScenesParams

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"
TRAINING = {"steps": 60, "batch_size": 64, "learning_rate": 0.002, "warmup_steps": 5, "seed": 0}
# Pretraining is only checked for its wiring here (same steps, both variants, metrics).
PRETRAINING = {**TRAINING, "steps": 15}


class KeptMemoryDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, to inspect intermediate outputs."""

    def _release(self) -> None:
        pass


def _params(tmp: Path) -> dict:
    return {
        "executor": {"num_workers": 0},
        "clip": {"training": TRAINING},
        "scoring": {"batch_size": 128, "shard_size": 64},
        "filter": {
            "rules": {"clip_top70": "top(clip, 0.7)", "dfn_or_high": "dfn | clip >= 0.9"},
            "definitions": {"dfn": "top(clip, 0.5)"},
            "apply": "clip_top70",
        },
        "packing": {"capacity": 1024, "shards": {"bins_per_shard": 8}},
        "pretrain": {"data": "both", "training": PRETRAINING},
        # semantic too, to measure it on the tiny scorer (README; off by default).
        "dedup": {"kinds": ["exact_image", "phash", "minhash", "semantic"],
                  "semantic": {"backend": "sklearn"}},
    }


def test_configuration_files_validate():
    params = yaml.safe_load((CONF / "parameters_filtering.yml").read_text())
    filtering = from_params(FilteringParams, params["filtering"], where="filtering")
    world = from_params(ScenesParams, params["filtering_world"]["scenes"], where="world")
    assert world.corrupt_fraction == 0.3
    assert set(world.split_fractions) >= {filtering.splits.pool, filtering.splits.scorer}
    catalog = yaml.safe_load((CONF / "catalog_filtering.yml").read_text())
    outputs = create_pipeline().all_outputs()
    persisted = {n for n in outputs if not n.endswith("_pairs") and n != "filtering_pool"}
    assert persisted - {"filtering_world.scene_graphs"} <= set(catalog)
    bad = copy.deepcopy(params["filtering"])
    bad["filter"]["apply"] = "nope"
    with pytest.raises(ValueError, match="filter.apply"):
        from_params(FilteringParams, bad, where="filtering")


def test_pipeline_filters_packs_and_compares_pretraining(small_world, tmp_path):
    metadata, root = small_world
    # The world's metadata as the catalog stores it: image paths relative to its folder,
    # handed to the nodes resolved.
    world = ImageTableDataset(filepath=str(Path(root) / "metadata.parquet"))
    world.save(metadata)
    pipeline = create_pipeline().from_inputs("filtering_world.scene_metadata")
    assert "filtering_world.generate_scenes" not in {n.name for n in pipeline.nodes}
    catalog = DataCatalog({
        "filtering_source": MemoryDataset(PairSource(), copy_mode="assign"),
        "filtering_world.scene_metadata": world,
        "params:filtering": MemoryDataset(_params(tmp_path)),
        "params:models": MemoryDataset({"scorer": {"preset": "tiny-vlm"}}),
        "params:generation": MemoryDataset({"engine": "hf"}),
        "filtering_scoring_work_dir": DirectoryDataset(str(tmp_path / "scores"), create=True),
        "filtering_packed_shards": PackedShardsDataset(str(tmp_path / "packed")),
        "filtering_kept_pairs": KeptMemoryDataset(),
        "filtering_scored_pool": KeptMemoryDataset(),
        "filtering_packing_index": KeptMemoryDataset(),
        "filtering_decisions": KeptMemoryDataset(),
    })
    use_typed_parameters(catalog, pipeline)
    SequentialRunner().run(pipeline, catalog)
    out = {name: catalog.load(name) for name in (
        "filtering_filter_metrics", "filtering_eval_metrics", "filtering_packing_metrics",
        "filtering_pretrain_metrics", "filtering_clip_train_metrics", "filtering_kept_pairs",
        "filtering_packing_index", "filtering_scores_plot", "filtering_clip_score_metrics",
        "filtering_decisions", "filtering_decision_metrics", "filtering_scored_pool",
        "filtering_dedup_metrics", "filtering_contamination_metrics", "filtering_ledger_metrics",
    )}
    # Dedup and decontamination ran on the world: its held-out scenes are distinct from its
    # pool scenes (no pHash match), and the ledger saw every pool pair at its first stage.
    print({k: v for k, v in out["filtering_dedup_metrics"].items() if k.startswith("dup.")},
          out["filtering_contamination_metrics"])
    # Distinct scenes: no exact or pHash duplicate (no false merge).
    dups = out["filtering_dedup_metrics"]
    assert dups["dup.exact_image"] == 0 and dups["dup.phash"] == 0
    cont = out["filtering_contamination_metrics"]
    assert cont["skipped"] == 0.0 and cont["contaminated.heldout"] == 0
    ledger = out["filtering_ledger_metrics"]
    assert ledger["stage/decode/seen"] == len(out["filtering_scored_pool"])
    assert ledger["kept"] == out["filtering_decision_metrics"]["kept"]
    filt, ev = out["filtering_filter_metrics"], out["filtering_eval_metrics"]
    assert filt["kept_fraction.clip_top70"] == pytest.approx(0.7, abs=0.01)
    # CLIP filtering removes corrupted pairs far better than chance.
    assert ev["clip_top70.precision"] > 1.15 * ev["clip_top70.chance_precision"]
    assert ev["clip.auc"] > 0.58
    assert isinstance(out["filtering_scores_plot"], Figure)
    # Kept pairs are packed exactly once.
    kept, index = out["filtering_kept_pairs"], out["filtering_packing_index"]
    assert sorted(index["image_id"]) == sorted(kept["image_id"])
    pack = out["filtering_packing_metrics"]
    assert pack["bins_lower_bound"] <= pack["n_bins"] <= 11 / 9 * pack["bins_lower_bound"] + 6 / 9
    shards = sorted((tmp_path / "packed").glob("shard-*.tar"))
    assert len(shards) == pack["shards"]
    with tarfile.open(shards[0]) as tar:
        assert any(m.name.endswith(".json") for m in tar.getmembers())
    # Every pool pair has one decision; kept = packed, and the reasons say why not.
    decisions, pool = out["filtering_decisions"], out["filtering_scored_pool"]
    assert sorted(decisions["key"]) == sorted(pool["image_id"])
    assert set(decisions.loc[decisions["kept"], "image_id"]) == set(index["image_id"])
    assert (decisions.loc[~decisions["kept"], "reason"].str.len() > 0).all()
    assert out["filtering_decision_metrics"]["kept"] == len(index)
    assert out["filtering_eval_metrics"]["skipped"] == 0.0
    # Both pretraining variants ran the same steps and report held-out retrieval.
    pre = out["filtering_pretrain_metrics"]
    for variant in ("filtered", "unfiltered"):
        assert 0.0 <= pre[f"{variant}.image_to_text_recall_at_5"] <= 1.0
    assert pre["filtered.pairs"] < pre["unfiltered.pairs"]
    assert pre["gain.image_to_text_recall_at_1"] == pytest.approx(
        pre["filtered.image_to_text_recall_at_1"] - pre["unfiltered.image_to_text_recall_at_1"])
    losses = out["filtering_clip_train_metrics"]["loss"]
    assert len(losses) == TRAINING["steps"] and np.mean(losses[-5:]) < np.mean(losses[:5])

    # A rerun with the same scorer reuses every finished score shard.
    catalog2 = DataCatalog({
        "filtering_source": MemoryDataset(PairSource(), copy_mode="assign"),
        "filtering_world.scene_metadata": world,
        "params:filtering": MemoryDataset(_params(tmp_path)),
        "filtering_scoring_work_dir": DirectoryDataset(str(tmp_path / "scores"), create=True),
    })
    rerun = pipeline.to_outputs("filtering_clip_score_metrics")
    use_typed_parameters(catalog2, rerun)
    SequentialRunner().run(rerun, catalog2)
    again = catalog2.load("filtering_clip_score_metrics")
    assert again["shards_computed"] == 0 and again["shards_reused"] == again["shards"]

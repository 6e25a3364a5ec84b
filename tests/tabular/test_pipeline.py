"""The scm pipeline: in-memory run with an LM stand-in, and the real catalog's files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from datarecipes.hooks import use_typed_parameters
from datarecipes.pipelines.scm import create_pipeline
from datarecipes.pipelines.scm.nodes import evaluate_lm, scm_report
from tests.helpers import PROJECT_ROOT, SHARED_DATA
from tests.tabular.test_evaluate import nearest_neighbour_from_prompt

SMALL = {
    "n_tasks": 6,
    "prior": {"n_rows": 128, "batch_size": 4},
    "sft_shots": [8, 16],
    "sft_test_rows": 4,
    "val_fraction": 0.3,
    "eval_shots": [8, 32],
    "max_test_rows": 60,
    "tables": ["blood", "website_phishing"],
    "baselines": ["knn", "logistic_regression"],
}


def _run(pipeline: Pipeline, catalog: DataCatalog) -> None:
    """What ``kedro run`` does: parameters built and checked (the hook), then the nodes."""
    use_typed_parameters(catalog, pipeline)
    SequentialRunner().run(pipeline, catalog)


def _raw_tables():
    folder = SHARED_DATA / "tabular"
    return {p.stem: (lambda p=p: p.read_bytes()) for p in folder.glob("*.csv")}


def _with_predict_fn_stand_in() -> Pipeline:
    """The model-free pipeline with the LM replaced by a prompt-reading 1-NN predict_fn."""
    base = create_pipeline(lm=False)
    return Pipeline(
        [n for n in base.nodes if n.name != "scm_report"]
        + [
            Node(evaluate_lm, ["scm_tables", "scm_predict_fn", "params:scm"],
                 ["scm_lm_table", "scm_lm_predictions"], name="lm_stand_in"),
            Node(scm_report, ["scm_baseline_table", "scm_lm_table"],
                 ["scm_eval_table", "scm_metrics", "scm_accuracy_plot"], name="report"),
        ]
    )


def test_pipeline_with_an_lm_stand_in_runs_in_memory():
    catalog = DataCatalog({"scm_real_tables": MemoryDataset(_raw_tables(), copy_mode="assign"),
                           "scm_predict_fn": MemoryDataset(nearest_neighbour_from_prompt,
                                                           copy_mode="assign")})
    catalog["params:scm"] = SMALL
    for name in ("scm_task_configs", "scm_sft_records", "scm_sft_records_val",
                 "scm_prior_metrics", "scm_eval_table", "scm_metrics", "scm_accuracy_plot",
                 "scm_lm_predictions"):
        catalog[name] = MemoryDataset(copy_mode="assign")
    _run(_with_predict_fn_stand_in(), catalog)
    train, val = catalog["scm_sft_records"].load(), catalog["scm_sft_records_val"].load()
    assert len(train) == 4 and len(val) == 2
    assert [m["role"] for m in train["messages"].iloc[0]] == ["system", "user", "assistant"]
    configs = catalog["scm_task_configs"].load()
    assert [c["index"] for c in configs] == list(range(6))
    table = catalog["scm_eval_table"].load()
    assert set(table["method"]) == {"lm", "knn", "logistic_regression"}
    assert set(table["dataset"]) == {"blood", "website_phishing"}
    assert set(table["shots"]) == {8, 32}
    metrics = catalog["scm_metrics"].load()
    assert metrics["lm_accuracy_at_max_shots"] > 0.5
    assert all(isinstance(v, float) for v in metrics.values())
    assert isinstance(catalog["scm_accuracy_plot"].load(), Figure)
    assert catalog["scm_prior_metrics"].load()["tasks"] == 6.0


def test_unknown_table_name_is_refused():
    catalog = DataCatalog({"scm_real_tables": MemoryDataset(_raw_tables(), copy_mode="assign")})
    catalog["params:scm"] = {**SMALL, "tables": ["blood", "nosuch"]}
    with pytest.raises(Exception, match=r"scm.tables names \['nosuch'\]"):
        _run(create_pipeline().only_nodes("scm_load_real_tables"), catalog)


def test_bad_parameter_is_refused_naming_the_key():
    catalog = DataCatalog()
    catalog["params:scm"] = {**SMALL, "eval_shots": [32, 8]}
    with pytest.raises(Exception, match=r"parameters_scm.yml: scm: eval_shots must be"):
        _run(create_pipeline().only_nodes("scm_generate_prior_tasks"), catalog)


def test_real_catalog_writes_the_declared_files(tmp_path: Path):
    config = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog_scm.yml").read_text())
    for entry in config.values():
        if "filepath" in entry:
            entry["filepath"] = str(tmp_path / entry["filepath"])
    config["scm_real_tables"]["path"] = str(SHARED_DATA / "tabular")
    catalog = DataCatalog.from_config(config)
    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_scm.yml").read_text())["scm"]
    catalog["params:scm"] = {**params, **SMALL, "tables": ["blood"]}
    _run(create_pipeline(lm=False), catalog)
    lines = (tmp_path / "data/05_model_input/scm/sft_train.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 4 and first["messages"][0]["role"] == "system"
    assert first["meta"]["n_shots"] in (8, 16)
    table = pd.read_parquet(tmp_path / "data/08_reporting/scm_eval_table.parquet")
    assert set(table["method"]) == {"knn", "logistic_regression"}
    assert (tmp_path / "data/08_reporting/scm_accuracy.png").stat().st_size > 1000
    metrics = json.loads((tmp_path / "data/08_reporting/scm_metrics.json").read_text())
    assert "knn_accuracy_at_max_shots" in metrics


@pytest.mark.slow
def test_tabular_lm_is_trained_saved_and_queried_through_the_model_factory(tmp_path: Path):
    """The real LM path: tiny-lm preset -> SFT on the prior corpus -> checkpoint -> prompts."""
    from datarecipes.io.checkpoints import CheckpointDataset

    catalog = DataCatalog({
        "scm_real_tables": MemoryDataset(_raw_tables(), copy_mode="assign"),
        "scm_tabular_lm": CheckpointDataset(str(tmp_path / "lm"), load_as="model"),
    })
    for name in ("scm_base_lm", "scm_lm_tokenizer"):
        catalog[name] = MemoryDataset(copy_mode="assign")
    catalog["params:scm"] = {**SMALL, "n_tasks": 4, "val_fraction": 0.25, "tables": ["blood"],
                             "eval_shots": [8], "max_test_rows": 10, "test_rows_per_prompt": 10,
                             "max_prompt_tokens": 4096, "on_too_long": "fewer_shots"}
    # the hook builds params:models.tabular_lm from the whole models section
    catalog["params:models"] = {"tabular_lm": {
        "preset": "tiny-lm", "preset_cache_dir": str(tmp_path / "presets")}}
    catalog["params:scm_training"] = {"max_steps": 2, "per_device_train_batch_size": 1,
                                      "logging_steps": 1, "max_length": 4096}
    catalog["params:scm_generation"] = {"batch_size": 4, "max_new_tokens": 24}
    for name in ("scm_eval_table", "scm_metrics", "scm_lm_predictions", "scm_training_metrics"):
        catalog[name] = MemoryDataset(copy_mode="assign")
    _run(create_pipeline(lm=True), catalog)

    assert (tmp_path / "lm" / "config.json").is_file()
    training = catalog["scm_training_metrics"].load()
    assert training["sft_examples"] == 3
    predictions = catalog["scm_lm_predictions"].load()
    # 10 test rows x 1 shot count x 2 shuffle seeds, each parsed (or counted wrong).
    assert len(predictions) == 20
    table = catalog["scm_eval_table"].load()
    lm = table[table["method"] == "lm"]
    assert list(lm["shots"]) == [8] and 0.0 <= float(lm["accuracy"].iloc[0]) <= 1.0

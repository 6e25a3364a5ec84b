"""Benchmark parquet loading, directory handles, the MCTS search key, ablation checks."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
import torch
from kedro.io import DatasetError
from PIL import Image

from datarecipes.config import ParameterError, from_params
from datarecipes.engines import GenerationParams
from datarecipes.executors import ExecutorParams
from datarecipes.io.datasets import DirectoryDataset, ImageDirectoryDataset
from datarecipes.io.thinklite import ThinkLiteBenchmarksDataset
from datarecipes.mcts import MctsParams, SelectionParams
from datarecipes.models import ModelParams
from datarecipes.pipelines.thinklite.nodes import (
    answer_accuracy_table,
    benchmark_sets,
    compare_strategies,
    select_training_set,
)
from datarecipes.thinklite import (
    ABLATION_STRATEGIES,
    AblationParams,
    ThinkLiteMctsParams,
    policy_fingerprint,
)
from datarecipes.thinklite.difficulty import search_key

#: A policy spec for nodes that take one but, outside strategy accuracy, never load it.
POLICY = ModelParams(preset="tiny-vlm")


def png(colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_benchmarks_in_thinklite_format_become_question_tables(tmp_path):
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    pd.DataFrame({
        "image": [{"bytes": png("red"), "path": None}, {"bytes": png("blue"), "path": None}],
        "problem": ["<image>\nWhat colour is it?", "How many? <image>"],
        "answer": ["red", "3"],
    }).to_parquet(folder / "mathvista_mini.parquet")
    dataset = ThinkLiteBenchmarksDataset(str(folder), str(tmp_path / "images"))
    # Loading is pure: the images are node thinklite_benchmark_sets' output, written by
    # the catalog's ImageDirectoryDataset.
    tables, images = benchmark_sets(dataset.load())
    assert not (tmp_path / "images").exists()
    ImageDirectoryDataset(str(tmp_path / "images")).save(images)
    assert list(tables) == ["mathvista_mini"]
    table = tables["mathvista_mini"]
    assert list(table["question"]) == ["What colour is it?", "How many?"]
    assert list(table["answer"]) == ["red", "3"]
    assert Image.open(table["image"][1]).getpixel((0, 0)) == (0, 0, 255)
    assert (table["generator"] == "mathvista_mini").all()
    # Raw bytes work too; a row without an image is named in the error.
    pd.DataFrame({"image": [png("red"), None], "problem": ["a", "b"], "answer": ["1", "2"]}
                 ).to_parquet(folder / "broken.parquet")
    with pytest.raises(DatasetError, match=r"broken.parquet row 1"):
        dataset.load()


def test_absent_benchmark_directory_is_no_benchmark(tmp_path):
    assert ThinkLiteBenchmarksDataset(str(tmp_path / "none"), str(tmp_path / "i")).load() == {}


def test_directory_dataset_hands_out_the_path(tmp_path):
    work = tmp_path / "work"
    assert DirectoryDataset(str(work), create=True).load() == str(work) and work.is_dir()
    with pytest.raises(DatasetError, match="does not exist"):
        DirectoryDataset(str(tmp_path / "missing")).load()


def test_search_key_changes_with_weights_settings_and_pool():
    model = torch.nn.Linear(4, 4)
    before = policy_fingerprint(model)
    config, run, ids = MctsParams(max_iterations=2), ThinkLiteMctsParams(), ["a", "b"]
    key = search_key(before, config, run, ids)
    assert key == search_key(policy_fingerprint(model), config, run, ids)  # resumable
    with torch.no_grad():
        model.weight[0, 0] += 1e-3
    assert policy_fingerprint(model) != before
    assert search_key(policy_fingerprint(model), config, run, ids) != key
    assert search_key(before, MctsParams(max_iterations=3), run, ids) != key
    assert search_key(before, config, run, ["a"]) != key
    # where the search runs is not what it finds: a Ray run resumes a local one
    on_ray = ThinkLiteMctsParams(executor=ExecutorParams(kind="ray"))
    assert search_key(before, config, on_ray, ids) == key
    assert search_key(before, config, ThinkLiteMctsParams(batch_size=3), ids) != key


def test_random_keeps_as_many_as_mcts():
    pool = pd.DataFrame({"sample_id": [f"s{i}" for i in range(40)],
                         "question_type": ["count", "colour"] * 20})
    iters = [None if i % 5 == 0 else i % 7 for i in range(40)]
    difficulty = pd.DataFrame({
        "sample_id": pool["sample_id"], "solved": [it is not None for it in iters],
        "iters": pd.array(iters, dtype="Int64"), "iterations_run": [7] * 40,
        "skip_reason": [None] * 40,
    })
    counts = {}
    for strategy in ("mcts", "random"):
        config = SelectionParams(strategy=strategy, iters_threshold=3)
        accuracy = answer_accuracy_table(pool, "unused", POLICY, GenerationParams(), config,
                                         ThinkLiteMctsParams())
        assert accuracy.empty  # no accuracy baseline outside strategy accuracy
        selected, metrics, _, _ = select_training_set(pool, difficulty, accuracy, config)
        counts[strategy] = (len(selected), set(selected["sample_id"]))
        assert metrics["num_selected"] == len(selected)
    hard = sum(it is None or it > 3 for it in iters)  # unsolved, or solved after iteration 3
    assert counts["random"][0] == counts["mcts"][0] == hard
    assert counts["random"][1] != counts["mcts"][1]
    with pytest.raises(ValueError, match="kept none"):
        select_training_set(pool, difficulty.assign(solved=True, iters=0), accuracy,
                            SelectionParams(strategy="mcts", iters_threshold=3))


def test_each_ablation_namespace_gets_its_strategy_and_errors_name_the_ablation_file():
    from datarecipes.hooks import typed_parameters
    from datarecipes.pipelines.thinklite_ablation import create_pipeline

    names = sorted(i for i in create_pipeline().inputs() if i.startswith("params:"))
    ablation = [n for n in names if n.startswith("params:thinklite_ablation")]
    assert ablation == [f"params:thinklite_ablation.{s}" for s in sorted(ABLATION_STRATEGIES)]
    raw = {"thinklite_ablation": {s: {"strategy": s, "iters_threshold": 2}
                                  for s in ABLATION_STRATEGIES}}
    built = typed_parameters(ablation, lambda name: raw[name.removeprefix("params:")])
    for s in ABLATION_STRATEGIES:
        assert built[f"params:thinklite_ablation.{s}"] == SelectionParams(strategy=s,
                                                                          iters_threshold=2)
    raw["thinklite_ablation"]["random"]["iters_threshold"] = 3
    with pytest.raises(ParameterError, match=r"^parameters_thinklite_ablation\.yml: "
                                             r"thinklite_ablation: random\.iters_threshold"):
        typed_parameters(ablation, lambda name: raw[name.removeprefix("params:")])


def test_ablation_requires_matching_thresholds_and_counts():
    with pytest.raises(ParameterError, match="random.iters_threshold"):
        from_params(AblationParams, {"random": {"strategy": "random", "iters_threshold": 9}},
                    where="x")
    with pytest.raises(ParameterError, match="accuracy.strategy"):
        from_params(AblationParams, {"accuracy": {"strategy": "mcts"}}, where="x")
    evaluation = {"accuracy": 0.5}
    kwargs = {f"{s}_eval": evaluation for s in ("mcts", "accuracy", "random")}
    kwargs |= {"mcts_selection": {"num_selected": 5.0}, "accuracy_selection": {
        "num_selected": 3.0}, "random_selection": {"num_selected": 4.0}}
    with pytest.raises(ValueError, match="random kept 4"):
        compare_strategies({"accuracy": 0.1}, **kwargs)
    kwargs["random_selection"] = {"num_selected": 5.0}
    metrics, _ = compare_strategies({"accuracy": 0.1}, **kwargs)
    assert metrics["accuracy/num_selected"] == 3.0 and metrics["warm_start/accuracy"] == 0.1


def test_policy_fingerprint_follows_checkpoint_bytes_and_settings_that_change_samples(
        tmp_path, monkeypatch):
    import sys
    import types

    from datarecipes.engines import GenerationParams
    from datarecipes.thinklite import PolicySource

    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "model.safetensors").write_bytes(b"\x00" * 64)
    base = {"preset": "tiny-vlm"}

    def key(**spec):
        engine = GenerationParams(engine=spec.pop("engine", "hf"))
        policy = ModelParams.from_params({**base, **spec}, where="models.policy")
        return PolicySource.of(str(checkpoint), policy, engine).fingerprint()

    # engine: vllm validates only where vllm is installed: stand one in.
    monkeypatch.setitem(sys.modules, "vllm", sys.modules.get("vllm", types.ModuleType("vllm")))
    before = key()
    assert key() == before  # resumable
    assert key(dtype="bfloat16") != before
    assert key(engine="vllm") != before
    assert key(max_pixels=200_704) != before
    (checkpoint / "model.safetensors").write_bytes(b"\x00" * 63 + b"\x01")  # retrained
    assert key() != before


def test_evaluation_loads_the_policy_once_for_every_set():
    from dataclasses import dataclass

    from datarecipes.models import ModelParams
    from datarecipes.thinklite import PolicySource, ThinkLiteEvalParams, evaluate_policy

    loads = []

    asked = re.compile(r"Is it (\d)\?")

    class Echo:  # answers "Is it N?" with N
        def generate(self, prompts, images, **sampling):
            found = [asked.search(p[0]["content"][1]["text"]).group(1) for p in prompts]
            return [["\\boxed{" + n + "}"] for n in found]

    @dataclass(frozen=True)
    class CountingSource(PolicySource):
        def generator(self):
            loads.append(1)
            return Echo()

    def questions(n, prefix):
        return pd.DataFrame({
            "sample_id": [f"{prefix}{i}" for i in range(n)], "image": [None] * n,
            "question": [f"Is it {i % 3}?" for i in range(n)],
            "answer": [str(i % 3) if i % 2 else "9" for i in range(n)], "options": [None] * n,
            "generator": ["g"] * n, "question_type": ["count"] * n,
        })

    benchmarks = {"b1": questions(3, "b"), "b2": questions(5, "c")}
    table, metrics = evaluate_policy(CountingSource(ModelParams(preset="tiny-vlm")),
                                     questions(6, "h"), benchmarks,
                                     ThinkLiteEvalParams(batch_size=4))
    assert loads == [1]
    assert table.groupby("set").size().to_dict() == {"b1": 3, "b2": 5, "heldout": 6}
    # each set graded against its own answers: odd rows right, even rows wrong
    assert metrics["accuracy"] == 0.5 and metrics["benchmark/b2"] == 2 / 5

"""ThinkLite's batch inference on Ray gives the local results: MCTS difficulty (with the same
partition files, so either executor resumes the other's run), the accuracy baseline, and the
held-out evaluation — with the real tiny Qwen2.5-VL policy, loaded inside the actors from a
checkpoint directory."""

from __future__ import annotations

import filecmp
import shutil

import pandas as pd
import pytest
import torch

from datarecipes.config import from_params
from datarecipes.executors import ExecutorParams, LocalExecutor, make_executor
from datarecipes.io.checkpoints import CheckpointDataset
from datarecipes.mcts import MctsParams, SelectionParams, answer_accuracy
from datarecipes.models import ModelParams, load_model
from datarecipes.thinklite import (
    PolicySource,
    ThinkLiteEvalParams,
    ThinkLiteMctsParams,
    evaluate_policy,
    mcts_rows,
    pool_difficulty,
    provision_to_questions,
)
from datarecipes.thinklite.difficulty import search_key
from tests.thinklite.conftest import make_tiny_world

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

# Two actors of half a CPU each fit this 2-CPU Ray instance.
RAY = {"kind": "ray", "ray": {"num_actors": 2, "num_cpus_per_actor": 0.5,
                              "num_cpus_per_preprocess_task": 0.5}}
CONFIG = MctsParams(max_iterations=2, num_children=2, max_steps=2, max_step_tokens=8)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    questions, scene_root = make_tiny_world(root / "scenes", n_scenes=6)
    questions = provision_to_questions(questions, scene_root)
    questions = questions.sample(n=10, random_state=0).reset_index(drop=True)
    # The random-init preset answers every question with the same newlines; noise on its
    # weights makes answers differ per question, so equal tables mean equal generations.
    loaded = load_model(ModelParams(preset="tiny-vlm", preset_cache_dir=str(root / "presets")))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for weight in loaded.model.parameters():
            if weight.ndim == 2:
                weight.add_(torch.randn(weight.shape, generator=generator) * 0.2)
    checkpoint = root / "policy"
    CheckpointDataset(str(checkpoint)).save(loaded)
    return questions, str(checkpoint)


def _source(checkpoint: str) -> PolicySource:
    return PolicySource.of(checkpoint, ModelParams(preset="tiny-vlm"))


def _run(executor: dict | None = None, **kwargs) -> ThinkLiteMctsParams:
    params = {"batch_size": 3, **kwargs}
    if executor is not None:
        params["executor"] = executor
    return from_params(ThinkLiteMctsParams, params, where="test")


@pytest.fixture(scope="module")
def local_difficulty(world, tmp_path_factory):
    questions, checkpoint = world
    work = tmp_path_factory.mktemp("local")
    table = pool_difficulty(questions, _source(checkpoint), CONFIG, _run(), work, progress=False)
    return table, work


def test_mcts_difficulty_on_ray_equals_local_file_for_file(ray_instance, world, local_difficulty,
                                                          tmp_path):
    questions, checkpoint = world
    local, local_work = local_difficulty
    assert local["skip_reason"].isna().all() and local["generated_tokens"].gt(0).all()
    ray_table = pool_difficulty(questions, _source(checkpoint), CONFIG, _run(RAY), tmp_path,
                                progress=False)
    pd.testing.assert_frame_equal(ray_table, local)
    # same search key, same partition files, byte for byte
    (local_dir,) = [p for p in local_work.iterdir() if p.is_dir()]
    (ray_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert local_dir.name == ray_dir.name
    names = sorted(p.name for p in local_dir.iterdir())
    assert len([n for n in names if n.startswith("part-")]) == 4  # 10 questions, 3 per partition
    match, mismatch, errors = filecmp.cmpfiles(local_dir, ray_dir, names, shallow=False)
    assert (mismatch, errors) == ([], [])


def test_ray_resumes_an_interrupted_local_search(ray_instance, world, local_difficulty, tmp_path):
    questions, checkpoint = world
    local, local_work = local_difficulty
    (local_dir,) = [p for p in local_work.iterdir() if p.is_dir()]
    resumed = tmp_path / local_dir.name
    shutil.copytree(local_dir, resumed)
    for name in ("part-00001.jsonl", "part-00003.jsonl"):  # the local run stopped early
        (resumed / name).unlink()
    before = (resumed / "part-00000.jsonl").stat().st_mtime_ns
    table = pool_difficulty(questions, _source(checkpoint), CONFIG,
                            _run(RAY), tmp_path, progress=False)
    pd.testing.assert_frame_equal(table, local)
    assert (resumed / "part-00000.jsonl").stat().st_mtime_ns == before  # reused, not redone
    assert filecmp.cmp(resumed / "part-00003.jsonl", local_dir / "part-00003.jsonl",
                       shallow=False)


def test_accuracy_baseline_and_evaluation_on_ray_equal_local(ray_instance, world):
    questions, checkpoint = world
    source = _source(checkpoint)
    config = SelectionParams(strategy="accuracy", num_answers=2, max_answer_tokens=8)
    ray_executor = make_executor(from_params(ExecutorParams, RAY, where="test"))
    rows = mcts_rows(questions)
    local = answer_accuracy(rows, source.step_policy, config, batch_size=4,
                            executor=LocalExecutor())
    on_ray = answer_accuracy(rows, source.step_policy, config, batch_size=4,
                             executor=ray_executor)
    assert local["accuracy"].notna().all()
    pd.testing.assert_frame_equal(on_ray, local)

    heldout = questions.iloc[:6]
    params = {"max_new_tokens": 12, "batch_size": 4}
    table, metrics = evaluate_policy(source, heldout, {}, from_params(
        ThinkLiteEvalParams, params, where="test"))
    ray_table, ray_metrics = evaluate_policy(source, heldout, {}, from_params(
        ThinkLiteEvalParams, {**params, "executor": RAY}, where="test"))
    assert table["prediction"].str.len().gt(0).all()
    assert table["prediction"].nunique() > 1  # real generations, not one repeated string
    pd.testing.assert_frame_equal(ray_table, table)
    assert ray_metrics == metrics


def test_search_key_ignores_the_executor(world):
    _, checkpoint = world
    fingerprint = _source(checkpoint).fingerprint()
    ids = ["a", "b"]
    assert search_key(fingerprint, CONFIG, _run(), ids) == search_key(
        fingerprint, CONFIG, _run(RAY), ids)


def test_scripted_search_on_ray_keeps_every_record_field(ray_instance, tmp_path):
    """The random-init policy solves nothing; a scripted one solves at known iterations, so
    the Ray path must carry solved/iters/solution/skip_reason per row exactly."""
    import ray.cloudpickle

    from datarecipes.mcts import run_mcts_difficulty
    from tests.mcts import fakes

    def solves(sid: str, steps: tuple[str, ...]) -> bool:
        i = int(sid[1:])
        return i % 4 != 3 and fakes.branch_step(0, i % 3) in steps

    rows = [{"sample_id": f"q{i}", "question": f"What is {i}?", "answer": "7",
             "question_type": "count", "options": ["7", "0"] if i % 2 else None}
            for i in range(9)]
    rows[5]["answer"] = None  # bad input: kept with its reason
    config = MctsParams(max_iterations=4)
    ray.cloudpickle.register_pickle_by_value(fakes)
    try:
        executor = make_executor(from_params(ExecutorParams, RAY, where="test"))
        on_ray = run_mcts_difficulty(rows, fakes.ScriptedPolicy(solves), config,
                                     tmp_path / "ray", batch_size=2, progress=False,
                                     executor=executor)
    finally:
        ray.cloudpickle.unregister_pickle_by_value(fakes)
    local = run_mcts_difficulty(rows, fakes.ScriptedPolicy(solves), config, tmp_path / "local",
                                batch_size=2, progress=False)
    assert local["iters"].dropna().nunique() == 3 and local["skip_reason"].notna().sum() == 1
    pd.testing.assert_frame_equal(on_ray, local)
    for name in sorted(p.name for p in (tmp_path / "local").iterdir()):
        assert filecmp.cmp(tmp_path / "local" / name, tmp_path / "ray" / name, shallow=False)

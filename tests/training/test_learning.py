"""The tiny VLM must learn the built-in shapes task through the real SFT and GRPO code paths."""

import pytest
import torch

from datarecipes.models import ModelParams
from datarecipes.training.grpo import GRPOParams, train_grpo
from datarecipes.training.sft import SFTParams, train_sft
from tests.training.evaluation import EvalParams, evaluate, majority_baseline
from tests.training.synthetic import write_shapes_dataset

#: Held-out accuracy must beat the best image-blind answerer (the majority answer per question
#: type, which a model reading only the question can reach) by this much.
MARGIN = 0.1
EVAL = EvalParams(max_new_tokens=8, batch_size=32, group_by=("question_type",))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    train = write_shapes_dataset(root, 320, seed=0)
    test = write_shapes_dataset(root, 64, seed=1, split="test")
    return str(root), train, test


@pytest.fixture(scope="module")
def sft_result(shapes, preset_cache):
    root, train, _ = shapes
    # A constant rate: cosine decay spends half the short budget at rates too low to move a
    # randomly initialised model past the question-only prior.
    params = SFTParams(max_steps=150, per_device_train_batch_size=16, learning_rate=3e-3,
                       lr_scheduler_type="constant_with_warmup", warmup_steps=5,
                       logging_steps=10, max_length=128, seed=0)
    spec = ModelParams(preset="tiny-vlm", preset_cache_dir=preset_cache)
    return train_sft(spec, train, params, image_root=root)


def _type_majority(records):
    by_type = {}
    for r in records:
        by_type.setdefault(r["question_type"], []).append(r["answer"])
    return sum(majority_baseline(a) * len(a) for a in by_type.values()) / len(records)


def test_sft_lifts_heldout_accuracy_above_the_majority_answer(shapes, sft_result):
    root, _, test = shapes
    tuned, metrics = sft_result
    assert metrics["sft_final_loss"] < metrics["sft_first_loss"] / 5
    assert metrics["sft_tokens_per_second"] > 0
    table, figure, eval_metrics = evaluate(tuned, test, EVAL, image_root=root, name="heldout")
    blind = _type_majority(test)
    overall = majority_baseline([r["answer"] for r in test])
    accuracy = eval_metrics["heldout_accuracy"]
    assert accuracy >= blind + MARGIN, (accuracy, blind, eval_metrics)
    assert accuracy >= overall + MARGIN
    assert set(table["question_type"]) == {"colour", "count"}
    assert "heldout_accuracy_question_type_colour" in eval_metrics
    assert table["correct"].mean() == pytest.approx(accuracy)
    assert len(figure.axes[0].patches) == 3  # overall + two question types


def test_grpo_on_top_changes_the_policy_without_collapsing(shapes, sft_result, preset_cache):
    root, train, _ = shapes
    tuned, _ = sft_result
    prompts = train[:16]
    _, _, before = evaluate(tuned, prompts, EVAL, image_root=root, name="train")
    weights = {k: v.detach().clone() for k, v in tuned.model.state_dict().items()}
    params = GRPOParams(max_steps=3, num_generations=4, per_device_train_batch_size=8,
                        max_completion_length=8, learning_rate=1e-4, temperature=1.0, seed=0)
    policy, metrics = train_grpo(tuned, prompts, params, image_root=root)
    changed = [k for k, v in policy.model.state_dict().items()
               if not torch.equal(v, weights[k])]
    assert changed, "GRPO left every weight unchanged"
    assert metrics["grpo_steps"] == 3 and metrics["grpo_mean_reward"] > 0
    _, _, after = evaluate(policy, prompts, EVAL, image_root=root, name="train")
    assert after["train_accuracy"] >= 0.5 * before["train_accuracy"] > 0

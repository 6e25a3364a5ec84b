"""Question sets: warm start, pool and held-out set are disjoint, seeded and sized as asked."""

from __future__ import annotations

import pandas as pd
import pytest

from datarecipes.config import ParameterError, from_params
from datarecipes.thinklite import (
    SplitOverlapError,
    ThinkLiteDataParams,
    check_disjoint,
    prompt_records,
    provision_to_questions,
    sft_records,
    split_questions,
)


def provision_table(n_images: int = 30, per_image: int = 4) -> pd.DataFrame:
    """A ProVision-shaped table: images split 60/20/20, some multi-image questions."""
    rows = []
    for i in range(n_images):
        split = "train" if i % 5 < 3 else ("validation" if i % 5 == 3 else "test")
        for j in range(per_image):
            mcq = j % 2 == 0
            rows.append({
                "id": f"q-{i}-{j}", "image": [f"images/scene_{i:03d}.png"],
                "question": f"How many cubes? ({i},{j})" + ("\nOptions:\nA. two\nB. three"
                                                              if mcq else ""),
                "answer": "B. three" if mcq else "three", "bare_answer": "three",
                "options": ["two", "three"] if mcq else [], "answer_letter": "B" if mcq else "",
                "generator": f"Gen{j % 3}", "type": "single", "format": "mcq" if mcq else "open",
                "source": "scenes", "split": split,
                "solution": "### Step1: I count. <end>\n### Final Answer: \\boxed{three} <end>",
            })
        pair = [f"images/scene_{i:03d}.png", f"images/scene_{(i + 5) % n_images:03d}.png"]
        rows.append({**rows[-1], "id": f"multi-{i}", "type": "multi", "image": pair})
    return pd.DataFrame(rows)


@pytest.fixture
def questions() -> pd.DataFrame:
    return provision_to_questions(provision_table(), "data/01_raw/scenes")


def test_conversion_keeps_single_image_questions_with_rooted_paths(questions):
    assert len(questions) == 30 * 4  # the 30 two-image questions are left out
    assert questions["image"].str.startswith("data/01_raw/scenes/images/").all()
    assert set(questions["answer"]) == {"three"}  # the bare answer: what solutions box
    assert (questions["question_type"] == questions["generator"]).all()


@pytest.mark.parametrize("warm,pool,held,seed", [(10, 20, 15, 0), (30, 0, 0, 1), (0, 5, 7, 2)])
def test_sets_are_disjoint_and_sized(questions, warm, pool, held, seed):
    params = ThinkLiteDataParams(warmstart_size=warm, pool_size=pool, heldout_size=held,
                                 seed=seed)
    w, p, h = split_questions(questions, params)
    n_train = int((questions["split"] == "train").sum())
    assert len(w) == warm
    assert len(p) == (pool or n_train - warm)
    assert len(h) == (held or int((questions["split"] != "train").sum()))
    assert not set(w["sample_id"]) & set(p["sample_id"])
    # The held-out set shares neither questions nor images with anything trained on.
    assert not set(h["sample_id"]) & (set(w["sample_id"]) | set(p["sample_id"]))
    assert not set(h["image"]) & (set(w["image"]) | set(p["image"]))
    assert set(h["split"]) <= {"validation", "test"} and set(p["split"]) == {"train"}
    again = split_questions(questions, params)
    assert all(a.equals(b) for a, b in zip((w, p, h), again))


def test_seed_changes_the_draw(questions):
    a = split_questions(questions, ThinkLiteDataParams(warmstart_size=10, pool_size=10))
    b = split_questions(questions, ThinkLiteDataParams(warmstart_size=10, pool_size=10, seed=5))
    assert set(a[1]["sample_id"]) != set(b[1]["sample_id"])


def test_overlap_between_heldout_and_training_images_is_refused(questions):
    w, p, h = split_questions(questions, ThinkLiteDataParams(warmstart_size=10, pool_size=10))
    leaked = h.copy()
    leaked.loc[0, "image"] = p["image"].iloc[0]
    with pytest.raises(SplitOverlapError, match="held-out images"):
        check_disjoint(leaked, [w, p])
    # Questions whose split says "test" but whose image is a training image are caught too.
    broken = questions.copy()
    broken.loc[broken["split"] == "test", "image"] = broken["image"].iloc[0]
    with pytest.raises(SplitOverlapError):
        split_questions(broken, ThinkLiteDataParams(warmstart_size=10, pool_size=0))


def test_bad_parameters_name_the_key(questions):
    with pytest.raises(ParameterError, match="heldout_splits and train_splits"):
        from_params(ThinkLiteDataParams, {"heldout_splits": ["train"]}, where="x")
    with pytest.raises(ParameterError, match="pool_size"):
        from_params(ThinkLiteDataParams, {"pool_size": -1}, where="x")
    with pytest.raises(ValueError, match="warmstart_size"):
        split_questions(questions, ThinkLiteDataParams(warmstart_size=1000))
    with pytest.raises(ValueError, match="generators"):
        split_questions(questions, ThinkLiteDataParams(generators=["NoSuchGenerator"]))


def test_records_carry_the_step_prompt_and_answers(questions):
    sft = sft_records(questions.head(3))
    user, assistant = sft[0]["conversations"]
    assert user["value"].startswith("<image>\n") and "step by step" in user["value"]
    assert user["value"].rstrip().endswith(questions["question"].iloc[0].strip())
    assert assistant["value"].startswith("### Step1:")
    prompts = prompt_records(questions.head(4), with_options=True)
    assert [len(p["conversations"]) for p in prompts] == [1] * 4
    assert prompts[0]["options"] == "two||three" and "options" not in prompts[1]
    assert "options" not in prompt_records(questions.head(1))[0]  # GRPO: no string options

import pytest

from datarecipes.training.rewards import (
    accuracy_reward,
    format_reward,
    majority_vote_reward,
    weighted_rewards,
)

P = [[{"role": "user", "content": "q"}]]


def test_format_reward_easyr1_and_step_formats():
    good = r"<think>two shapes</think> so \boxed{2}"
    steps = "### Step1: count <end> ### Step2: two <end> ### Final Answer: \\boxed{2} <end>"
    bad = [r"\boxed{2}", "<think>no box</think> 2", r"\boxed{2} <think>late</think>",
           "### Step1: count <end> \\boxed{2}"]
    rewards = format_reward(P * 6, [good, steps, *bad])
    assert rewards == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    # Conversational completions (TRL passes lists of messages) work too.
    assert format_reward(P, [[{"role": "assistant", "content": good}]]) == [1.0]


def test_accuracy_reward_uses_the_last_box_and_normalises():
    completions = [r"<think>x</think>\boxed{1} no wait \boxed{3.0}", r"\boxed{(B)}",
                   "the answer is 3", r"\boxed{blue}"]
    answers = ["3", "B", "3", "Blue "]
    assert accuracy_reward(P * 4, completions, answer=answers) == [1.0, 1.0, 0.0, 1.0]
    step = "### Step1: count <end> ### Final Answer: \\boxed{red} <end>"
    assert accuracy_reward(P, [step], answer=["red"]) == [1.0]
    assert accuracy_reward(P, [r"\boxed{red}"], answer=["(B)"], options=[["blue", "red"]]) \
        == [1.0]


def test_majority_vote_rewards_the_plurality_per_group():
    completions = [r"\boxed{3}", r"\boxed{3.0}", r"\boxed{4}", "no box",   # group a: 3 wins
                   r"\boxed{1}", r"\boxed{2}", "x", "y",                    # group b: tie/none
                   "none", "none", "none", r"\boxed{5}"]                    # group c: no box wins
    ids = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    rewards = majority_vote_reward(P * 12, completions, id=ids)
    assert rewards[:4] == [1.0, 1.0, 0.0, 0.0]
    assert rewards[4:8] == [0.0] * 4  # no majority: abstain
    assert rewards[8:] == [0.0] * 4  # most rollouts unboxed: abstain (not reward "nothing")


def test_majority_vote_groups_by_prompt_without_ids():
    p1, p2 = [[{"role": "user", "content": "q1"}]], [[{"role": "user", "content": "q2"}]]
    rewards = majority_vote_reward(p1 * 3 + p2 * 3, [r"\boxed{A}", r"\boxed{A}", r"\boxed{B}",
                                                     r"\boxed{B}", r"\boxed{B}", r"\boxed{A}"])
    assert rewards == [1.0, 1.0, 0.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize("weight", [0.0, 0.1, 0.5])
def test_weighted_rewards_follow_easyr1(weight):
    funcs, weights = weighted_rewards(weight)
    assert funcs == [accuracy_reward, format_reward]
    assert weights == pytest.approx([1 - weight, weight])

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


# MM-UPT's rule (verl/workers/reward/function.py:FunctionRewardManager.__call__): the label is
# Counter(extract_boxed_content(r)).most_common(1)[0][0] over exact strings, and mathruler's
# extractor returns the string "None" for a rollout without a closed box.
def test_mathruler_boxed_matches_the_reference_extractor():
    from datarecipes.answers import extract_boxed
    from datarecipes.training.rewards import mathruler_boxed

    assert mathruler_boxed(r"so \boxed{\frac{1}{2}} done") == r"\frac{1}{2}"
    assert mathruler_boxed(r"\boxed{1} then \boxed{ 2 }") == "2"
    assert mathruler_boxed("no box at all") == "None"
    # A cut-off last box: the reference gives "None"; our extractor falls back to the earlier box.
    assert mathruler_boxed(r"\boxed{1} then \boxed{2") == "None"
    assert extract_boxed(r"\boxed{1} then \boxed{2") == "1"


@pytest.mark.parametrize(
    ("completions", "reference", "abstain"),
    [
        # A 2-2 tie: the reference rewards the answer seen first; we abstain.
        ([r"\boxed{1}", r"\boxed{2}", r"\boxed{2}", r"\boxed{1}"], [1, 0, 0, 1], [0, 0, 0, 0]),
        ([r"\boxed{2}", r"\boxed{1}", r"\boxed{1}", r"\boxed{2}"], [1, 0, 0, 1], [0, 0, 0, 0]),
        # No box is the majority: "None" == "None", so the reference rewards the unboxed ones.
        (["thinking", "more thinking", r"\boxed{5}"], [1, 1, 0], [0, 0, 0]),
        # The reference votes on exact strings ("3" and "3.0" apart, so "4" wins 2-1-1); we vote
        # on normalised answers, where 3 and 4 tie 2-2.
        ([r"\boxed{3}", r"\boxed{3.0}", r"\boxed{4}", r"\boxed{4}"], [0, 0, 1, 1], [0, 0, 0, 0]),
        # A clear majority: both rules agree.
        ([r"\boxed{7}", r"\boxed{7}", r"\boxed{8}"], [1, 1, 0], [1, 1, 0]),
    ],
)
def test_majority_rules_reference_and_abstain(completions, reference, abstain):
    from datarecipes.training.rewards import majority_vote

    ids = ["q"] * len(completions)
    prompts = P * len(completions)
    assert majority_vote("reference")(prompts, completions, id=ids) == [float(r) for r in reference]
    assert majority_vote("abstain")(prompts, completions, id=ids) == [float(a) for a in abstain]


def test_majority_rules_are_named_functions_for_trl():
    from datarecipes.training.grpo import GRPOParams, reward_functions

    funcs, weights = reward_functions(GRPOParams(reward="majority_vote",
                                                 majority_rule="reference"))
    assert [f.__name__ for f in funcs] == ["majority_vote_reward_reference"] and weights == [1.0]
    funcs, _ = reward_functions(GRPOParams(reward="majority_vote"))
    assert [f.__name__ for f in funcs] == ["majority_vote_reward"]

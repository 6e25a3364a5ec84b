"""The MCTS algorithm, driven by a scripted policy: UCT, stopping, unsolved, tokens, batching."""

from __future__ import annotations

import math

import pytest

from datarecipes.config import ParameterError, from_params
from datarecipes.mcts.prompts import judge_verdict
from datarecipes.mcts.samples import MctsSample
from datarecipes.mcts.search import JudgeReward, MctsParams, mcts_difficulty
from datarecipes.mcts.tree import Node, select_child, uct_score
from tests.mcts.fakes import EXPAND_TOKENS, ROLLOUT_TOKENS, ScriptedPolicy, branch_step


def sample(sid: str = "s0", answer: str = "7") -> MctsSample:
    return MctsSample(sid, f"Question {sid}?", answer)


def expansions(policy: ScriptedPolicy, sid: str = "s0") -> list[tuple[str, ...]]:
    return [r.steps for reqs, n in policy.calls if n > 1 for r in reqs if r.sample_id == sid]


B = branch_step


class FractionReward:
    """0.5 for rollouts through ``marker``; never a solve (so the search keeps going)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def score(self, samples, traces, seed):
        return [0.5 if self.marker in trace else 0.0 for trace in traces]


def test_uct_score_and_unvisited_first():
    parent = Node((), False, visits=10)
    a = Node(("a",), False, parent, visits=4, value_sum=2.0)
    b = Node(("b",), False, parent, visits=1, value_sum=0.0)
    c = Node(("c",), False, parent)
    parent.children = [a, b, c]
    assert uct_score(a, 10, 1.0) == pytest.approx(0.5 + math.sqrt(math.log(10) / 4))
    assert uct_score(c, 10, 1.0) == math.inf
    assert select_child(parent, 1.0) is c  # unvisited beats any finite score
    parent.children = [a, b]
    # b: 0 + sqrt(ln10/1) = 1.517 > a: 0.5 + 0.759; with c = 0 the exploitation term decides.
    assert select_child(parent, 1.0) is b
    assert select_child(parent, 0.0) is a


def test_selection_order_unvisited_first_then_uct_ties_in_order():
    policy = ScriptedPolicy()
    cfg = MctsParams(max_iterations=5, max_steps=3)
    mcts_difficulty([sample()], policy, cfg)
    assert expansions(policy) == [
        (),  # it0: the root
        (B(0, 1),),  # it1: root's first unvisited child (child 0 was rolled out in it0)
        (B(0, 2),),  # it2: the last unvisited child
        (B(0, 0),),  # it3: all visited once with Q = 0: tie, first child
        (B(0, 1), B(1, 1)),  # it4: d0b1 (fewer visits) then its first unvisited child
    ]
    # Each rollout starts from the first child of the node just expanded.
    rollouts = [r.steps for reqs, n in policy.calls if n == 1 for r in reqs]
    assert rollouts[0] == (B(0, 0),) and rollouts[1] == (B(0, 1), B(1, 0))


def test_uct_follows_value():
    policy = ScriptedPolicy()
    cfg = MctsParams(max_iterations=4, max_steps=3)
    mcts_difficulty([sample()], policy, cfg, reward=FractionReward(B(0, 2)))
    # After it2, d0b2 has Q = 0.5; UCT now prefers it over the Q = 0 siblings (without the
    # reward, it3 expands d0b0) and descends to its first unvisited child.
    assert expansions(policy)[3] == (B(0, 2), B(1, 1))


def test_stops_at_first_solve_with_its_iteration():
    policy = ScriptedPolicy(solves=lambda sid, steps: B(0, 2) in steps)
    [rec] = mcts_difficulty([sample()], policy, MctsParams(max_steps=3))
    assert rec.solved and rec.iters == 2 and rec.iterations_run == 3
    assert rec.solution.startswith(B(0, 2) + B(1, 0)) and "\\boxed{7}" in rec.solution
    assert len(expansions(policy)) == 3  # nothing searched after the solve
    assert rec.generated_tokens == policy.tokens["s0"] == 3 * (3 * EXPAND_TOKENS + ROLLOUT_TOKENS)


def test_unsolved_samples_are_kept():
    policy = ScriptedPolicy()
    [rec] = mcts_difficulty([sample()], policy, MctsParams(max_iterations=6))
    assert not rec.solved and rec.iters is None and rec.solution is None
    assert rec.iterations_run == 6
    assert rec.generated_tokens == policy.tokens["s0"] == 6 * (3 * EXPAND_TOKENS + ROLLOUT_TOKENS)


def test_terminal_leaves_are_scored_without_generation():
    policy = ScriptedPolicy()
    [rec] = mcts_difficulty([sample()], policy, MctsParams(max_iterations=5, max_steps=1))
    # One expansion of the root; its children are terminal (1 step), so no rollouts and no
    # further expansions: the remaining iterations only revisit and score them.
    assert [n for _, n in policy.calls] == [3]
    assert rec.iterations_run == 5 and rec.generated_tokens == 3 * EXPAND_TOKENS


SOLVES = {"s0": B(0, 1), "s1": B(0, 2), "s2": "never", "s3": ""}


def solves(sid: str, steps: tuple[str, ...]) -> bool:
    return SOLVES[sid] == "" or SOLVES[sid] in steps


def test_batched_search_serves_all_trees_per_call_and_matches_sequential():
    samples = [sample(s) for s in SOLVES]
    cfg = MctsParams(max_iterations=5)
    batched = ScriptedPolicy(solves)
    records = mcts_difficulty(samples, batched, cfg)
    assert [r.iters for r in records] == [1, 2, None, 0]
    # Two calls per iteration (expansion + one rollout step) whatever the number of trees.
    assert len(batched.calls) == 2 * cfg.max_iterations
    active = [["s0", "s1", "s2", "s3"], ["s0", "s1", "s2"], ["s1", "s2"], ["s2"], ["s2"]]
    for it, ids in enumerate(active):
        for reqs, _ in batched.calls[2 * it : 2 * it + 2]:
            assert [r.sample_id for r in reqs] == ids
    sequential_calls = 0
    for s, rec in zip(samples, records):
        single = ScriptedPolicy(solves)
        [alone] = mcts_difficulty([s], single, cfg)
        assert alone == rec
        sequential_calls += len(single.calls)
        # Same per-request seeds alone as in the batch: seeds depend on sample, not batch.
        seeds = [r.seed for reqs, _ in batched.calls for r in reqs if r.sample_id == s.sample_id]
        assert seeds == [r.seed for reqs, _ in single.calls for r in reqs]
    assert sequential_calls == 2 + 4 + 6 + 10


def test_seeds_are_deterministic_and_vary():
    def seeds(cfg):
        policy = ScriptedPolicy()
        mcts_difficulty([sample("a"), sample("b")], policy, cfg)
        return [(r.sample_id, r.seed) for reqs, _ in policy.calls for r in reqs]

    cfg = MctsParams(max_iterations=3, max_steps=3, seed=1)
    first = seeds(cfg)
    assert first == seeds(cfg)
    assert len({s for _, s in first}) == len(first)  # per sample, iteration and phase
    assert first != seeds(MctsParams(max_iterations=3, max_steps=3, seed=2))


class FakeJudge:
    def __init__(self) -> None:
        self.calls = 0

    def generate_steps(self, requests, n, temperature, top_p, max_new_tokens, stop=None, seed=0):
        from datarecipes.mcts.policy import Generation

        self.calls += 1
        assert stop is None and temperature == 0.0
        verdict = ["true" if "\\boxed{7}" in r.user_text else "false" for r in requests]
        return [[Generation(f"The generated answer is {v}. Because.", 6)] for v in verdict]


def test_judge_reward_is_one_batched_call_per_iteration():
    judge = FakeJudge()
    policy = ScriptedPolicy(solves)
    records = mcts_difficulty(
        [sample(s) for s in SOLVES], policy, MctsParams(max_iterations=5, max_steps=3),
        reward=JudgeReward(judge),
    )
    assert [r.iters for r in records] == [1, 2, None, 0]
    assert judge.calls == 5
    assert judge_verdict("The generated answer is true or false.") == 0.0
    assert judge_verdict("True. The answer is false otherwise") == 1.0


def test_config_rejects_bad_values_naming_the_key():
    with pytest.raises(ParameterError, match="top_p"):
        from_params(MctsParams, {"top_p": 0.0}, where="parameters_thinklite.yml: mcts")
    with pytest.raises(ParameterError, match="unknown key"):
        from_params(MctsParams, {"iterations": 3}, where="parameters_thinklite.yml: mcts")

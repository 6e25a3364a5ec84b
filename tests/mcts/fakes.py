"""Scripted deterministic policies for the MCTS tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from datarecipes.mcts.policy import Generation, StepRequest

#: Expansion steps name their depth and branch, e.g. "d0b2 <end>" (depth 0, child 2).
EXPAND_TOKENS = 5
ROLLOUT_TOKENS = 3


def branch_step(depth: int, j: int) -> str:
    return f"d{depth}b{j} <end>"


class ScriptedPolicy:
    """Expansions (n > 1) return one branch step per child; rollouts (n == 1) answer at once.

    The rollout's final answer is ``correct`` when ``solves(sample_id, steps)`` holds, so a
    test decides which branches of which samples are solvable. Every call is logged.
    """

    def __init__(
        self,
        solves: Callable[[str, tuple[str, ...]], bool] = lambda sid, steps: False,
        correct: str = "7",
    ) -> None:
        self.solves = solves
        self.correct = correct
        self.calls: list[tuple[list[StepRequest], int]] = []
        self.tokens: dict[str, int] = {}

    def generate_steps(
        self,
        requests: Sequence[StepRequest],
        n: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        stop: str | None = "<end>",
        seed: int = 0,
    ) -> list[list[Generation]]:
        self.calls.append((list(requests), n))
        out = []
        for req in requests:
            if n > 1:
                gens = [Generation(branch_step(len(req.steps), j), EXPAND_TOKENS) for j in range(n)]
            else:
                answer = self.correct if self.solves(req.sample_id, req.steps) else "0"
                text = f"### Final Answer: The answer is $\\boxed{{{answer}}}$. <end>"
                gens = [Generation(text, ROLLOUT_TOKENS)]
            self.tokens[req.sample_id] = self.tokens.get(req.sample_id, 0) + sum(
                g.n_tokens for g in gens
            )
            out.append(gens)
        return out

    def requested_ids(self) -> set[str]:
        return {r.sample_id for reqs, _ in self.calls for r in reqs}


class FailingPolicy:
    """Wraps a policy and raises as soon as a request for ``fail_on`` arrives (a crash)."""

    def __init__(self, inner: ScriptedPolicy, fail_on: str) -> None:
        self.inner, self.fail_on = inner, fail_on

    def generate_steps(self, requests, n, temperature, top_p, max_new_tokens, stop="<end>", seed=0):
        if any(r.sample_id == self.fail_on for r in requests):
            raise RuntimeError(f"simulated crash at {self.fail_on}")
        return self.inner.generate_steps(
            requests, n, temperature, top_p, max_new_tokens, stop, seed
        )

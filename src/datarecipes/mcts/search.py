"""ThinkLite's MCTS difficulty score, searched for many samples in lock step.

For every sample, iteration ``i`` selects a leaf by UCT, expands it into ``num_children`` sampled
steps, rolls the first new child out step by step to a terminal node and scores the rollout; the
sample's difficulty ``iters`` is the first ``i`` whose rollout is correct (ThinkLite-VL
``mcts.py``). The trees of a batch advance together: each phase of an iteration (expansion, each
rollout step, the judge) is one ``generate_steps`` call serving every tree still searching, so
the model sees batches instead of one prompt at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from datarecipes.config import parameters_section, require
from datarecipes.mcts.policy import Policy, StepRequest, derive_seed
from datarecipes.mcts.prompts import (
    JudgeStyle,
    final_answer_text,
    is_terminal,
    judge_user_text,
    judge_verdict,
    step_user_text,
)
from datarecipes.mcts.samples import MctsSample
from datarecipes.mcts.tree import Node, backpropagate, select_leaf


@parameters_section("mcts_difficulty")
@dataclass(frozen=True)
class MctsParams:
    """Search settings; defaults are ThinkLite-VL's."""

    #: Iteration budget per sample; the search stops at the first correct rollout.
    max_iterations: int = 50
    #: Children per expansion, each an independent sample of the next step.
    num_children: int = 3
    #: A solution is terminal after this many steps (or at a final-answer step).
    max_steps: int = 10
    #: UCT exploration constant c in ``Q + c·sqrt(ln N_parent / n_child)``.
    exploration: float = 1.0
    #: Sampling temperature of the policy (0 = greedy).
    temperature: float = 0.5
    #: Nucleus (top-p) mass of the policy's sampling.
    top_p: float = 0.9
    #: Token limit of one generated step.
    max_step_tokens: int = 512
    #: Run seed; every generate call is seeded from (seed, sample id, iteration, phase).
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.max_iterations >= 1, f"max_iterations must be >= 1, got {self.max_iterations}")
        require(self.num_children >= 1, f"num_children must be >= 1, got {self.num_children}")
        require(self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}")
        require(self.exploration >= 0, f"exploration must be >= 0, got {self.exploration}")
        require(self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}")
        require(0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}")
        require(
            self.max_step_tokens >= 1,
            f"max_step_tokens must be >= 1, got {self.max_step_tokens}",
        )


@dataclass(frozen=True)
class MctsRecord:
    """The difficulty of one sample."""

    sample_id: str
    #: Whether a correct rollout was found within the budget.
    solved: bool
    #: 0-based iteration of the first correct rollout; None when unsolved or skipped.
    iters: int | None
    #: Iterations actually searched (``iters + 1`` when solved, the budget when not).
    iterations_run: int
    #: Tokens the policy generated for this sample (expansions and rollouts).
    generated_tokens: int
    #: The solving rollout's steps joined, or None.
    solution: str | None
    question_type: str | None = None
    #: Why the sample was not searched (bad input), else None.
    skip_reason: str | None = None


class Reward(Protocol):
    """Scores finished rollouts: 1.0 correct, 0.0 not; one call per phase for all trees."""

    def score(
        self, samples: Sequence[MctsSample], traces: Sequence[tuple[str, ...]], seed: int
    ) -> list[float]: ...


class AnswerMatchReward:
    """Reward 1 when the rollout's final answer matches the ground truth.

    Uses the project's one answer normaliser (``datarecipes.answers``: ``extract_answer`` on the
    text from the last final-answer marker, then ``is_correct``). A rollout
    that never writes a final-answer step scores 0 without being compared.
    """

    def score(
        self, samples: Sequence[MctsSample], traces: Sequence[tuple[str, ...]], seed: int
    ) -> list[float]:
        from datarecipes import answers  # imported late: the normaliser is its own module

        rewards = []
        for sample, trace in zip(samples, traces):
            final = final_answer_text(trace)
            options = list(sample.options) if sample.options else None
            prediction = None if final is None else answers.extract_answer(final, options)
            ok = prediction is not None and answers.is_correct(prediction, sample.answer, options)
            rewards.append(1.0 if ok else 0.0)
        return rewards


class JudgeReward:
    """ThinkLite's reward: a judge model reads question, ground truth and rollout.

    The judge is any :class:`Policy` (one short answer per rollout, all trees' rollouts in one
    call); the verdict is read from its first sentence. ``temperature == 0`` (the default) is
    greedy: a terminal leaf always gets the same verdict. ThinkLite's judge samples instead
    (``generate`` without a greedy flag uses the checkpoint's sampling defaults), so a leaf
    re-visited on a later iteration — seeded per iteration here — can be judged differently;
    pass the checkpoint's ``temperature`` / ``top_p`` for that. ``prompt`` and ``verdict``
    pick ThinkLite's or our judge prompt and verdict rule (:func:`judge_user_text`,
    :func:`judge_verdict`).
    """

    def __init__(self, judge: Policy, max_new_tokens: int = 64, *, temperature: float = 0.0,
                 top_p: float = 1.0, prompt: JudgeStyle = "ours",
                 verdict: JudgeStyle = "ours") -> None:
        if temperature < 0 or not 0 < top_p <= 1:
            raise ValueError(f"judge sampling needs temperature >= 0 and 0 < top_p <= 1, got "
                             f"{temperature}, {top_p}")
        self.judge = judge
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.prompt = prompt
        self.verdict = verdict

    def score(
        self, samples: Sequence[MctsSample], traces: Sequence[tuple[str, ...]], seed: int
    ) -> list[float]:
        requests = [
            StepRequest(s.sample_id, judge_user_text(s.question, s.answer, t, self.prompt),
                        seed=seed)
            for s, t in zip(samples, traces)
        ]
        outs = self.judge.generate_steps(
            requests, n=1, temperature=self.temperature, top_p=self.top_p,
            max_new_tokens=self.max_new_tokens, stop=None, seed=seed,
        )
        return [judge_verdict(o[0].text, self.verdict) for o in outs]


@dataclass(eq=False)
class _Tree:
    sample: MctsSample
    root: Node
    user_text: str
    tokens: int = 0
    solved_at: int | None = None
    solution: tuple[str, ...] | None = None
    iterations_run: int = 0

    def request(self, steps: tuple[str, ...], seed: int) -> StepRequest:
        s = self.sample
        return StepRequest(s.sample_id, self.user_text, s.image, steps, seed)


def mcts_difficulty(
    samples: Sequence[MctsSample],
    policy: Policy,
    config: MctsParams,
    reward: Reward | None = None,
) -> list[MctsRecord]:
    """Search all ``samples`` in lock step and return one record per sample, in order.

    Unsolved samples are kept with ``solved=False`` (the reference drops them from its
    output, which loses exactly the hardest samples that selection keeps).
    """
    reward = reward if reward is not None else AnswerMatchReward()
    cfg = config
    trees = [
        _Tree(s, Node((), False), step_user_text(s.question))
        for s in samples
    ]

    def generate(batch: list[_Tree], steps: list[tuple[str, ...]], n: int, *phase: object):
        requests = [
            t.request(st, derive_seed(cfg.seed, t.sample.sample_id, *phase))
            for t, st in zip(batch, steps)
        ]
        call_seed = derive_seed(cfg.seed, *phase, *(t.sample.sample_id for t in batch))
        outs = policy.generate_steps(
            requests, n=n, temperature=cfg.temperature, top_p=cfg.top_p,
            max_new_tokens=cfg.max_step_tokens, seed=call_seed,
        )
        for tree, gens in zip(batch, outs):
            tree.tokens += sum(g.n_tokens for g in gens)
        return outs

    for it in range(cfg.max_iterations):
        active = [t for t in trees if t.solved_at is None]
        if not active:
            break
        leaves = [select_leaf(t.root, cfg.exploration) for t in active]
        # Expansion: one call, num_children samples for every tree whose leaf is open.
        open_ = [i for i, leaf in enumerate(leaves) if not leaf.terminal]
        if open_:
            outs = generate(
                [active[i] for i in open_], [leaves[i].steps for i in open_],
                cfg.num_children, it, "expand",
            )
            for i, gens in zip(open_, outs):
                for g in gens:
                    leaves[i].add_child(g.text, cfg.max_steps)
                # Roll out the first child; the reference picks one at random, but the children
                # are i.i.d. samples, so the first is as random and keeps runs reproducible.
                leaves[i] = leaves[i].children[0]
        # Rollout: one call per step depth, for every tree whose rollout is unfinished.
        traces = [leaf.steps for leaf in leaves]
        for depth in range(cfg.max_steps):
            pending = [i for i, tr in enumerate(traces) if not is_terminal(tr, cfg.max_steps)]
            if not pending:
                break
            outs = generate(
                [active[i] for i in pending], [traces[i] for i in pending], 1,
                it, "rollout", depth,
            )
            for i, gens in zip(pending, outs):
                traces[i] = (*traces[i], gens[0].text)
        rewards = reward.score(
            [t.sample for t in active], traces, derive_seed(cfg.seed, it, "reward")
        )
        for tree, leaf, trace, r in zip(active, leaves, traces, rewards):
            tree.iterations_run = it + 1
            backpropagate(leaf, r)
            if r >= 1.0:
                tree.solved_at, tree.solution = it, trace
    return [
        MctsRecord(
            sample_id=t.sample.sample_id,
            solved=t.solved_at is not None,
            iters=t.solved_at,
            iterations_run=t.iterations_run,
            generated_tokens=t.tokens,
            solution=None if t.solution is None else "".join(t.solution),
            question_type=t.sample.question_type,
        )
        for t in trees
    ]

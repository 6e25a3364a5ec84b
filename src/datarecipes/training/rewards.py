"""GRPO rewards as plain callables ``(prompts, completions, **columns) -> list[float]``.

- :func:`format_reward`: EasyR1's ``<think>…</think>`` then ``\\boxed{}`` check (methods.md §5),
  also accepting ThinkLite's step format (``### Step1: … <end>`` … ``### Final Answer: \\boxed{}``).
- :func:`accuracy_reward`: the last ``\\boxed{}`` against the ``answer`` column.
- :func:`majority_vote_reward`: MM-UPT's self-reward for unlabeled data (methods.md §5), with
  our abstaining tie rule; :func:`majority_vote_reward_reference` is MM-UPT's own rule
  (:func:`majority_vote` picks one by name).
- :func:`weighted_rewards`: EasyR1's ``(1 - w) * accuracy + w * format`` with w = 0.1.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Literal

from datarecipes.answers import extract_boxed, is_correct, normalize_answer

RewardFn = Callable[..., list[float]]

# EasyR1 examples/score_function/math.py: r"<think>.*</think>.*\\boxed\{.*\}.*", DOTALL.
_THINK_FORMAT = re.compile(r"^\s*<think>.*</think>.*\\boxed\{.*\}.*$", re.DOTALL)
# ThinkLite-VL MCTS policy format: steps ending in <end>, then a boxed final answer.
_STEP_FORMAT = re.compile(
    r"^\s*(?:### Step\s*\d+:.*?<end>\s*)+### Final Answer:.*\\boxed\{.*\}.*$", re.DOTALL
)


def completion_text(completion: Any) -> str:
    """The text of a TRL completion (a string, or a list of chat messages)."""
    if isinstance(completion, str):
        return completion
    parts = []
    for message in completion:
        content = message.get("content", "")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(b.get("text") or "" for b in content if b.get("type") == "text")
    return "".join(parts)


def format_reward(prompts: Sequence[Any], completions: Sequence[Any], **_: Any) -> list[float]:
    """1.0 when the completion follows the think-then-box or the step format, else 0.0."""
    texts = [completion_text(c) for c in completions]
    return [1.0 if _THINK_FORMAT.match(t) or _STEP_FORMAT.match(t) else 0.0 for t in texts]


def accuracy_reward(
    prompts: Sequence[Any],
    completions: Sequence[Any],
    answer: Sequence[str],
    options: Sequence[Sequence[str] | None] | None = None,
    **_: Any,
) -> list[float]:
    """1.0 when the completion's last ``\\boxed{}`` matches ``answer`` (normalised), else 0.0.

    Only a boxed answer counts: a policy that stops boxing must not be rewarded for a stray
    number elsewhere in its reasoning.
    """
    rewards = []
    for i, completion in enumerate(completions):
        boxed = extract_boxed(completion_text(completion))
        opts = options[i] if options is not None else None
        rewards.append(1.0 if is_correct(boxed, str(answer[i]), opts) else 0.0)
    return rewards


#: ``majority_rule`` values: ``reference`` = MM-UPT's rule, ``abstain`` = ours.
MajorityRule = Literal["reference", "abstain"]

#: What mathruler's ``extract_boxed_content`` returns for a rollout without a (closed) box.
NO_BOX = "None"


def mathruler_boxed(text: str) -> str:
    """mathruler's ``extract_boxed_content`` as MM-UPT calls it: the stripped content of the
    *last* ``\\boxed{`` when its braces close, else the string ``"None"`` (an earlier complete
    box is not tried, unlike :func:`datarecipes.answers.extract_boxed`)."""
    start = text.rfind("\\boxed{")
    if start == -1:
        return NO_BOX
    content = text[start + len("\\boxed{"):]
    depth = 0
    for i, char in enumerate(content):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == -1:
                return content[:i].strip()
    return NO_BOX


def _groups(prompts: Sequence[Any], id: Sequence[str] | None) -> list[list[int]]:  # noqa: A002
    keys = list(id) if id is not None else [repr(p) for p in prompts]
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return list(groups.values())


def majority_vote_reward(
    prompts: Sequence[Any],
    completions: Sequence[Any],
    id: Sequence[str] | None = None,  # noqa: A002 - the dataset column's name
    **_: Any,
) -> list[float]:
    """MM-UPT's self-reward with our tie rule (``majority_rule: abstain``): within each
    prompt's group of rollouts, 1.0 for completions whose boxed answer equals the group's most
    common one, else 0.0.

    Groups are the rollouts sharing an ``id`` (else the same prompt). The group abstains
    (all 0.0) when its most common answer is "no box" or when two answers tie for most common:
    MM-UPT rewards the no-box majority, which teaches the policy to stop boxing, and breaks a
    tie by which answer came first, which rewards an arbitrary half of a split group.
    Answers are compared after :func:`normalize_answer` (MM-UPT votes on exact strings, then
    grades with ``grade_answer``), so "3" and "3.0" vote together. Groups must not span
    processes: with several GPUs set ``num_generations`` to a multiple of the per-device batch.
    """
    answers = [extract_boxed(completion_text(c)) for c in completions]
    normalised = [normalize_answer(a) if a is not None else None for a in answers]
    rewards = [0.0] * len(completions)
    for members in _groups(prompts, id):
        votes = Counter(normalised[i] for i in members)
        ranked = votes.most_common(2)
        top, top_count = ranked[0]
        if top is None or (len(ranked) > 1 and ranked[1][1] == top_count):
            continue  # abstain
        for i in members:
            rewards[i] = 1.0 if normalised[i] == top else 0.0
    return rewards


def majority_vote_reward_reference(
    prompts: Sequence[Any],
    completions: Sequence[Any],
    id: Sequence[str] | None = None,  # noqa: A002 - the dataset column's name
    **_: Any,
) -> list[float]:
    """MM-UPT's self-reward exactly as its reward manager computes it
    (``verl/workers/reward/function.py:FunctionRewardManager.__call__``, ``majority_rule:
    reference``): the pseudo-label is ``Counter(exact boxed strings).most_common(1)`` — on a tie
    the answer seen first — and a rollout is rewarded when it grades equal to it. A rollout
    without a box extracts as the string ``"None"``, so a no-box majority is rewarded too.

    ``grade_answer`` (mathruler) is stood in for by :func:`normalize_answer` equality: exact
    strings after the project's normaliser (numbers, case, option letters), not sympy.
    """
    answers = [mathruler_boxed(completion_text(c)) for c in completions]
    rewards = [0.0] * len(completions)
    for members in _groups(prompts, id):
        label = Counter(answers[i] for i in members).most_common(1)[0][0]
        target = normalize_answer(label)
        for i in members:
            rewards[i] = 1.0 if normalize_answer(answers[i]) == target else 0.0
    return rewards


def majority_vote(rule: MajorityRule) -> RewardFn:
    """The majority-vote reward for ``rule`` (a named function: TRL logs rewards by name)."""
    if rule == "reference":
        return majority_vote_reward_reference
    if rule == "abstain":
        return majority_vote_reward
    raise ValueError(f"majority_rule must be 'reference' or 'abstain', got {rule!r}")


def weighted_rewards(format_weight: float = 0.1) -> tuple[list[RewardFn], list[float]]:
    """EasyR1's reward as TRL reward functions and ``reward_weights``:
    ``(1 - format_weight) * accuracy + format_weight * format``."""
    return [accuracy_reward, format_reward], [1.0 - format_weight, format_weight]



"""ThinkLite's judge, switchable: its prompt byte for byte, its verdict rule, and its decoding
(the judge checkpoint's sampling defaults) against ours (greedy)."""

from __future__ import annotations

import json
import random

import pytest

from datarecipes.config import ParameterError, from_params
from datarecipes.mcts.decoding import checkpoint_sampling
from datarecipes.mcts.policy import Generation
from datarecipes.mcts.prompts import judge_user_text, judge_verdict
from datarecipes.mcts.samples import MctsSample
from datarecipes.mcts.search import JudgeReward, MctsParams, mcts_difficulty
from tests.mcts.fakes import ScriptedPolicy

# Copied from si0wang/ThinkLite-VL@37fb148 mcts.py (eval_prompt_template), as written there.
REFERENCE_EVAL_PROMPT = '''Please help me judge the correctness of the generated answer and the corresponding rationale. 
Question: {}
Ground truth answer: {}
Generated rationale and answer: {}
Your output should only be one sentence: the generated answer is true or false.'''  # noqa: E501, W291


def test_reference_judge_prompt_is_byte_identical():
    question = " How many red cubes are there?"  # the reference keeps the text after <image>
    steps = ("### Step1: two cubes are red. <end>", "### Final Answer: $\\boxed{2}$ <end>")
    ours = judge_user_text(question, "2", steps, "reference")
    assert ours.encode() == REFERENCE_EVAL_PROMPT.format(question, "2", "".join(steps)).encode()
    assert judge_user_text(question, "2", steps) != ours  # the default is our own prompt


@pytest.mark.parametrize(
    ("response", "reference", "ours"),
    [("The generated answer is true.", 1.0, 1.0),
     ("The generated answer is false.", 0.0, 0.0),
     ("the generated answer is true or false.", 1.0, 0.0),  # an echo of the instruction
     ("True. It matches.", 0.0, 1.0),                        # the reference is case-sensitive
     ("It is wrong. But true in part.", 0.0, 0.0)],          # only the first sentence counts
)
def test_verdict_rules(response, reference, ours):
    assert judge_verdict(response, "reference") == reference
    assert judge_verdict(response, "ours") == ours


def test_checkpoint_sampling_follows_generation_config():
    from transformers import GenerationConfig

    qwen = GenerationConfig(do_sample=True, temperature=0.7, top_p=0.8, top_k=20,
                            repetition_penalty=1.05)  # Qwen2.5-7B-Instruct's file
    assert checkpoint_sampling(qwen) == (0.7, 0.8)
    assert checkpoint_sampling(GenerationConfig()) == (0.0, 1.0)  # no do_sample: greedy
    assert checkpoint_sampling(None) == (0.0, 1.0)


class CoinJudge:
    """A judge that, sampled, calls a wrong rollout right with probability 0.3 (seeded by the
    call's seed); greedy, it always reads the rollout correctly."""

    def __init__(self) -> None:
        self.sampling: list[tuple[float, float]] = []

    def generate_steps(self, requests, n, temperature, top_p, max_new_tokens, stop=None, seed=0):
        self.sampling.append((temperature, top_p))
        rng = random.Random(seed)
        out = []
        for r in requests:
            right = "\\boxed{7}" in r.user_text
            if temperature > 0 and rng.random() < 0.3:
                right = True
            word = "true" if right else "false"
            out.append([Generation(f"The generated answer is {word}.", 6)])
        return out


def test_sampled_judge_solves_unsolvable_questions_greedy_never_does():
    """The reference's sampled judge can call a wrong leaf right on a later visit: questions
    the policy never solves get a finite ``iters``; greedy leaves them unsolved."""
    samples = [MctsSample(f"q{i}", f"Question {i}?", "7") for i in range(8)]
    config = MctsParams(max_iterations=10, max_steps=3)
    greedy_judge, sampled_judge = CoinJudge(), CoinJudge()
    greedy = mcts_difficulty(samples, ScriptedPolicy(), config, reward=JudgeReward(greedy_judge))
    sampled = mcts_difficulty(samples, ScriptedPolicy(), config,
                              reward=JudgeReward(sampled_judge, temperature=0.7, top_p=0.8))
    assert all(r.iters is None for r in greedy)
    assert sum(r.iters is not None for r in sampled) >= 4
    assert set(greedy_judge.sampling) == {(0.0, 1.0)}
    assert set(sampled_judge.sampling) == {(0.7, 0.8)}


def test_judge_factory_reads_the_judge_checkpoint_sampling(tmp_path):
    from datarecipes.models import ModelParams
    from datarecipes.thinklite.difficulty import JudgeRewardFactory
    from datarecipes.thinklite.policy import PolicySource

    (tmp_path / "generation_config.json").write_text(json.dumps(
        {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20}))
    judge = PolicySource.of(str(tmp_path), ModelParams(preset="tiny-lm"))
    assert JudgeRewardFactory(judge, 512, "checkpoint").sampling() == (0.7, 0.8)
    assert JudgeRewardFactory(judge, 512, "greedy").sampling() == (0.0, 1.0)
    (tmp_path / "generation_config.json").unlink()
    assert JudgeRewardFactory(judge, 512, "checkpoint").sampling() == (0.0, 1.0)


def test_judge_choices_are_validated_and_change_the_search_key():
    from datarecipes.thinklite.difficulty import search_key
    from datarecipes.thinklite.params import ThinkLiteMctsParams

    with pytest.raises(ParameterError, match="judge_decoding"):
        from_params(ThinkLiteMctsParams, {"judge_decoding": "beam"}, where="thinklite_mcts")
    base = from_params(ThinkLiteMctsParams, {"reward": "judge"}, where="thinklite_mcts")
    ref = from_params(ThinkLiteMctsParams, {"reward": "judge", "judge_decoding": "checkpoint"},
                      where="thinklite_mcts")
    config = MctsParams()
    assert search_key("p", config, base, ["a"], "j") != search_key("p", config, ref, ["a"], "j")

"""Hard-sample selection strategies and their statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datarecipes.mcts.policy import Generation
from datarecipes.mcts.selection import (
    SelectionParams,
    answer_accuracy,
    select_hard_samples,
    selection_report,
)


def tables():
    iters = [0, 3, 5, 6, 12, None, None, 2, 9, None]
    solved = [i is not None for i in iters]
    skip = [None] * 9 + ["no ground-truth answer"]
    samples = pd.DataFrame(
        {
            "sample_id": [f"q{i}" for i in range(10)],
            "question": [f"Q{i}?" for i in range(10)],
            "answer": ["7"] * 10,
            "question_type": ["count", "color"] * 5,
        }
    )
    difficulty = pd.DataFrame(
        {
            "sample_id": samples["sample_id"],
            "solved": solved,
            "iters": pd.array(iters, dtype="Int64"),
            "skip_reason": skip,
            "question_type": samples["question_type"],
        }
    )
    return samples, difficulty


def test_mcts_rule_keeps_late_solves_and_unsolved_but_not_bad_rows():
    samples, difficulty = tables()
    chosen = select_hard_samples(samples, SelectionParams(), difficulty=difficulty)
    # iters > 5: q3 (6), q4 (12), q8 (9); unsolved: q5, q6; q9 is unsolved but bad input.
    assert chosen["sample_id"].tolist() == ["q3", "q4", "q5", "q6", "q8"]
    assert {"iters", "solved"} <= set(chosen.columns)
    strict = select_hard_samples(
        samples, SelectionParams(iters_threshold=8), difficulty=difficulty
    )
    assert strict["sample_id"].tolist() == ["q4", "q5", "q6", "q8"]


def test_random_keeps_as_many_as_mcts_seeded():
    samples, difficulty = tables()
    picks = [
        select_hard_samples(
            samples, SelectionParams(strategy="random", seed=s), difficulty=difficulty
        )["sample_id"].tolist()
        for s in (0, 0, 1, 2, 3)
    ]
    assert all(len(p) == 5 for p in picks) and picks[0] == picks[1]
    assert len({tuple(p) for p in picks}) > 2
    assert all("q9" not in p for p in picks)


def test_all_and_missing_tables():
    samples, difficulty = tables()
    assert len(select_hard_samples(samples, SelectionParams(strategy="all"))) == 10
    everything = select_hard_samples(
        samples, SelectionParams(strategy="all"), difficulty=difficulty
    )
    assert len(everything) == 9
    with pytest.raises(ValueError, match="needs the MCTS difficulty"):
        select_hard_samples(samples, SelectionParams(strategy="random"))
    with pytest.raises(ValueError, match="answer-accuracy"):
        select_hard_samples(samples, SelectionParams(strategy="accuracy"))


class KnowsSome:
    """Answers question qi correctly in its first i of n samples."""

    def __init__(self) -> None:
        self.calls = []

    def generate_steps(self, requests, n, temperature, top_p, max_new_tokens, stop=None, seed=0):
        self.calls.append((len(requests), n, stop))
        out = []
        for r in requests:
            i = int(r.sample_id[1:])
            out.append(
                [
                    Generation(f"### Final Answer: \\boxed{{{7 if j < i else 1}}} <end>", 4)
                    for j in range(n)
                ]
            )
        return out


def test_accuracy_baseline_is_batched_and_thresholded():
    samples, _ = tables()
    rows = samples.to_dict("records")
    rows[9]["answer"] = None
    policy = KnowsSome()
    cfg = SelectionParams(strategy="accuracy", num_answers=8, max_accuracy=0.25)
    acc = answer_accuracy(rows, policy, cfg, batch_size=4)
    assert policy.calls == [(4, 8, None), (4, 8, None), (1, 8, None)]
    np.testing.assert_allclose(acc["accuracy"][:9], [i / 8 for i in range(9)])
    assert np.isnan(acc["accuracy"][9]) and acc["skip_reason"][9] == "no ground-truth answer"
    chosen = select_hard_samples(samples, cfg, accuracy=acc)
    assert chosen["sample_id"].tolist() == ["q0", "q1", "q2"]


def test_report_histogram_has_an_unsolved_bar_and_type_shares():
    samples, difficulty = tables()
    chosen = select_hard_samples(samples, SelectionParams(), difficulty=difficulty)
    metrics, hist, types = selection_report(chosen, num_candidates=9, max_iterations=50)
    assert metrics["num_selected"] == 5 and metrics["num_unsolved"] == 2
    assert metrics["selected_fraction"] == pytest.approx(5 / 9)
    assert metrics["mean_iters_solved"] == pytest.approx((6 + 12 + 9) / 3)
    assert metrics["share_type/color"] + metrics["share_type/count"] == pytest.approx(1.0)
    heights = [p.get_height() for p in hist.axes[0].patches]
    assert len(heights) == 51 and heights[-1] == 2  # 50 iteration bars + the unsolved bar
    assert heights[6] == heights[9] == heights[12] == 1 and sum(heights[:50]) == 3
    assert len(types.axes[0].patches) == 2

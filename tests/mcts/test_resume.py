"""Per-partition results: a crashed run resumes with only the unfinished samples; bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from datarecipes.mcts.resume import ResumeError, run_mcts_difficulty
from datarecipes.mcts.samples import BadSampleError
from datarecipes.mcts.search import MctsParams
from tests.mcts.fakes import FailingPolicy, ScriptedPolicy, branch_step

CFG = MctsParams(max_iterations=4)


def solves(sid: str, steps: tuple[str, ...]) -> bool:
    # Sample i is solvable through root child i % 3 (solved at iteration i % 3), except i = 4.
    i = int(sid[1:])
    return i != 4 and branch_step(0, i % 3) in steps


ROWS = [
    {"sample_id": f"q{i}", "question": f"What is {i}?", "answer": "7", "question_type": "count"}
    for i in range(7)
]


def test_interrupted_run_resumes_only_unfinished_partitions(tmp_path):
    reference = run_mcts_difficulty(
        ROWS, ScriptedPolicy(solves), CFG, tmp_path / "ref", batch_size=3, progress=False
    )
    assert reference["iters"].tolist()[:4] == [0, 1, 2, 0]
    assert pd.isna(reference["iters"][4]) and not reference["solved"][4]

    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_mcts_difficulty(
            ROWS, FailingPolicy(ScriptedPolicy(solves), fail_on="q4"), CFG, out,
            batch_size=3, progress=False,
        )
    assert sorted(p.name for p in out.glob("part-*.jsonl")) == ["part-00000.jsonl"]
    assert not list(out.glob(".*tmp"))  # no half-written partition left behind

    restarted = ScriptedPolicy(solves)
    table = run_mcts_difficulty(ROWS, restarted, CFG, out, batch_size=3, progress=False)
    assert restarted.requested_ids() == {"q3", "q4", "q5", "q6"}  # partition 0 not redone
    pd.testing.assert_frame_equal(table, reference)

    again = ScriptedPolicy(solves)
    pd.testing.assert_frame_equal(
        run_mcts_difficulty(ROWS, again, CFG, out, batch_size=3, progress=False), reference
    )
    assert again.calls == []


def test_resuming_with_other_settings_is_refused(tmp_path):
    run_mcts_difficulty(ROWS[:2], ScriptedPolicy(solves), CFG, tmp_path, progress=False)
    with pytest.raises(ResumeError, match="config"):
        run_mcts_difficulty(
            ROWS[:2], ScriptedPolicy(solves), MctsParams(max_iterations=5), tmp_path,
            progress=False,
        )
    with pytest.raises(ResumeError, match="sample_ids"):
        run_mcts_difficulty(ROWS[1:3], ScriptedPolicy(solves), CFG, tmp_path, progress=False)


def test_bad_rows_are_skipped_with_a_reason_and_counted(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    rows = [
        ROWS[0],
        {"sample_id": "no_gt", "question": "What?", "answer": None},
        {"sample_id": "bad_img", "question": "What?", "answer": "3", "image": str(broken)},
        {"sample_id": "list_gt", "question": "What?", "answer": ["3", "4"]},
        {"sample_id": "blank_gt", "question": "What?", "answer": " $ $ "},
        ROWS[1],
    ]
    policy = ScriptedPolicy(solves)
    table = run_mcts_difficulty(rows, policy, CFG, tmp_path / "out", progress=False)
    reasons = dict(zip(table["sample_id"], table["skip_reason"]))
    assert pd.isna(reasons["q0"]) and pd.isna(reasons["q1"])
    assert "no ground-truth" in reasons["no_gt"]
    assert "cannot be decoded" in reasons["bad_img"] and "broken.png" in reasons["bad_img"]
    assert "unexpected type list" in reasons["list_gt"]
    assert "no comparable content" in reasons["blank_gt"]
    assert table["skip_reason"].notna().sum() == 4
    assert policy.requested_ids() == {"q0", "q1"}
    assert table.loc[table.sample_id == "q1", "iters"].item() == 1
    # Skipped rows are persisted too, so a restart does not re-examine them.
    lines = (tmp_path / "out" / "part-00000.jsonl").read_text().splitlines()
    saved = [json.loads(line) for line in lines]
    assert [r["sample_id"] for r in saved] == [r["sample_id"] for r in rows]

    with pytest.raises(BadSampleError, match="'no_gt'"):
        run_mcts_difficulty(rows, policy, CFG, tmp_path / "strict", strict=True, progress=False)


def test_duplicate_ids_are_refused(tmp_path):
    with pytest.raises(ValueError, match="'q0' occurs more than once"):
        run_mcts_difficulty([ROWS[0], ROWS[0]], ScriptedPolicy(), CFG, tmp_path, progress=False)


def test_missing_values_of_nullable_columns_reach_the_search_as_missing(tmp_path):
    rows = [dict(ROWS[0], question_type=pd.NA), dict(ROWS[1], options=None)]
    table = run_mcts_difficulty(rows, ScriptedPolicy(solves), CFG, tmp_path, progress=False)
    assert table["skip_reason"].isna().all() and pd.isna(table["question_type"][0])
    with pytest.raises(ValueError, match="sample_id 'q0'"):
        run_mcts_difficulty([dict(ROWS[0], image=object())], ScriptedPolicy(solves), CFG,
                            tmp_path / "other", progress=False)

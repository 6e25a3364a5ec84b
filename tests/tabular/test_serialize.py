"""Serialization: value codes, vectorised rows, prompt sections, context checks, SFT records."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from datarecipes.tabular.context import PromptTooLongError, fit_to_context, prompt_token_count
from datarecipes.tabular.prior import PriorParams, generate_tasks
from datarecipes.tabular.serialize import (
    SYSTEM_PROMPT,
    build_messages,
    encode_values,
    format_rows,
    shot_counts,
)
from datarecipes.tabular.sft import build_sft_records


def test_codes_use_the_shots_statistics_and_clip_both_ends():
    shots = np.array([[0.0, 5.0], [2.0, 5.0], [np.nan, 5.0]])
    test = np.array([[1.0, 7.0], [np.nan, 5.0], [100.0, 5.0], [-100.0, 5.0]])
    train_codes, test_codes = encode_values(shots, test)
    # column 0: mean 1, std 1 over the shots (NaN ignored); NaN -> mean -> 500
    assert train_codes[:, 0].tolist() == [380, 620, 500]
    assert test_codes[0, 0] == 500 and test_codes[1, 0] == 500
    assert test_codes[2, 0] == 999 and test_codes[3, 0] == 0  # upper clip (not in reference)
    # column 1 is constant over the shots: std 1, so 7 -> z = 2 -> 740
    assert test_codes[0, 1] == 740 and train_codes[0, 1] == 500
    # int() truncation, as the reference: z = 0.5/1.0 ... 1.004 -> 620.48 -> 620
    _, t = encode_values(np.array([[0.0], [2.0]]), np.array([[2.004]]))
    assert t[0, 0] == 620


@pytest.mark.parametrize("k", [1, 3, 17])
def test_vectorised_rows_equal_plain_formatting(k):
    rng = np.random.default_rng(k)
    codes = rng.integers(0, 1000, size=(200, k))
    codes[0, 0], codes[1, -1] = 0, 999
    labels = rng.integers(0, 12, size=200)
    expected = "\n".join(",".join(map(str, r)) + f"|{y}" for r, y in zip(codes, labels))
    assert format_rows(codes, labels=labels) == expected
    expected_test = "\n".join(f"{i}:" + ",".join(map(str, r)) for i, r in enumerate(codes))
    assert format_rows(codes, ids=np.arange(200)) == expected_test


def test_prompt_has_the_reference_sections_and_answer():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4))
    y = np.array([0, 1, 2] * 4)
    messages = build_messages(x[:8], y[:8], x[8:], y[8:], column_order=np.array([3, 2, 1, 0]))
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[0]["content"] == SYSTEM_PROMPT
    user = messages[1]["content"]
    for section in ("[Data]", "[Training set]", "[Test set]", "[Output requirements]"):
        assert section in user
    assert "Each sample = 4 features + 1 label.  Label set = [0, 1, 2]." in user
    train_lines = re.findall(r"^\d+,\d+,\d+,\d+\|\d$", user, re.M)
    test_lines = re.findall(r"^\d+:\d+,\d+,\d+,\d+$", user, re.M)
    assert len(train_lines) == 8 and len(test_lines) == 4
    assert json.loads(messages[2]["content"]) == [
        {"id": i, "label": int(v)} for i, v in enumerate(y[8:])
    ]
    # the column order is applied: the first printed value is column 3's code
    codes, _ = encode_values(x[:8], x[8:])
    assert train_lines[0].startswith(f"{codes[0, 3]},{codes[0, 2]},")
    assert shot_counts(1024) == [8, 16, 32, 64, 128, 256, 512, 1024]


class WordTokenizer:
    """A tokenizer with only ``__call__`` (like a HF tokenizer without chat template)."""

    def __call__(self, text):
        return {"input_ids": re.findall(r"\d|[^\d\s]+", text)}


class ChatTokenizer:
    chat_template = "x"

    def apply_chat_template(self, messages, tokenize=True):
        return list(range(sum(len(m["content"]) for m in messages) + 10))


def _build(n):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n + 4, 10))
    return build_messages(x[:n], np.arange(n) % 2, x[n:], np.zeros(4, int))


def test_token_count_uses_the_tokenizer_given():
    messages = _build(8)
    assert prompt_token_count(messages, ChatTokenizer()) == sum(
        len(m["content"]) for m in messages
    ) + 10
    assert prompt_token_count(messages, WordTokenizer()) > 8 * 10 * 3  # >= 3 digits per value


def test_too_long_prompt_is_an_error_naming_task_and_shots():
    with pytest.raises(PromptTooLongError, match=r"SCM task 7: the prompt with 64 shots"):
        fit_to_context(_build, 64, WordTokenizer(), 2000, where="SCM task 7")


def test_fewer_shots_fallback_fits_and_never_truncates():
    messages, used = fit_to_context(_build, 64, WordTokenizer(), 2000, where="t",
                                    on_too_long="fewer_shots")
    assert used < 64
    assert prompt_token_count(messages, WordTokenizer()) <= 2000
    assert f"{used} rows:" in messages[1]["content"]  # whole rows, the count says so
    with pytest.raises(PromptTooLongError, match="even 1 shots"):
        fit_to_context(_build, 64, WordTokenizer(), 100, where="t", on_too_long="fewer_shots")


def test_sft_records_are_conversations_split_by_task():
    tasks = generate_tasks(10, seed=0, settings=PriorParams(n_rows=128))
    train, val = build_sft_records(tasks, [8, 16, 32], test_rows=5, seed=0, val_fraction=0.2)
    assert len(train) == 8 and len(val) == 2
    assert {r["meta"]["task"] for r in val} == {8, 9}
    for r in train + val:
        roles = [m["role"] for m in r["messages"]]
        assert roles == ["system", "user", "assistant"]
        assert r["meta"]["n_shots"] in (8, 16, 32)
        answer = json.loads(r["messages"][2]["content"])
        assert [a["id"] for a in answer] == list(range(5))
    again, _ = build_sft_records(tasks, [8, 16, 32], test_rows=5, seed=0, val_fraction=0.2)
    assert again == train  # deterministic


def test_rf_teacher_answers_differ_from_truth_somewhere():
    tasks = generate_tasks(6, seed=2, settings=PriorParams(n_rows=128))
    truth, _ = build_sft_records(tasks, [8], test_rows=40, seed=0, val_fraction=0.0)
    taught, _ = build_sft_records(tasks, [8], test_rows=40, seed=0, val_fraction=0.0,
                                  teacher=True)
    assert [r["messages"][1] for r in truth] == [r["messages"][1] for r in taught]
    assert any(a["messages"][2] != b["messages"][2] for a, b in zip(truth, taught))
    assert all(r["meta"]["teacher"] == "random_forest" for r in taught)


def test_sft_answers_only_use_labels_shown_in_the_prompt():
    tasks = generate_tasks(12, seed=4, settings=PriorParams(n_rows=128))
    train, _ = build_sft_records(tasks, [16, 32], test_rows=20, seed=0, val_fraction=0.0)
    for r in train:
        shown = json.loads(re.search(r"Label set = (\[[\d, ]*\])", r["messages"][1]["content"])
                           .group(1))
        answered = {a["label"] for a in json.loads(r["messages"][2]["content"])}
        assert answered <= set(shown)  # >= 10 classes never exceed 16 shots' class cover

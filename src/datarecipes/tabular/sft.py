"""SFT records from SCM-prior tasks: one many-shot prompt per synthetic table.

Each task becomes one conversation: ``n_shots`` of its rows as the training set (a shot count
drawn from the configured doubling grid; the shots start with one row of every class), another
``test_rows`` rows as the test set, columns shuffled, and the true labels (or, for the
warm-up, a random forest's predictions) as the JSON answer. The draws come from
``default_rng([seed, task index, 1])``, independent of the prior's own stream, so a record
depends only on its task and the parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from datarecipes.tabular.context import fit_to_context
from datarecipes.tabular.evaluate import class_covering_order
from datarecipes.tabular.prior import SCMTask
from datarecipes.tabular.serialize import OURS, PromptFormatParams, build_messages, record
from datarecipes.tabular.teacher import random_forest_teacher


def task_to_record(
    task: SCMTask,
    shots: Sequence[int],
    test_rows: int,
    seed: int,
    tokenizer: Any = None,
    max_length: int = 32000,
    on_too_long: Literal["error", "fewer_shots"] = "error",
    teacher: bool = False,
    prompt_format: PromptFormatParams = OURS,
) -> dict[str, Any]:
    """The SFT record of one task (see the module docstring); ``prompt_format`` is the one
    the evaluation prompts use, so the model is trained on the text it is tested on."""
    rng = np.random.default_rng([seed, task.index, 1])
    n_rows = task.X.shape[0]
    usable = [s for s in shots if s + test_rows <= n_rows]
    if not usable:
        raise ValueError(
            f"SCM task {task.index}: no shot count in {list(shots)} leaves {test_rows} test rows "
            f"out of {n_rows}; lower test_rows_per_prompt or raise prior.n_rows"
        )
    wanted = int(usable[int(rng.integers(len(usable)))])
    perm = rng.permutation(n_rows)
    columns = rng.permutation(task.X.shape[1])
    test_idx = perm[:test_rows]
    # shots start with one row of every class, so that (from 10 shots on) every label the
    # answer uses is in the prompt's label set
    order = np.concatenate([test_idx, class_covering_order(
        task.y, perm[test_rows:], int(rng.integers(2**31)))])
    x_test = task.X[test_idx]
    answers_cache: dict[int, np.ndarray] = {}

    def answers(n_shots: int) -> np.ndarray:
        if not teacher:
            return task.y[test_idx]
        if n_shots not in answers_cache:
            shot_idx = order[test_rows : test_rows + n_shots]
            answers_cache[n_shots] = random_forest_teacher(
                task.X[shot_idx], task.y[shot_idx], x_test, seed=seed
            )
        return answers_cache[n_shots]

    def build(n_shots: int):
        shot_idx = order[test_rows : test_rows + n_shots]
        return build_messages(task.X[shot_idx], task.y[shot_idx], x_test, answers(n_shots),
                              column_order=columns, fmt=prompt_format)

    messages, used = fit_to_context(
        build, wanted, tokenizer, max_length, where=f"SCM task {task.index}",
        on_too_long=on_too_long, allowed_shots=usable, fmt=prompt_format,
    )
    return record(
        messages,
        task=task.index,
        n_shots=used,
        n_test=test_rows,
        n_features=int(task.X.shape[1]),
        n_classes=task.n_classes,
        kind=task.config["kind"],
        teacher="random_forest" if teacher else "none",
    )


def build_sft_records(
    tasks: Sequence[SCMTask],
    shots: Sequence[int],
    test_rows: int,
    seed: int,
    val_fraction: float = 0.1,
    progress: bool = False,
    **kwargs: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, val) records; the last ``ceil(val_fraction * n)`` tasks by index are val."""
    records = [
        task_to_record(t, shots, test_rows, seed, **kwargs)
        for t in tqdm(tasks, desc="SFT records", unit="task", disable=not progress)
    ]
    order = sorted(range(len(tasks)), key=lambda i: tasks[i].index)
    n_val = int(np.ceil(val_fraction * len(tasks))) if val_fraction > 0 else 0
    val_ids = set(order[len(order) - n_val :]) if n_val else set()
    train = [r for i, r in enumerate(records) if i not in val_ids]
    val = [r for i, r in enumerate(records) if i in val_ids]
    return train, val

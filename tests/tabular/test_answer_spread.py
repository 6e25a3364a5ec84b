"""answer_spread: a constant answerer is told apart from one that answers but answers wrong."""

from __future__ import annotations

import pandas as pd
import pytest

from datarecipes.tabular.metrics import answer_spread


def _predictions(labels_by_cell: dict[tuple[str, int], list[int]]) -> pd.DataFrame:
    rows = []
    for (dataset, shots), labels in labels_by_cell.items():
        rows += [{"dataset": dataset, "method": "lm", "shots": shots, "seed": 40, "row": i,
                  "label": label} for i, label in enumerate(labels)]
    return pd.DataFrame(rows)


def test_one_label_cells_and_top_label_shares():
    spread = answer_spread(_predictions({
        ("a", 8): [0, 0, 0, 0],     # one label everywhere
        ("a", 16): [0, 1, 0, 2],    # three labels, the top one on half the rows
        ("b", 8): [-1, -1, 3, 3],   # unanswered rows count as a label of their own
    })).set_index(["dataset", "shots"])
    assert spread.loc[("a", 8), "one_label"] and spread.loc[("a", 8), "labels"] == 1
    assert spread.loc[("a", 8), "top_label_share"] == 1.0
    assert not spread.loc[("a", 16), "one_label"] and spread.loc[("a", 16), "labels"] == 3
    assert spread.loc[("a", 16), "top_label_share"] == 0.5
    assert spread.loc[("b", 8), "labels"] == 2 and spread.loc[("b", 8), "rows"] == 4


def test_cells_follow_the_grouping_asked_for():
    predictions = _predictions({("a", 8): [0, 0], ("a", 16): [1, 1]})
    by_table = answer_spread(predictions, by=["dataset"])
    assert len(by_table) == 1 and by_table["labels"].iloc[0] == 2
    assert not by_table["one_label"].iloc[0]  # constant per shot count, not per table


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"lack the columns \['shots'\]"):
        answer_spread(pd.DataFrame({"dataset": ["a"], "seed": [40], "label": [0]}))

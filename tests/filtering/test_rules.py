"""The filter expression language: precedence, three-valued logic, top(), presets, safety."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datarecipes.filtering.rules import (
    PRESETS,
    RuleError,
    apply_rule,
    apply_rules,
    parse_rule,
    rule_columns,
)

NAN = np.nan


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame({
        "clip": [0.10, 0.30, 0.25, 0.40, NAN, 0.29],
        "su": [90, 10, 86, NAN, 95, 84],
        "itm": [70, 66, 65, 80, 10, NAN],
        "odf": [20, 19, 50, 25, 30, 40],
        "dfn": [False, True, False, True, True, False],
    })


def test_comparisons_and_missing_scores_are_never_kept(table):
    assert apply_rule(table, "clip >= 0.28").tolist() == [False, True, False, True, False, True]
    # A NaN score is unknown: negating the comparison must not keep it.
    assert apply_rule(table, "!(clip < 0.28)").tolist() == [False, True, False, True, False, True]
    assert apply_rule(table, "clip != 0.3").tolist() == [True, False, True, True, False, True]


def test_precedence_not_and_or(table):
    # & binds tighter than |: a | (b & c)
    a, b, c = "clip>=0.3", "su>=85", "odf>=40"
    got = apply_rule(table, f"{a} | {b} & {c}")
    want = apply_rule(table, f"{a} | ({b} & {c})")
    assert got.tolist() == want.tolist()
    assert got.tolist() != apply_rule(table, f"({a} | {b}) & {c}").tolist()


def test_three_valued_or_keeps_known_true_side(table):
    # Open-Qwen2VL: SU >= 85 unioned with DFN. Row 3 has no SU but is in DFN: kept.
    keep = apply_rule(table, "su >= 85 | dfn")
    assert keep.tolist() == [True, True, True, True, True, False]
    # The same through the preset name.
    assert apply_rule(table, "open_qwen2vl").tolist() == keep.tolist()


def test_mlm_filter_intersection_preset(table):
    keep = apply_rule(table, "mlm_filter_best")
    assert keep.tolist() == [True, False, False, True, False, False]
    assert rule_columns(parse_rule("mlm_filter_best")) == {"itm", "odf"}


def test_top_fraction_ranks_only_known_scores(table):
    keep = apply_rule(table, "top(clip, 0.4)")  # 5 known scores -> ceil(2.0) = 2 kept
    assert keep.tolist() == [False, True, False, True, False, False]
    assert apply_rule(table, "top(clip, 1)").sum() == 5
    assert apply_rule(table, "top(clip, 0)").sum() == 0


def test_definitions_override_presets_and_detect_cycles(table):
    keep = apply_rule(table, "su >= 85 | dfn", {"dfn": "top(clip, 0.2)"})
    assert keep.tolist() == [True, False, True, True, True, False]
    with pytest.raises(RuleError, match="cycle"):
        parse_rule("a", {"a": "b | clip > 0", "b": "a"})


@pytest.mark.parametrize("text", [
    "clip >=", "clip >= 0.2 &", "(clip > 0", "clip > 0)", "top(clip)", "top(clip, 2)",
    "__import__('os').system('x')", "clip >= 0.2; x", "", "   ",
])
def test_malformed_or_unsafe_expressions_are_refused(text):
    with pytest.raises(RuleError):
        parse_rule(text)


def test_unknown_column_names_the_rule(table):
    with pytest.raises(RuleError, match="'bad'.*unknown column 'ctq'"):
        apply_rules(table, {"good": "clip > 0", "bad": "ctq >= 50"})


def test_apply_rules_gives_one_mask_per_rule(table):
    masks = apply_rules(table, {"a": "clip >= 0.28", "b": PRESETS["mlm_filter_best"]})
    assert list(masks.columns) == ["a", "b"]
    assert masks["a"].dtype == bool and masks["b"].sum() == 2


@pytest.fixture
def dedup_table(table) -> pd.DataFrame:
    # Columns as datarecipes.dedup writes them (dotted names, a nullable cluster id).
    return table.assign(**{
        "dup.phash": [False, True, False, False, False, True],
        "dup_distance.phash": [NAN, 2.0, 0.0, NAN, NAN, 3.0],
        "dup_cluster.phash": [-1, 0, 0, -1, -1, 1],
        "contaminated.heldout": pd.array([False, False, None, False, True, False],
                                         dtype="boolean"),
    })


def test_dedup_columns_negation_and_top(dedup_table):
    # The example: drop pHash duplicates, keep the top 70 % by CLIP.
    got = apply_rule(dedup_table, "!dup.phash & top(clip, 0.7)")
    top = apply_rule(dedup_table, "top(clip, 0.7)")  # 5 known -> 4 kept: rows 1, 2, 3, 5
    assert top.tolist() == [False, True, True, True, False, True]
    assert got.tolist() == [False, False, True, True, False, False]
    assert rule_columns(parse_rule("!dup.phash & top(clip, 0.7)")) == {"dup.phash", "clip"}
    # Distances compare like scores; NaN (no duplicate) is unknown, so never kept by <=.
    assert apply_rule(dedup_table, "dup_distance.phash <= 2").tolist() == [
        False, True, True, False, False, False]
    # A nullable boolean: the missing flag is unknown, so ! does not keep it.
    assert apply_rule(dedup_table, "!contaminated.heldout").tolist() == [
        True, True, False, True, False, True]


def test_top_within_a_condition_ranks_only_those_rows(dedup_table):
    # Non-duplicates with a CLIP score: rows 0, 2, 3 -> ceil(0.66 * 3) = 2: rows 3, 2.
    got = apply_rule(dedup_table, "top(clip, 0.66, !dup.phash)")
    assert got.tolist() == [False, False, True, True, False, False]
    assert rule_columns(parse_rule("top(clip, 0.5, !dup.phash & su > 0)")) == {
        "clip", "dup.phash", "su"}
    # The condition's unknowns stay unknown: a row without the flag is not kept.
    got = apply_rule(dedup_table, "top(clip, 1, !contaminated.heldout)")
    assert got.tolist() == [True, True, False, True, False, True]
    with pytest.raises(RuleError):
        parse_rule("top(clip, 0.5, )")


def test_a_bare_non_boolean_column_is_refused(dedup_table):
    with pytest.raises(RuleError, match="'dup_cluster.phash' is not boolean.*compare it"):
        apply_rule(dedup_table, "!dup_cluster.phash")
    with pytest.raises(RuleError, match="not boolean"):
        apply_rule(dedup_table.assign(tag=["a", "b", "c", "d", "e", "f"]), "tag")
    # 0/1 columns (a released uid list as integers) still read as flags.
    assert apply_rule(dedup_table.assign(dfn01=[0, 1, 0, 1, 1, 0]), "dfn01").sum() == 3

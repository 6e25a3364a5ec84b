"""The experiment statistics: planted effects are found, null effects are not, seeds pair."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from datarecipes.experiments import (
    bootstrap_mean,
    compare_arms,
    comparison_markdown,
    differences_plot,
    means_plot,
    paired_difference,
    selection_overlap,
    summary_metrics,
)

SEEDS = list(range(8))


def _runs(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"arm": arm, "seed": s, "accuracy": v}
                         for arm, vs in values.items() for s, v in zip(SEEDS, vs)])


def test_planted_difference_is_found_and_null_difference_straddles_zero():
    rng = np.random.default_rng(1)
    base = 0.3 + rng.normal(0, 0.03, len(SEEDS))
    better = base + 0.1 + rng.normal(0, 0.02, len(SEEDS))
    same = base + rng.normal(0, 0.02, len(SEEDS))
    summary = compare_arms(_runs({"random": list(base), "mcts": list(better),
                                  "accuracy": list(same)}), "accuracy", "random")
    rows = summary.set_index("arm")
    assert rows.loc["mcts", "diff_excludes_zero"]
    assert rows.loc["mcts", "diff_ci_low"] > 0.05  # the planted 0.1, not just "above 0"
    assert rows.loc["mcts", "diff_vs_baseline"] == pytest.approx(np.mean(better - base))
    assert not rows.loc["accuracy", "diff_excludes_zero"]
    assert rows.loc["accuracy", "diff_ci_low"] < 0 < rows.loc["accuracy", "diff_ci_high"]
    assert rows.loc["random", "diff_vs_baseline"] == 0
    for arm, values in (("random", base), ("mcts", better)):
        assert rows.loc[arm, "mean"] == pytest.approx(values.mean())
        assert rows.loc[arm, "ci_low"] < values.mean() < rows.loc[arm, "ci_high"]
        assert rows.loc[arm, "seeds"] == len(SEEDS)


def test_seeds_are_paired_by_seed_not_by_position():
    # Each seed moves both arms by the same large offset; only pairing cancels it.
    offsets = np.array([0.0, 0.3, -0.2, 0.5, -0.4, 0.1, 0.25, -0.3])
    noise = np.array([0.004, -0.003, 0.002, 0.0, -0.002, 0.003, -0.004, 0.001])
    base = {s: 0.4 + o for s, o in zip(SEEDS, offsets)}
    arm = {s: 0.45 + o + n for s, o, n in zip(SEEDS, offsets, noise)}
    paired = paired_difference(arm, base)
    assert paired.excludes_zero() and paired.low > 0.04 and paired.high < 0.06
    # Unpaired, the two means' intervals overlap wholly: the offsets swamp the 0.05.
    a, b = bootstrap_mean(list(arm.values())), bootstrap_mean(list(base.values()))
    assert a.low < b.high and b.low < a.high
    # The mapping's order does not matter; its keys do.
    shuffled = dict(reversed(list(arm.items())))
    assert paired_difference(shuffled, base) == paired
    misaligned = dict(zip(SEEDS, reversed(list(arm.values()))))
    assert not paired_difference(misaligned, base).excludes_zero()


def test_bootstrap_is_reproducible_with_its_seed():
    x = np.random.default_rng(0).normal(size=6)
    assert bootstrap_mean(x, seed=3) == bootstrap_mean(x, seed=3)
    assert bootstrap_mean(x, seed=3) != bootstrap_mean(x, seed=4)


def test_degenerate_and_bad_inputs():
    assert bootstrap_mean([0.5, 0.5, 0.5]).low == 0.5 == bootstrap_mean([0.5, 0.5]).high
    single = bootstrap_mean([0.2])
    assert single.n == 1 and np.isnan(single.low) and not single.excludes_zero()
    with pytest.raises(ValueError, match="non-finite"):
        bootstrap_mean([0.1, float("nan")])
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference({0: 1.0, 1: 2.0}, {0: 1.0, 2: 2.0})
    runs = _runs({"random": [0.1] * 8, "mcts": [0.2] * 8}).iloc[:-1]
    with pytest.raises(ValueError, match=r"missing: \[\('mcts', 7\)\]"):
        compare_arms(runs, "accuracy", "random")
    with pytest.raises(ValueError, match="more than one row"):
        compare_arms(pd.concat([runs, runs.iloc[:1]]), "accuracy", "random")
    with pytest.raises(ValueError, match="no runs for arm"):
        compare_arms(runs, "accuracy", "all")


def test_overlap_counts_and_jaccard_within_each_seed():
    selected = {("mcts", 0): ["a", "b", "c"], ("random", 0): ["b", "c", "d"],
                ("all", 0): ["a", "b", "c", "d"], ("mcts", 1): ["a"], ("random", 1): ["b"]}
    overlap = selection_overlap(selected)
    assert len(overlap) == 4  # 3 pairs at seed 0, 1 at seed 1; never across seeds
    row = overlap[(overlap.seed == 0) & (overlap.arm_a == "mcts") & (overlap.arm_b == "random")]
    assert row[["size_a", "size_b", "shared"]].iloc[0].tolist() == [3, 3, 2]
    assert row["jaccard"].iloc[0] == pytest.approx(2 / 4)
    assert overlap[overlap.seed == 1]["jaccard"].iloc[0] == 0.0
    summary = compare_arms(_runs({"random": [0.1, 0.2] * 4, "mcts": [0.3, 0.2] * 4}),
                           "accuracy", "random")
    metrics = summary_metrics(summary, overlap)
    assert metrics["overlap/mcts-vs-random/jaccard"] == pytest.approx((0.5 + 0.0) / 2)
    assert metrics["mcts/mean"] == pytest.approx(0.25)
    assert "random/diff_ci_low" not in metrics  # NaN statistics are left out, not logged


def test_plots_and_markdown_show_every_arm_and_seed():
    runs = _runs({"random": [0.1, 0.2] * 4, "mcts": [0.3, 0.2] * 4})
    summary = compare_arms(runs, "accuracy", "random")
    assert isinstance(means_plot(summary, runs, "accuracy"), Figure)
    fig = differences_plot(summary, "random", "accuracy")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["mcts"]
    page = comparison_markdown("ThinkLite", summary, runs, "accuracy", "random",
                               overlap=selection_overlap({("mcts", 0): ["a"],
                                                          ("random", 0): ["a"]}),
                               command="kedro run")
    assert "| mcts " in page and "`kedro run`" in page and "Overlap" in page
    per_seed = page.split("### Per seed")[1].split("###")[0]
    assert sum(line.startswith("|") for line in per_seed.splitlines()) == 2 + len(SEEDS)

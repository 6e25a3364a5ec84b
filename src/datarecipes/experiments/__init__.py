"""Experiment statistics shared by the recipes' ``*_experiment`` pipelines (no Kedro here):
per-arm means and paired per-seed differences with bootstrap intervals, selected-set overlap,
the comparison table, its plots and its markdown page."""

from datarecipes.experiments.report import (
    compare_arms,
    comparison_markdown,
    differences_plot,
    means_plot,
    overlap_summary,
    selection_overlap,
    summary_metrics,
)
from datarecipes.experiments.stats import (
    CONFIDENCE,
    Interval,
    bootstrap_mean,
    paired_difference,
    per_seed_values,
)

__all__ = [
    "CONFIDENCE",
    "Interval",
    "bootstrap_mean",
    "compare_arms",
    "comparison_markdown",
    "differences_plot",
    "means_plot",
    "overlap_summary",
    "paired_difference",
    "per_seed_values",
    "selection_overlap",
    "summary_metrics",
]

"""The ``filtering_experiment`` section (``conf/base/parameters_filtering_experiment.yml``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from datarecipes.config import parameters_section, require
from datarecipes.experiments.sections import check_seeds_and_resamples, section_from_file

#: The file that defines the section, under the configuration's ``base`` environment.
FILE = "parameters_filtering_experiment.yml"

#: The arm that trains on the recipe's kept pairs (``filtering.filter.apply``).
FILTERED = "filtered"
#: The arm that trains on the whole pool: the baseline every arm is differenced against.
UNFILTERED = "unfiltered"

#: Retrieval metrics a run reports (``k`` from ``filtering.pretrain.recall_at``):
#: ``image_to_text_recall_at_k``, ``text_to_image_recall_at_k``, their mean
#: ``mean_recall_at_k``, and ``mean_recall`` (the mean over both directions and every k).
METRIC_PATTERN = re.compile(r"mean_recall|(image_to_text|text_to_image|mean)_recall_at_\d+")


def sweep_arm(fraction: float) -> str:
    """The arm keeping the top ``fraction`` of the pool: ``top_10`` for 0.1, ``top_12p5``
    for 0.125 (no ``.``: an arm is one component of a namespace)."""
    return "top_" + f"{fraction * 100:g}".replace(".", "p")


@parameters_section("filtering_experiment")
@dataclass(frozen=True)
class FilteringExperimentParams:
    """Seeds and kept fractions of the filtering experiment, its pretraining budget, and how
    the runs are compared."""

    #: Seed ``s`` sets the CLIP initialisation and the batch order of every arm (pairing).
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    #: DataComp's sweep: an arm keeping the top fraction ``f`` of the pool by ``score``, per
    #: ``f`` (strictly between 0 and 1; 1.0 is the ``unfiltered`` arm).
    kept_fractions: list[float] = field(default_factory=lambda: [0.1, 0.25, 0.5, 0.75])
    #: Score column of the scored pool the sweep ranks by (higher is kept).
    score: str = "clip"
    #: Drop the pairs decontamination drops from every arm, ``unfiltered`` and the sweep
    #: included (DataComp removes evaluation-set near-duplicates from its pool before any
    #: filtering); false: only the recipe's own rule drops them.
    decontaminate_every_arm: bool = True
    #: Optimiser steps of every arm (null: ``filtering.pretrain.training.steps``).
    steps: int | None = 100
    #: Pairs per step of every arm (null: ``filtering.pretrain.training.batch_size``); with
    #: ``steps`` it fixes the samples seen, DataComp's equal compute.
    batch_size: int | None = None
    #: The compared retrieval metric (:data:`METRIC_PATTERN`); the others are reported too.
    metric: str = "mean_recall"
    #: Bootstrap resamples of every interval.
    bootstrap_resamples: int = 10_000
    #: Seed of the bootstrap (same runs, same intervals).
    bootstrap_seed: int = 0

    def __post_init__(self) -> None:
        check_seeds_and_resamples(self.seeds, self.bootstrap_resamples)
        require(all(0 < f < 1 for f in self.kept_fractions),
                f"kept_fractions must lie strictly between 0 and 1 (1.0 is the "
                f"{UNFILTERED!r} arm), got {self.kept_fractions}")
        require(list(self.kept_fractions) == sorted(set(self.kept_fractions)),
                f"kept_fractions must be strictly increasing, got {self.kept_fractions}")
        names = [sweep_arm(f) for f in self.kept_fractions]
        require(len(set(names)) == len(names),
                f"kept_fractions {self.kept_fractions} give the same arm name twice: {names}")
        require(bool(self.score), "score must name a score column")
        require(self.steps is None or self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        require(self.batch_size is None or self.batch_size >= 2,
                f"batch_size must be >= 2, got {self.batch_size}")
        require(METRIC_PATTERN.fullmatch(self.metric) is not None,
                f"metric {self.metric!r} is not a retrieval metric: mean_recall or "
                "(image_to_text|text_to_image|mean)_recall_at_<k>")

    @property
    def sweep(self) -> dict[str, float]:
        """Sweep arm → its kept fraction, in increasing fraction."""
        return {sweep_arm(f): float(f) for f in self.kept_fractions}

    @property
    def arms(self) -> list[str]:
        """Every arm, in the order of the tables: the baseline, the recipe, the sweep."""
        return [UNFILTERED, FILTERED, *self.sweep]


def design(conf_dir: str | Path = "conf/base") -> tuple[list[str], list[int]]:
    """Arms and seeds of ``<conf_dir>/parameters_filtering_experiment.yml`` (the section's
    defaults when the file is not there), for building the pipeline before Kedro loads any
    parameter (a pipeline's nodes are fixed first); the start-up hook checks it again."""
    params = section_from_file(FilteringExperimentParams, conf_dir, FILE, "filtering_experiment")
    return params.arms, list(params.seeds)

"""The ``thinklite_experiment`` section (``conf/base/parameters_thinklite_experiment.yml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from datarecipes.config import parameters_section, require
from datarecipes.experiments.sections import check_seeds_and_resamples, section_from_file
from datarecipes.mcts import SelectionParams

#: The file that defines the section, under the configuration's ``base`` environment.
FILE = "parameters_thinklite_experiment.yml"

#: The arms the issue asks for: ThinkLite's rule, its two controls, the whole pool and the
#: diversity-aware hard set.
DEFAULT_ARMS: tuple[str, ...] = ("mcts", "random", "accuracy", "all", "diverse")


def _default_selection() -> dict[str, SelectionParams]:
    return {
        "mcts": SelectionParams(strategy="mcts"),
        "random": SelectionParams(strategy="random"),
        "accuracy": SelectionParams(strategy="accuracy"),
        "all": SelectionParams(strategy="all"),
        "diverse": SelectionParams(strategy="diverse"),
    }


@parameters_section("thinklite_experiment")
@dataclass(frozen=True)
class ExperimentParams:
    """Arms × seeds of the selection experiment and how they are compared."""

    #: Arm names, one ``selection`` entry each (any names; the strategy is in the entry).
    arms: list[str] = field(default_factory=lambda: list(DEFAULT_ARMS))
    #: Seeds; seed ``s`` seeds every arm's selection draw and GRPO run, so arms pair by seed.
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    #: The arm every other arm is differenced against, seed by seed.
    baseline: str = "random"
    #: Key of the held-out evaluation metrics that is compared (``thinklite_eval_metrics``).
    metric: str = "accuracy"
    #: Bootstrap resamples of every interval.
    bootstrap_resamples: int = 10_000
    #: Seed of the bootstrap (same runs, same intervals).
    bootstrap_seed: int = 0
    #: Arm → its ``hard_sample_selection`` settings (their ``seed`` is replaced per seed).
    selection: dict[str, SelectionParams] = field(default_factory=_default_selection)

    def __post_init__(self) -> None:
        require(bool(self.arms), "arms must name at least one arm")
        require(len(set(self.arms)) == len(self.arms), f"arms repeat a name: {self.arms}")
        check_seeds_and_resamples(self.seeds, self.bootstrap_resamples)
        require(self.baseline in self.arms,
                f"baseline {self.baseline!r} is not one of the arms {self.arms}")
        missing = [a for a in self.arms if a not in self.selection]
        require(not missing, f"selection has no entry for arm(s) {missing}")
        counted = {a: self.selection[a] for a in self.arms
                   if self.selection[a].strategy in ("mcts", "random", "diverse")}
        # random and diverse keep as many samples as the mcts rule: one threshold for all.
        thresholds = {c.iters_threshold for c in counted.values()}
        require(len(thresholds) <= 1,
                "the mcts, random and diverse arms must share iters_threshold (it sets the "
                f"count random and diverse keep), got "
                f"{ {a: c.iters_threshold for a, c in counted.items()} }")


def design(conf_dir: str | Path = "conf/base") -> tuple[list[str], list[int]]:
    """Arms and seeds of ``<conf_dir>/parameters_thinklite_experiment.yml`` (the section's
    defaults when the file is not there, e.g. outside the project directory).

    For building the pipeline, before Kedro has loaded any parameter (a pipeline's nodes are
    fixed first): the whole section is checked here, as the start-up hook checks it again.
    """
    params = section_from_file(ExperimentParams, conf_dir, FILE, "thinklite_experiment")
    return list(params.arms), list(params.seeds)

"""The ``scm_experiment`` section (``conf/base/parameters_scm_experiment.yml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from datarecipes.config import parameters_section, require
from datarecipes.experiments.sections import check_seeds_and_resamples, section_from_file
from datarecipes.tabular.baselines import ALL_BASELINES

#: The file that defines the section, under the configuration's ``base`` environment.
FILE = "parameters_scm_experiment.yml"

#: The method name the tabular LM's rows carry in the evaluation tables.
LM = "lm"


@parameters_section("scm_experiment")
@dataclass(frozen=True)
class ScmExperimentParams:
    """Seeds of the MachineLearningLM experiment, what each run is evaluated on, and how the
    runs are compared."""

    #: Seed ``s`` replaces ``scm.seed`` (prior tasks, SFT records) and ``scm_training.seed``.
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    #: Shot counts of the evaluation (replaces ``scm.eval_shots``); a (table, shot count)
    #: whose prompt does not fit ``scm.max_prompt_tokens`` is refused with its reason.
    eval_shots: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 128])
    #: Baselines fitted on the LM's shots (replaces ``scm.baselines``).
    baselines: list[str] = field(
        default_factory=lambda: ["majority", "knn", "random_forest"])
    #: Baselines the LM is differenced against, seed by seed and shot count by shot count.
    compared_to: list[str] = field(default_factory=lambda: ["random_forest", "majority"])
    #: Held-out prior tasks every run is also evaluated on (the same tasks for every seed).
    heldout_tasks: int = 16
    #: Prior seed of the held-out tasks; must differ from every training seed.
    heldout_seed: int = 1000
    #: Evaluate seed ``s`` on split seed ``scm.split_seed + s`` (train/test split and shot
    #: order), so the intervals include the evaluation draw; false: one split for all seeds.
    reseed_split: bool = True
    #: Evaluation metric compared (a column of the scm evaluation tables).
    metric: str = "accuracy"
    #: Bootstrap resamples of every interval.
    bootstrap_resamples: int = 10_000
    #: Seed of the bootstrap (same runs, same intervals).
    bootstrap_seed: int = 0

    def __post_init__(self) -> None:
        check_seeds_and_resamples(self.seeds, self.bootstrap_resamples)
        require(bool(self.eval_shots) and all(s >= 1 for s in self.eval_shots)
                and sorted(set(self.eval_shots)) == list(self.eval_shots),
                f"eval_shots must be strictly increasing positive integers, got "
                f"{self.eval_shots}")
        unknown = sorted(set(self.baselines) - set(ALL_BASELINES))
        require(not unknown, f"baselines: unknown {unknown}; choose from {list(ALL_BASELINES)}")
        require(LM not in self.baselines, f"baselines must not name the LM ({LM!r})")
        missing = [b for b in self.compared_to if b not in self.baselines]
        require(not missing, f"compared_to names {missing}, not in baselines {self.baselines}")
        require(self.heldout_tasks >= 1, f"heldout_tasks must be >= 1, got {self.heldout_tasks}")
        require(self.heldout_seed not in self.seeds,
                f"heldout_seed {self.heldout_seed} is also a training seed: its tasks would "
                "be the training tasks, not held out")
        require(self.metric in ("accuracy", "f1", "auc"),
                f"metric must be accuracy, f1 or auc, got {self.metric!r}")

    @property
    def methods(self) -> list[str]:
        """The LM first, then the baselines (the order of every table and plot)."""
        return [LM, *self.baselines]


def design(conf_dir: str | Path = "conf/base") -> list[int]:
    """The seeds of ``<conf_dir>/parameters_scm_experiment.yml`` (the section's default when the
    file is not there), for building the pipeline before Kedro loads any parameter."""
    return list(section_from_file(ScmExperimentParams, conf_dir, FILE, "scm_experiment").seeds)

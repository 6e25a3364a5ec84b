"""Every parameter section's schema, registered in one place.

``config.PARAMETER_SECTIONS`` maps a section of ``conf/base/parameters_*.yml`` to the frozen
dataclass that checks it. Each schema module registers its own classes with
:func:`datarecipes.config.parameters_section`; this module imports every one of those modules
and registers the sections that reuse another section's class (ThinkLite's trainers), so the
start-up hook sees the whole table whatever pipelines were imported. A new section: decorate
its dataclass and add its module below.
"""

from __future__ import annotations

from datarecipes import engines  # generation
from datarecipes.config import PARAMETER_SECTIONS, parameters_section
from datarecipes.dedup import params as dedup_params  # dedup, decontamination
from datarecipes.experiments import filtering_params as filtering_exp_params  # filtering_experiment
from datarecipes.experiments import params as experiment_params  # thinklite_experiment
from datarecipes.experiments import scm_params as scm_experiment_params  # scm_experiment
from datarecipes.filtering import params as filtering_params  # filtering
from datarecipes.mcts import search, selection  # mcts_difficulty, hard_sample_selection
from datarecipes.models import spec  # models
from datarecipes.provision import dedup as provision_dedup  # provision_dedup
from datarecipes.provision import params as provision_params  # provision
from datarecipes.scenes import params as scenes_params  # scenes
from datarecipes.tabular import params as tabular_params  # scm, scm_training, scm_generation
from datarecipes.thinklite import curation  # thinklite_dedup, thinklite_decontamination
from datarecipes.thinklite import params as thinklite_params  # thinklite_*
from datarecipes.training.grpo import GRPOParams
from datarecipes.training.sft import SFTParams

# ThinkLite's training sections are the trainers' own dataclasses, so a key the trainer does
# not know fails at start-up.
parameters_section("thinklite_warm_start")(SFTParams)
parameters_section("thinklite_grpo")(GRPOParams)

#: The modules whose import registers their sections (kept referenced for readers and linters).
SCHEMA_MODULES = (engines, dedup_params, experiment_params, filtering_exp_params,
                  scm_experiment_params,
                  filtering_params, search, selection, spec, provision_dedup, provision_params,
                  scenes_params, tabular_params, curation, thinklite_params)

__all__ = ["PARAMETER_SECTIONS", "SCHEMA_MODULES"]

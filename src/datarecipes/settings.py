"""Project settings: the tracking hook and the configuration loader."""

from kedro.config import OmegaConfigLoader

from datarecipes.context import ProjectContext
from datarecipes.hooks import MlflowTrackingHook, ParameterValidationHook, PreRunCheckHook
from datarecipes.io.rank_zero import RankZeroCatalog
from datarecipes.io.sources import SourceGuardHook

# pluggy calls hooks last-registered first: the pre-run checks, the check that no output is
# written over a user's source and the parameter validation run before tracking starts a run,
# so a refused run leaves no MLflow run and no file.
HOOKS = (MlflowTrackingHook(), ParameterValidationHook(), SourceGuardHook(), PreRunCheckHook())

# Kedro's own building of dataclass-typed node parameters is off: ParameterValidationHook
# builds them (nested sections, checked types), see datarecipes/context.py.
CONTEXT_CLASS = ProjectContext

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/gpu overrides nested keys (e.g. models.policy.name_or_path) instead of replacing
    # whole sections.
    "merge_strategy": {"parameters": "soft"},
    "config_patterns": {
        "tracking": ["tracking*", "tracking*/**", "**/tracking*"],
    },
}

# Under `accelerate launch` only rank 0 writes persisted outputs (docs/scaling.md).
DATA_CATALOG_CLASS = RankZeroCatalog

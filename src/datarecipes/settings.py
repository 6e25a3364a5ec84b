"""Project settings: the tracking hook and the configuration loader."""

from kedro.config import OmegaConfigLoader

from datarecipes.hooks import MlflowTrackingHook, ParameterValidationHook

# pluggy calls hooks last-registered first: validation runs before tracking starts a run.
HOOKS = (MlflowTrackingHook(), ParameterValidationHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "tracking": ["tracking*", "tracking*/**", "**/tracking*"],
    },
}

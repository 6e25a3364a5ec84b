"""benchmarks/gpu_check.sh cannot run without a GPU, but its overrides can be checked here: every
key it sets exists in the ``-e gpu`` parameters, and the overridden parameters validate."""

from __future__ import annotations

import functools
import os
import subprocess

import pytest
from omegaconf import OmegaConf

from datarecipes.config import from_params
from datarecipes.parameter_sections import PARAMETER_SECTIONS
from tests.helpers import PROJECT_ROOT
from tests.project.test_fidelity_doc import load_parameters, lookup

SCRIPT = PROJECT_ROOT / "benchmarks" / "gpu_check.sh"


@functools.cache
def overrides() -> dict[str, str]:
    out = subprocess.run(["bash", str(SCRIPT)], env={**os.environ, "DRY_RUN": "1"},
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split(" ", 1) for line in out.splitlines())


def test_every_recipe_is_checked():
    assert set(overrides()) == {"thinklite", "thinklite_ablation", "filtering", "scm"}


@pytest.fixture(scope="module")
def gpu() -> dict:
    return load_parameters("gpu")


@pytest.mark.parametrize("recipe", ["thinklite", "thinklite_ablation", "filtering", "scm"])
def test_overrides_name_real_parameters_and_validate(recipe, gpu, vllm_importable):
    # As `kedro run --params`: comma-separated dotted keys, values parsed by OmegaConf.
    dotlist = overrides()[recipe].split(",")
    for item in dotlist:
        key = item.split("=", 1)[0]
        lookup(gpu, key)  # KeyError names a key the script sets that -e gpu does not have
    merged = OmegaConf.to_container(OmegaConf.merge(gpu, OmegaConf.from_dotlist(dotlist)))
    for name in sorted(PARAMETER_SECTIONS):
        if name in merged:
            from_params(PARAMETER_SECTIONS[name], merged[name], where=f"{recipe}: {name}")
    assert merged["generation"]["engine"] == "vllm"
    assert merged["thinklite_grpo"]["finetuning"] == "full"

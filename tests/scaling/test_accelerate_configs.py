"""The accelerate launch configs parse, name only options the installed accelerate knows, and
the multi-process launch path (``accelerate launch -m <module>``) starts ranks that see the
environment the project's rank-0 guard reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import PROJECT_ROOT, tool_env

CONFIGS = PROJECT_ROOT / "conf" / "gpu" / "accelerate"
EXPECTED = {
    "fsdp.yaml": ("FSDP", "fsdp_config"),
    "deepspeed_zero3.yaml": ("DEEPSPEED", "deepspeed_config"),
    "multi_cpu.yaml": ("MULTI_GPU", None),
}


def test_every_config_is_covered():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_has_the_keys_accelerate_needs(name):
    raw = yaml.safe_load((CONFIGS / name).read_text())
    distributed_type, plugin = EXPECTED[name]
    assert raw["distributed_type"] == distributed_type
    assert isinstance(raw["num_processes"], int) and raw["num_processes"] >= 1
    assert raw["compute_environment"] == "LOCAL_MACHINE"
    if plugin is not None:
        assert isinstance(raw[plugin], dict) and raw[plugin]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_loads_in_accelerate_and_every_option_is_known(name):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import launch_command_parser

    config = load_config_from_file(str(CONFIGS / name))
    assert config.distributed_type.value == EXPECTED[name][0]
    known = {action.dest for action in launch_command_parser()._actions}
    # accelerate copies each plugin key onto the launch arguments by name; an unknown key
    # would be silently ignored, so every key must be one of launch's own options.
    for key in {**config.fsdp_config, **config.deepspeed_config}:
        assert key in known, f"{name}: accelerate {config.__class__.__module__} ignores {key!r}"


def test_fsdp_saves_one_full_checkpoint_and_zero3_a_16bit_one():
    fsdp = yaml.safe_load((CONFIGS / "fsdp.yaml").read_text())["fsdp_config"]
    zero3 = yaml.safe_load((CONFIGS / "deepspeed_zero3.yaml").read_text())["deepspeed_config"]
    # The catalog's CheckpointDataset needs an ordinary transformers checkpoint.
    assert fsdp["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert zero3["zero_stage"] == 3 and zero3["zero3_save_16bit_model"] is True
    # Trainer-owned knobs stay out of the launch config, so they cannot disagree.
    assert not {"gradient_accumulation_steps", "gradient_clipping"} & set(zero3)


@pytest.mark.slow
def test_two_process_launch_of_a_module(tmp_path: Path):
    accelerate = Path(sys.executable).parent / "accelerate"
    result = subprocess.run(
        [str(accelerate), "launch", "--config_file", str(CONFIGS / "multi_cpu.yaml"),
         "-m", "tests.scaling.accelerate_probe", str(tmp_path)],
        cwd=PROJECT_ROOT, env=tool_env({"OMP_NUM_THREADS": "1"}), capture_output=True,
        text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{i}.json").read_text()) for i in range(2)]
    assert [r["RANK"] for r in reports] == ["0", "1"]
    assert all(r["WORLD_SIZE"] == "2" and r["num_processes"] == 2 for r in reports)
    assert all(r["sum"] == 3.0 for r in reports)  # the all-reduce crossed processes
    lines = (tmp_path / "main.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"writer": 0}]  # rank 0 alone wrote

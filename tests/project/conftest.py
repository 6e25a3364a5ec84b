"""Fixtures of the project-level tests."""

from __future__ import annotations

import functools
import sys
import types

import pytest


@pytest.fixture
def vllm_importable(monkeypatch):
    """conf/gpu rolls out on vLLM, which this CPU machine lacks: stand a module in for it."""
    import trl.trainer.grpo_trainer  # noqa: F401 - before the stand-in (trl probes vllm)

    _register_sections()
    if "vllm" not in sys.modules:
        monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))


@functools.cache
def _register_sections() -> None:
    import datarecipes.pipeline_registry as registry

    registry.register_pipelines()  # imports every module that registers a section

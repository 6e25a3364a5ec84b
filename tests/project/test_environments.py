"""Every configuration environment validates for every pipeline, loaded exactly as Kedro does.

``kedro run -e <env>`` builds its parameters with the project's ``OmegaConfigLoader`` settings
(soft merge over ``conf/base``) and validates, before the first node runs, every parameter
input of the pipeline (the project's ``ParameterValidationHook``). These tests do the same in
process, through a real ``KedroSession`` on a copy of ``conf/`` — no model is loaded or
downloaded, so real hub ids in ``conf/gpu`` are checked as configuration only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from datarecipes.config import PARAMETER_SECTIONS, ParameterError, from_params
from datarecipes.hooks import ParameterValidationHook, section_schema
from datarecipes.models import ModelParams
from datarecipes.pipeline_registry import register_pipelines
from tests.helpers import PROJECT_ROOT

#: Every environment directory shipped in conf/ (plus ``local``, written by each test).
ENVIRONMENTS = sorted(
    p.name for p in (PROJECT_ROOT / "conf").iterdir() if p.is_dir() and p.name != "local"
)


@pytest.fixture
def conf(tmp_path: Path, vllm_importable) -> Path:
    """A copy of conf/ with an empty ``local`` environment (the user's, never the project's).

    ``-e gpu`` generates on vLLM, whose absence is refused at start-up (a test of its own in
    tests/training): here vLLM stands in, so what is checked is the parameters."""
    root = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", root, ignore=shutil.ignore_patterns("local"))
    (root / "local").mkdir()
    return root


def _context(conf: Path, env: str | None, runtime_params: dict | None = None):
    bootstrap_project(PROJECT_ROOT)
    session = KedroSession.create(
        PROJECT_ROOT, env=env, conf_source=str(conf), runtime_params=runtime_params
    )
    return session.load_context()


def _validate_all(context) -> dict[str, list[str]]:
    """Run the start-up validation hook on every registered pipeline; return what it checked."""
    hook = ParameterValidationHook()
    checked: dict[str, list[str]] = {}
    for name, pipeline in register_pipelines().items():
        hook.before_pipeline_run(run_params={}, pipeline=pipeline, catalog=context.catalog)
        checked[name] = sorted(i for i in pipeline.inputs() if i.startswith("params:"))
    return checked


def test_shipped_environments_are_found():
    assert {"base", "gpu"} <= set(ENVIRONMENTS)


@pytest.mark.parametrize("env", [*ENVIRONMENTS, "local"])
def test_every_environment_validates_every_pipeline(conf, env):
    context = _context(conf, env=None if env == "base" else env)
    checked = _validate_all(context)
    # Every parameter input of every pipeline has a schema: none is skipped unvalidated,
    # dotted ones (params:models.tabular_lm) and namespaced ones included. A plain field of a
    # registered section (a plain value, not a dataclass) is checked with its whole section.
    inputs = sorted({i for names in checked.values() for i in names})
    assert any(i.startswith("params:models.") for i in inputs)
    unschematised = [i for i in inputs if section_schema(i.removeprefix("params:")) is None
                     and i.removeprefix("params:").split(".")[0] not in PARAMETER_SECTIONS]
    assert unschematised == []
    # ... and every registered section the environment defines builds, used or not.
    params = context.params
    for section, schema in PARAMETER_SECTIONS.items():
        if section in params:
            from_params(schema, params[section], where=f"{env}: {section}")


def test_gpu_environment_names_real_checkpoints_for_every_role(conf):
    params = _context(conf, env="gpu").params
    for role, entry in params["models"].items():
        spec = ModelParams.from_params(entry, where=f"gpu: models.{role}")
        # The soft merge keeps base's preset beside gpu's checkpoint; the checkpoint wins.
        assert spec.preset is None and "/" in spec.name_or_path, role


def _tabular_spec(context) -> ModelParams:
    return ModelParams.from_params(
        context.catalog.load("params:models.tabular_lm"), where="models.tabular_lm"
    )


def test_name_or_path_in_conf_local_replaces_the_preset(conf, tmp_path):
    ckpt = str(tmp_path / "my_ckpt")
    (conf / "local" / "parameters.yml").write_text(
        yaml.safe_dump({"models": {"tabular_lm": {"name_or_path": ckpt}}})
    )
    context = _context(conf, env="local")
    _validate_all(context)
    spec = _tabular_spec(context)
    assert spec.name_or_path == ckpt and spec.preset is None
    # The other roles keep base's presets.
    assert context.params["models"]["judge"]["preset"] == "smollm2-135m"


@pytest.mark.parametrize("env", [None, "gpu"])
def test_name_or_path_in_params_replaces_the_preset(conf, tmp_path, env):
    # What `kedro run --params models.tabular_lm.name_or_path=...` passes to the session.
    from kedro.framework.cli.utils import _split_params

    ckpt = str(tmp_path / "my_ckpt")
    runtime = _split_params(None, None, f"models.tabular_lm.name_or_path={ckpt}")
    context = _context(conf, env=env, runtime_params=runtime)
    _validate_all(context)
    assert _tabular_spec(context).name_or_path == ckpt


def test_a_bad_nested_model_key_fails_start_up_validation(conf):
    (conf / "local" / "parameters.yml").write_text(
        yaml.safe_dump({"models": {"tabular_lm": {"lora": {"rank": 8}}}})
    )
    context = _context(conf, env="local")
    scm = register_pipelines()["scm"]
    with pytest.raises(ParameterError, match=r"models.tabular_lm.lora: unknown key"):
        ParameterValidationHook().before_pipeline_run(
            run_params={}, pipeline=scm, catalog=context.catalog
        )


def test_a_role_with_neither_preset_nor_path_is_refused(conf):
    (conf / "local" / "parameters.yml").write_text(
        yaml.safe_dump({"models": {"judge": {"preset": None}}})
    )
    context = _context(conf, env="local")
    thinklite = register_pipelines()["thinklite"]
    with pytest.raises(ParameterError, match="models.judge.*neither is set"):
        ParameterValidationHook().before_pipeline_run(
            run_params={}, pipeline=thinklite, catalog=context.catalog
        )

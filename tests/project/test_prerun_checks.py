"""Everything checkable is checked before the first node runs: a message naming the key, 0 files.

One subprocess runs every case in sequence (Kedro's start-up dominates; one interpreter
keeps the file well under a minute), each a real ``KedroSession.run`` in a project copy.
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from tests.helpers import run_cmd, tool_env

pytestmark = pytest.mark.slow

_DRIVER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(Path.cwd())
    results = {}
    for name, pipeline, params in json.loads(sys.argv[1]):
        try:
            with KedroSession.create(project_path=Path.cwd(), runtime_params=params) as s:
                s.run(pipeline_names=[pipeline])
            error = None
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        files = [str(p) for p in Path("data").rglob("*") if p.is_file()]
        results[name] = {"error": error, "files": files}
    print("RESULTS" + json.dumps(results))
    """
)

_CASES = [
    ("typo_section", "scenes", {"scnes": {"n_scenes": 100}}),
    ("missing_engine_and_checkpoint", "thinklite",
     {"generation": {"engine": "vllm"}, "models": {"policy": {"name_or_path": "/no/such/ckpt"}}}),
    ("section_not_read", "provision", {"thinklite_grpo": {"max_steps": 3}}),
    ("runtime_param_not_read", "scenes", {"my_source": "/data/pairs.parquet"}),
    ("missing_source", "scm", {}),
]


def test_bad_runs_stop_before_any_file_naming_the_key(project_copy):
    root = project_copy({"parameters_scenes.yml": {"scenes.n_scenes": 4}})
    # A source dataset read through a runtime parameter that no pipeline uses, and a scm
    # table folder that does not exist.
    (root / "conf/base/catalog_test_sources.yml").write_text(
        "my_pairs:\n  type: datarecipes.io.atomic_datasets.ParquetDataset\n"
        "  filepath: ${runtime_params:my_source, data/01_raw/none.parquet}\n"
    )
    catalog = root / "conf/base/catalog_scm.yml"
    catalog.write_text(catalog.read_text().replace("../shared/data/tabular", "data/no_tables"))
    proc = run_cmd([sys.executable, "-c", _DRIVER, json.dumps(_CASES)], cwd=root,
                   env=tool_env({"DATARECIPES_TRACKING": "off"}))
    results = json.loads(proc.stdout.split("RESULTS", 1)[1])
    for name, _, _ in _CASES:
        assert results[name]["files"] == [], (name, results[name])
        assert results[name]["error"] and "PreRunCheckError" in results[name]["error"], name
    assert "scnes.n_scenes: unknown parameter section 'scnes'" in results["typo_section"]["error"]
    assert "did you mean 'scenes'" in results["typo_section"]["error"]
    both = results["missing_engine_and_checkpoint"]["error"]
    assert "generation.engine=vllm: the package 'vllm' is not installed" in both
    assert "models.policy.name_or_path: checkpoint directory /no/such/ckpt does not exist" in both
    assert "thinklite_grpo.max_steps: no node of this pipeline reads it" in (
        results["section_not_read"]["error"])
    assert "my_source: read by configuration entry my_pairs, which this pipeline does not use" \
        in results["runtime_param_not_read"]["error"]
    assert "input dataset 'scm_real_tables'" in results["missing_source"]["error"]
    assert "data/no_tables does not exist" in results["missing_source"]["error"]


def test_good_run_still_runs(project_copy):
    root = project_copy({"parameters_scenes.yml": {"scenes.n_scenes": 3}})
    run_cmd([sys.executable, "-c", _DRIVER,
             json.dumps([("ok", "scenes", {"scenes": {"seed": 2}})])],
            cwd=root, env=tool_env({"DATARECIPES_TRACKING": "off"}))
    assert (root / "data/01_raw/scenes/_COMPLETE.json").is_file()

"""The README command on a user's own pairs: `kedro run --pipelines=filtering --params
filtering_source=...` in a copy of the project, on each layout, with faults planted.

The exact command runs once as a subprocess (WebDataset shards by brace pattern); the other
layouts run the same session in-process (``KedroSession`` with the same runtime parameters),
which saves the interpreter start and imports on a 2-core machine.

Asserts every input pair has exactly one decision (with the reason expected for it), the
kept pairs are in WebDataset shards with their own image bytes, the stages that need a
world were skipped visibly, and the user's files are byte for byte unchanged.
"""

from __future__ import annotations

import io
import json
import tarfile

import pandas as pd
import pytest
from PIL import Image

from datarecipes.filtering.inputs import encoded_image
from datarecipes.filtering.sources import read_source
from tests.filtering.userdata import tree_digest, write_folder, write_parquet, write_webdataset
from tests.helpers import run_cmd, tool_env

pytestmark = pytest.mark.slow

SMALL = {
    "filtering.executor.num_workers": 0,
    "filtering.scoring.batch_size": 8,
    "filtering.scoring.shard_size": 8,
    "filtering.packing.capacity": 1024,
    "filtering.packing.shards.bins_per_shard": 1,
    "filtering.filter.rules": {"clip_top70": "top(clip, 0.7)"},
    "filtering.filter.definitions": {},
}

LAYOUTS = {
    # (writer, how the source is named on the command line, extra runtime params)
    "webdataset": (write_webdataset, "{00000..00001}.tar", ""),
    "parquet": (write_parquet, "train-00000-of-00001.parquet", ",filtering_caption_column=text"),
    "folder": (write_folder, "", ""),
}


def _kedro_run_in_process(root, params: dict[str, str], monkeypatch) -> None:
    """`kedro run --pipelines=filtering --params ...` as a session in this process."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    monkeypatch.chdir(root)  # catalog paths (data/...) are relative to the project
    bootstrap_project(root)
    with KedroSession.create(project_path=root, runtime_params=params) as session:
        session.run(pipeline_names=["filtering"])


def _runtime_params(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(","))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_readme_command_runs_on_users_pairs(layout, project_copy, tmp_path, monkeypatch):
    write, name, extra = LAYOUTS[layout]
    user = tmp_path / "user" / layout
    expected = write(user)
    before = tree_digest(user)
    root = project_copy({"parameters_filtering.yml": SMALL})
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    source = str(user / name) if name else str(user)
    params = f"filtering_source={source}{extra}"
    if layout == "webdataset":  # the README's exact command line
        proc = run_cmd(["kedro", "run", "--pipelines=filtering", "--params", params],
                       cwd=root, env=tool_env({"MLFLOW_TRACKING_URI": uri}))
        log = proc.stdout + proc.stderr
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        _kedro_run_in_process(root, _runtime_params(params), monkeypatch)
        log = ""

    # Every input pair: one decision, keyed by the input's own key, with its reason.
    decisions = pd.read_parquet(root / "data/04_feature/filtering/decisions.parquet")
    assert sorted(decisions["key"]) == sorted(expected)
    by_key = decisions.set_index("key")
    for key, fragment in expected.items():
        row = by_key.loc[key]
        if fragment:
            assert row["status"] == "decode_error" and fragment in row["reason"], (key, row)
            assert not row["kept"]
        else:
            assert row["status"] == "success" and 0 <= abs(row["clip"]) <= 1, (key, row)
    good = [k for k, f in expected.items() if not f]
    kept = decisions[decisions["kept"]]
    # top(clip, 0.7) of the pairs that decoded; the rest say which rule dropped them.
    assert len(kept) == round(0.7 * len(good))
    dropped = decisions[(decisions["status"] == "success") & ~decisions["kept"]]
    assert dropped["reason"].str.startswith("clip_top70: top(clip, 0.7) is false").all()

    # The kept pairs are packed into WebDataset shards, with the source's own image bytes.
    shards = sorted((root / "data/05_model_input/filtering/packed").glob("shard-*.tar"))
    assert len(shards) >= 2
    source_pairs = read_source(source, caption_column="text" if extra else None).pairs
    original = {r["image_id"]: encoded_image(r) for r in source_pairs.to_dict("records")
                if r["image_id"] in set(kept["image_id"])}
    packed: dict[str, bytes] = {}
    for shard in shards:
        with tarfile.open(shard) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        for name_, data in members.items():
            if name_.endswith(".json"):
                ids = json.loads(data)["sample_ids"]
                bin_key = name_.removesuffix(".json")
                for slot, image_id in enumerate(ids):
                    (image,) = [v for k, v in members.items()
                                if k.startswith(f"{bin_key}.{slot:03d}.")]
                    packed[image_id] = image
    assert sorted(packed) == sorted(kept["image_id"])
    # Byte for byte the source's own image (max_image_side: 0), and a real image.
    assert packed == original
    for data in packed.values():
        Image.open(io.BytesIO(data)).load()

    metrics = json.loads((root / "data/08_reporting/filtering_decision_metrics.json").read_text())
    assert metrics["pairs"] == len(expected)
    assert metrics["decode_error"] == len(expected) - len(good)
    # The world-only stages were skipped, visibly; the world was not generated.
    for file in ("filtering_clip_train_metrics", "filtering_eval_metrics",
                 "filtering_pretrain_metrics"):
        assert json.loads((root / f"data/08_reporting/{file}.json").read_text())["skipped"] == 1
    if layout == "webdataset":  # the log of the subprocess (a session logs to its handlers)
        assert "scorer training skipped" in log and "pretraining skipped" in log
    assert not list((root / "data/01_raw").rglob("*.png"))

    # The user's files are untouched, and nothing was written under them.
    assert tree_digest(user) == before


def test_writing_into_the_source_is_refused(project_copy, tmp_path, monkeypatch):
    user = tmp_path / "user"
    write_folder(user)
    before = tree_digest(user)
    root = project_copy({"parameters_filtering.yml": SMALL, "catalog_filtering.yml": {
        "filtering_packed_shards.path": str(user / "packed")}})
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(ValueError, match=r"filtering_source is .*, but this run writes "
                                         r"filtering_packed_shards at .*: a source is never "
                                         r"written"):
        _kedro_run_in_process(root, {"filtering_source": str(user)}, monkeypatch)
    assert tree_digest(user) == before
    # The source dataset itself refuses a save, naming the path.
    from kedro.io import DatasetError

    from datarecipes.io.pairs import PairSourceDataset

    with pytest.raises(DatasetError, match="is a source"):
        PairSourceDataset(path=str(user)).save({"any": "data"})


@pytest.mark.parametrize("given", [None, "relative"])
def test_the_catalog_as_kedro_builds_it(given, project_copy, tmp_path, monkeypatch):
    """Without the runtime parameter the source is the built-in world (Kedro makes relative
    `path` values absolute: the default must survive that); a relative source path is
    relative to the project."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    root = project_copy()
    if given:
        write_folder(root / "mine")
    monkeypatch.chdir(root)
    bootstrap_project(root)
    params = {"filtering_source": "mine"} if given else {}
    with KedroSession.create(project_path=root, runtime_params=params) as session:
        source = session.load_context().catalog.load("filtering_source")
    if given:
        assert source.format == "folder" and len(source.pairs) == 14
    else:
        assert source.builtin

"""Every recipe on a user's data, by the README's one-line commands: outputs written, every input
row accounted for, the user's files byte for byte unchanged; and no source is ever an output."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.helpers import PROJECT_ROOT, SHARED_DATA, run_cmd, tool_env
from tests.thinklite.conftest import tiny_parameters

pytestmark = pytest.mark.slow

SAMPLE = next(p for p in (SHARED_DATA / "provision_sample",
                          Path("/work/shared/data/provision_sample")) if p.is_dir())


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (and its mode) by relative path: what must not change."""
    return {
        str(p.relative_to(root)): f"{hashlib.sha256(p.read_bytes()).hexdigest()} "
                                  f"{p.stat().st_mode:o}"
        for p in sorted(root.rglob("*"))
        if p.is_file()
    } | {str(p.relative_to(root)) + "/": "dir" for p in root.rglob("*") if p.is_dir()}


def kedro_run(root: Path, tmp_path: Path, pipeline: str, params: str):
    env = tool_env({"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'tracking.db'}"})
    return run_cmd(["kedro", "run", f"--pipelines={pipeline}", "--params", params],
                   cwd=root, env=env)


def flat(section: str, values: dict) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, dict) and key != "executor":
            out |= flat(f"{section}.{key}", value)
        else:
            out[f"{section}.{key}"] = value
    return out


def png(colour: tuple[int, int, int], size: int = 56, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format=fmt)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# No catalog entry a user points at (a `runtime_params` path) is a node output or writable.


def test_user_sources_are_read_only_and_never_outputs():
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project
    from kedro.io import AbstractDataset

    from datarecipes.io.sources import SOURCE_RUNTIME_PARAMS, ReadOnlyDataset

    bootstrap_project(PROJECT_ROOT)
    outputs = set().union(*(p.all_outputs() for p in pipelines.values()))
    sources, names = {}, set()
    for file in sorted((PROJECT_ROOT / "conf" / "base").glob("catalog*.yml")):
        text = file.read_text()
        names |= set(re.findall(r"\$\{runtime_params:\s*([\w.]+)", text))
        for name, entry in (yaml.safe_load(text) or {}).items():
            if "runtime_params:" in str(entry.get("path", entry.get("filepath", ""))):
                sources[name] = entry
    # The list other checks (unknown parameter sections) rely on is the catalog's own.
    assert names == SOURCE_RUNTIME_PARAMS
    assert {"thinklite_pool_source", "thinklite_heldout_source", "provision_source",
            "scm_real_tables"} <= set(sources)
    for name, entry in sources.items():
        assert name not in outputs, f"{name} is a user's source but a node writes it"
        module, _, cls = entry["type"].rpartition(".")
        dataset_type = getattr(__import__(module, fromlist=[cls]), cls)
        assert issubclass(dataset_type, ReadOnlyDataset) and issubclass(
            dataset_type, AbstractDataset), name


def test_a_run_that_would_write_over_a_source_is_refused(tmp_path):
    from kedro.io import DataCatalog
    from kedro.pipeline import Node, Pipeline
    from kedro_datasets.json import JSONDataset

    from datarecipes.io.datasets import SceneGraphSource
    from datarecipes.io.sources import check_sources_not_written

    world = tmp_path / "data" / "annotations"
    pipeline = Pipeline([Node(lambda s: {}, "provision_source", "out", name="n")])
    for source, out, refused in ((world, world / "objects.json", True),
                                 (world / "x.json", world, True),
                                 (tmp_path / "mine", world / "o.json", False)):
        catalog = DataCatalog({"provision_source": SceneGraphSource(str(source)),
                               "out": JSONDataset(filepath=str(out))})
        if refused:
            with pytest.raises(ValueError, match="provision_source is .* but this run writes out"):
                check_sources_not_written(pipeline, catalog)
        else:
            check_sources_not_written(pipeline, catalog)



def test_a_work_directory_inside_a_source_is_refused(tmp_path):
    """A resumable work directory (an input nodes write into) counts as written."""
    from kedro.io import DataCatalog
    from kedro.pipeline import Node, Pipeline

    from datarecipes.io.datasets import DirectoryDataset
    from datarecipes.io.sources import OptionalFileSource, check_sources_not_written

    mine = tmp_path / "mine"
    pipeline = Pipeline([Node(lambda s, w: None, ["filtering_source", "work_dir"], None)])
    for work, create, refused in ((mine / "scores", True, True),
                                  (tmp_path / "data" / "scores", True, False),
                                  (mine / "images", False, False)):  # read, not written
        catalog = DataCatalog({"filtering_source": OptionalFileSource(str(mine)),
                               "work_dir": DirectoryDataset(str(work), create=create)})
        if refused:
            with pytest.raises(ValueError, match="filtering_source is .* writes work_dir"):
                check_sources_not_written(pipeline, catalog)
        else:
            check_sources_not_written(pipeline, catalog)
        assert not (mine / "scores").exists()  # the check itself creates nothing


# ---------------------------------------------------------------------------------------------
# scm: a folder of CSVs whose class column is not called `label`.


def test_scm_on_a_csv_folder_with_its_own_target(project_copy, tmp_path):
    user = tmp_path / "my_tables"
    user.mkdir()
    rows = {"loans": 40, "plants": 36}
    for name, n in rows.items():
        lines = ["outcome,x1,x2"] + [f"{'yes' if i % 3 else 'no'},{i},{(i * 7) % 5}"
                                     for i in range(n)]
        lines[5] = ",5,1"  # data row 5 has no class: dropped and reported, not lost
        (user / f"{name}.csv").write_text("\n".join(lines) + "\n")
    before = tree_digest(user)
    cache = str(tmp_path / "presets")
    root = project_copy({
        "parameters_scm.yml": {
            "scm.n_tasks": 4, "scm.prior.n_rows": 64, "scm.prior.batch_size": 4,
            "scm.sft_shots": [8], "scm.sft_test_rows": 4, "scm.val_fraction": 0.25,
            "scm.eval_shots": [8], "scm.max_test_rows": 6, "scm.test_rows_per_prompt": 6,
            "scm.baselines": ["knn", "majority"], "scm_training.max_steps": 1,
            "scm_training.logging_steps": 1,
        },
        "parameters_models.yml": {"models.tabular_lm.preset_cache_dir": cache},
    })
    kedro_run(root, tmp_path, "scm", f"scm_tables_source={user},scm.target_column=outcome")
    assert tree_digest(user) == before
    report = pd.read_csv(root / "data/08_reporting/scm_input_table.csv")
    assert sorted(report["table"]) == sorted(rows)
    for row in report.itertuples():
        assert row.target_column == "outcome" and row.rows_read == rows[row.table]
        assert row.rows_used + row.rows_dropped == row.rows_read and str(row.dropped_rows) == "5"
    table = pd.read_parquet(root / "data/08_reporting/scm_eval_table.parquet")
    assert set(table["dataset"]) == set(rows) and {"lm", "knn"} <= set(table["method"])


# ---------------------------------------------------------------------------------------------
# provision: ProVision annotation files, and Visual Genome scene graphs with a splits file.


def test_provision_on_provision_annotations(project_copy, tmp_path):
    user = tmp_path / "provision_sample"
    shutil.copytree(SAMPLE, user)
    for p in user.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    before = tree_digest(user)
    root = project_copy({"parameters_scenes.yml": {"scenes.n_scenes": 2},
                         "parameters_provision.yml": {"provision.groups_per_split": 1}})
    kedro_run(root, tmp_path, "provision", f"provision_source={user}")
    assert tree_digest(user) == before
    questions = pd.read_parquet(root / "data/03_primary/provision/questions.parquet")
    images = {p for paths in questions["image"] for p in paths}
    assert images == {str(user / "images" / f"baseball_{i}.png") for i in (1, 2)}
    assert set(questions["split"]) == {"train"}
    metrics = json.loads((root / "data/08_reporting/provision_input_metrics.json").read_text())
    assert metrics == {"images": 2.0, "user_source": 1.0, "images/train": 2.0}
    conversations = json.loads(
        (root / "data/03_primary/provision/conversations.json").read_text())
    assert len(conversations) == len(questions)
    # The world was built only under the project's own data/ (not in the user's directory).
    assert (root / "data/01_raw/scenes/annotations").is_dir()


def test_provision_on_visual_genome_with_a_splits_file(project_copy, tmp_path):
    user = tmp_path / "vg"
    (user / "VG_100K").mkdir(parents=True)
    graphs = []
    for k in range(4):
        (user / "VG_100K" / f"{k + 1}.jpg").write_bytes(png((40 * k, 80, 200), 64, "JPEG"))
        graphs.append({
            "image_id": k + 1, "url": f"https://cs.stanford.edu/VG_100K/{k + 1}.jpg",
            "objects": [
                {"object_id": 10 * k + 1, "x": 2, "y": 4, "w": 20, "h": 18, "names": ["dog"],
                 "attributes": ["brown"]},
                {"object_id": 10 * k + 2, "x": 36, "y": 30, "w": 20, "h": 20,
                 "names": ["ball" if k % 2 else "cat"], "attributes": ["red"]},
            ],
            "relationships": [{"predicate": "left of", "subject_id": 10 * k + 1,
                               "object_id": 10 * k + 2}],
        })
    (user / "scene_graphs.json").write_text(json.dumps(graphs))
    (user / "splits.csv").write_text("image_id,split\n1,train\n2,train\n3,train\n4,test\n")
    before = tree_digest(user)
    root = project_copy({"parameters_scenes.yml": {"scenes.n_scenes": 2},
                         "parameters_provision.yml": {"provision.groups_per_split": 1}})
    kedro_run(root, tmp_path, "provision",
              f"provision_source={user}/scene_graphs.json,"
              f"provision_splits_source={user}/splits.csv")
    assert tree_digest(user) == before
    questions = pd.read_parquet(root / "data/03_primary/provision/questions.parquet")
    single = questions[questions["image"].map(len) == 1]
    split_of = {str(user / "VG_100K" / f"{k}.jpg"): s
                for k, s in ((1, "train"), (2, "train"), (3, "train"), (4, "test"))}
    assert {p[0] for p in single["image"]} == set(split_of)  # every image asked about
    assert all(split_of[p[0]] == s for p, s in zip(single["image"], single["split"]))
    metrics = json.loads((root / "data/08_reporting/provision_input_metrics.json").read_text())
    assert metrics == {"images": 4.0, "user_source": 1.0, "images/test": 1.0,
                       "images/train": 3.0}


# ---------------------------------------------------------------------------------------------
# thinklite: a ThinkLite-format parquet pool and a LLaVA JSON held-out set with an image folder.


def thinklite_pool(path: Path) -> int:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 200, 0), (0, 90, 90), (90, 0, 90)]
    rows = []
    for k, colour in enumerate(colours):
        data = png(colour)
        # Raw bytes, as ThinkLite-VL-70k's parquet holds them (a {"bytes"} struct column is
        # tested in tests/thinklite/test_sources.py: parquet cannot mix the two in a column).
        rows.append({"image": data,
                     "problem": f"<image>Is the picture {'red' if k == 0 else 'blue'}?",
                     "answer": "yes" if k in (0, 2) else "no"})
    rows.append({"image": b"corrupt", "problem": "<image>What is it?", "answer": "x"})
    rows.append({"image": png((1, 1, 1)), "problem": "<image>No answer?", "answer": None})
    pd.DataFrame(rows).to_parquet(path)
    return len(rows)


def llava_heldout(root: Path) -> int:
    (root / "images").mkdir(parents=True)
    records = []
    for k in range(4):
        (root / "images" / f"h{k}.png").write_bytes(png((60 * k, 30, 30)))
        records.append({"id": f"h{k}", "image": f"images/h{k}.png", "conversations": [
            {"from": "human", "value": "<image>\nIs there an object?"},
            {"from": "gpt", "value": "\\boxed{yes}"}]})
    records.append({"id": "gone", "image": "images/missing.png", "conversations": [
        {"from": "human", "value": "<image>\nQ?"}, {"from": "gpt", "value": "1"}]})
    (root / "heldout.json").write_text(json.dumps(records))
    return len(records)


def test_thinklite_on_a_thinklite_parquet_and_llava_json(project_copy, tmp_path):
    user = tmp_path / "user_data"
    user.mkdir()
    n_pool = thinklite_pool(user / "thinklite70k.parquet")
    n_heldout = llava_heldout(user / "mathvista")
    before = tree_digest(user)
    tiny = tiny_parameters(str(tmp_path / "presets"))
    updates: dict[str, object] = {}
    for section in ("thinklite_data", "thinklite_warm_start", "mcts_difficulty",
                    "thinklite_mcts", "hard_sample_selection", "thinklite_grpo",
                    "thinklite_eval"):
        updates |= flat(section, tiny[section])
    root = project_copy({
        "parameters_scenes.yml": {"scenes.n_scenes": 20},
        "parameters_provision.yml": {"provision.groups_per_split": 0},
        "parameters_thinklite.yml": updates,
        "parameters_models.yml": flat("models", tiny["models"]),
    })
    kedro_run(root, tmp_path, "thinklite",
              f"thinklite_pool_source={user}/thinklite70k.parquet,"
              f"thinklite_heldout_source={user}/mathvista/heldout.json")
    assert tree_digest(user) == before

    data = root / "data"
    pool = pd.read_parquet(data / "05_model_input/thinklite/candidate_pool.parquet")
    # What MCTS scored: the accepted rows less near duplicates (none here: one-colour images
    # carry no pHash, and no two rows share their bytes and question).
    kept = pd.read_parquet(data / "05_model_input/thinklite/pool.parquet")
    ledger = pd.read_parquet(data / "08_reporting/thinklite_ledger.parquet")
    dropped = ledger[(ledger["stage"] == "dedup") & ~ledger["kept"]]
    assert sorted(kept["sample_id"]) == sorted(set(pool["sample_id"]) - set(dropped["sample_id"]))
    assert dropped.empty
    heldout = pd.read_parquet(data / "05_model_input/thinklite/heldout.parquet")
    refused = pd.read_csv(data / "08_reporting/thinklite_input_refusals_table.csv")
    # Every input row is a question or a refusal naming its row.
    assert sorted([int(s.rsplit("-", 1)[1]) for s in pool["sample_id"]]
                  + list(refused.loc[refused["set"] == "pool", "row"])) == list(range(n_pool))
    assert len(heldout) + (refused["set"] == "heldout").sum() == n_heldout
    assert dict(zip(refused["row"], refused["reason"])) == {
        6: "image does not decode: cannot identify image file the image bytes",
        7: "no answer", 4: f"image file not found: {user / 'mathvista/images/missing.png'}"}
    metrics = json.loads((data / "08_reporting/thinklite_inputs_metrics.json").read_text())
    assert (metrics["pool_rows"], metrics["pool_accepted"], metrics["pool_refused"]) == (8, 6, 2)
    assert (metrics["heldout_accepted"], metrics["heldout_refused"]) == (4, 1)
    # Parquet images were materialised under data/, LLaVA images are read where they are.
    image_dir = (data / "02_intermediate/thinklite/source_images").resolve()
    assert {Path(p).resolve().parent for p in pool["image"]} == {image_dir}
    assert all(Path(p).is_file() for p in pool["image"])
    assert heldout["image"].tolist() == [str(user / f"mathvista/images/h{k}.png")
                                         for k in range(4)]
    difficulty = pd.read_parquet(data / "07_model_output/thinklite/difficulty.parquet")
    assert sorted(difficulty["sample_id"]) == sorted(kept["sample_id"])
    table = pd.read_csv(data / "08_reporting/thinklite_eval_table.csv")
    assert sorted(table["id"]) == [f"h{k}" for k in range(4)]
    # The selected hard set, written back in ThinkLite's columns and as LLaVA JSON.
    selected = pd.read_parquet(data / "05_model_input/thinklite/selected.parquet")
    as_thinklite = pd.read_parquet(data / "05_model_input/thinklite/selected_thinklite.parquet")
    as_llava = json.loads((data / "05_model_input/thinklite/selected_llava.json").read_text())
    assert list(as_thinklite.columns) == ["id", "image", "problem", "answer"]
    assert as_thinklite["id"].tolist() == selected["sample_id"].tolist() == [
        r["id"] for r in as_llava]
    assert len(selected) >= 1

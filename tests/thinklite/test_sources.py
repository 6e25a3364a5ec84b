"""A user's ThinkLite pool / held-out set: formats read, rows refused with their row number,
images materialised only under the output directory, the selected set written back."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DatasetError
from PIL import Image

from datarecipes.io.datasets import ImageDirectoryDataset
from datarecipes.io.thinklite import LlavaJsonExport, ThinkLiteParquetExport, VQASource
from datarecipes.pipelines.thinklite.nodes import choose_question_sets
from datarecipes.thinklite import SplitOverlapError
from datarecipes.thinklite.data import QUESTION_COLUMNS, source_questions


def image_bytes(colour: tuple[int, int, int], fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buffer, format=fmt)
    return buffer.getvalue()


def tree_digest(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def thinklite_parquet(path: Path) -> pd.DataFrame:
    """Seven rows in ThinkLite-VL-70k's columns: raw bytes, a {"bytes", "path"} struct, and
    the cases a pool must refuse."""
    red, blue = image_bytes((255, 0, 0)), image_bytes((0, 0, 255), "JPEG")
    frame = pd.DataFrame({
        "image": [
            {"bytes": red, "path": "a.png"},            # 0 struct: accepted
            {"bytes": blue, "path": None},              # 1 JPEG struct: accepted
            {"bytes": red, "path": "c.png"},            # 2 no answer: refused
            {"bytes": b"not an image", "path": None},   # 3 undecodable: refused
            {"bytes": red[:40], "path": None},          # 4 truncated PNG: refused
            {"bytes": image_bytes((0, 255, 0)), "path": None},  # 5 blank problem: refused
            {"bytes": image_bytes((9, 9, 9)), "path": None},    # 6 accepted, tag stripped
        ],
        "problem": ["How many red things?", "What colour?", "Q", "Q", "Q", "  ",
                    "<image>\nIs it dark?"],
        "answer": ["1", "blue", None, "2", "3", "4", "yes"],
    })
    frame.to_parquet(path)
    return frame


def test_thinklite_parquet_rows_are_accepted_or_refused_by_row(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    thinklite_parquet(user / "pool.parquet")
    before = tree_digest(user)
    source = VQASource(str(user / "pool.parquet")).load()
    assert source.format == "thinklite" and len(source.rows) == 7
    out = tmp_path / "data" / "images"
    questions, images, refused = source_questions(source, "pool", str(out))
    assert list(questions.columns) == QUESTION_COLUMNS
    # Every input row is a question or a refusal, never both, never neither.
    accepted_rows = [int(s.rsplit("-", 1)[1]) for s in questions["sample_id"]]
    assert sorted(accepted_rows + list(refused["row"])) == list(range(7))
    assert accepted_rows == [0, 1, 6]
    reasons = dict(zip(refused["row"], refused["reason"]))
    assert reasons[2] == "no answer" and reasons[5] == "no question"
    assert reasons[3] == "image does not decode: cannot identify image file the image bytes"
    assert reasons[4].startswith("image does not decode")
    assert set(refused["set"]) == {"pool"}
    assert questions["question"].tolist()[2] == "Is it dark?"
    assert questions["answer"].tolist() == ["1", "blue", "yes"]
    # Images are handed back to be written under the output directory, nowhere else.
    assert {Path(p).parent for p in questions["image"]} == {out}
    assert {Path(p).name for p in questions["image"]} == set(images)
    assert sorted(Path(n).suffix for n in images) == [".jpeg", ".png", ".png"]
    assert not out.exists() and tree_digest(user) == before


def test_struct_with_only_a_path_resolves_against_the_image_root(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "x.png").write_bytes(image_bytes((1, 2, 3)))
    pd.DataFrame({"image": [{"bytes": None, "path": "x.png"}, {"bytes": None, "path": "y.png"}],
                  "problem": ["a", "b"], "answer": ["1", "2"]}).to_parquet(tmp_path / "p.parquet")
    source = VQASource(str(tmp_path / "p.parquet"), image_root=str(tmp_path / "imgs")).load()
    questions, images, refused = source_questions(source, "heldout", str(tmp_path / "out"))
    assert questions["image"].tolist() == [str(tmp_path / "imgs" / "x.png")] and not images
    assert refused["reason"].tolist() == [f"image file not found: {tmp_path / 'imgs' / 'y.png'}"]


def llava_folder(root: Path) -> list[dict]:
    (root / "images").mkdir(parents=True)
    (root / "images" / "one.png").write_bytes(image_bytes((10, 20, 30)))
    (root / "images" / "two.jpg").write_bytes(image_bytes((30, 20, 10), "JPEG"))
    (root / "images" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    records = [
        {"id": "q1", "image": "images/one.png", "conversations": [
            {"from": "human", "value": "<image>\nHow many?"},
            {"from": "gpt", "value": "### Step1: count <end>\nAnswer: \\boxed{3}"}]},
        {"id": "q2", "image": "images/two.jpg", "answer": "cat", "conversations": [
            {"from": "human", "value": "What animal? <image>"},
            {"from": "gpt", "value": "It is a cat."}]},
        {"id": "q3", "image": "images/gone.png", "conversations": [
            {"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "1"}]},
        {"id": "q4", "image": "images/one.png", "conversations": [
            {"from": "human", "value": "<image>\nno reply"}]},
        {"id": "q5", "image": ["images/one.png", "images/two.jpg"], "conversations": [
            {"from": "human", "value": "<image><image>\nsame?"}, {"from": "gpt", "value": "no"}]},
        {"id": "q1", "image": "images/two.jpg", "conversations": [
            {"from": "human", "value": "<image>\nrepeat id"}, {"from": "gpt", "value": "x"}]},
        {"id": "q7", "image": "images/bad.png", "conversations": [
            {"from": "human", "value": "<image>\nbroken"}, {"from": "gpt", "value": "x"}]},
    ]
    (root / "conversations.json").write_text(json.dumps(records))
    return records


def test_llava_json_with_an_image_folder(tmp_path):
    user = tmp_path / "user"
    llava_folder(user)
    before = tree_digest(user)
    source = VQASource(str(user / "conversations.json")).load()
    assert source.format == "llava"
    questions, images, refused = source_questions(source, "pool", str(tmp_path / "out"))
    assert questions["sample_id"].tolist() == ["q1", "q2"] and not images
    assert questions["answer"].tolist() == ["3", "cat"]  # boxed content; the answer field
    assert questions["question"].tolist() == ["How many?", "What animal?"]
    assert questions["image"].tolist() == [str(user / "images/one.png"),
                                           str(user / "images/two.jpg")]
    reasons = dict(zip(refused["row"], refused["reason"]))
    assert sorted(reasons) == [2, 3, 4, 5, 6]
    assert reasons[2].startswith("image file not found") and reasons[3] == "no answer"
    assert reasons[4] == "2 images; ThinkLite questions have one"
    assert reasons[5] == "id 'q1' already used by row 0"
    assert reasons[6].startswith("image does not decode")
    assert tree_digest(user) == before


def test_internal_schema_and_unknown_columns(tmp_path):
    (tmp_path / "i.png").write_bytes(image_bytes((5, 5, 5)))
    pd.DataFrame({"sample_id": ["a"], "image": ["i.png"], "question": ["Which?"],
                  "answer": ["B"], "options": [["x", "y"]]}).to_parquet(tmp_path / "s.parquet")
    source = VQASource(str(tmp_path / "s.parquet")).load()
    questions, _, refused = source_questions(source, "pool", str(tmp_path / "out"))
    assert source.format == "internal" and refused.empty
    assert questions.loc[0, "options"] == ["x", "y"]
    assert questions.loc[0, "image"] == str(tmp_path / "i.png")
    pd.DataFrame({"img": [b""], "text": ["q"]}).to_parquet(tmp_path / "other.parquet")
    with pytest.raises(DatasetError, match=r"other\.parquet: neither ThinkLite's format"):
        VQASource(str(tmp_path / "other.parquet")).load()
    with pytest.raises(DatasetError, match="does not exist"):
        VQASource(str(tmp_path / "missing.parquet")).load()


def test_a_source_refuses_to_be_written(tmp_path):
    thinklite_parquet(tmp_path / "pool.parquet")
    before = (tmp_path / "pool.parquet").read_bytes()
    with pytest.raises(DatasetError, match=r"pool\.parquet.*is a source \(read-only\)"):
        VQASource(str(tmp_path / "pool.parquet")).save(pd.DataFrame())
    assert (tmp_path / "pool.parquet").read_bytes() == before
    assert VQASource(None).load() is None


def world_sets(tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    def table(ids, split):
        return pd.DataFrame({
            "sample_id": ids, "image": [str(tmp_path / f"{i}.png") for i in ids],
            "question": "q", "answer": "1", "options": [[] for _ in ids], "generator": "g",
            "question_type": "g", "solution": "s", "split": split, "source": "provision"},
            columns=QUESTION_COLUMNS)
    return table(["w1"], "train"), table(["p1", "p2"], "train"), table(["h1"], "test")


def test_sources_replace_the_world_sets_each_independently(tmp_path):
    warm, pool, heldout = world_sets(tmp_path)
    thinklite_parquet(tmp_path / "pool.parquet")
    source = VQASource(str(tmp_path / "pool.parquet")).load()
    image_dir = str(tmp_path / "out")
    got_pool, got_heldout, images, refusals, metrics = choose_question_sets(
        warm, pool, heldout, source, None, image_dir)
    assert len(got_pool) == 3 and got_heldout is heldout
    assert len(refusals) == 4 and set(refusals["row"]) == {2, 3, 4, 5}
    assert metrics == {"pool_from_source": 1.0, "pool_rows": 7.0, "pool_accepted": 3.0,
                       "pool_refused": 4.0, "heldout_from_source": 0.0, "heldout_rows": 1.0,
                       "heldout_accepted": 1.0, "heldout_refused": 0.0}
    # The images are a catalog output: written (atomically) only under the output directory.
    ImageDirectoryDataset(image_dir).save(images)
    assert all(Path(p).is_file() for p in got_pool["image"])
    # Without sources the world's sets pass through untouched.
    world = choose_question_sets(warm, pool, heldout, None, None, image_dir)
    assert world[0] is pool and world[1] is heldout and world[3].empty and not world[2]


def test_the_same_questions_or_images_in_pool_and_heldout_are_refused(tmp_path):
    warm, pool, heldout = world_sets(tmp_path)
    thinklite_parquet(tmp_path / "pool.parquet")
    source = VQASource(str(tmp_path / "pool.parquet")).load()
    with pytest.raises(SplitOverlapError, match="are also training ones"):
        choose_question_sets(warm, pool, heldout, source, source, str(tmp_path / "out"))
    # A copy of the file under another name: other ids, the same images.
    (tmp_path / "copy.parquet").write_bytes((tmp_path / "pool.parquet").read_bytes())
    copy = VQASource(str(tmp_path / "copy.parquet")).load()
    with pytest.raises(SplitOverlapError, match="held-out images .* also appear in training"):
        choose_question_sets(warm, pool, heldout, source, copy, str(tmp_path / "out"))


def test_every_row_refused_is_an_error_naming_the_file(tmp_path):
    warm, pool, heldout = world_sets(tmp_path)
    pd.DataFrame({"image": [b"x"], "problem": ["q"], "answer": [None]}).to_parquet(
        tmp_path / "bad.parquet")
    source = VQASource(str(tmp_path / "bad.parquet")).load()
    with pytest.raises(ValueError, match=r"bad\.parquet: every one of its 1 rows.*no answer"):
        choose_question_sets(warm, pool, heldout, source, None, str(tmp_path / "out"))


def test_selected_set_round_trips_through_both_formats(tmp_path):
    thinklite_parquet(tmp_path / "pool.parquet")
    source = VQASource(str(tmp_path / "pool.parquet")).load()
    questions, images, _ = source_questions(source, "pool", str(tmp_path / "out"))
    ImageDirectoryDataset(str(tmp_path / "out")).save(images)
    ThinkLiteParquetExport(str(tmp_path / "sel.parquet")).save(questions)
    LlavaJsonExport(str(tmp_path / "sel.json")).save(questions)
    written = pd.read_parquet(tmp_path / "sel.parquet")
    assert list(written.columns) == ["id", "image", "problem", "answer"]
    for fmt, path in (("thinklite", "sel.parquet"), ("llava", "sel.json")):
        again = VQASource(str(tmp_path / path)).load()
        assert again.format == fmt
        back, _, refused = source_questions(again, "pool", str(tmp_path / "out2"))
        assert refused.empty
        assert back["sample_id"].tolist() == questions["sample_id"].tolist()
        assert back["question"].tolist() == questions["question"].tolist()
        assert back["answer"].tolist() == questions["answer"].tolist()
    # The parquet carries the very image bytes the user gave.
    assert [r["bytes"] for r in written["image"]] == [
        Path(p).read_bytes() for p in questions["image"]]

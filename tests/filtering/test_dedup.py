"""Dedup, decontamination and the decision ledger of the filtering recipe (issue 16).

A user's WebDataset pool with planted duplicates (a re-encoded and a resized copy of pool
images, reworded captions) runs through the recipe's nodes in process; each planted copy
must be found with its representative, be usable in a rule, and the ledger must answer
"why was it dropped?". A held-out image planted in a pool is flagged as contaminated.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from PIL import Image

from datarecipes import ledger as L
from datarecipes.dedup import ContaminationError
from datarecipes.filtering.sources import read_source
from datarecipes.hooks import use_typed_parameters
from datarecipes.io.datasets import DirectoryDataset
from datarecipes.io.shards import PackedShardsDataset
from datarecipes.pipelines.filtering import create_pipeline
from datarecipes.pipelines.filtering.nodes import decontaminate

WORDS = ("red blue green small large wooden metal round square old new bright dark cat dog "
         "tree car house boat bird chair table lamp cup book door window flower hill road "
         "river").split()


def _image(i: int, size: int = 64) -> Image.Image:
    """A distinct low-frequency random pattern (its pHash differs from other i's)."""
    rng = np.random.default_rng(1000 + i)
    coarse = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((size, size), Image.BICUBIC)


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _caption(i: int) -> str:
    rng = np.random.default_rng(5000 + i)
    return " ".join(rng.choice(WORDS, size=12))


N = 24
#: copy key -> (original index, how it was copied)
PLANTED = {"copy_reencoded": (3, "jpeg q60"), "copy_resized": (7, "resized to 96 px"),
           "copy_reworded": (11, "reworded caption, new image")}


def _write_pool(root) -> None:
    import webdataset as wds

    root.mkdir(parents=True)
    with wds.TarWriter(str(root / "00000.tar")) as sink:
        for i in range(N):
            sink.write({"__key__": f"orig{i:03d}", "png": _encode(_image(i), "PNG"),
                        "txt": _caption(i)})
        sink.write({"__key__": "copy_reencoded", "jpg": _encode(_image(3), "JPEG", quality=60),
                    "txt": _caption(100)})
        sink.write({"__key__": "copy_resized", "png": _encode(_image(7, 96), "PNG"),
                    "txt": _caption(101)})
        # Reworded: case, punctuation and one more word; a different image.
        sink.write({"__key__": "copy_reworded", "png": _encode(_image(102), "PNG"),
                    "txt": _caption(11).upper().replace(" ", ", ", 2) + " today"})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dedup")
    _write_pool(tmp / "user")
    source = read_source(str(tmp / "user" / "00000.tar"))
    params = {
        "executor": {"num_workers": 0},
        "scoring": {"batch_size": 16, "shard_size": 8},
        "filter": {"rules": {"clip_top70": "top(clip, 0.7)",
                             "dedup_clip": "!dup.any & top(clip, 0.7)"},
                   "definitions": {}, "apply": "dedup_clip"},
        "dedup": {"kinds": ["exact_image", "phash", "minhash", "semantic"],
                  "keep": {"policy": "first"}, "shard_size": 8, "batch_size": 4,
                  "semantic": {"threshold": 0.95, "backend": "sklearn"}},
        "packing": {"capacity": 1024, "shards": {"bins_per_shard": 4}},
    }
    outputs = ["filtering_ledger", "filtering_ledger_metrics", "filtering_dedup_metrics",
               "filtering_contamination_metrics", "filtering_before_after_table",
               "filtering_clip_score_metrics"]
    pipeline = create_pipeline().from_inputs("filtering_world.scene_metadata").to_outputs(
        *outputs)
    kept = ["filtering_scored_pool", "filtering_clip_embeddings", "filtering_dedup",
            "filtering_decisions"]
    catalog = DataCatalog({
        "filtering_source": MemoryDataset(source, copy_mode="assign"),
        "filtering_world.scene_metadata": MemoryDataset(pd.DataFrame({"image_id": []})),
        "params:filtering": MemoryDataset(params),
        "params:models": MemoryDataset({"scorer": {"preset": "tiny-vlm"}}),
        "params:generation": MemoryDataset({"engine": "hf"}),
        "filtering_scoring_work_dir": DirectoryDataset(str(tmp / "scores"), create=True),
        "filtering_packed_shards": PackedShardsDataset(str(tmp / "packed")),
        **{name: _Kept() for name in kept},
    })
    use_typed_parameters(catalog, pipeline)
    out = SequentialRunner().run(pipeline, catalog)
    result = {name: catalog.load(name) for name in kept}
    result.update({k: (out[k].load() if k in out else catalog.load(k)) for k in outputs})
    return result, tmp


class _Kept(MemoryDataset):
    def _release(self) -> None:
        pass


def test_planted_duplicates_found_with_their_representatives(run):
    out, _ = run
    pool = out["filtering_scored_pool"].set_index("key")
    ids = dict(zip(pool.index, pool["image_id"]))
    found = {}
    for copy, (orig, how) in PLANTED.items():
        row = pool.loc[copy]
        assert row["dup.any"], (copy, how)
        assert row["dup_of.any"] == ids[f"orig{orig:03d}"], (copy, how, row["dup_of.any"])
        found[copy] = row["dup_kind.any"]
    assert found["copy_reencoded"] == "phash" and found["copy_resized"] == "phash"
    assert pool.loc["copy_reworded", "dup.minhash"]
    # Precision and recall over every pair: only the planted copies are duplicates.
    flagged = set(pool.index[pool["dup.any"].astype(bool)])
    precision = len(flagged & set(PLANTED)) / max(1, len(flagged))
    recall = len(flagged & set(PLANTED)) / len(PLANTED)
    print(f"dedup on the user's pool: precision {precision:.2f}, recall {recall:.2f}")
    assert precision == 1.0 and recall == 1.0
    metrics = out["filtering_dedup_metrics"]
    assert metrics["dup.any"] == len(PLANTED) and metrics["hashed"] == N + len(PLANTED)


def test_embeddings_persisted_once_and_read_by_semdedup(run):
    out, _ = run
    emb = out["filtering_clip_embeddings"]
    assert len(emb) == N + len(PLANTED) == out["filtering_clip_score_metrics"]["embeddings"]
    vectors = np.stack([np.asarray(e) for e in emb["embedding"]])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # The scorer has random weights (a user's pairs train none): every image embeds to nearly
    # one vector, so SemDeDup would merge the pool; it is skipped, visibly.
    metrics = out["filtering_dedup_metrics"]
    assert metrics["semantic_skipped"] == 1.0 and "do not separate" in metrics[
        "semantic_skip_reason"]
    assert "dup.semantic" not in out["filtering_dedup"]


def test_a_dedup_rule_drops_duplicates_and_the_ledger_says_why(run, capsys):
    out, tmp = run
    pool = out["filtering_scored_pool"].set_index("key")
    assert not pool.loc[list(PLANTED), "keep.dedup_clip"].any()
    # clip_top70 does not read dup.*: it ranks the duplicates with everyone else.
    assert pool["keep.dedup_clip"].sum() < pool["keep.clip_top70"].sum() + 1
    ledger = out["filtering_ledger"]
    L.validate(ledger)
    assert list(L.stage_counts(ledger)["stage"]) == ["decode", "dedup", "decontamination",
                                                      "rule"]
    path = tmp / "ledger.parquet"
    L.write_ledger(ledger, path)
    assert L.main(["why", str(path), "copy_resized"]) == 0
    text = capsys.readouterr().out
    assert "dropped at stage 'dedup'" in text and "near duplicate of" in text
    assert pool.loc["orig007", "image_id"] in text
    metrics = out["filtering_ledger_metrics"]
    assert metrics["stage/dedup/dropped"] == len(PLANTED)
    assert metrics["kept"] == len(L.kept_ids(ledger))
    # Decontamination was skipped for a user's pairs without held-out pairs.
    assert out["filtering_contamination_metrics"]["skipped"] == 1.0
    table = out["filtering_before_after_table"]
    assert set(table["column"]) == {"caption_words", "image_pixels", "clip"}
    assert np.allclose(table.groupby("column")["pool"].sum(), 1.0)


def _pairs(root, indices, prefix, resized=()):
    rows = []
    for i in indices:
        path = root / f"{prefix}{i}.png"
        (_image(i, 96) if i in resized else _image(i)).save(path)
        rows.append({"image_id": f"{prefix}{i}", "key": f"{prefix}{i}", "image_path": str(path),
                     "caption": _caption(i)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("action", ["drop", "stop"])
def test_a_heldout_image_planted_in_the_pool_is_contaminated(tmp_path, action):
    heldout = _pairs(tmp_path, range(200, 210), "held")
    pool = pd.concat([_pairs(tmp_path, range(20), "pool"),
                      _pairs(tmp_path, [204], "planted", resized={204})], ignore_index=True)
    params = {"executor": {"num_workers": 0},
              "decontamination": {"action": action, "match": {"ngram": None},
                                  "stop_above": 0.01}}
    from datarecipes.config import from_params
    from datarecipes.executors import LocalExecutor
    from datarecipes.filtering.dedup import hash_pairs
    from datarecipes.filtering.params import FilteringParams

    p = from_params(FilteringParams, params, where="test")
    hashes, _ = hash_pairs(pool, p.dedup, LocalExecutor())
    if action == "stop":
        with pytest.raises(ContaminationError, match="1 of 21 pool pairs"):
            decontaminate(pool, heldout, hashes, None, p.decontamination, p.dedup, p.executor)
        return
    table, metrics = decontaminate(pool, heldout, hashes, None, p.decontamination, p.dedup,
                                   p.executor)
    hit = table.set_index("image_id")
    assert hit.loc["planted204", "contaminated.heldout"]
    assert hit.loc["planted204", "contaminated_by.heldout"] == "held204"
    assert hit["contaminated.heldout"].sum() == 1 and metrics["contaminated.heldout"] == 1
    assert metrics["dropped"] == 1 and hit.loc["planted204", "drop.contamination"]
    print(json.dumps(metrics))


def test_ledger_ids_are_the_inputs_keys_unless_they_repeat_across_files():
    from datarecipes.filtering.ledger import sample_ids

    pool = pd.DataFrame({"key": ["a", "b", "a"],
                         "image_id": ["00000.tar/a", "b-id", "00001.tar/a"]})
    # The unique key stays; the repeated one becomes the source's unique <file>/<key> id.
    assert sample_ids(pool).tolist() == ["00000.tar/a", "b", "00001.tar/a"]

"""Reading a user's pairs: every layout, every fault a decision, the source read-only."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DatasetError

from datarecipes.filtering.inputs import DECODE_ERROR, SUCCESS, read_row
from datarecipes.filtering.sources import read_source
from datarecipes.io.errors import SourceError
from datarecipes.io.pairs import PairSourceDataset
from tests.filtering.userdata import (
    tree_digest,
    write_folder,
    write_parquet,
    write_webdataset,
)


def _decoded(pairs: pd.DataFrame) -> dict[str, tuple[str, str]]:
    out = {}
    for row in pairs.to_dict("records"):
        pair = read_row(row)
        out[row["key"]] = (pair.status, pair.reason)
    return out


def _check(pairs: pd.DataFrame, expected: dict[str, str]) -> None:
    assert sorted(pairs["key"]) == sorted(expected)
    assert pairs["image_id"].is_unique
    decoded = _decoded(pairs)
    for key, fragment in expected.items():
        status, reason = decoded[key]
        if fragment:
            assert status == DECODE_ERROR and fragment in reason, (key, reason)
        else:
            assert status == SUCCESS, (key, reason)


def test_webdataset_shards_by_brace_pattern_are_read_in_place(tmp_path):
    expected = write_webdataset(tmp_path / "wds")
    before = tree_digest(tmp_path / "wds")
    source = read_source(str(tmp_path / "wds" / "{00000..00001}.tar"))
    assert source.format == "webdataset" and not source.builtin
    _check(source.pairs, expected)
    good = source.pairs[source.pairs["key"] == "000000003"].iloc[0]
    # The image is a reference into the shard (offset, size), not a copy.
    assert good["image_offset"] > 0 and good["image_bytes"] is None
    assert set(source.pairs["image_ext"].dropna()) == {"jpg", "png", "webp"}
    # The same shards as a folder and as a glob give the same rows.
    for pattern in (str(tmp_path / "wds"), str(tmp_path / "wds" / "*.tar")):
        assert sorted(read_source(pattern).pairs["key"]) == sorted(expected)
    assert tree_digest(tmp_path / "wds") == before


def test_missing_shard_is_named(tmp_path):
    write_webdataset(tmp_path / "wds")
    with pytest.raises(SourceError, match="00002.tar: no such file"):
        read_source(str(tmp_path / "wds" / "{00000..00002}.tar"))


def test_hf_parquet_with_image_structs(tmp_path):
    expected = write_parquet(tmp_path / "pq")
    with pytest.raises(SourceError, match=r"train-00000-of-00001.parquet: no caption column "
                                           r"'caption'.*filtering_caption_column"):
        read_source(str(tmp_path / "pq"))
    source = read_source(str(tmp_path / "pq"), caption_column="text")
    assert source.format == "parquet"
    _check(source.pairs, expected)  # keys are the parquet's own `id` column


def test_parquet_without_id_column_is_keyed_by_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.filtering.userdata import caption, image_bytes

    pq.write_table(pa.table({"image": [image_bytes(i) for i in range(4)],
                             "caption": [caption(i) for i in range(4)]}), tmp_path / "p.parquet")
    pairs = read_source(str(tmp_path / "p.parquet")).pairs
    assert pairs["key"].tolist() == ["0", "1", "2", "3"]
    assert (pairs["image_bytes"].map(len) > 0).all()
    assert all(read_row(r).ok for r in pairs.to_dict("records"))


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_image_folder_with_metadata(tmp_path, kind):
    expected = write_folder(tmp_path / "imgs", kind=kind)
    before = tree_digest(tmp_path / "imgs")
    source = read_source(str(tmp_path / "imgs"))
    assert source.format == "folder"
    _check(source.pairs, expected)
    assert tree_digest(tmp_path / "imgs") == before


def test_folder_metadata_without_caption_column_is_named(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "metadata.csv").write_text("file_name,text\na.png,hello\n")
    with pytest.raises(SourceError, match=r"metadata.csv: no column 'caption'"):
        read_source(str(tmp_path))


def test_source_dataset_refuses_to_save(tmp_path):
    write_folder(tmp_path / "imgs")
    dataset = PairSourceDataset(path=str(tmp_path / "imgs"))
    assert len(dataset.load().pairs) == 14
    with pytest.raises(DatasetError, match=r"imgs.\) is a source \(read-only\)"):
        dataset.save(pd.DataFrame({"x": [1]}))
    assert PairSourceDataset().load().builtin


def test_compressed_shards_are_read_streaming(tmp_path):
    import gzip

    expected = write_webdataset(tmp_path / "wds")
    for tar in sorted((tmp_path / "wds").glob("*.tar")):
        tar.with_suffix(".tar.gz").write_bytes(gzip.compress(tar.read_bytes()))
        tar.unlink()
    source = read_source(str(tmp_path / "wds" / "{00000..00001}.tar.gz"))
    _check(source.pairs, expected)
    # No offsets into a compressed stream: the image bytes travel with the row.
    good = source.pairs[source.pairs["key"] == "000000003"].iloc[0]
    assert good["image_offset"] == -1 and len(good["image_bytes"]) > 0


def test_a_truncated_shard_keeps_its_readable_pairs(tmp_path):
    """A download killed mid-shard: the pairs before the damage are read, the damage is a
    decision row of its own, the other shards are whole."""
    expected = write_webdataset(tmp_path / "wds")
    shard = tmp_path / "wds" / "00001.tar"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2 + 700])
    pairs = read_source(str(tmp_path / "wds")).pairs
    decoded = _decoded(pairs)
    first = [k for k in expected if k.startswith("0000")]
    assert all(decoded[k][0] == SUCCESS for k in first if not expected[k])
    assert decoded["00001.tar#damaged"][0] == DECODE_ERROR
    assert "damaged shard" in decoded["00001.tar#damaged"][1]
    second = [k for k in decoded if k.startswith("0001")]
    assert 0 < len(second) < 10  # some of the second shard survived, not all


def test_parquet_paths_resolve_against_image_root_and_format_can_be_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.filtering.userdata import caption, image_bytes

    (tmp_path / "pics").mkdir()
    for i in range(3):
        (tmp_path / "pics" / f"{i}.png").write_bytes(image_bytes(i))
    (tmp_path / "meta").mkdir()
    pq.write_table(pa.table({"key": ["a", "b", "c"], "file": [f"{i}.png" for i in range(3)],
                             "caption": [caption(i) for i in range(3)]}),
                   tmp_path / "meta" / "pairs.bin")
    with pytest.raises(SourceError, match="cannot tell the source format"):
        read_source(str(tmp_path / "meta" / "pairs.bin"))
    source = read_source(str(tmp_path / "meta" / "pairs.bin"), format="parquet",
                         image_column="file", image_root=str(tmp_path / "pics"))
    assert source.pairs["key"].tolist() == ["a", "b", "c"]
    assert all(read_row(r).ok for r in source.pairs.to_dict("records"))
    assert str(tmp_path / "pics") in source.roots  # nothing may be written there either

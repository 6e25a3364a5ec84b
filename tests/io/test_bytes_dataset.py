"""BytesDataset: the one dataset of encoded bytes (the worlds' PNGs, a user's decoded images)."""

from __future__ import annotations

import io

import pytest
from kedro.io import DatasetError
from PIL import Image

from datarecipes.io.datasets import BytesDataset, ImageDirectoryDataset


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format=fmt)
    return buffer.getvalue()


def test_bytes_round_trip_exactly_and_leave_no_temporary(tmp_path):
    data = b"\x00any\xffbytes"
    BytesDataset(str(tmp_path / "x.bin")).save(data)
    assert BytesDataset(str(tmp_path / "x.bin")).load() == data
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_image_format_takes_any_image_and_refuses_what_is_not_one(tmp_path, fmt):
    data = _encoded(fmt)
    BytesDataset(str(tmp_path / "i"), format="image").save(data)
    assert (tmp_path / "i").read_bytes() == data
    with pytest.raises(DatasetError, match=r"bad: refusing bytes that are no image"):
        BytesDataset(str(tmp_path / "bad"), format="image").save(data[: len(data) // 3] + b"x")
    assert not (tmp_path / "bad").exists()


def test_png_format_refuses_other_images_on_save_and_load(tmp_path):
    with pytest.raises(DatasetError, match="not PNG bytes"):
        BytesDataset(str(tmp_path / "a.png"), format="png").save(_encoded("JPEG"))
    assert not (tmp_path / "a.png").exists()
    (tmp_path / "b.png").write_bytes(_encoded("JPEG"))
    with pytest.raises(DatasetError, match=r"b\.png: not a PNG file"):
        BytesDataset(str(tmp_path / "b.png"), format="png").load()
    with pytest.raises(DatasetError, match="format must be"):
        BytesDataset(str(tmp_path / "c"), format="gif")


def test_image_directory_writes_each_image_through_the_bytes_dataset(tmp_path):
    target = tmp_path / "out"
    ImageDirectoryDataset(str(target)).save({"a.png": _encoded("PNG")})
    with pytest.raises(DatasetError, match=r"b\.png: refusing bytes that are no image"):
        ImageDirectoryDataset(str(target)).save({"b.png": b"not an image"})
    assert sorted(ImageDirectoryDataset(str(target)).load()) == ["a.png"]

"""A researcher's own image-text pairs, made in the tests, in every layout the recipe reads.

Each layout holds good pairs and the faults web data has: a corrupt image, an empty caption,
a caption that is not UTF-8, a missing image. ``EXPECTED`` maps each key to the reason
fragment its decision must carry ("" for a pair that must decode).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = [(200, 30, 30), (30, 160, 40), (40, 60, 210), (220, 200, 40), (150, 60, 170),
           (30, 190, 190), (240, 130, 20), (90, 90, 90)]
SHAPES = ["square", "circle", "bar", "cross"]


def image_bytes(i: int, fmt: str = "PNG", size: tuple[int, int] = (40, 32)) -> bytes:
    """A small, distinct image (colour and shape depend on ``i``)."""
    rng = np.random.default_rng(i)
    pixels = np.full((size[1], size[0], 3), 245, dtype=np.uint8)
    colour = COLOURS[i % len(COLOURS)]
    y, x = rng.integers(2, 10, size=2)
    pixels[y : y + 16, x : x + 16] = colour
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def caption(i: int) -> str:
    return f"a {SHAPES[i % len(SHAPES)]} in colour {i % len(COLOURS)} on a light background"


CORRUPT = b"\xff\xd8\xff\xe0 this is not a JPEG at all"
NOT_UTF8 = b"caf\xe9 au lait"  # Latin-1, not UTF-8


def write_webdataset(root: Path, n_good: int = 10) -> dict[str, str]:
    """Two img2dataset-style shards; returns key -> expected reason fragment."""
    import webdataset as wds

    root.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}
    with wds.TarWriter(str(root / "00000.tar")) as sink:
        for i in range(n_good):
            key = f"0000{i:05d}"
            sink.write({"__key__": key, "jpg": image_bytes(i, "JPEG"), "txt": caption(i),
                        "json": json.dumps({"key": key, "caption": caption(i)})})
            expected[key] = ""
        sink.write({"__key__": "000090000", "jpg": CORRUPT, "txt": "a corrupt image"})
        expected["000090000"] = "corrupt image"
        sink.write({"__key__": "000090001", "jpg": image_bytes(91, "JPEG"), "txt": "  "})
        expected["000090001"] = "empty caption"
        sink.write({"__key__": "000090002", "jpg": image_bytes(92, "JPEG"), "txt": NOT_UTF8})
        expected["000090002"] = "not UTF-8"
        # img2dataset writes the json of a failed download without an image.
        sink.write({"__key__": "000090003", "json": json.dumps({"caption": "lost"})})
        expected["000090003"] = "no image"
    with wds.TarWriter(str(root / "00001.tar")) as sink:
        for i in range(n_good, 2 * n_good):
            key = f"0001{i:05d}"
            # The caption only in the json, a png and a webp: all img2dataset output options.
            ext = "png" if i % 2 else "webp"
            sink.write({"__key__": key, ext: image_bytes(i, ext.upper()),
                        "json": json.dumps({"key": key, "caption": caption(i)})})
            expected[key] = ""
    return expected


def write_parquet(root: Path, n_good: int = 10) -> dict[str, str]:
    """An HF-datasets-style parquet (image struct, caption column ``text``, ``id`` keys) and
    the image files its path-only rows point at."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir()
    ids, images, texts, expected = [], [], [], {}
    for i in range(n_good):
        ids.append(f"p{i}")
        if i % 3 == 0:  # path-only struct, relative to the parquet's folder
            (root / "images" / f"{i}.png").write_bytes(image_bytes(i))
            images.append({"bytes": None, "path": f"images/{i}.png"})
        else:
            images.append({"bytes": image_bytes(i), "path": f"{i}.png"})
        texts.append(caption(i).encode())
        expected[f"p{i}"] = ""
    for key, image, text, reason in (
        ("bad-image", {"bytes": CORRUPT, "path": "x.jpg"}, b"a corrupt image", "corrupt image"),
        ("empty", {"bytes": image_bytes(81), "path": None}, b"", "empty caption"),
        ("latin1", {"bytes": image_bytes(82), "path": None}, NOT_UTF8, "not UTF-8"),
        ("gone", {"bytes": None, "path": "images/gone.png"}, b"a missing file", "missing file"),
    ):
        ids.append(key)
        images.append(image)
        texts.append(text)
        expected[key] = reason
    struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({"id": pa.array(ids), "image": pa.array(images, type=struct),
                      "text": pa.array(texts, type=pa.binary())})
    pq.write_table(table, root / "train-00000-of-00001.parquet", row_group_size=5)
    return expected


def write_folder(root: Path, n_good: int = 10, kind: str = "csv") -> dict[str, str]:
    """A folder of images with metadata.csv (or .jsonl) of file_name, caption."""
    root.mkdir(parents=True, exist_ok=True)
    lines: list[tuple[str, bytes]] = []
    expected: dict[str, str] = {}
    for i in range(n_good):
        name = f"img_{i:03d}.png"
        (root / name).write_bytes(image_bytes(i))
        lines.append((name, caption(i).encode()))
        expected[name] = ""
    (root / "broken.jpg").write_bytes(CORRUPT)
    (root / "quiet.png").write_bytes(image_bytes(71))
    (root / "latin.png").write_bytes(image_bytes(72))
    for name, text, reason in (("broken.jpg", b"a corrupt image", "corrupt image"),
                               ("quiet.png", b"", "empty caption"),
                               ("latin.png", NOT_UTF8, "not UTF-8"),
                               ("missing.png", b"a missing file", "missing file")):
        lines.append((name, text))
        expected[name] = reason
    if kind == "csv":
        body = b"file_name,caption\n" + b"".join(
            b'"' + n.encode() + b'","' + t + b'"\n' for n, t in lines)
        (root / "metadata.csv").write_bytes(body)
    else:
        body = b"".join(
            b'{"file_name": "' + n.encode() + b'", "caption": "' + t + b'"}\n' for n, t in lines)
        body += b'{"file_name": "torn.png", "caption": \n'
        expected[f"line {len(lines) + 1}"] = "not valid JSON"
        (root / "metadata.jsonl").write_bytes(body)
    return expected


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (and the set of names): any write shows."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root) + "/"] = "dir"
        for name in filenames:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out

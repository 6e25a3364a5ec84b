"""Filtering benchmarks: CLIP scoring throughput vs the bare model, and FFD packing speed.

    PYTHONPATH=src python benchmarks/filtering.py [--model ViT-B-32] [--images 256]
        [--batch-size 64] [--workers 1] [--threads 1] [--pack 1000000]
        [--inputs files,wds-png,wds-jpg] [--shard-size 100]

1. CLIP scoring, images/s through the full input pipeline against the bare model forward on
   the same batches pre-decoded in memory (the baseline, measured in the same process), for
   each input layout: ``files`` — PNG files on disk, as the built-in world stores them;
   ``wds-png`` / ``wds-jpg`` — the same images in WebDataset tar shards as img2dataset writes
   them (``<key>.png|jpg`` + ``<key>.txt``), read through the filtering source
   (``read_source``: tar headers and captions, images referenced in place) and decoded from
   the shard by offset. The full time includes reading the source. Goal: input-pipeline
   overhead under 15 %.
2. Packing: first-fit-decreasing samples/s and fill ratio on realistic lengths (caption
   tokens + 144 image tokens, capacity 4096), against the quadratic first-fit scan of the
   reference on a subset. Goal: over 100,000 samples/s.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image


def _images(directory: Path, n: int, size: tuple[int, int]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        path = directory / f"{i:05d}.png"
        # Smooth random images compress like photos rather than like noise.
        small = rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize(size, Image.BICUBIC).save(path)
        rows.append({"image_id": f"b{i:05d}", "image_path": str(path),
                     "caption": f"a photo of {i % 7} red cubes next to a blue sphere"})
    return pd.DataFrame(rows)


def _webdataset(directory: Path, pairs: pd.DataFrame, ext: str, shard_size: int) -> str:
    """The pairs' images as img2dataset-style shards (``ext``: png or jpg); the brace pattern."""
    import io

    import webdataset as wds

    n_shards = -(-len(pairs) // shard_size)
    for shard in range(n_shards):
        with wds.TarWriter(str(directory / f"{shard:05d}.tar")) as sink:
            for row in pairs.iloc[shard * shard_size : (shard + 1) * shard_size].itertuples():
                with Image.open(row.image_path) as img:
                    buffer = io.BytesIO()
                    img.convert("RGB").save(buffer, format="JPEG" if ext == "jpg" else "PNG",
                                            quality=90)
                sink.write({"__key__": row.image_id, ext: buffer.getvalue(),
                            "txt": row.caption})
    return str(directory / f"{{00000..{n_shards - 1:05d}}}.tar")


def bench_clip(model: str, n_images: int, batch_size: int, workers: int,
               inputs: list[str], shard_size: int) -> None:
    from datarecipes.executors import LocalExecutor
    from datarecipes.filtering.clip_score import clip_similarity, decoder_for, score_clip
    from datarecipes.filtering.sources import read_source
    from datarecipes.models.clip import load_clip

    loaded = load_clip(model)
    executor = LocalExecutor(num_workers=workers)
    print(f"clip scoring ({model}, {n_images} images 320x240, batch {batch_size}, "
          f"{workers} decode worker(s), {torch.get_num_threads()} torch thread(s))")
    with tempfile.TemporaryDirectory() as tmp:
        files = _images(Path(tmp), n_images, (320, 240))
        for kind in inputs:
            if kind == "files":
                def load(files=files):
                    return files
            else:
                folder = Path(tmp) / kind
                folder.mkdir()
                pattern = _webdataset(folder, files, kind.removeprefix("wds-"), shard_size)

                def load(pattern=pattern):
                    return read_source(pattern).pairs
            pairs = load()
            decoder = decoder_for(loaded)
            rows = [decoder(r) for r in pairs.to_dict("records")]
            assert all(r["status"] == "success" for r in rows), kind
            batches = [
                (torch.stack([r["pixels"] for r in rows[i : i + batch_size]]),
                 torch.stack([r["tokens"] for r in rows[i : i + batch_size]]))
                for i in range(0, len(rows), batch_size)
            ]
            clip_similarity(loaded.model, *batches[0])  # warm-up
            start = time.perf_counter()
            for pixels, tokens in batches:
                clip_similarity(loaded.model, pixels, tokens)
            bare = n_images / (time.perf_counter() - start)

            score_clip(pairs.iloc[:batch_size], loaded, executor, batch_size=batch_size,
                       shard_size=n_images)  # warm-up (worker start-up is measured below)
            start = time.perf_counter()
            pairs = load()  # reading the source is part of the pipeline
            read = time.perf_counter() - start
            scores, _ = score_clip(pairs, loaded, executor, batch_size=batch_size,
                                   shard_size=n_images)
            full = n_images / (time.perf_counter() - start)
            assert (scores["status"] == "success").all()
            label = {"files": "PNG files (the built-in world)",
                     "wds-png": f"WebDataset shards, png ({shard_size}/shard)",
                     "wds-jpg": f"WebDataset shards, jpg ({shard_size}/shard)"}[kind]
            print(f"  {label}")
            print(f"    bare model forward (pre-decoded) : {bare:9.1f} images/s   [baseline]")
            print(f"    read + decode + score            : {full:9.1f} images/s   "
                  f"(reading the source {read * 1000:.0f} ms)")
            print(f"    input-pipeline overhead          : {bare / full - 1.0:9.1%}   "
                  f"(goal < 15 %)")


def _first_fit_scan(lengths: np.ndarray, capacity: int) -> int:
    """The reference's quadratic first-fit-decreasing scan (bins used)."""
    remaining: list[int] = []
    for length in sorted(lengths.tolist(), reverse=True):
        for b, room in enumerate(remaining):
            if room >= length:
                remaining[b] = room - length
                break
        else:
            remaining.append(capacity - length)
    return len(remaining)


def bench_packing(n: int) -> None:
    from datarecipes.filtering.packing import first_fit_decreasing, packing_metrics

    rng = np.random.default_rng(0)
    # Caption tokens (log-normal, median ~40, long tail) + 144 image tokens per sample.
    lengths = (rng.lognormal(np.log(40), 0.9, size=n).astype(np.int64) + 144).clip(max=6000)
    start = time.perf_counter()
    packing = first_fit_decreasing(lengths, 4096)
    seconds = time.perf_counter() - start
    metrics = packing_metrics(packing, lengths)
    subset = lengths[:5_000]
    start = time.perf_counter()
    scan_bins = _first_fit_scan(subset, 4096)
    scan_rate = len(subset) / (time.perf_counter() - start)
    assert scan_bins == first_fit_decreasing(subset, 4096).n_bins
    print(f"packing ({n} samples, capacity 4096)")
    print(f"  quadratic first-fit scan (5k)    : {scan_rate:12,.0f} samples/s   [baseline]")
    print(f"  segment-tree FFD                 : {n / seconds:12,.0f} samples/s   "
          f"(goal > 100,000)")
    print(f"  fill ratio                       : {metrics['fill_ratio']:.4f}   "
          f"bins {packing.n_bins} vs lower bound "
          f"{math.ceil(lengths[packing.kept].sum() / 4096)}; "
          f"dropped {int(metrics['n_dropped_too_long'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader decode workers")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--pack", type=int, default=1_000_000,
                        help="samples to pack (0: skip)")
    parser.add_argument("--inputs", default="files,wds-png,wds-jpg",
                        help="input layouts to score: files, wds-png, wds-jpg")
    parser.add_argument("--shard-size", type=int, default=100, help="pairs per tar shard")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.pack:
        bench_packing(args.pack)
    bench_clip(args.model, args.images, args.batch_size, args.workers,
               args.inputs.split(","), args.shard_size)


if __name__ == "__main__":
    main()

"""Scenes world throughput: scenes per second to generate, render and write N=500 scenes.

Printed next to two baselines measured in the same process: layout + relations + caption
only (no pixels), and the same plus rendering (no PNG encoding, no files). The full figure
includes PNG encoding and writing every file the catalog writes (images, the five ProVision
layers, depth .npy, mask .npz, metadata parquet).

    PYTHONPATH=src python benchmarks/scenes.py [--n 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from datarecipes.annotations import write_provision
from datarecipes.io.atomic import atomic_write_bytes
from datarecipes.scenes import ScenesParams, generate_world
from datarecipes.scenes.world import build_scene


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:8.1f} scenes/s ({seconds:6.2f} s)"


def time_layout_only(params: ScenesParams) -> float:
    start = time.perf_counter()
    for i in range(params.n_scenes):
        build_scene(params, i, render=False)
    return time.perf_counter() - start


def time_layout_and_render(params: ScenesParams) -> float:
    start = time.perf_counter()
    for i in range(params.n_scenes):
        build_scene(params, i, render=True)
    return time.perf_counter() - start


def time_generate_render_write(params: ScenesParams, root: Path) -> float:
    start = time.perf_counter()
    world = generate_world(params, progress=False)
    for image_id, png in world.images.items():
        atomic_write_bytes(root / "images" / f"{image_id}.png", png)
    write_provision(world.graphs.values(), root / "annotations")
    world.metadata.to_parquet(root / "metadata.parquet", index=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="number of scenes")
    args = parser.parse_args()
    params = ScenesParams(n_scenes=args.n)
    layout = time_layout_only(params)
    render = time_layout_and_render(params)
    with tempfile.TemporaryDirectory() as tmp:
        full = time_generate_render_write(params, Path(tmp))
    print(f"scenes benchmark, N={args.n}, image {params.width}x{params.height}")
    print(f"  baseline: layout + relations + caption  {_rate(args.n, layout)}")
    print(f"  baseline: + render (pixels/depth/masks) {_rate(args.n, render)}")
    print(f"  measured: generate + render + write     {_rate(args.n, full)}")


if __name__ == "__main__":
    main()

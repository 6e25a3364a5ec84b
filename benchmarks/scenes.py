"""Scenes world throughput: scenes per second to generate, render and write N=500 scenes.

Printed next to two baselines measured in the same process: layout + relations + caption
only (no pixels), and the same plus rendering (no PNG encoding, no files). The full figure
includes PNG encoding and writing every file the catalog writes (images, the five ProVision
layers, depth .npy, mask .npz, metadata parquet).

It also times ``dvc repro`` on a fresh git+DVC copy of the project: the first repro (runs
the ``scenes`` stage) as the baseline for the second, a no-op that must only check hashes.

    .venv/bin/python benchmarks/scenes.py [--n 500] [--dvc-n 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
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


PROJECT = Path(__file__).resolve().parents[1]


def time_dvc_repro(n_scenes: int) -> tuple[float, float]:
    """Seconds for the first ``dvc repro`` (builds scenes) and for the no-op second one."""
    import yaml

    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "KEDRO_DISABLE_TELEMETRY": "1",
           "DATARECIPES_TRACKING": "off"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        for item in ("pyproject.toml", "dvc.yaml", ".gitignore", ".telemetry"):
            shutil.copy2(PROJECT / item, root / item)
        shutil.copytree(PROJECT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
        (root / "conf" / "local").mkdir()
        shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
        for layer in ("01_raw", "08_reporting"):
            (root / "data" / layer).mkdir(parents=True)
        params_file = root / "conf/base/parameters_scenes.yml"
        params = yaml.safe_load(params_file.read_text())
        params["scenes"]["n_scenes"] = n_scenes
        params_file.write_text(yaml.safe_dump(params))
        for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.email=b@example.invalid", "-c", "user.name=b",
                     "commit", "-qm", "x"]):
            subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
        timings = []
        for _ in range(2):
            start = time.perf_counter()
            subprocess.run(["dvc", "repro", "scenes"], cwd=root, env=env, check=True,
                           capture_output=True)
            timings.append(time.perf_counter() - start)
    return timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="number of scenes")
    parser.add_argument("--dvc-n", type=int, default=50, help="scenes in the DVC timing")
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
    first, noop = time_dvc_repro(args.dvc_n)
    print(f"dvc repro (scenes stage, N={args.dvc_n})")
    print(f"  baseline: first repro (runs the stage)  {first:6.2f} s")
    print(f"  measured: second repro (no-op)          {noop:6.2f} s")


if __name__ == "__main__":
    main()

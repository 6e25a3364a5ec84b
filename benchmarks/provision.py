"""ProVision throughput: questions per second on one core.

Usage: ``PYTHONPATH=src python benchmarks/provision.py [--n 10000] [--objects 10 20]``

Builds ``--n`` random scene graphs (depth map and masks consistent with the boxes) per
object count, in chunks so memory stays bounded (graph building is not timed), and times:

(a) enumeration — every candidate question of all 24 single-image generators on every
    graph (GraphIndex build included: object depths from the masks, overlaps, ...) and of
    all 14 multi-image generators on consecutive image pairs;
(b) the sampled pipeline — ``generate_questions`` with one question per generator per
    image (per group for multi-image; one group per image), rendered to text with
    options and step-by-step solutions.

Baselines, in the same process on a subset: a *naive* implementation of the reference's
structure built from the same generators — no shared per-graph index (every generator call
rebuilds it, as the reference recomputes per generator and reloads masks per call),
candidates enumerated fully, and for (b) everything enumerated twice (metadata pass, then
sampling pass) as the reference's pipeline does. The reference's own figures, measured on
this machine kind (from the issue): 4,100–7,600 QA/s per core enumerating, 17–280 QA/s per
core through its sampling pipeline.

Every rate is printed twice: per wall-clock second and per CPU second of this process
(``time.process_time``). The machine's cores are shared, so wall rates fall with the load
average (printed) while CPU rates measure what one core does.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path as _Path

import numpy as np

from datarecipes.provision import (
    GeneratorParams,
    GraphIndex,
    ProvisionParams,
    Vocabulary,
    build_generators,
    generate_questions,
    render,
)
from datarecipes.provision.sampling import RareConceptWeight, weighted_sample

# The synthetic data helpers live with the tests (tests/), importable from the project root.
sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))

from tests.provision.synthetic import random_scene_graph

REFERENCE = {"enumerate": (4_100, 7_600), "sampled": (17, 280)}


def make_graphs(n: int, objects: int, size: int, seed: int):
    rng = np.random.default_rng(seed)
    return {f"g{seed}_{i:06d}": random_scene_graph(rng, objects, size, image_id=f"g{seed}_{i:06d}")
            for i in range(n)}


def enumerate_all(graphs, gens, shared_index: bool = True) -> int:
    singles = [g for g in gens if not g.multi]
    multis = [g for g in gens if g.multi]
    graphs = list(graphs.values())
    n_cand = 0
    indices = []
    for k, graph in enumerate(graphs):
        rng = random.Random(k)
        index = GraphIndex(graph) if shared_index else None
        for gen in singles:
            g = index if shared_index else GraphIndex(graph)
            if gen.needs <= g.layers:
                n_cand += len(gen.enumerate(g, rng))
        indices.append(index)
    for k in range(len(graphs) - 1):
        rng = random.Random(k)
        for gen in multis:
            pair = ([indices[k], indices[k + 1]] if shared_index
                    else [GraphIndex(graphs[k]), GraphIndex(graphs[k + 1])])
            n_cand += len(gen.enumerate(pair, rng))
    return n_cand


def sampled(graphs, seed: int) -> int:
    """The pipeline as it runs: one question per generator per image, one group per image."""
    params = ProvisionParams(seed=seed, groups_per_split=len(graphs))
    return len(generate_questions(graphs, params))


def naive_sampled(graphs, gens) -> int:
    """Reference structure: concept counts from a full enumeration pass, then a second full
    enumeration per image, candidate-level weighted draw, render; fresh index per call."""
    singles = [g for g in gens if not g.multi]
    multis = [g for g in gens if g.multi]
    items = list(graphs.values())
    counts: Counter = Counter()
    for k, graph in enumerate(items):
        for gen in singles:
            g = GraphIndex(graph)
            if gen.needs <= g.layers:
                for c in gen.enumerate(g, random.Random(k)):
                    counts.update(c.meta)
    weigh = RareConceptWeight(counts)
    vocab = Vocabulary.from_indices(GraphIndex(g) for g in items)
    n = 0
    for k, graph in enumerate(items):
        for gen in singles:
            g = GraphIndex(graph)
            if gen.needs <= g.layers:
                rng = random.Random(k)
                for c in weighted_sample(gen.enumerate(g, rng), 1, weigh, rng):
                    n += render(gen, c, g, rng, rng.random() < 0.5, vocab) is not None
    for k in range(len(items) - 1):
        pair = [GraphIndex(items[k]), GraphIndex(items[k + 1])]
        for gen in multis:
            rng = random.Random(k)
            for c in weighted_sample(gen.enumerate(pair, rng), 1, weigh, rng):
                n += render(gen, c, pair, rng, rng.random() < 0.5, vocab) is not None
    return n


def timed(fn, *args) -> tuple[int, float, float]:
    """``(result, wall seconds, CPU seconds of this process)``. The machine's cores are
    shared, so wall time counts other people's work too; CPU time is what one core spent."""
    t, c = time.perf_counter(), time.process_time()
    n = fn(*args)
    return n, time.perf_counter() - t, time.process_time() - c


def rate(n: int, wall: float, cpu: float) -> str:
    return f"{n / wall:,.0f} QA/s wall, {n / cpu:,.0f} QA/s CPU"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="scene graphs per object count")
    ap.add_argument("--objects", type=int, nargs="+", default=[10, 20])
    ap.add_argument("--size", type=int, default=64, help="depth map / mask side in pixels")
    ap.add_argument("--chunk", type=int, default=2_000, help="graphs held in memory at once")
    ap.add_argument("--baseline-n", type=int, default=300, help="graphs for the baselines")
    args = ap.parse_args(argv)
    gens = build_generators("all", GeneratorParams())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {sys.version.split()[0]}, 1 process (= per core), load average {load:.1f}")
    print(f"{args.n} graphs per size, {args.size}x{args.size} depth/masks\n")
    lo_e, hi_e = REFERENCE["enumerate"]
    lo_s, hi_s = REFERENCE["sampled"]
    for objects in args.objects:
        tot = {"enum": [0, 0.0, 0.0], "samp": [0, 0.0, 0.0]}
        for start in range(0, args.n, args.chunk):
            graphs = make_graphs(min(args.chunk, args.n - start), objects, args.size,
                                 seed=objects * 1_000_003 + start)
            for key, (n, wall, cpu) in (("enum", timed(enumerate_all, graphs, gens)),
                                        ("samp", timed(sampled, graphs, start))):
                tot[key][0] += n
                tot[key][1] += wall
                tot[key][2] += cpu
            del graphs
        base = make_graphs(args.baseline_n, objects, args.size, seed=objects)
        nb_e, wall_b_e, cpu_b_e = timed(enumerate_all, base, gens, False)
        nb_s, wall_b_s, cpu_b_s = timed(naive_sampled, base, gens)
        n_e, wall_e, cpu_e = tot["enum"]
        n_s, wall_s, cpu_s = tot["samp"]
        print(f"== {objects} objects per graph (load average now "
              f"{os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan'):.1f})")
        print(f"(a) enumerate all candidates: {n_e:,} in {wall_e:.1f}s = {rate(n_e, wall_e, cpu_e)}"
              f"\n    naive same-process baseline ({args.baseline_n} graphs): "
              f"{rate(nb_e, wall_b_e, cpu_b_e)}\n    reference {lo_e:,}-{hi_e:,} QA/s per core "
              f"-> wall {n_e / wall_e / hi_e:.1f}x-{n_e / wall_e / lo_e:.1f}x, "
              f"CPU {n_e / cpu_e / hi_e:.1f}x-{n_e / cpu_e / lo_e:.1f}x")
        print(f"(b) sampled pipeline:         {n_s:,} in {wall_s:.1f}s = {rate(n_s, wall_s, cpu_s)}"
              f"\n    naive same-process baseline ({args.baseline_n} graphs): "
              f"{rate(nb_s, wall_b_s, cpu_b_s)}\n    reference {lo_s}-{hi_s} QA/s per core "
              f"-> wall {n_s / wall_s / hi_s:.1f}x-{n_s / wall_s / lo_s:.0f}x, "
              f"CPU {n_s / cpu_s / hi_s:.1f}x-{n_s / cpu_s / lo_s:.0f}x\n", flush=True)

if __name__ == "__main__":
    main()

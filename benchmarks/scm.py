"""SCM prior throughput against TabICL's prior, and serialisation rows/s, in one process.

    PYTHONPATH=src python benchmarks/scm.py [--tables 256] [--tabicl-tables 32] [--workers 2 4]

Both priors make 1024-row classification tables with 5-50 features and up to 10 classes
(half binary), with the MLP/tree mix of ``prior_type`` (mix_scm = 70/30). Reported per prior:
wall-clock tables/s and tables per CPU-second ("per core": robust to other load on the
machine; for ``--workers`` runs it adds the workers' CPU time). TabICL runs with
``n_jobs=1`` (its multi-process mode fails to pickle in 2.2.0) and one torch thread.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # per-core figures: one thread per process

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from datarecipes.tabular.prior import PriorParams, generate_tasks  # noqa: E402
from datarecipes.tabular.serialize import build_messages, encode_values, format_rows  # noqa: E402

#: TabICL figures the issue quotes for this machine kind (tables/s per core).
ISSUE_REFERENCE = {"mix_scm": 8.8, "mlp_scm": 6.9, "tree_scm": 28.6}
MLP_SHARE = {"mix_scm": 0.7, "mlp_scm": 1.0, "tree_scm": 0.0}


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn) -> tuple[float, float]:
    cpu, wall = _cpu_seconds(), time.perf_counter()
    fn()
    return time.perf_counter() - wall, _cpu_seconds() - cpu


def bench_ours(prior_type: str, n_tables: int, rows: int, workers: int) -> tuple[float, float]:
    settings = PriorParams(n_rows=rows, mlp_share=MLP_SHARE[prior_type])
    wall, cpu = _timed(lambda: generate_tasks(n_tables, seed=1, settings=settings,
                                              workers=workers))
    return n_tables / wall, n_tables / cpu


def bench_tabicl(prior_type: str, n_tables: int, rows: int) -> tuple[float, float] | str:
    try:
        import torch
        from tabicl.prior import PriorDataset
    except ImportError as err:
        return f"tabicl not importable ({err})"
    torch.set_num_threads(1)
    prior = PriorDataset(batch_size=n_tables, batch_size_per_gp=1, min_features=5,
                         max_features=50, max_classes=10, max_seq_len=rows,
                         prior_type=prior_type, n_jobs=1, num_threads_per_generate=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            wall, cpu = _timed(lambda: prior.get_batch())
        except Exception as err:  # noqa: BLE001 - report, keep benchmarking ours
            return f"tabicl failed: {type(err).__name__}: {err}"
    return n_tables / wall, n_tables / cpu


def bench_serialisation(rows: int = 100_000, features: int = 25) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, features))
    y = rng.integers(0, 10, size=rows)
    codes, _ = encode_values(x, x[:1])
    wall, _ = _timed(lambda: format_rows(codes, labels=y))

    def plain() -> str:
        return "\n".join(",".join(map(str, r)) + f"|{v}" for r, v in zip(codes.tolist(),
                                                                         y.tolist()))

    wall_plain, _ = _timed(plain)
    prompt_wall, _ = _timed(lambda: [build_messages(x[k:k + 1024], y[k:k + 1024],
                                                    x[k + 1024:k + 1074], y[k + 1024:k + 1074])
                                     for k in range(0, rows - 1074, 1074)])
    n_prompts = len(range(0, rows - 1074, 1074))
    print(f"\nserialisation, {features} features: format_rows {rows / wall:,.0f} rows/s vs "
          f"plain str.join {rows / wall_plain:,.0f} rows/s (x{wall_plain / wall:.1f}); "
          f"full 1024-shot prompts {n_prompts / prompt_wall:.1f} prompts/s "
          f"({n_prompts * 1074 / prompt_wall:,.0f} rows/s, z-scoring included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=int, default=256, help="tables per run of ours")
    parser.add_argument("--tabicl-tables", type=int, default=32, help="tables per TabICL run")
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--workers", type=int, nargs="+", default=[2],
                        help="also run ours (mix_scm) with these process counts")
    parser.add_argument("--scaling-tables", type=int, default=512,
                        help="tables per run of the process-scaling comparison")
    parser.add_argument("--skip-tabicl", action="store_true")
    args = parser.parse_args()

    generate_tasks(4, seed=0)  # warm caches and imports
    print(f"{args.rows}-row tables, 5-50 features, 2-10 classes (half binary); cores: "
          f"{os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    header = (f"{'prior':9} | {'ours tables/s':>13} {'per CPU-s':>9} | "
              f"{'TabICL tables/s':>15} {'per CPU-s':>9} | {'speed-up/core':>13} | "
              f"{'issue ref':>9}")
    print(header)
    print("-" * len(header))
    for prior_type in ("mix_scm", "mlp_scm", "tree_scm"):
        ours_wall, ours_cpu = bench_ours(prior_type, args.tables, args.rows, workers=1)
        theirs = ("skipped (--skip-tabicl)" if args.skip_tabicl
                  else bench_tabicl(prior_type, args.tabicl_tables, args.rows))
        if isinstance(theirs, str):
            ref = ISSUE_REFERENCE[prior_type]
            print(f"{prior_type:9} | {ours_wall:13.1f} {ours_cpu:9.1f} | {theirs} | "
                  f"x{ours_cpu / ref:.1f} vs issue ref | {ref:9.1f}")
        else:
            print(f"{prior_type:9} | {ours_wall:13.1f} {ours_cpu:9.1f} | {theirs[0]:15.1f} "
                  f"{theirs[1]:9.1f} | {'x%.1f' % (ours_cpu / theirs[1]):>13} | "
                  f"{ISSUE_REFERENCE[prior_type]:9.1f}")
    counts = sorted({1, *args.workers})
    if len(counts) > 1:
        print(f"\nmix_scm scaling over processes ({args.scaling_tables} tables per run):")
        base = None
        for workers in counts:
            wall, cpu = bench_ours("mix_scm", args.scaling_tables, args.rows, workers=workers)
            base = base or wall
            print(f"  {workers:3d} processes: {wall:8.1f} tables/s (x{wall / base:.2f}), "
                  f"{cpu:.1f} tables per CPU-s (spawn included)")
    bench_serialisation()


if __name__ == "__main__":
    main()

"""Dedup throughput: pHash index vs all pairs, MinHash-LSH vs a datasketch loop, SemDeDup.

Usage: ``PYTHONPATH=src python benchmarks/dedup.py [--images 100000] [--captions 200000]
[--embeddings 200000] [--dim 256]`` (the defaults finish in a few minutes on 2 cores;
``--captions 1000000 --embeddings 1000000`` are the issue's sizes).

(a) **pHash near duplicates** over ``--images`` 64-bit hashes: uniform random hashes with
    10 % planted near copies (1-4 flipped bits), i.e. the hashes of ``--images`` images — the
    per-image hashing is a separate, per-shard step, timed on ``--hash-images`` rendered
    scenes. Ours: :func:`datarecipes.dedup.dedup_hamming` (identical-hash collapse,
    multi-index hashing, verification, greedy representatives). Baseline: all pairs with a
    vectorised numpy popcount, timed on ``--all-pairs-sample`` query rows against every
    hash and extrapolated to the full self-join (stated in the output). Uniform hashes are
    the index's best case: real pHashes are more clustered, so buckets are larger.
(b) **MinHash-LSH** over ``--captions`` synthetic captions (14-18 words from a 60-word
    vocabulary, 10 % planted near copies with one word changed). Ours: vectorised signatures
    (:func:`text_signatures_batch`) + numpy banding (:func:`dedup_minhash`). Baseline: the
    plain datasketch loop — ``MinHash.update_batch`` per caption, ``MinHashLSH.insert``, then
    ``query`` per caption — on ``--datasketch-sample`` captions, and the same loop with one
    ``MinHash.update`` per shingle on a fifth of them. Rates are samples per CPU
    second of this process (one core: numpy's element-wise ops and sorts are single-threaded).
(c) **SemDeDup** over ``--embeddings`` unit vectors of ``--dim`` dimensions (a mixture of
    Gaussians, 10 % planted near copies): k-means (faiss; and scikit-learn's MiniBatchKMeans
    as a second backend) + in-cluster greedy. Baseline: all-pairs cosine over the whole pool
    (no clusters), timed on a sample of query rows and extrapolated.

Wall times are printed with CPU times; the cores are shared, so wall time grows with the load
average (printed).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd


def _clock():
    return time.perf_counter(), time.process_time()


def _since(start):
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def bench_phash(n: int, sample: int, hash_images: int, seed: int = 0) -> None:
    from datarecipes.dedup import KeepParams, dedup_hamming, hamming_pairs_bruteforce
    from datarecipes.dedup.hamming import choose_chunks

    rng = np.random.default_rng(seed)
    n_copy = n // 10
    base = rng.integers(0, 2**63, size=n - n_copy, dtype=np.int64).astype(np.uint64) << 1
    base |= rng.integers(0, 2, size=len(base)).astype(np.uint64)
    src = rng.integers(0, len(base), size=n_copy)
    flips = np.zeros(n_copy, dtype=np.uint64)
    for i, d in enumerate(rng.integers(1, 5, size=n_copy)):
        for b in rng.choice(64, size=d, replace=False):
            flips[i] |= np.uint64(1) << np.uint64(int(b))
    hashes = np.concatenate([base, base[src] ^ flips])
    table = pd.DataFrame({"id": np.arange(n), "image_phash": [f"{int(h):016x}" for h in hashes]})
    d = 6
    start = _clock()
    result = dedup_hamming(table, key="id", kind="phash", max_distance=d, keep=KeepParams())
    wall, cpu = _since(start)
    found = int(result["dup.phash"].sum())
    m = choose_chunks(n, n, 64, d)
    print(f"(a) pHash, {n:,} hashes, distance <= {d} ({m} chunks):")
    print(f"    index (dedup_hamming):      {wall:8.2f} s wall  {cpu:8.2f} s CPU   "
          f"{found:,} duplicates flagged of {n_copy:,} planted")
    q = hashes[:sample]
    start = _clock()
    hamming_pairs_bruteforce(q, d, targets=hashes)
    wall_s, cpu_s = _since(start)
    scale = n / sample / 2  # the self-join needs each unordered pair once
    print(f"    all pairs, {sample:,} x {n:,} measured: {wall_s:.2f} s wall {cpu_s:.2f} s CPU;"
          f" extrapolated to {n:,}^2/2 pairs: {wall_s * scale:8.1f} s wall  "
          f"{cpu_s * scale:8.1f} s CPU  (x{cpu_s * scale / max(cpu, 1e-9):.0f} the index)")
    if hash_images:
        from datarecipes.dedup import ImageHashParams, hash_images_batch
        from datarecipes.scenes import ScenesParams, generate_world

        world = generate_world(ScenesParams(n_scenes=hash_images, seed=1), progress=False)
        images = list(world.images.values())
        start = _clock()
        hash_images_batch({"image": images}, ImageHashParams(), image_column="image")
        wall_h, cpu_h = _since(start)
        print(f"    per-image hashing (SHA-256 + pHash + dHash, 128x128 PNG), "
              f"{hash_images} images: {hash_images / cpu_h:,.0f} images per CPU second")


_VOCAB = ("a an the small large tiny big red blue green yellow gray brown purple cyan metal "
          "rubber shiny matte cube sphere cylinder cone torus is are of to left right behind "
          "front above below next near far there three two four five six seven objects "
          "object and with on in under beside picture photo scene shows image showing "
          "rendered plain background").split()


def _captions(n: int, rng: np.random.Generator) -> list[str]:
    vocab = np.array(_VOCAB)
    n_copy = n // 10
    lengths = rng.integers(14, 19, size=n - n_copy)
    words = rng.integers(0, len(vocab), size=(n - n_copy, 18))
    base = [" ".join(vocab[w[:k]]) for w, k in zip(words, lengths)]
    out = list(base)
    for s in rng.integers(0, len(base), size=n_copy):
        parts = base[s].split()
        parts[rng.integers(0, len(parts))] = vocab[rng.integers(0, len(vocab))]
        out.append(" ".join(parts))
    return [out[i] for i in rng.permutation(len(out))]


def bench_minhash(n: int, sample: int, seed: int = 0) -> None:
    from datasketch import MinHash, MinHashLSH

    from datarecipes.dedup import MinHashParams, dedup_minhash, text_signatures_batch
    from datarecipes.dedup.text_norm import normalise_text

    rng = np.random.default_rng(seed)
    texts = _captions(n, rng)
    params = MinHashParams()
    start = _clock()
    parts = [pd.DataFrame(text_signatures_batch({"text": texts[s : s + 10_000]}, params))
             for s in range(0, n, 10_000)]
    sig_wall, sig_cpu = _since(start)
    table = pd.concat(parts, ignore_index=True)
    table["id"] = np.arange(n)
    start = _clock()
    result = dedup_minhash(table, key="id", params=params)
    lsh_wall, lsh_cpu = _since(start)
    cpu = sig_cpu + lsh_cpu
    print(f"(b) MinHash-LSH, {n:,} captions, word 2-grams, {params.num_perm} perms, "
          f"Jaccard >= {params.threshold}:")
    print(f"    ours: signatures {sig_cpu:.1f} s CPU + LSH/verify/resolve {lsh_cpu:.1f} s CPU "
          f"({sig_wall + lsh_wall:.1f} s wall) = {n / cpu:,.0f} captions per CPU second; "
          f"{int(result['dup.minhash'].sum()):,} flagged of {n // 10:,} planted")
    sub = texts[:sample]
    start = _clock()
    lsh = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm)
    sketches = []
    for i, t in enumerate(sub):
        words = normalise_text(t).split()
        shingles = [" ".join(words[k : k + 2]).encode() for k in range(len(words) - 1)]
        m = MinHash(num_perm=params.num_perm, seed=params.seed)
        m.update_batch(shingles)
        lsh.insert(i, m)
        sketches.append(m)
    pairs = sum(len(lsh.query(m)) - 1 for m in sketches)
    base_wall, base_cpu = _since(start)
    print(f"    baseline datasketch loop (update_batch + insert + query), {sample:,} "
          f"captions: {base_cpu:.1f} s CPU = {sample / base_cpu:,.0f} captions per CPU second "
          f"({pairs:,} candidate links, unverified) -> ours x{(n / cpu) / (sample / base_cpu):.1f}")
    small = sub[: max(1, sample // 5)]
    start = _clock()
    lsh = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm)
    for i, t in enumerate(small):
        words = normalise_text(t).split()
        m = MinHash(num_perm=params.num_perm, seed=params.seed)
        for k in range(len(words) - 1):
            m.update(" ".join(words[k : k + 2]).encode())
        lsh.insert(i, m)
        lsh.query(m)
    _, one_cpu = _since(start)
    print(f"    baseline datasketch loop, one MinHash.update per shingle, {len(small):,} "
          f"captions: {len(small) / one_cpu:,.0f} captions per CPU second -> ours "
          f"x{(n / cpu) / (len(small) / one_cpu):.1f}")


def bench_semantic(n: int, dim: int, sample: int, backends: list[str], seed: int = 0) -> None:
    from datarecipes.dedup import SemanticParams, dedup_semantic
    from datarecipes.dedup.semantic import default_clusters

    rng = np.random.default_rng(seed)
    n_copy = n // 10
    centres = rng.normal(size=(256, dim)).astype(np.float32)
    base = centres[rng.integers(0, 256, size=n - n_copy)]
    base += rng.normal(size=base.shape).astype(np.float32) * 1.5
    src = rng.integers(0, len(base), size=n_copy)
    copies = base[src] + 0.02 * rng.normal(size=(n_copy, dim)).astype(np.float32)
    x = np.concatenate([base, copies])
    del base, copies
    keys = pd.Series(np.arange(n), name="id")
    k = default_clusters(n)
    print(f"(c) SemDeDup, {n:,} embeddings x {dim}, {k} clusters, cosine >= 0.95:")
    for backend in backends:
        start = _clock()
        result = dedup_semantic(keys, x, params=SemanticParams(backend=backend, iterations=10))
        wall, cpu = _since(start)
        print(f"    {backend:7s} k-means + in-cluster greedy: {wall:7.1f} s wall {cpu:7.1f} s "
              f"CPU; {int(result['dup.semantic'].sum()):,} flagged of {n_copy:,} planted")
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    start = _clock()
    for s in range(0, sample, 256):  # 256 x n float32 similarities at a time
        sims = unit[s : min(s + 256, sample)] @ unit.T
        (sims >= 0.95).sum()
    wall_b, cpu_b = _since(start)
    scale = n / sample / 2
    print(f"    baseline all-pairs cosine, {sample:,} x {n:,} measured ({cpu_b:.1f} s CPU); "
          f"extrapolated to {n:,}^2/2: {wall_b * scale:,.0f} s wall {cpu_b * scale:,.0f} s CPU")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=100_000)
    p.add_argument("--all-pairs-sample", type=int, default=5_000)
    p.add_argument("--hash-images", type=int, default=300)
    p.add_argument("--captions", type=int, default=200_000)
    p.add_argument("--datasketch-sample", type=int, default=10_000)
    p.add_argument("--embeddings", type=int, default=200_000)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--cosine-sample", type=int, default=4_096)
    p.add_argument("--backends", nargs="+", choices=["faiss", "sklearn"],
                   default=["faiss", "sklearn"], help="k-means backends timed in (c)")
    p.add_argument("--only", choices=["phash", "minhash", "semantic"], default=None)
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.only in (None, "phash"):
        bench_phash(args.images, args.all_pairs_sample, args.hash_images)
    if args.only in (None, "minhash"):
        bench_minhash(args.captions, args.datasketch_sample)
    if args.only in (None, "semantic"):
        bench_semantic(args.embeddings, args.dim, args.cosine_sample, args.backends)


if __name__ == "__main__":
    main()

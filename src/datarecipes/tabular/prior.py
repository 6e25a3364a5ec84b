"""SCM prior: synthetic classification tables from random MLP- and tree-SCMs.

A re-implementation, vectorised and seeded per task, of the TabICL prior that
MachineLearningLM vendors (``third_party/tabicl/src/tabicl/prior``): MLP-SCM (70 %) and tree-SCM
(30 %), features and target read off hidden nodes, classes from rank- or value-based thresholds.

* Reproducible by construction: task ``i`` is drawn only from ``np.random.default_rng([seed,
  i, attempt])`` (its shape from ``[seed, i]``), so it does not depend on the batch it was
  generated in, on the worker count, nor on the other tasks.
* Batched: MLP tasks of one chunk with the same depth and a similar width are stacked and
  pushed through batched matmuls (``(B, rows, H) @ (B, H, H)``); every operation runs on whole
  columns, never row by row.
* Degenerate tasks (non-finite values, a missing class, a class with fewer than 2 rows) are
  redrawn with the next ``attempt`` seed; the task keeps its kind, feature and class counts.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import multiprocessing
from collections.abc import Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from datarecipes.tabular.prior_config import PriorParams, sample_task_config, sample_task_shape
from datarecipes.tabular.scm_layers import (
    apply_activation,
    init_weight,
    random_tree_ensemble,
    robust_standardize,
    sample_causes,
)

__all__ = ["PriorParams", "SCMTask", "generate_task", "generate_tasks"]


@dataclasses.dataclass
class SCMTask:
    """One synthetic classification table and the configuration that generated it."""

    index: int
    X: np.ndarray  # float32 (n_rows, n_features), clipped at 4 sigma and standardised
    y: np.ndarray  # int64 (n_rows,), labels 0..n_classes-1, every class with >= 2 rows
    config: dict[str, Any]  # JSON-serialisable; includes seed, index and attempt

    @property
    def n_classes(self) -> int:
        return int(self.config["n_classes"])


def _noise(rng: np.random.Generator, cfg: dict[str, Any], n_rows: int, width: int) -> np.ndarray:
    std: float | np.ndarray = cfg["noise_std"]
    if cfg["pre_sample_noise_std"]:  # one std per unit, |N(0, noise_std)| (TabICL)
        std = np.abs(rng.normal(0.0, cfg["noise_std"], size=(1, width))).astype(np.float32)
    return rng.standard_normal((n_rows, width), dtype=np.float32) * std


def _mlp_group(cfgs: Sequence[dict[str, Any]], rngs: Sequence[np.random.Generator]) -> list:
    """Run MLP-SCMs of equal depth together; return (X_raw, y_raw) per task.

    Widths may differ: each task lives in the top-left block of a zero-padded (H_max, H_max)
    weight, so padded units stay exactly zero and never reach a task's own units.
    """
    n_rows, n_layers = cfgs[0]["n_rows"], cfgs[0]["num_layers"]
    widths = [c["hidden_dim"] for c in cfgs]
    h_max = max(widths)
    batch = len(cfgs)
    h = np.zeros((batch, n_rows, h_max), np.float32)
    causes, weights, biases = [], [], []
    for b, (cfg, rng) in enumerate(zip(cfgs, rngs)):
        x = sample_causes(rng, cfg["sampling"], cfg["pre_sample_cause_stats"], n_rows,
                          cfg["num_causes"])
        causes.append(x)
        w0, b0 = init_weight(rng, cfg, x.shape[1], widths[b], first=True)
        h[b, :, : widths[b]] = x @ w0 + b0  # layer 0 is linear only (TabICL)
        w = np.zeros((n_layers, h_max, h_max), np.float32)
        bias = np.zeros((n_layers, 1, h_max), np.float32)
        for layer in range(1, n_layers):
            wl, bl = init_weight(rng, cfg, widths[b], widths[b], first=False)
            w[layer, : widths[b], : widths[b]] = wl
            bias[layer, :, : widths[b]] = bl
        weights.append(w)
        biases.append(bias)
    w_all = np.stack(weights, axis=1)  # (layers, B, H, H)
    b_all = np.stack(biases, axis=1)  # (layers, B, 1, H)
    hidden_outputs = []
    for layer in range(1, n_layers):
        for b, (cfg, rng) in enumerate(zip(cfgs, rngs)):
            h[b, :, : widths[b]] = apply_activation(
                h[b, :, : widths[b]], cfg["activations"][layer - 1], rng
            )
        h = np.matmul(h, w_all[layer]) + b_all[layer]  # the batched step
        for b, (cfg, rng) in enumerate(zip(cfgs, rngs)):
            h[b, :, : widths[b]] += _noise(rng, cfg, n_rows, widths[b])
        hidden_outputs.append(h.copy())
    results = []
    for b, (cfg, rng) in enumerate(zip(cfgs, rngs)):
        if cfg["is_causal"]:
            flat = np.concatenate([o[b, :, : widths[b]] for o in hidden_outputs], axis=1)
            results.append(_pick_causal(flat, cfg, rng))
        else:  # features are the causes; one more layer gives the target
            last = apply_activation(h[b, :, : widths[b]], cfg["activations"][-1], rng)
            w_out, b_out = init_weight(rng, cfg, widths[b], 1, first=False)
            y = last @ w_out + b_out + _noise(rng, cfg, n_rows, 1)
            results.append((causes[b], y[:, 0]))
    return results


def _pick_causal(flat: np.ndarray, cfg: dict[str, Any], rng: np.random.Generator):
    """Features and target picked from the hidden nodes (TabICL ``handle_outputs``)."""
    total, n_features = flat.shape[1], cfg["n_features"]
    if cfg["in_clique"]:
        # a contiguous block of nodes; unlike TabICL the block stops before the last node,
        # so that a target taken as the last effect is never also a feature
        start = int(rng.integers(0, total - n_features - 1))
        perm = start + rng.permutation(n_features + 1)
    else:
        perm = rng.permutation(total - 1)
    idx_x = perm[1 : 1 + n_features]
    idx_y = total - 1 if cfg["y_is_effect"] else int(perm[0])
    if cfg["sort_features"]:
        idx_x = np.sort(idx_x)
    return flat[:, idx_x], flat[:, idx_y]


def _tree_scm(cfg: dict[str, Any], rng: np.random.Generator):
    """Non-causal tree-SCM: boosted random-split trees fitted on random targets, layer by layer.

    The reference fits XGBoost (multi-output trees) on Gaussian targets; a greedy split on pure
    noise is itself a random split, so we draw splits directly (see ``random_tree_ensemble``).
    """
    n_rows = cfg["n_rows"]
    x = sample_causes(rng, cfg["sampling"], cfg["pre_sample_cause_stats"], n_rows,
                      cfg["num_causes"])
    h = x
    for layer, tree in enumerate(cfg["trees"]):
        out_dim = 1 if layer == len(cfg["trees"]) - 1 else cfg["hidden_dim"]
        h = random_tree_ensemble(h, out_dim, tree["max_depth"], tree["n_estimators"], rng)
        if layer > 0:  # the first tree layer has no noise (TabICL)
            h = h + _noise(rng, cfg, n_rows, out_dim)
    return x, h[:, 0]


def _assign_classes(y: np.ndarray, n_classes: int, mode: str, rng: np.random.Generator):
    """Rank- or value-based thresholds on the standardised target (TabICL MulticlassAssigner)."""
    if mode == "rank":
        bounds = y[rng.integers(0, y.shape[0], size=n_classes - 1)]
    else:
        bounds = rng.standard_normal(n_classes - 1).astype(y.dtype)
    return (y[:, None] > bounds[None, :]).sum(axis=1)


def _to_classification(x: np.ndarray, y: np.ndarray, cfg: dict[str, Any],
                       rng: np.random.Generator):
    """Reg2Cls: categorical columns, 4-sigma clip + standardise, permute; classes; or None."""
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None
    x = np.array(x, dtype=np.float32)
    cfg["categorical"] = {}
    if rng.random() < cfg["categorical_prob"]:
        col_prob = rng.random()
        for col in range(x.shape[1]):
            if rng.random() < col_prob:
                levels = max(2, round(rng.gamma(1.0, 10.0)))
                codes = _assign_classes(x[:, col], levels, "rank", rng)
                x[:, col] = rng.permutation(levels)[codes] if rng.random() > 0.3 else codes
                cfg["categorical"][str(col)] = int(levels)
    x = robust_standardize(x)
    perm = rng.permutation(x.shape[1])
    x = x[:, perm]
    cfg["feature_permutation"] = perm.tolist()
    y = robust_standardize(np.asarray(y, np.float32)[:, None])[:, 0]
    k = cfg["n_classes"]
    labels = _assign_classes(y, k, cfg["multiclass_type"], rng)
    labels = rng.permutation(k)[labels]
    counts = np.bincount(labels, minlength=k)
    if counts.min() < 2 or not np.isfinite(x).all():
        return None
    return x.astype(np.float32), labels.astype(np.int64)


def _generate_chunk(seed: int, indices: Sequence[int], settings: PriorParams) -> list[SCMTask]:
    # one BLAS thread per process: the matmuls are small, and parallelism comes from workers
    with threadpool_limits(limits=1, user_api="blas"):
        return _generate_chunk_serial(seed, indices, settings)


def _generate_chunk_serial(
    seed: int, indices: Sequence[int], settings: PriorParams
) -> list[SCMTask]:
    shapes = {i: sample_task_shape(np.random.default_rng([seed, i]), settings) for i in indices}
    attempts = dict.fromkeys(indices, 0)
    done: dict[int, SCMTask] = {}
    while len(done) < len(indices):
        todo = [i for i in indices if i not in done]
        rngs = {i: np.random.default_rng([seed, i, attempts[i]]) for i in todo}
        cfgs = {i: sample_task_config(rngs[i], shapes[i], settings) for i in todo}
        for i in todo:
            cfgs[i].update(seed=seed, index=i, attempt=attempts[i],
                           categorical_prob=settings.categorical_prob)
        raw: dict[int, tuple] = {}
        groups: dict[tuple[int, int], list[int]] = {}
        for i in todo:
            if cfgs[i]["kind"] == "mlp":  # same depth, widths within 32 of each other
                key = (cfgs[i]["num_layers"], (cfgs[i]["hidden_dim"] + 31) // 32)
                groups.setdefault(key, []).append(i)
            else:
                raw[i] = _tree_scm(cfgs[i], rngs[i])
        for members in groups.values():
            outs = _mlp_group([cfgs[i] for i in members], [rngs[i] for i in members])
            raw.update(zip(members, outs))
        for i in todo:
            with np.errstate(all="ignore"):
                made = _to_classification(raw[i][0], raw[i][1], cfgs[i], rngs[i])
            if made is not None:
                done[i] = SCMTask(index=i, X=made[0], y=made[1], config=cfgs[i])
                continue
            attempts[i] += 1
            if attempts[i] >= settings.max_attempts:
                raise RuntimeError(
                    f"SCM prior: task {i} (seed {seed}) was degenerate {attempts[i]} times in a "
                    f"row (n_classes={shapes[i]['n_classes']}, n_rows={settings.n_rows}); raise "
                    "prior.max_attempts or prior.n_rows"
                )
    return [done[i] for i in indices]


def generate_task(seed: int, index: int, settings: PriorParams | None = None) -> SCMTask:
    """Task ``index`` of the prior seeded by ``seed`` (identical to its copy in any batch)."""
    return _generate_chunk(seed, [index], settings or PriorParams())[0]


def generate_tasks(
    n_tasks: int,
    seed: int,
    settings: PriorParams | None = None,
    start: int = 0,
    workers: int = 1,
    progress: bool = False,
) -> list[SCMTask]:
    """Tasks ``start .. start + n_tasks - 1`` of the prior seeded by ``seed``.

    ``workers > 1`` spreads chunks of ``settings.batch_size`` tasks over that many processes
    (spawned, so that no BLAS or torch threads are forked); the result is the same.
    """
    settings = settings or PriorParams()
    if n_tasks < 0 or workers < 1:
        raise ValueError(f"need n_tasks >= 0 and workers >= 1, got {n_tasks}, {workers}")
    indices = list(range(start, start + n_tasks))
    chunks = [indices[k : k + settings.batch_size]
              for k in range(0, n_tasks, settings.batch_size)]
    bar = tqdm(total=n_tasks, desc="SCM prior", unit="task", disable=not progress)
    tasks: list[SCMTask] = []
    if workers == 1:
        for chunk in chunks:
            tasks.extend(_generate_chunk(seed, chunk, settings))
            bar.update(len(chunk))
    else:
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            for part in pool.map(_generate_chunk, [seed] * len(chunks), chunks,
                                 [settings] * len(chunks)):
                tasks.extend(part)
                bar.update(len(part))
    bar.close()
    return tasks


def prior_summary(tasks: Sequence[SCMTask]) -> dict[str, float]:
    """Flat numbers describing a batch of tasks (for ``scm_prior_metrics``)."""
    if not tasks:
        return {"tasks": 0.0}
    cfgs = [t.config for t in tasks]
    return {
        "tasks": float(len(tasks)),
        "mlp_share": float(np.mean([c["kind"] == "mlp" for c in cfgs])),
        "binary_share": float(np.mean([c["n_classes"] == 2 for c in cfgs])),
        "mean_features": float(np.mean([c["n_features"] for c in cfgs])),
        "mean_classes": float(np.mean([c["n_classes"] for c in cfgs])),
        "categorical_share": float(np.mean([bool(c["categorical"]) for c in cfgs])),
        "redraws_per_task": float(np.mean([c["attempt"] for c in cfgs])),
        "mean_log10_noise_std": float(np.mean([math.log10(c["noise_std"] + 1e-12)
                                               for c in cfgs])),
    }

"""Building blocks of the SCM prior: root causes, weights, activations, random trees.

All functions act on whole column blocks (rows x units) with NumPy and draw only from the
``Generator`` they are given, so a task's draws never depend on other tasks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_F32 = np.float32


def _column_std(xc: np.ndarray, ddof: int = 1) -> np.ndarray:
    n = xc.shape[0]
    return np.sqrt(np.einsum("ij,ij->j", xc, xc) / max(n - ddof, 1))


def robust_standardize(x: np.ndarray, threshold: float = 4.0) -> np.ndarray:
    """Clip each column at ``threshold`` robust sigmas, then standardise it.

    TabICL's ``outlier_removing`` + ``standard_scaling``: mean and std are re-estimated on the
    values inside the first ``threshold``-sigma band, values outside are clipped to the band.
    A constant column becomes all zeros.
    """
    mean = x.mean(axis=0)
    xc = x - mean
    std = np.maximum(_column_std(xc), 1e-6)
    outside = (np.abs(xc) > threshold * std).any(axis=0)
    if not outside.any():  # nothing to clip (the common case): one pass suffices
        return xc / std
    x = x.copy()
    cols = np.flatnonzero(outside)
    sub = x[:, cols]
    inside = np.abs(xc[:, cols]) <= threshold * std[cols]
    n_in = np.maximum(inside.sum(axis=0), 1)
    m2 = np.where(inside, sub, 0).sum(axis=0) / n_in
    dev = np.where(inside, sub - m2, 0)
    s2 = np.sqrt(np.einsum("ij,ij->j", dev, dev) / np.maximum(n_in - 1, 1))
    x[:, cols] = np.clip(sub, m2 - threshold * s2, m2 + threshold * s2)
    xc = x - x.mean(axis=0)
    return xc / np.maximum(_column_std(xc), 1e-6)


def sample_causes(
    rng: np.random.Generator, sampling: str, pre_stats: bool, n_rows: int, n_causes: int
) -> np.ndarray:
    """Root causes (TabICL ``XSampler``): normal, uniform, or a per-column mix.

    ``mixed`` draws each column from normal, multinomial (category codes), Zipf or uniform
    and standardises it, as the reference does.
    """
    if sampling == "uniform":
        return rng.random((n_rows, n_causes), dtype=_F32)
    if sampling == "normal":
        x = rng.standard_normal((n_rows, n_causes), dtype=_F32)
        if pre_stats:  # per-column mean and std drawn first
            x = x * np.abs(rng.standard_normal(n_causes)).astype(_F32) + rng.standard_normal(
                n_causes
            ).astype(_F32)
        return x
    # mixed: each column normal, multinomial, Zipf or uniform, drawn kind by kind
    kinds = rng.integers(0, 4, size=n_causes)
    x = np.empty((n_rows, n_causes))
    cols = np.flatnonzero(kinds == 0)
    x[:, cols] = rng.standard_normal((n_rows, len(cols)))
    cols = np.flatnonzero(kinds == 1)
    if len(cols):  # category codes with random probabilities over 2..10 levels
        levels = rng.integers(2, 11, size=len(cols))
        weights = rng.gamma(1.0, size=(len(cols), 10)) * (np.arange(10) < levels[:, None])
        cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
        u = rng.random((n_rows, len(cols)))
        x[:, cols] = np.minimum((u[:, :, None] > cum[None, :, :]).sum(axis=2), levels - 1)
    cols = np.flatnonzero(kinds == 2)
    if len(cols):
        # a discrete power law with Zipf(a)'s tail, P(X >= k) ~ k^(1 - a), by inversion
        # (numpy's zipf rejection sampler was the slowest step of tree tasks)
        a = rng.uniform(2.0, 4.0, size=len(cols))
        u = 1.0 - rng.random((n_rows, len(cols)))
        x[:, cols] = np.minimum(np.floor(u ** (-1.0 / (a - 1.0))), 1000)
    cols = np.flatnonzero(kinds == 3)
    x[:, cols] = rng.random((n_rows, len(cols)))
    x = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-6)
    return x.astype(_F32)


def init_weight(
    rng: np.random.Generator, cfg: dict[str, Any], n_in: int, n_out: int, first: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One linear map (``x @ W + b``): block-sparse or dropped-out Gaussian weights.

    Block-wise: 1..ceil(sqrt(min dim)) diagonal blocks hold N(0, std / sqrt(keep)) weights, the
    rest is zero. Otherwise dense N(0, std / sqrt(1 - p)) with Bernoulli(1 - p) dropout, none
    on the first layer. Biases keep ``nn.Linear``'s U(-1/sqrt(n_in), 1/sqrt(n_in)).
    """
    std = cfg["init_std"]
    if cfg["block_wise_dropout"]:
        w = np.zeros((n_in, n_out), _F32)
        n_blocks = int(rng.integers(1, math.ceil(math.sqrt(min(n_in, n_out))) + 1))
        bi, bo = n_in // n_blocks, n_out // n_blocks
        if bi == 0 or bo == 0:
            n_blocks, bi, bo = 1, n_in, n_out
        keep = n_blocks * bi * bo / (n_in * n_out)
        for k in range(n_blocks):
            w[k * bi : (k + 1) * bi, k * bo : (k + 1) * bo] = rng.standard_normal(
                (bi, bo), dtype=_F32
            ) * (std / math.sqrt(keep))
    else:
        p = 0.0 if first else cfg["dropout_prob"]
        w = rng.standard_normal((n_in, n_out), dtype=_F32) * (std / math.sqrt(1.0 - p))
        if p > 0:
            w *= rng.random((n_in, n_out), dtype=_F32) >= p
    bound = 1.0 / math.sqrt(n_in)
    b = rng.uniform(-bound, bound, size=(1, n_out)).astype(_F32)
    return w, b


def _standardize_columns(h: np.ndarray) -> np.ndarray:
    std = h.std(axis=0, ddof=1) + 1e-6 if h.shape[0] > 1 else 1.0
    return (h - h.mean(axis=0)) / std


def _random_function(z: np.ndarray, decay: float, rng: np.random.Generator) -> np.ndarray:
    """TabICL's ``RandomFunctionActivation`` (a sum of 256 random sines), tabulated.

    Evaluating 256 sines per value costs 256x an ordinary activation (most of TabICL's own
    generation time), so the function is evaluated once on a 1024-point grid spanning the
    inputs and linearly interpolated; only the highest, lowest-weighted frequencies blur.
    """
    freqs = 256.0 * rng.random(256)
    phase = 2.0 * math.pi * rng.random(256)
    factors = freqs**decay
    factors /= np.sqrt((factors**2).sum())
    amp = (factors * rng.standard_normal(256)).astype(_F32)
    z = _standardize_columns(z)
    lo, hi = float(z.min()), float(z.max())
    n_grid = 1024
    step = (hi - lo) / (n_grid - 1) if hi > lo else 1.0
    grid = (lo + step * np.arange(n_grid)).astype(_F32)
    table = np.sin(grid[:, None] * freqs[None, :].astype(_F32) + phase[None, :].astype(_F32))
    table = np.append(table @ amp, _F32(0.0))  # one spare entry for pos == n_grid - 1
    pos = (z - lo) * _F32(1.0 / step)
    idx = np.clip(pos.astype(np.int64), 0, n_grid - 1)
    frac = (pos - idx).astype(_F32)
    return (table[idx] * (1 - frac) + table[idx + 1] * frac).astype(_F32)


_BASIC = {
    "tanh": np.tanh,
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "identity": lambda x: x,
    "selu": lambda x: 1.0507 * np.where(x > 0, x, 1.67326 * np.expm1(np.minimum(x, 0))),
    "silu": lambda x: x / (1.0 + np.exp(-np.clip(x, -60, 60))),
    "relu": lambda x: np.maximum(x, 0),
    "softplus": lambda x: np.logaddexp(0, x),
    "relu6": lambda x: np.clip(x, 0, 6),
    "hardtanh": lambda x: np.clip(x, -1, 1),
    "sign": lambda x: np.where(x >= 0, 1.0, -1.0).astype(x.dtype),
    "rbf": lambda x: np.exp(-np.minimum(x * x, 80.0)),
    # capped so a float32 table stays finite; the next layer re-standardises anyway
    "exp": lambda x: np.exp(np.minimum(x, 30.0)),
    "sqrt_abs": lambda x: np.sqrt(np.abs(x)),
    "unit_interval": lambda x: (np.abs(x) <= 1.0).astype(x.dtype),
    "sin": np.sin,
    "square": lambda x: x * x,
    "abs": np.abs,
}


def apply_activation(h: np.ndarray, act: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Standardise columns, rescale ``scale * (z + shift)``, apply the named activation."""
    z = _standardize_columns(h)
    z = (act["scale"] * (z + act["shift"])).astype(_F32)
    if act["name"] == "random":
        return _random_function(z, act["decay"], rng)
    return _BASIC[act["name"]](z).astype(_F32, copy=False)


def random_tree_ensemble(
    x: np.ndarray, out_dim: int, depth: int, n_estimators: int, rng: np.random.Generator,
    learning_rate: float = 0.3, reg_lambda: float = 1.0,
) -> np.ndarray:
    """Boosted multi-output trees with random splits, fitted on N(0, 1) targets; predictions.

    Each node splits a random feature at the value of a random row that reaches it (so no
    child of a populated node is empty by construction of the threshold); leaves take
    XGBoost's regularised mean of the residuals, ``lr * sum / (count + lambda)``.
    """
    n_rows, n_in = x.shape
    target = rng.standard_normal((n_rows, out_dim), dtype=_F32)
    pred = np.zeros((n_rows, out_dim), _F32)
    rows = np.arange(n_rows)
    for _ in range(n_estimators):
        node = np.zeros(n_rows, np.int64)
        for level in range(depth):
            n_nodes = 1 << level
            feat = rng.integers(0, n_in, size=n_nodes)
            pick = np.zeros(n_nodes, np.int64)
            order = rng.permutation(n_rows)
            pick[node[order]] = order  # some row of each populated node
            thresh = x[pick, feat]
            node = 2 * node + (x[rows, feat[node]] > thresh[node])
        n_leaves = 1 << depth
        onehot = np.zeros((n_leaves, n_rows), _F32)
        onehot[node, rows] = 1.0
        sums = onehot @ (target - pred)
        counts = np.bincount(node, minlength=n_leaves).astype(_F32)
        leaf = learning_rate * sums / (counts[:, None] + reg_lambda)
        pred += leaf[node]
    return pred

"""Hyper-parameter sampling for the SCM prior (MachineLearningLM's vendored TabICL prior).

Every synthetic task draws its own generating configuration here, as a JSON-serialisable
dict, from a NumPy ``Generator`` seeded by ``(seed, task index[, attempt])``. The ranges follow
TabICL's ``prior/_prior_config.py`` (``DEFAULT_SAMPLED_HP``), which MachineLearningLM runs
unchanged; the activation family follows ``prior/_activations.py``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from datarecipes.config import ParameterError

#: The 18 basic activations of TabICL's ``get_activations`` (tanh, ReLU variants, sine,
#: square, abs, RBF, exp, sign, ...). ``random`` is a random Fourier function (below).
BASIC_ACTIVATIONS: tuple[str, ...] = (
    "tanh", "leaky_relu", "elu", "identity", "selu", "silu", "relu", "softplus", "relu6",
    "hardtanh", "sign", "rbf", "exp", "sqrt_abs", "unit_interval", "sin", "square", "abs",
)
#: TabICL lists the random function 10 times so that it is drawn about a third of the time.
ACTIVATION_CHOICES: tuple[str, ...] = BASIC_ACTIVATIONS + ("random",) * 10


@dataclasses.dataclass(frozen=True)
class PriorParams:
    """What the SCM prior generates (the fixed part; everything else is sampled per task)."""

    n_rows: int = 1024
    """Rows per synthetic table (the reference uses 1024)."""
    min_features: int = 5
    """Fewest features of a table."""
    max_features: int = 50
    """Most features of a table."""
    max_classes: int = 10
    """Most classes of a table."""
    binary_share: float = 0.5
    """Share of binary tasks; the others draw 2..max_classes classes uniformly."""
    mlp_share: float = 0.7
    """Share of MLP-SCM tasks; the rest are tree-SCM (the reference's mix_scm: 0.7 / 0.3)."""
    categorical_prob: float = 0.2
    """Probability that a task turns some of its columns categorical."""
    max_causes: int = 12
    """Upper end of the mean number of root causes (log-scaled, at least 1)."""
    batch_size: int = 32
    """Tasks generated together (MLP tasks of one depth share batched matmuls)."""
    max_attempts: int = 64
    """Degenerate tasks are redrawn (seeded) at most this many times before giving up."""

    def __post_init__(self) -> None:
        checks = [
            (self.n_rows >= 16, "n_rows must be >= 16"),
            (2 <= self.min_features <= self.max_features, "need 2 <= min_features <= max_features"),
            (2 <= self.max_classes, "max_classes must be >= 2"),
            (self.n_rows >= 4 * self.max_classes, "n_rows must be >= 4 * max_classes"),
            (0.0 <= self.binary_share <= 1.0, "binary_share must be in [0, 1]"),
            (0.0 <= self.mlp_share <= 1.0, "mlp_share must be in [0, 1]"),
            (0.0 <= self.categorical_prob <= 1.0, "categorical_prob must be in [0, 1]"),
            (self.max_causes >= 1, "max_causes must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.max_attempts >= 1, "max_attempts must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ParameterError(f"prior: {message}")


def trunc_norm_log_scaled(
    rng: np.random.Generator, min_mean: float, max_mean: float, lower: float, integer: bool
) -> float | int:
    """TabICL's ``meta_trunc_norm_log_scaled``: a log-uniform mean, then a truncated normal.

    The mean is drawn log-uniformly in ``[min_mean, max_mean]``, the spread as a random
    fraction of it, and the value is redrawn until it is ``>= lower`` (truncation).
    """
    mean = math.exp(rng.uniform(math.log(min_mean), math.log(max_mean)))
    std = mean * rng.uniform(0.01, 1.0)
    for _ in range(100):
        value = rng.normal(mean, std)
        if integer:
            value = round(value)
        if value >= lower and (not integer or value >= 1 or lower < 1):
            return int(value) if integer else float(value)
    return int(max(lower, round(mean))) if integer else float(max(lower, mean))


def _choice(rng: np.random.Generator, values: tuple[Any, ...] | list[Any]) -> Any:
    return values[int(rng.integers(len(values)))]


def sample_task_shape(rng: np.random.Generator, settings: PriorParams) -> dict[str, Any]:
    """Draw the shape of a task: kind (mlp/tree), feature count and class count.

    Drawn once per task index, so that redrawing a degenerate task (a new attempt) keeps
    the prior's marginal distribution of kinds, feature counts and class counts intact.
    """
    kind = "mlp" if rng.random() < settings.mlp_share else "tree"
    n_features = int(rng.integers(settings.min_features, settings.max_features + 1))
    if rng.random() < settings.binary_share:
        n_classes = 2
    else:
        n_classes = int(rng.integers(2, settings.max_classes + 1))
    return {"kind": kind, "n_features": n_features, "n_classes": n_classes}


def _activations(rng: np.random.Generator, n_layers: int) -> list[dict[str, Any]]:
    """One activation per layer: a single family for all layers, or mixed per layer.

    Each activation is applied to the column-standardised input, randomly rescaled
    ``exp(2 N(0,1)) * (x + N(0,1))`` (TabICL's ``StdRandomScaleFactory``).
    """
    mixed = bool(rng.random() < 0.5)  # TabICL's "diverse": half the picks are RandomChoice
    shared = _choice(rng, ACTIVATION_CHOICES)
    layers = []
    for _ in range(n_layers):
        name = _choice(rng, ACTIVATION_CHOICES) if mixed else shared
        layers.append(
            {
                "name": name,
                "scale": float(math.exp(2.0 * rng.standard_normal())),
                "shift": float(rng.standard_normal()),
                "decay": float(-math.exp(rng.uniform(math.log(0.7), math.log(3.0)))),
            }
        )
    return layers


def sample_task_config(
    rng: np.random.Generator, shape: dict[str, Any], settings: PriorParams
) -> dict[str, Any]:
    """Draw the full generating configuration of one task (JSON-serialisable)."""
    cfg: dict[str, Any] = dict(shape)
    cfg["n_rows"] = settings.n_rows
    cfg["sampling"] = _choice(rng, ("normal", "mixed", "uniform"))
    cfg["pre_sample_cause_stats"] = bool(rng.random() < 0.5)
    cfg["noise_std"] = trunc_norm_log_scaled(rng, 1e-4, 0.3, 0.0, integer=False)
    cfg["pre_sample_noise_std"] = bool(rng.random() < 0.5)
    cfg["multiclass_type"] = _choice(rng, ("value", "rank"))
    cfg["y_is_effect"] = bool(rng.random() < 0.5)
    cfg["in_clique"] = bool(rng.random() < 0.5)
    cfg["sort_features"] = bool(rng.random() < 0.5)
    if shape["kind"] == "mlp":
        cfg["is_causal"] = bool(rng.random() < 0.5)
        cfg["num_causes"] = trunc_norm_log_scaled(rng, 1, settings.max_causes, 1, integer=True)
        cfg["num_layers"] = trunc_norm_log_scaled(rng, 1, 6, 2, integer=True)
        hidden = trunc_norm_log_scaled(rng, 5, 130, 4, integer=True)
        if cfg["is_causal"]:
            # enough hidden nodes to pick the features and the target from (TabICL's rule)
            hidden = max(hidden, 1 + 2 * shape["n_features"])
        else:
            cfg["num_causes"] = shape["n_features"]
        cfg["hidden_dim"] = int(hidden)
        cfg["init_std"] = trunc_norm_log_scaled(rng, 0.01, 10.0, 0.0, integer=False)
        cfg["block_wise_dropout"] = bool(rng.random() < 0.5)
        cfg["dropout_prob"] = float(min(0.99, 0.9 * rng.beta(rng.uniform(0.1, 5.0),
                                                              rng.uniform(0.1, 5.0))))
        cfg["activations"] = _activations(rng, cfg["num_layers"])
    else:
        # TabICL's TreeSCM forces the non-causal mode, 1-2 layers and 3-9 hidden outputs
        # ("tree models can be slow"); depth and tree count are 1 + Exp(lambda=0.5), capped at 4.
        cfg["is_causal"] = False
        cfg["num_causes"] = shape["n_features"]
        cfg["num_layers"] = int(rng.integers(1, 3))
        cfg["hidden_dim"] = int(rng.integers(3, 10))
        cfg["trees"] = [
            {
                "max_depth": int(min(4, 2 + int(rng.exponential(2.0)))),
                "n_estimators": int(min(4, 1 + int(rng.exponential(2.0)))),
            }
            for _ in range(cfg["num_layers"] + 1)
        ]
    return cfg

"""Per-arm means and paired per-seed differences, each with a seeded 95 % bootstrap interval.

The interval is the **percentile** bootstrap (``scipy.stats.bootstrap(method="percentile")``),
not BCa: BCa's acceleration is a jackknife over the seeds, which at the 2–5 seeds an experiment
here affords is itself too noisy to correct anything, and BCa returns NaN (with a warning) when
every resample has the same mean — the common case of a tiny run whose arms all score alike.
Either way a bootstrap over *n* seeds under-covers for small *n* (it cannot see variance the
seeds did not show), so the intervals describe the measured seeds, not a guarantee; the
results page says so.

The difference against the baseline is **paired by seed**: arm and baseline of seed *s* share
the warm start, the MCTS table and the seed of selection and GRPO, so ``arm_s - baseline_s``
cancels what the seed does to both, and the bootstrap resamples those per-seed differences.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

#: The confidence level of every interval here.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap interval over ``n`` values (NaN bounds when ``n < 2``)."""

    mean: float
    low: float
    high: float
    n: int

    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of 0 (NaN bounds: never)."""
        return bool(self.low > 0 or self.high < 0)


def bootstrap_mean(
    values: Sequence[float] | np.ndarray,
    *,
    seed: int = 0,
    resamples: int = 10_000,
    confidence: float = CONFIDENCE,
) -> Interval:
    """The mean of ``values`` and its percentile-bootstrap interval (``seed`` fixes it)."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"bootstrap_mean needs a non-empty 1-d sequence, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"bootstrap_mean got non-finite values {x.tolist()}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    mean = float(x.mean())
    if x.size < 2:
        return Interval(mean, float("nan"), float("nan"), 1)
    if np.ptp(x) == 0:
        # Every resample has this mean; scipy would warn about a degenerate distribution.
        return Interval(mean, mean, mean, int(x.size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (x,), np.mean, n_resamples=resamples, confidence_level=confidence,
            method="percentile", vectorized=True, random_state=np.random.default_rng(seed),
        )
    ci = result.confidence_interval
    return Interval(mean, float(ci.low), float(ci.high), int(x.size))


def per_seed_values(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``runs`` (one row per arm × seed: ``arm``, ``seed``, ``metric``) as a seed × arm table.

    Raises on a duplicated arm × seed (two runs claiming one cell would be averaged silently).
    """
    missing = {"arm", "seed", metric} - set(runs.columns)
    if missing:
        raise ValueError(f"runs table lacks column(s) {sorted(missing)}")
    dup = runs.duplicated(["arm", "seed"], keep=False)
    if dup.any():
        cells = runs.loc[dup, ["arm", "seed"]].drop_duplicates().to_records(index=False)
        raise ValueError(f"runs table has more than one row for arm × seed {list(cells)[:5]}")
    return runs.pivot(index="seed", columns="arm", values=metric).sort_index()


def paired_difference(
    arm: Mapping[int, float] | pd.Series,
    baseline: Mapping[int, float] | pd.Series,
    *,
    seed: int = 0,
    resamples: int = 10_000,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Mean of ``arm[s] - baseline[s]`` over the seeds ``s`` and its bootstrap interval.

    Both map seed → value and must hold the same seeds: a seed that only one side ran has
    nothing to be paired with, and dropping it silently would change the comparison.
    """
    a, b = pd.Series(arm, dtype=float), pd.Series(baseline, dtype=float)
    if set(a.index) != set(b.index):
        raise ValueError(
            f"paired difference needs the same seeds on both sides; only in the arm: "
            f"{sorted(set(a.index) - set(b.index))}, only in the baseline: "
            f"{sorted(set(b.index) - set(a.index))}"
        )
    diff = a.sort_index() - b.reindex(a.sort_index().index)
    return bootstrap_mean(diff.to_numpy(), seed=seed, resamples=resamples,
                          confidence=confidence)

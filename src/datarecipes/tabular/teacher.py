"""Random-forest teacher for the warm-up stage (MachineLearningLM paper, §warm-up).

The paper warms the LM up on answers of a random forest trained on the prompt's shots rather
than on the true labels; the code for this is not in the reference repository, so this is
our reading: fit on the shots, predict the prompt's test rows, and use those predictions as
the assistant's answer.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.ensemble import RandomForestClassifier


def random_forest_teacher(
    x_shots: np.ndarray, y_shots: np.ndarray, x_test: np.ndarray, seed: int,
    n_estimators: int = 100,
) -> np.ndarray:
    """Labels a random forest fitted on the shots gives the test rows (NaN -> shots' mean)."""
    x_shots = np.asarray(x_shots, dtype=np.float64)
    x_test = np.asarray(x_test, dtype=np.float64)
    with warnings.catch_warnings():  # an all-NaN column: mean 0 (the prompt's code 500)
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nan_to_num(np.nanmean(x_shots, axis=0))
    x_shots = np.where(np.isnan(x_shots), mean, x_shots)
    x_test = np.where(np.isnan(x_test), mean, x_test)
    forest = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    forest.fit(x_shots, y_shots)
    return forest.predict(x_test).astype(np.int64)

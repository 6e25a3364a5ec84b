"""Classical baselines fitted on exactly the LM's shots: RF, gradient boosting, kNN, LR, and
the majority class of the shots (the floor an LM that has not learned the task sits on).

The reference compares against RF, XGBoost, kNN and TabICL; we use scikit-learn's
HistGradientBoosting for the boosted trees (no extra dependency) and add logistic regression.
Missing values are imputed with the shots' mean, like the serialised prompt.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

BaselineName = Literal["random_forest", "gradient_boosting", "knn", "logistic_regression",
                       "majority"]
BASELINES: tuple[str, ...] = ("random_forest", "gradient_boosting", "knn", "logistic_regression",
                              "majority")


def make_baseline(name: str, n_shots: int, seed: int) -> Pipeline:
    """The scikit-learn pipeline of baseline ``name`` for a training set of ``n_shots`` rows."""
    if name == "random_forest":
        model = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
    elif name == "gradient_boosting":
        # scikit-learn's default min_samples_leaf=20 makes the model constant below ~40 shots;
        # XGBoost (the reference's baseline) has no such floor, so scale it with the shots
        model = HistGradientBoostingClassifier(
            random_state=seed, min_samples_leaf=max(1, min(20, n_shots // 10))
        )
    elif name == "knn":
        model = KNeighborsClassifier(n_neighbors=min(5, n_shots))
    elif name == "majority":
        model = DummyClassifier(strategy="most_frequent")
    elif name == "logistic_regression":
        return make_pipeline(SimpleImputer(keep_empty_features=True), StandardScaler(),
                             LogisticRegression(max_iter=1000))
    else:
        raise ValueError(f"unknown baseline {name!r}; choose from {list(BASELINES)}")
    return make_pipeline(SimpleImputer(keep_empty_features=True), model)


def fit_predict_baseline(
    name: str, x_shots: np.ndarray, y_shots: np.ndarray, x_test: np.ndarray,
    n_classes: int, seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, probabilities over all ``n_classes``) of baseline ``name`` on ``x_test``.

    Classes absent from the shots get probability 0; shots of a single class give that class.
    """
    y_shots = np.asarray(y_shots, dtype=np.int64)
    proba = np.zeros((len(x_test), n_classes))
    seen = np.unique(y_shots)
    if len(seen) == 1:
        proba[:, seen[0]] = 1.0
        return np.full(len(x_test), seen[0], dtype=np.int64), proba
    model = make_baseline(name, len(y_shots), seed)
    # one thread: at <= 1024 shots OpenMP start-up dominates, and on a shared machine
    # HistGradientBoosting's all-core OpenMP loops were measured 100x slower than one thread
    with threadpool_limits(limits=1):
        model.fit(x_shots, y_shots)
        proba[:, model.classes_] = model.predict_proba(x_test)
    return model.classes_[proba[:, model.classes_].argmax(axis=1)].astype(np.int64), proba

"""Classical baselines fitted on exactly the LM's shots: RF, boosted trees, kNN, LR, and the
majority class of the shots (the floor an LM that has not learned the task sits on).

Two sets of hyperparameters (``hyperparameters``):

* ``reference`` (``src/evaluation/model_pred/ml_utils.py:BaseMLRunner.create_model``): random
  forest with 30 trees, ``random_state=42``; kNN with k=8, distance-weighted, p=2; XGBoost with
  500 trees of depth 4, learning rate 0.05, subsample and column sample 0.8 (its listed
  parameters). Missing values get the shots' column median (``encode_features``), and XGBoost
  falls back to the shots' majority class, probability 1, when the test chunk holds a class
  the shots lack (``train_and_predict_single``; it needs ``y_test`` for that).
* ``ours``: random forest with 100 trees; scikit-learn's HistGradientBoosting for the boosted
  trees (no extra dependency, ``min_samples_leaf`` scaled to the shots); kNN k=5 uniform;
  plus logistic regression. Missing values get the shots' mean, like the serialised prompt.

``gradient_boosting`` is HistGradientBoosting under ``ours`` and XGBoost under ``reference``;
``xgboost`` is XGBoost under both.
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

BaselineName = Literal["random_forest", "gradient_boosting", "xgboost", "knn",
                       "logistic_regression", "majority"]
BASELINES: tuple[str, ...] = ("random_forest", "gradient_boosting", "knn", "logistic_regression",
                              "majority")
ALL_BASELINES: tuple[str, ...] = BASELINES + ("xgboost",)
Hyperparameters = Literal["ours", "reference"]


def _xgboost(seed: int):
    try:
        from xgboost import XGBClassifier
    except ImportError as err:  # pragma: no cover - a dependency of the project
        raise ImportError("the xgboost baseline needs the xgboost package "
                          "(requirements: xgboost-cpu)") from err
    # ml_utils.py:create_model; XGBClassifier switches "binary:logistic" to multi:softprob
    # itself when the shots have more than two classes
    return XGBClassifier(objective="binary:logistic", eval_metric="auc", learning_rate=0.05,
                         max_depth=4, min_child_weight=1, subsample=0.8, colsample_bytree=0.8,
                         gamma=0, reg_lambda=1.0, reg_alpha=0.0, n_estimators=500,
                         random_state=seed, verbosity=0, n_jobs=1)


def make_baseline(name: str, n_shots: int, seed: int,
                  hyperparameters: Hyperparameters = "ours") -> Pipeline:
    """The scikit-learn pipeline of baseline ``name`` for a training set of ``n_shots`` rows."""
    if name not in ALL_BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {list(ALL_BASELINES)}")
    if hyperparameters == "reference":
        impute = SimpleImputer(strategy="median", keep_empty_features=True)
        if name == "random_forest":
            # n_jobs=1 where the reference has 8: a forest's result does not depend on it
            model = RandomForestClassifier(n_estimators=30, random_state=seed, n_jobs=1)
        elif name in ("gradient_boosting", "xgboost"):
            model = _xgboost(seed)
        elif name == "knn":
            model = KNeighborsClassifier(n_neighbors=min(8, n_shots), weights="distance", p=2)
        elif name == "majority":
            model = DummyClassifier(strategy="most_frequent")
        else:  # not a reference baseline: ours, with the reference's imputation
            return make_pipeline(impute, StandardScaler(), LogisticRegression(max_iter=1000))
        return make_pipeline(impute, model)
    if name == "random_forest":
        model = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
    elif name == "gradient_boosting":
        # scikit-learn's default min_samples_leaf=20 makes the model constant below ~40 shots;
        # XGBoost (the reference's baseline) has no such floor, so scale it with the shots
        model = HistGradientBoostingClassifier(
            random_state=seed, min_samples_leaf=max(1, min(20, n_shots // 10))
        )
    elif name == "xgboost":
        model = _xgboost(seed)
    elif name == "knn":
        model = KNeighborsClassifier(n_neighbors=min(5, n_shots))
    elif name == "majority":
        model = DummyClassifier(strategy="most_frequent")
    else:
        return make_pipeline(SimpleImputer(keep_empty_features=True), StandardScaler(),
                             LogisticRegression(max_iter=1000))
    return make_pipeline(SimpleImputer(keep_empty_features=True), model)


def fit_predict_baseline(
    name: str, x_shots: np.ndarray, y_shots: np.ndarray, x_test: np.ndarray,
    n_classes: int, seed: int, hyperparameters: Hyperparameters = "ours",
    y_test: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, probabilities over all ``n_classes``) of baseline ``name`` on ``x_test``.

    Classes absent from the shots get probability 0; shots of a single class give that class.
    Labels are re-coded to 0..k-1 over the shots' classes for the fit (XGBoost needs it).
    """
    y_shots = np.asarray(y_shots, dtype=np.int64)
    proba = np.zeros((len(x_test), n_classes))
    seen = np.unique(y_shots)
    xgb = name == "xgboost" or (name == "gradient_boosting" and hyperparameters == "reference")
    unseen_in_test = y_test is not None and bool(np.setdiff1d(np.asarray(y_test), seen).size)
    if len(seen) == 1 or (xgb and hyperparameters == "reference" and unseen_in_test):
        counts = np.bincount(y_shots)
        # ties: the label seen first, as the reference's Counter(y_train).most_common(1)
        majority = int(next(v for v in y_shots if counts[v] == counts.max()))
        proba[:, majority] = 1.0
        return np.full(len(x_test), majority, dtype=np.int64), proba
    model = make_baseline(name, len(y_shots), seed, hyperparameters)
    codes = np.searchsorted(seen, y_shots)
    # one thread: at <= 1024 shots OpenMP start-up dominates, and on a shared machine
    # HistGradientBoosting's all-core OpenMP loops were measured 100x slower than one thread
    with threadpool_limits(limits=1):
        model.fit(x_shots, codes)
        fitted = seen[model.classes_]
        proba[:, fitted] = model.predict_proba(x_test)
    return fitted[proba[:, fitted].argmax(axis=1)].astype(np.int64), proba

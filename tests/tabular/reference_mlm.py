# ruff: noqa  (the reference's code, verbatim: its trailing spaces are part of the prompt)
"""The reference's own code (MachineLearningLM @ee1a5eb), copied for the fidelity tests.

Each function is the reference's, trimmed to the branch our settings reach (``concat`` prompt
style, normalisation on, no feature descriptions); comments name the source. They are the
oracle that :mod:`datarecipes.tabular` is compared against byte for byte and seed for seed.
"""

from __future__ import annotations

import json
import random
from typing import List, Tuple

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier


# src/evaluation/prompt_gen/prompt_utils.py:normalize_feature_arrays
def normalize_feature_arrays(X_train_df: pd.DataFrame, X_test_df: pd.DataFrame) -> Tuple[np.ndarray, np.ndarray]:
    X_train = X_train_df.copy()
    X_test = X_test_df.copy()
    train_numeric_coerced = X_train.apply(lambda s: pd.to_numeric(s, errors="coerce"))
    test_numeric_coerced = X_test.apply(lambda s: pd.to_numeric(s, errors="coerce"))
    numeric_mask = train_numeric_coerced.notna().any(axis=0)
    numeric_cols = [col for col in X_train.columns if numeric_mask[col]]
    if len(numeric_cols) == 0:
        return X_train.values, X_test.values
    X_train_num = train_numeric_coerced[numeric_cols].to_numpy(dtype=float)
    X_test_num = test_numeric_coerced[numeric_cols].to_numpy(dtype=float)
    mean = np.nanmean(X_train_num, axis=0)
    std = np.nanstd(X_train_num, axis=0, ddof=1)
    std = np.where(np.isnan(std), 1.0, std)
    std = np.clip(std, 1e-6, None)
    mean_no_nan = np.where(np.isnan(mean), 0.0, mean)
    train_nan_mask = np.isnan(X_train_num)
    test_nan_mask = np.isnan(X_test_num)
    if train_nan_mask.any():
        X_train_num[train_nan_mask] = np.take(mean_no_nan, np.where(train_nan_mask)[1])
    if test_nan_mask.any():
        X_test_num[test_nan_mask] = np.take(mean_no_nan, np.where(test_nan_mask)[1])
    X_train_std = (X_train_num - mean_no_nan) / std
    X_test_std = (X_test_num - mean_no_nan) / std
    X_train_std = np.clip(X_train_std, -1000, 1000)
    X_test_std = np.clip(X_test_std, -1000, 1000)
    X_train_scaled = ((X_train_std * 120.0) + 500.0)
    X_test_scaled = ((X_test_std * 120.0) + 500.0)
    X_train_scaled = np.clip(X_train_scaled, 0, None).astype(int)
    X_test_scaled = np.clip(X_test_scaled, 0, None).astype(int)
    X_train.loc[:, numeric_cols] = X_train_scaled
    X_test.loc[:, numeric_cols] = X_test_scaled
    return X_train.values, X_test.values


# src/evaluation/prompt_gen/prompt_utils.py:format_lines (concat style)
def format_lines(X_train_arr, y_train_arr, X_test_arr) -> Tuple[List[str], List[str]]:
    train_lines = [",".join(map(str, feat)) + "|" + str(lbl) for feat, lbl in zip(X_train_arr, y_train_arr)]
    test_lines = [f"ID {i}:" + ",".join(map(str, feat)) for i, feat in enumerate(X_test_arr)]
    return train_lines, test_lines


# src/evaluation/prompt_gen/prompt_utils.py:build_user_prompt (concat, no descriptions)
def build_user_prompt(feature_num, label_set, feature_names, train_lines, test_lines) -> str:
    feature_description_line = ""
    user_prompt = f"""
[Data]
• Each sample = {feature_num} features + 1 label.  Label set = {label_set}.  
• Features in a row are comma-separated.  Features and label are separated by "|".
{feature_description_line}

[Training set]  (order of rows does NOT matter)  
{len(train_lines)} rows:  
{chr(10).join(train_lines)}

[Test set]  (keep original order!)  
Each row = ID, then N features (ID is NOT a feature).  
{len(test_lines)} rows:  
{chr(10).join(test_lines)}

[Output requirements]
Return **only** a JSON array.
Each element: {{"id": <ID>, "label": <predicted_label>}}

Begin when ready. Do not output anything except the JSON array.
"""
    return user_prompt


# src/evaluation/prompt_gen/data_prompt_gen.py:external_prompt_builder + build_full_prompt
def prompt_messages(X_train_df, X_test_df, y_train, y_test) -> list[dict[str, str]]:
    X_train_arr, X_test_arr = normalize_feature_arrays(X_train_df, X_test_df)
    train_lines, test_lines = format_lines(X_train_arr, y_train, X_test_arr)
    labels_json = [{"id": i, "label": int(lbl)} for i, lbl in enumerate(y_test)]
    system_prompt = "You are an AI assistant. Your task is supervised classification."
    user_prompt = build_user_prompt(X_test_arr.shape[1], sorted([int(x) for x in set(y_train)]),
                                    list(X_train_df.columns), train_lines, test_lines)
    return [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": user_prompt},
        {"role": "assistant", "content": json.dumps(labels_json, ensure_ascii=False)},
    ]


# src/evaluation/data_prep/data_utils.py:col_shuffle
def col_shuffle(X_train, X_test, random_seed):
    random.seed(random_seed)
    feature_indices = list(range(len(X_train.columns)))
    random.shuffle(feature_indices)
    return X_train.iloc[:, feature_indices], X_test.iloc[:, feature_indices]


# src/evaluation/data_prep/data_chunk_prep.py:process_and_split (the sampling part)
def chunks(df: pd.DataFrame, split_seed: int, row_shuffle_seed: int, train_chunk_size: int,
           test_chunk_size: int = 50, test_size: float = 0.2, shuffle_columns: bool = True):
    """[(X_train, y_train, X_test, y_test)] per test chunk, as the reference writes them."""
    np.random.seed(split_seed)
    train_df, test_df = train_test_split(df, test_size=test_size, random_state=split_seed)
    test_chunks = [test_df[i:i + test_chunk_size] for i in range(0, len(test_df), test_chunk_size)]
    out = []
    for i, test_chunk in enumerate(test_chunks):
        if train_chunk_size <= len(train_df):
            train_chunk = train_df.sample(n=train_chunk_size, random_state=split_seed + i)
        else:
            train_chunk = train_df.copy()
        train_chunk = train_chunk.sample(frac=1, random_state=row_shuffle_seed).reset_index(drop=True)
        X_train, y_train = train_chunk.iloc[:, :-1], train_chunk.iloc[:, -1]
        X_test, y_test = test_chunk.iloc[:, :-1], test_chunk.iloc[:, -1]
        if shuffle_columns:
            X_train, X_test = col_shuffle(X_train, X_test, row_shuffle_seed)
        out.append((X_train, y_train.reset_index(drop=True), X_test, y_test.reset_index(drop=True)))
    return out


# src/evaluation/model_pred/ml_utils.py:BaseMLRunner.create_model
def create_model(name: str, random_state: int = 42):
    if name == "rf":
        return RandomForestClassifier(n_estimators=30, random_state=random_state, n_jobs=8)
    if name == "xgb":
        from xgboost import XGBClassifier
        return XGBClassifier(objective="binary:logistic", eval_metric="auc", learning_rate=0.05,
                             max_depth=4, min_child_weight=1, subsample=0.8,
                             colsample_bytree=0.8, gamma=0, reg_lambda=1.0, reg_alpha=0.0,
                             n_estimators=500, random_state=random_state, verbosity=0, n_jobs=1)
    if name == "knn":
        return KNeighborsClassifier(n_neighbors=8, weights="distance", p=2)
    raise ValueError(name)

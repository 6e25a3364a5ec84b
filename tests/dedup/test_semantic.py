"""SemDeDup on precomputed embeddings: planted near-copies found, kept set well separated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datarecipes.dedup import KeepParams, SemanticParams, dedup_semantic

MIN_PRECISION, MIN_RECALL = 0.99, 0.95


def _embeddings(seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, 48))
    base = centres[rng.integers(0, 8, size=1500)] + 0.9 * rng.normal(size=(1500, 48))
    copies = rng.choice(1500, size=150, replace=False)
    near = base[copies] + 0.05 * rng.normal(size=(150, 48))  # cosine ~0.998
    x = np.concatenate([base, near])
    keys = pd.Series([f"s{i}" for i in range(1500)] + [f"s{c}_copy" for c in copies], name="id")
    truth = [f"s{i}" for i in range(1500)] + [f"s{c}" for c in copies]
    perm = rng.permutation(len(x))
    return keys.iloc[perm].reset_index(drop=True), x[perm], pd.Series(truth).iloc[perm]


@pytest.mark.parametrize("backend", ["faiss", "sklearn"])
def test_planted_near_copies_are_found(backend, capsys):
    keys, x, truth = _embeddings()
    params = SemanticParams(backend=backend, n_clusters=8, threshold=0.95)
    table = dedup_semantic(keys, x, params=params)
    group = dict(zip(keys, truth))
    flagged = table.loc[table["dup.semantic"]]
    right = sum(group[k] == group[r] for k, r in zip(flagged["id"], flagged["dup_of.semantic"]))
    precision, recall = right / max(1, len(flagged)), right / 150
    with capsys.disabled():
        print(f"\nsemdedup ({backend}): precision {precision:.3f} recall {recall:.3f}")
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL
    # Every dropped sample is within the threshold of its (kept) representative.
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    pos = {k: i for i, k in enumerate(keys)}
    kept = set(table.loc[~table["dup.semantic"], "id"])
    for k, r, d in zip(flagged["id"], flagged["dup_of.semantic"],
                       flagged["dup_distance.semantic"]):
        assert r in kept
        cos = float(unit[pos[k]] @ unit[pos[r]])
        assert cos >= 0.95 and abs((1 - cos) - d) < 1e-4


def test_kept_samples_of_a_cluster_are_pairwise_below_threshold():
    keys, x, _ = _embeddings(1)
    table = dedup_semantic(keys, x, params=SemanticParams(n_clusters=8, threshold=0.9))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    for _, members in table.loc[~table["dup.semantic"]].groupby("semantic_cluster"):
        idx = members.index.to_numpy()
        sims = unit[idx] @ unit[idx].T
        np.fill_diagonal(sims, 0)
        assert sims.max() < 0.9


def test_keep_policy_and_invalid_rows():
    base = np.eye(4)[[0, 0, 0, 1]] + np.array([[0, 0.01, 0, 0], [0, 0, 0.02, 0],
                                                [0, 0, 0, 0.01], [0, 0, 0, 0]])
    x = np.vstack([base, np.zeros((1, 4)), np.full((1, 4), np.nan)])
    keys = pd.Series(list("abcdef"), name="k")
    scores = np.array([0.1, 0.9, 0.5, 0.2, 1.0, 1.0])
    table = dedup_semantic(keys, x, params=SemanticParams(n_clusters=1), scores=scores,
                           keep=KeepParams(policy="highest_score")).set_index("k")
    assert table.loc[["a", "c"], "dup_of.semantic"].tolist() == ["b", "b"]
    assert not table.loc[["b", "d", "e", "f"], "dup.semantic"].any()
    assert (table.loc[["e", "f"], "semantic_cluster"] == -1).all()
    with pytest.raises(ValueError, match="2-D"):
        dedup_semantic(keys, np.zeros(6))


def test_centroids_from_a_sample_label_the_pool_per_shard():
    """k-means trained on a sample, clusters assigned shard by shard, then SemDeDup with the
    labels: the same duplicates as one in-memory run with those labels."""
    from datarecipes.dedup import assign_clusters, kmeans_centroids
    from datarecipes.dedup.semantic import normalise_rows

    keys, x, _ = _embeddings(2)
    unit, _ = normalise_rows(x)
    params = SemanticParams(n_clusters=8)
    centroids = kmeans_centroids(unit[::4], params, n_total=len(unit))
    labels = np.concatenate([assign_clusters(unit[s : s + 400], centroids)
                             for s in range(0, len(unit), 400)])
    assert np.array_equal(labels, assign_clusters(unit, centroids))
    table = dedup_semantic(keys, x, params=params, labels=labels)
    assert table["dup.semantic"].sum() >= 145
    assert (table["semantic_cluster"].to_numpy() == labels).all()

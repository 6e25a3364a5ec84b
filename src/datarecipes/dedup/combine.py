"""Run the configured dedup kinds over one table, combine them, and turn them into ledger rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from datarecipes.dedup.clusters import (
    dedup_table,
    greedy_representatives,
    keep_scores,
    rank_order,
)
from datarecipes.dedup.images import SHA_COLUMN, dedup_exact, dedup_phash
from datarecipes.dedup.params import DEFAULT_KEEP, DedupParams, KeepParams
from datarecipes.dedup.semantic import dedup_semantic
from datarecipes.dedup.text import dedup_minhash, dedup_text_exact


def combine_dedup(tables: list[pd.DataFrame], *, key: str, keep: KeepParams = DEFAULT_KEEP,
                  scores: np.ndarray | None = None) -> pd.DataFrame:
    """``dup.any`` over several kinds' tables (same rows, same order), with one kept sample.

    Each kind's duplicate → representative links are resolved again in the same rank order,
    so ``dup_of.any`` is always a sample that ``!dup.any`` keeps (a sample whose per-kind
    representative was itself dropped by another kind is kept, unless it links to another
    kept sample). ``dup_kind.any`` names the kind of the link.
    """
    if not tables:
        raise ValueError("combine_dedup needs at least one dedup table")
    keys = tables[0][key].to_numpy(dtype=object)
    n = len(keys)
    for t in tables[1:]:
        if len(t) != n or not (t[key].to_numpy(dtype=object) == keys).all():
            raise ValueError("combine_dedup: tables must have the same keys in the same order")
    index = pd.Index(keys)
    left, right, kinds = [], [], []
    for t in tables:
        kind = next(c.split(".", 1)[1] for c in t.columns if c.startswith("dup."))
        dup = t[f"dup.{kind}"].to_numpy(dtype=bool)
        members = np.flatnonzero(dup)
        reps = index.get_indexer(t.loc[dup, f"dup_of.{kind}"].to_numpy(dtype=object))
        left.append(members)
        right.append(reps)
        kinds.extend([kind] * len(members))
    li, ri = np.concatenate(left), np.concatenate(right)
    rank = rank_order(n, keep, scores)
    # Distances of different kinds are not comparable: prefer the link of the first kind.
    order_of_kind = {k: i for i, k in enumerate(dict.fromkeys(kinds))}
    pref = np.array([order_of_kind[k] for k in kinds], dtype=np.float64)
    rep, _ = greedy_representatives(n, li, ri, pref, rank)
    out = dedup_table(keys, "any", rep, np.zeros(n), key_name=key)
    link_kind = {}
    for a, b, k in zip(li.tolist(), ri.tolist(), kinds):
        link_kind.setdefault((a, b), k)
        link_kind.setdefault((b, a), k)
    out["dup_kind.any"] = [link_kind.get((i, int(r))) if r != i else None
                           for i, r in enumerate(rep.tolist())]
    return out.drop(columns=["dup_distance.any"])


def run_dedup(table: pd.DataFrame, params: DedupParams, *, key: str,
              embeddings: np.ndarray | None = None,
              text_within: str | list[str] | None = None
              ) -> pd.DataFrame:
    """Every kind in ``params.kinds`` over ``table`` (hash/signature columns already computed),
    merged on ``key`` with ``dup.any`` (see :func:`combine_dedup`).

    ``table`` needs ``image_sha256`` (exact_image), ``image_phash`` / ``image_dhash`` (phash,
    dhash), ``text_sha256`` (exact_text), ``signature`` (minhash), and ``embeddings`` aligned
    with its rows for ``semantic``; ``keep.score_column`` for ``highest_score``.
    ``text_within`` restricts text duplicates to rows sharing those column(s) (e.g.
    image and answer of a question).
    """
    if table[key].duplicated().any():
        raise ValueError(f"dedup: key {key!r} has repeated values, e.g. "
                         f"{table.loc[table[key].duplicated(), key].iloc[0]!r}")
    keep = params.keep
    parts: list[pd.DataFrame] = []
    for kind in params.kinds:
        if kind == "exact_image":
            parts.append(dedup_exact(table, key=key, column=SHA_COLUMN, kind=kind, keep=keep))
        elif kind == "exact_text":
            parts.append(dedup_text_exact(table, key=key, keep=keep))
        elif kind in ("phash", "dhash"):
            parts.append(dedup_phash(table, key=key, params=params.images, keep=keep, kind=kind))
        elif kind == "minhash":
            parts.append(dedup_minhash(table, key=key, params=params.text, keep=keep,
                                       within=text_within))
        elif kind == "semantic":
            if embeddings is None:
                raise ValueError("dedup.kinds has 'semantic' but no embeddings were given "
                                 "(pass the scorer's persisted embeddings)")
            parts.append(dedup_semantic(table[key], embeddings, params=params.semantic,
                                        keep=keep, scores=keep_scores(table, keep), key_name=key))
    combined = combine_dedup(parts, key=key, keep=keep, scores=keep_scores(table, keep))
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p, on=key, how="left", validate="one_to_one")
    return out.merge(combined, on=key, how="left", validate="one_to_one")


def dedup_decisions(table: pd.DataFrame, *, key: str, kind: str = "any",
                    stage: str | None = None) -> pd.DataFrame:
    """Ledger rows of one kind's dedup (``kind="any"``: the combined decision)."""
    from datarecipes.ledger import decisions

    dup = table[f"dup.{kind}"].to_numpy(dtype=bool)
    dup_of = table[f"dup_of.{kind}"].to_numpy(dtype=object)
    dist_col = f"dup_distance.{kind}"
    dist = table[dist_col].to_numpy(dtype=np.float64) if dist_col in table else None
    how = table["dup_kind.any"].to_numpy(dtype=object) if kind == "any" else None
    cluster = table[f"dup_cluster.{kind}"].to_numpy()
    members = pd.Series(cluster[dup]).value_counts().to_dict()
    reasons = []
    for i in range(len(table)):
        if not dup[i]:
            n = members.get(cluster[i], 0)
            reasons.append(f"kept: representative of {n} duplicate(s)" if n else
                           "kept: no duplicate")
            continue
        what = how[i] if how is not None else kind
        col = f"dup_distance.{what}"
        # The combined link's own kind's distance (to that kind's representative).
        d = table[col].iat[i] if col in table and dup_of[i] == table[f"dup_of.{what}"].iat[i] \
            else (dist[i] if dist is not None else np.nan)
        detail = f" ({what} distance {d:g})" if not np.isnan(d) else f" ({what})"
        reasons.append(f"near duplicate of {dup_of[i]}{detail}")
    if kind == "any":
        score_cols = [c for c in table.columns
                      if c.startswith(("dup_distance.", "dup.")) and c != "dup.any"]
        score_cols += ["dup_cluster.any", "dup_kind.any"]
    else:
        score_cols = [f"dup_cluster.{kind}", f"dup_distance.{kind}"]
    return decisions(table[key], stage=stage or f"dedup.{kind}", rule=f"!dup.{kind}",
                     kept=~dup, reason=reasons, scores=table[score_cols], ref=dup_of)


def contamination_decisions(table: pd.DataFrame, *, key: str, action: str,
                            stage: str = "decontamination") -> pd.DataFrame:
    """Ledger rows of :func:`datarecipes.dedup.decontam.contamination`'s table."""
    from datarecipes.ledger import decisions

    names = [c.split(".", 1)[1] for c in table.columns
             if c.startswith("contaminated.") and c != "contaminated.any"]
    hit = table["contaminated.any"].to_numpy(dtype=bool)
    reasons, refs = [], []
    for i in range(len(table)):
        found = [(n, table[f"contaminated_by.{n}"].iat[i], table[f"contaminated_how.{n}"].iat[i])
                 for n in names if table[f"contaminated.{n}"].iat[i]]
        if not found:
            reasons.append("matches no evaluation set")
            refs.append(None)
        else:
            reasons.append("matches " + ", ".join(f"{ev} sample {by} by {how}"
                                                  for ev, by, how in found))
            refs.append(found[0][1])
    kept = ~hit if action != "flag" else np.ones(len(table), dtype=bool)
    cols = [c for c in table.columns if c.startswith(("contaminated.", "shared_ngrams."))]
    return decisions(table[key], stage=stage, rule=f"decontamination ({action})", kept=kept,
                     reason=reasons, scores=table[cols], ref=refs)

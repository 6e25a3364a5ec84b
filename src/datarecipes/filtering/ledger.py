"""The filtering run's decision ledger (issue 16): per pair, every stage that saw it.

Stages, in run order (see :mod:`datarecipes.ledger` for the schema):

``decode``            the pair decoded (image and caption) or not, with the reason;
``dedup``             its duplicate group (``dup.any``) and representative (``ref``); dedup is a
                      score, so a duplicate is dropped here only when the applied rule reads a
                      ``dup.*`` column and the rule is false for it — otherwise it goes on, and
                      the reason says it is a duplicate that the rule does not read;
``decontamination``   its match against the held-out pairs (dropped with ``action: drop``);
``rule``              the applied rule and packing (the decision table's reason).

``sample_id`` is the input's own key (``key``), and ``ref`` names the representative or the
held-out pair by their keys too, so ``python -m datarecipes.ledger why <ledger> <key>``
answers in the user's own ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from datarecipes import ledger as L
from datarecipes.dedup import contamination_decisions, dedup_decisions
from datarecipes.filtering.inputs import CAPTION_COLUMN, ID_COLUMN, KEY_COLUMN, SUCCESS

#: Columns compared pool vs kept in the before/after table and plot.
BEFORE_AFTER = ("caption_words", "image_pixels", "clip")


def sample_ids(scored_pool: pd.DataFrame) -> pd.Series:
    """The ledger's ``sample_id``: the input's own ``key``, or, when keys repeat across the
    source's files, the source's unique ``image_id`` (``<file>/<key>``) for those pairs."""
    keys = scored_pool[KEY_COLUMN].astype(str)
    repeated = keys.duplicated(keep=False).to_numpy()
    return pd.Series(np.where(repeated, scored_pool[ID_COLUMN].astype(str), keys),
                     index=scored_pool.index)


def _keys(ids: pd.Series, key_of: dict[str, str]) -> list[str | None]:
    return [key_of.get(str(i)) if isinstance(i, str) else None for i in ids]


def filtering_ledger(scored_pool: pd.DataFrame, decisions: pd.DataFrame, rule: str,
                     rule_reads: set[str], action: str) -> pd.DataFrame:
    """The ledger of one filtering run from its scored pool and decision table."""
    table = scored_pool.copy()
    table[KEY_COLUMN] = sample_ids(table)
    key_of = dict(zip(table[ID_COLUMN].astype(str), table[KEY_COLUMN]))
    decoded = (table["clip_status"] == SUCCESS).to_numpy()
    out = L.append(L.empty_ledger(), L.decisions(
        table[KEY_COLUMN], stage="decode", rule="image and caption decode", kept=decoded,
        reason=np.where(decoded, "decoded", table["clip_reason"].fillna("").astype(str)),
    ))
    seen = table[decoded].reset_index(drop=True)
    # dedup
    rows = dedup_decisions(seen.assign(**{"dup_of.any": _keys(seen["dup_of.any"], key_of)}),
                           key=KEY_COLUMN, kind="any", stage="dedup")
    rows["ref"] = rows["ref"].astype("string")
    reads_dup = any(c.startswith("dup.") for c in rule_reads)
    dup = seen["dup.any"].fillna(False).to_numpy(dtype=bool)
    passed = seen[f"keep.{rule}"].to_numpy(dtype=bool)
    dropped = dup & reads_dup & ~passed
    rows["kept"] = ~dropped
    if not reads_dup:
        rows.loc[dup, "reason"] = rows.loc[dup, "reason"] + (
            f"; scored only: rule {rule} reads no dup.* column")
        rows["rule"] = "dup.any (scores only)"
    out = L.append(out, rows)
    seen = seen[~dropped].reset_index(drop=True)
    # decontamination
    if "contaminated.heldout" in seen:
        rows = contamination_decisions(seen, key=KEY_COLUMN, action=action)
    else:
        rows = L.decisions(seen[KEY_COLUMN], stage="decontamination", rule="skipped",
                           kept=np.ones(len(seen), bool),
                           reason="skipped: no held-out pairs to match against")
    out = L.append(out, rows)
    seen = seen[rows["kept"].to_numpy(dtype=bool)].reset_index(drop=True)
    # rule (+ packing)
    d = decisions.set_index(ID_COLUMN).loc[seen[ID_COLUMN].astype(str)]
    kept = d["kept"].to_numpy(dtype=bool)
    reason = np.where(kept, "kept and packed", d["reason"].astype(str).to_numpy())
    scores = [c for c in ("clip", "itm", "odf", "ctq", "su") if c in seen]
    out = L.append(out, L.decisions(seen[KEY_COLUMN], stage="rule", rule=f"{rule}", kept=kept,
                                    reason=reason, scores=seen[scores]))
    return out


def composition(scored_pool: pd.DataFrame, dedup: pd.DataFrame) -> pd.DataFrame:
    """The before/after columns of every pool pair: caption words, image pixels, CLIP score."""
    size = dedup.set_index(ID_COLUMN)[["image_width", "image_height"]] \
        .reindex(scored_pool[ID_COLUMN].astype(str))
    return pd.DataFrame({
        KEY_COLUMN: scored_pool[KEY_COLUMN].astype(str).to_numpy(),
        "caption_words": [len(c.split()) if isinstance(c, str) else np.nan
                          for c in scored_pool[CAPTION_COLUMN]],
        "image_pixels": (size["image_width"] * size["image_height"]).to_numpy(),
        "clip": pd.to_numeric(scored_pool["clip"], errors="coerce").to_numpy(),
    })


def before_after(values: pd.DataFrame, kept: np.ndarray) -> tuple[pd.DataFrame, Figure]:
    """Pool vs kept shares per bin of each :data:`BEFORE_AFTER` column: a long table
    (``column, bin, pool, kept``) and one figure with a panel per column."""
    import matplotlib.pyplot as plt

    parts = []
    fig, axes = plt.subplots(1, len(BEFORE_AFTER), figsize=(5 * len(BEFORE_AFTER), 3.6))
    for ax, column in zip(np.atleast_1d(axes), BEFORE_AFTER):
        t = L.before_after_table(values, kept, column).rename(columns={column: "bin"})
        t.insert(0, "column", column)
        parts.append(t)
        x = np.arange(len(t))
        ax.bar(x - 0.2, t["pool"], width=0.4, label=f"pool (n={len(values)})", color="#c9d6e3")
        ax.bar(x + 0.2, t["kept"], width=0.4, label=f"kept (n={int(kept.sum())})",
               color="#2f6690")
        ax.set_xticks(x, t["bin"], rotation=45, ha="right", fontsize=6)
        ax.set_title(f"{column}: pool vs kept")
        ax.set_ylabel("share")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return pd.concat(parts, ignore_index=True), fig

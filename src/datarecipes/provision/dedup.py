"""Near-identical ProVision questions, dropped as recorded decisions (issue 16).

Two questions are near duplicates when they are about the same image(s), have the same
normalised answer, and their texts' MinHash Jaccard is at or above ``text.threshold``
(:func:`datarecipes.dedup.dedup_minhash` with ``within`` = image and answer: the same
template asked of another image, or about another object with another answer, is not a
duplicate). The provision ledger records, per object, what validation did, and per question,
whether it was kept or which kept question it repeats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from datarecipes.config import parameters_section, require
from datarecipes.dedup import (
    KeepParams,
    MinHashParams,
    TextNormParams,
    dedup_minhash,
    normalise_text,
    signatures,
)
from datarecipes.ledger import append, decisions, empty_ledger


@parameters_section("provision_dedup")
@dataclass(frozen=True)
class ProvisionDedupParams:
    """Near-identical questions about the same image with the same answer."""

    #: ``drop``: duplicates leave the question table (recorded); ``flag``: recorded only.
    action: Literal["drop", "flag"] = "drop"
    #: Which of a group is kept (``first``: generation order).
    keep: KeepParams = field(default_factory=KeepParams)
    #: Text normalisation before shingling.
    normalise: TextNormParams = field(default_factory=TextNormParams)
    #: MinHash-LSH of the question text. Threshold 0.8, not 0.7: on the built-in world 0.7
    #: merges "in which image is there no metal torus?" with "... no cube?" (Jaccard 0.72,
    #: both "Image 0"), templates a word apart that ask different things.
    text: MinHashParams = field(default_factory=lambda: MinHashParams(threshold=0.8))
    #: Columns duplicates must share besides the image(s).
    within: tuple[str, ...] = ("bare_answer",)

    def __post_init__(self) -> None:
        require(self.keep.policy != "highest_score",
                "provision_dedup.keep.policy: questions have no score; use first or random")


def _image_key(value: Any) -> str:
    if hasattr(value, "tolist"):
        value = value.tolist()
    return "|".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def dedup_questions(questions: pd.DataFrame, params: ProvisionDedupParams) -> pd.DataFrame:
    """Per question (in order): ``id`` and the ``dup.minhash`` columns."""
    missing = {"id", "image", "question", *params.within} - set(questions.columns)
    if missing:
        raise ValueError(f"provision_dedup: the question table lacks column(s) {sorted(missing)}")
    sig = signatures(questions["question"].tolist(), params.text, params.normalise)
    table = pd.DataFrame({"id": questions["id"].astype(str).to_numpy(),
                          "_image": questions["image"].map(_image_key).to_numpy()})
    for col in params.within:
        table[f"_{col}"] = [normalise_text(str(v), params.normalise) for v in questions[col]]
    table = pd.concat([table, sig], axis=1)
    return dedup_minhash(table, key="id", params=params.text, keep=params.keep,
                         within=["_image", *[f"_{c}" for c in params.within]])


def dedup_rows(dups: pd.DataFrame, questions: pd.DataFrame, params: ProvisionDedupParams
               ) -> pd.DataFrame:
    dup = dups["dup.minhash"].to_numpy(bool)
    cluster = dups["dup_cluster.minhash"].to_numpy()
    members = pd.Series(cluster[dup]).value_counts().to_dict()
    gen = questions["generator"].astype(str).to_numpy() if "generator" in questions else None
    by_id = dict(zip(dups["id"], gen)) if gen is not None else {}
    reasons = []
    for k in range(len(dups)):
        if dup[k]:
            rep = dups["dup_of.minhash"].iat[k]
            reasons.append(f"near-identical question to {rep}"
                           + (f" ({by_id.get(rep)})" if by_id else "")
                           + f" about the same image with the same answer (Jaccard "
                           f"{1 - dups['dup_distance.minhash'].iat[k]:.2f})")
        else:
            m = members.get(cluster[k], 0)
            reasons.append(f"kept: representative of {m} duplicate(s)" if m else
                           "kept: no duplicate")
    kept = ~dup if params.action == "drop" else np.ones(len(dups), bool)
    scores = dups[["dup_cluster.minhash", "dup_distance.minhash"]]
    if gen is not None:
        scores = scores.assign(generator=gen)
    return decisions(dups["id"], stage="questions.dedup",
                     rule=f"!dup.minhash within image, {', '.join(params.within)} "
                          f"(Jaccard >= {params.text.threshold}; {params.action})",
                     kept=kept, reason=reasons, scores=scores, ref=dups["dup_of.minhash"])


def validation_rows(objects: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Stage ``objects.validation``: each object of each scene graph, kept / refused / merged
    (from :attr:`datarecipes.annotations.validate.ValidationReport.decisions`)."""
    ids, kept, reasons, refs, labels = [], [], [], [], []
    for image_id, index, label, outcome, detail in objects:
        ids.append(f"{image_id}/object{int(index)}")
        kept.append(outcome == "kept")
        labels.append(label)
        if outcome == "kept":
            reasons.append("kept")
            refs.append(None)
        elif outcome == "merged":
            reasons.append(detail)
            into = detail.split("object ", 1)[1].split(" ", 1)[0]
            refs.append(f"{image_id}/object{into}")
        else:
            reasons.append(f"refused ({outcome}): {detail}")
            refs.append(None)
    return decisions(ids, stage="objects.validation", rule="annotations.validate",
                     kept=kept, reason=reasons, ref=refs,
                     scores=pd.DataFrame({"label": labels}))


def provision_ledger(validation: Mapping[str, Any] | None, dedup_stage: pd.DataFrame
                     ) -> pd.DataFrame:
    """Validation's per-object decisions (when the report has them), then question dedup."""
    ledger = empty_ledger()
    objects = (validation or {}).get("decisions")
    if objects:
        ledger = append(ledger, validation_rows(objects))
    return append(ledger, dedup_stage)

"""Output formats: LLaVA conversation records and the question table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

TABLE_COLUMNS = ["id", "image", "question", "answer", "bare_answer", "options", "answer_letter",
                 "generator", "type", "format", "source", "solution", "split"]


def assign_ids(records: Sequence[dict[str, Any]]) -> None:
    """Stable ids ``provision-<split>-<n>`` in record order (in place)."""
    per_split: dict[str, int] = {}
    for rec in records:
        n = per_split.get(rec["split"], 0)
        per_split[rec["split"]] = n + 1
        rec["id"] = f"provision-{rec['split']}-{n:07d}"


def to_conversation(rec: dict[str, Any]) -> dict[str, Any]:
    """A LLaVA record; one ``<image>`` per image, before or after the prompt at random (the
    side was drawn at generation time and stored as ``image_first``)."""
    tags = " ".join(["<image>"] * len(rec["image"]))
    prompt = f"{tags}\n{rec['question']}" if rec["image_first"] else f"{rec['question']}\n{tags}"
    image = rec["image"][0] if len(rec["image"]) == 1 else list(rec["image"])
    return {"id": rec["id"], "image": image,
            "conversations": [{"from": "human", "value": prompt},
                              {"from": "gpt", "value": rec["answer"]}]}


def to_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The question table (one row per question; ``image`` is always a list of paths)."""
    if not records:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in TABLE_COLUMNS})
    return pd.DataFrame([{c: r[c] for c in TABLE_COLUMNS} for r in records], columns=TABLE_COLUMNS)

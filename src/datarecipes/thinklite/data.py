"""ThinkLite's three question sets from ProVision's table, and the records each stage reads.

* warm start: training questions with ProVision's step-by-step solutions, for the SFT that
  teaches a small policy ThinkLite's step format (the paper starts from Qwen2.5-VL-7B-Instruct,
  which follows the 2-shot prompt without it; ``warmstart_size: 0`` reproduces that);
* pool: training questions *not* used for the warm start, scored by MCTS and selected from;
* held-out: questions of other splits (other images), never seen by warm start or selection.

A user's pool or held-out set (``--params thinklite_pool_source=...``) replaces the world's:
:func:`source_questions` turns its rows into the same question table, refusing (and counting)
each row it cannot use.

Every stage sees a question the same way: one user turn with the image first and ThinkLite's
2-shot step-format instruction followed by the question (:func:`step_user_text`, the prompt the
MCTS policy is searched with), and the bare answer as ground truth (what ProVision's solutions
box; the option texts travel along so a letter answer is also graded right).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from datarecipes.io.paths import resolve_image_path
from datarecipes.mcts.prompts import step_user_text
from datarecipes.thinklite.params import ThinkLiteDataParams

if TYPE_CHECKING:
    from datarecipes.thinklite.sources import VQASourceData

#: Columns of the pool / held-out / selected tables (one row per question).
QUESTION_COLUMNS = [
    "sample_id", "image", "question", "answer", "options", "generator", "question_type",
    "solution", "split", "source",
]
REQUIRED_PROVISION_COLUMNS = {
    "id", "image", "question", "answer", "bare_answer", "options", "generator", "solution",
    "split",
}
#: ``options`` joined with this separator in evaluation records (the evaluator splits on it).
OPTIONS_SEPARATOR = "||"


class SplitOverlapError(ValueError):
    """A held-out question shares its id or its image with a training question."""


def _as_list(value: Any) -> list[Any]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    return list(value) if isinstance(value, (list, tuple)) else [value]


def provision_to_questions(provision_questions: pd.DataFrame, image_root: str) -> pd.DataFrame:
    """ProVision's table as ThinkLite questions: single-image rows, image paths resolved
    against ``image_root`` (:func:`~datarecipes.io.paths.resolve_image_path`: scene graphs
    loaded through the catalog carry rooted paths, the scenes node's own are ``images/...``),
    the bare answer as ground truth, the generator as question type."""
    missing = REQUIRED_PROVISION_COLUMNS - set(provision_questions.columns)
    if missing:
        raise ValueError(f"provision_questions lacks column(s) {sorted(missing)}")
    images = provision_questions["image"].map(_as_list)
    single = provision_questions[images.map(len) == 1]
    table = pd.DataFrame(
        {
            "sample_id": single["id"].astype(str),
            "image": [resolve_image_path(str(p[0]), image_root) for p in images[single.index]],
            "question": single["question"].astype(str),
            "answer": single["bare_answer"].astype(str),
            "options": [[str(o) for o in _as_list(v)] for v in single["options"]],
            "generator": single["generator"].astype(str),
            "question_type": single["generator"].astype(str),
            "solution": single["solution"].astype(str),
            "split": single["split"].astype(str),
            "source": single["source"].astype(str) if "source" in single else "provision",
        }
    )
    return table.reset_index(drop=True)


def _draw(table: pd.DataFrame, size: int, rng: np.random.Generator) -> pd.DataFrame:
    order = rng.permutation(len(table))
    if size:
        order = order[:size]
    return table.iloc[np.sort(order)].reset_index(drop=True)


def split_questions(
    questions: pd.DataFrame, params: ThinkLiteDataParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(warm-start set, MCTS pool, held-out set) drawn from ``questions`` with ``params.seed``.

    Warm start and pool are disjoint draws from the training splits; the held-out set comes
    from the held-out splits. Raises :class:`SplitOverlapError` when a held-out question shares
    an id or an image with a training question (ProVision splits by image, so this only fires
    on inconsistent input).
    """
    if params.generators:
        unknown = sorted(set(params.generators) - set(questions["generator"]))
        if unknown:
            raise ValueError(
                f"parameters_thinklite.yml: thinklite_data.generators: {unknown} produced no "
                f"single-image question; present: {sorted(set(questions['generator']))}"
            )
        questions = questions[questions["generator"].isin(params.generators)]
    duplicated = questions["sample_id"][questions["sample_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"question ids occur more than once, e.g. {duplicated.iloc[0]!r}")
    rng = np.random.default_rng(params.seed)
    train = questions[questions["split"].isin(params.train_splits)].reset_index(drop=True)
    heldout_all = questions[questions["split"].isin(params.heldout_splits)]
    for name, table, splits in (
        ("train_splits", train, params.train_splits),
        ("heldout_splits", heldout_all, params.heldout_splits),
    ):
        if table.empty:
            raise ValueError(
                f"parameters_thinklite.yml: thinklite_data.{name}: no single-image question "
                f"in split(s) {splits}; present: {sorted(set(questions['split']))}"
            )
    need = params.warmstart_size + params.pool_size
    if params.pool_size and need > len(train):
        raise ValueError(
            f"parameters_thinklite.yml: thinklite_data: warmstart_size + pool_size = {need} "
            f"but the train split(s) hold only {len(train)} single-image questions"
        )
    if params.warmstart_size >= len(train):
        raise ValueError(
            f"parameters_thinklite.yml: thinklite_data.warmstart_size ({params.warmstart_size}) "
            f"leaves no question of the {len(train)} training ones for the MCTS pool"
        )
    order = rng.permutation(len(train))
    warm_idx = np.sort(order[: params.warmstart_size])
    rest = order[params.warmstart_size :]
    pool_idx = np.sort(rest[: params.pool_size] if params.pool_size else rest)
    warm = train.iloc[warm_idx].reset_index(drop=True)
    pool = train.iloc[pool_idx].reset_index(drop=True)
    heldout = _draw(heldout_all.reset_index(drop=True), params.heldout_size, rng)
    check_disjoint(heldout, [warm, pool])
    return warm, pool, heldout


def check_disjoint(heldout: pd.DataFrame, training: Sequence[pd.DataFrame]) -> None:
    """Raise :class:`SplitOverlapError` if a held-out question id or image is trained on."""
    train_ids = set().union(*(set(t["sample_id"]) for t in training))
    train_images = set().union(*(set(t["image"]) for t in training))
    shared_ids = sorted(set(heldout["sample_id"]) & train_ids)
    if shared_ids:
        raise SplitOverlapError(f"held-out questions {shared_ids[:5]} are also training ones")
    shared_images = sorted(set(heldout["image"]) & train_images)
    if shared_images:
        raise SplitOverlapError(
            f"held-out images {shared_images[:5]} also appear in training questions; "
            "split the data by image"
        )


def _user_turn(question: str) -> str:
    return "<image>\n" + step_user_text(question)


def sft_records(questions: pd.DataFrame) -> list[dict[str, Any]]:
    """LLaVA records for the warm start: the step-format prompt, answered by the solution."""
    return [
        {
            "id": row.sample_id,
            "image": row.image,
            "conversations": [
                {"from": "human", "value": _user_turn(row.question)},
                {"from": "gpt", "value": row.solution},
            ],
        }
        for row in questions.itertuples(index=False)
    ]


def prompt_records(questions: pd.DataFrame, with_options: bool = False) -> list[dict[str, Any]]:
    """LLaVA prompt records for GRPO and evaluation (``answer``, ``generator`` and
    ``question_type`` columns ride along; ``options`` joined by ``||`` with ``with_options``)."""
    records = []
    for row in questions.itertuples(index=False):
        record: dict[str, Any] = {
            "id": row.sample_id,
            "image": row.image,
            "conversations": [{"from": "human", "value": _user_turn(row.question)}],
            "answer": str(row.answer),
            "generator": str(row.generator),
            "question_type": str(row.question_type),
        }
        options = _as_list(row.options)
        if with_options and options:
            record["options"] = OPTIONS_SEPARATOR.join(map(str, options))
        records.append(record)
    return records


def mcts_rows(questions: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for :func:`datarecipes.mcts.run_mcts_difficulty`."""
    return [
        {
            "sample_id": row.sample_id,
            "question": row.question,
            "answer": row.answer,
            "image": row.image,
            "options": _as_list(row.options) or None,
            "question_type": row.question_type,
        }
        for row in questions.itertuples(index=False)
    ]


# --- A user's pool / held-out set (read by datarecipes.io.thinklite.VQASource) ---

#: Columns of the refusal table: which set, the 0-based row of the input file, its id, why.
REFUSAL_COLUMNS = ["set", "source", "row", "sample_id", "reason"]
_IMAGE_TAG = re.compile(r"<image\s*\d*>", re.IGNORECASE)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or not str(value).strip()


def _decode_error(data: bytes | None, path: str | None) -> tuple[str | None, str | None]:
    """(reason the image is unusable or None, Pillow's format name)."""
    try:
        with Image.open(io.BytesIO(data) if data is not None else path) as img:
            img.load()  # a full decode: verify() passes truncated files
            return None, (img.format or "png").lower()
    except FileNotFoundError:
        return f"image file not found: {path}", None
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as err:
        # Pillow names an in-memory image by its buffer's repr; say what it is instead.
        message = re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "the image bytes", str(err))
        return f"image does not decode: {message}", None


def source_questions(
    source: VQASourceData, set_name: str, image_dir: str
) -> tuple[pd.DataFrame, dict[str, bytes], pd.DataFrame]:
    """A user's rows as ThinkLite questions (:data:`QUESTION_COLUMNS`), the image bytes to
    materialise under ``image_dir`` (by file name, named by digest) and the refused rows.

    Every input row is either a question or a refusal (:data:`REFUSAL_COLUMNS`) naming its
    0-based row: no answer, no question, several images, no image, an image that is missing
    or does not decode, or an id seen on an earlier row. Image bytes (a parquet) are never
    written beside the user's file: they go to ``image_dir``, a catalog output under data/.
    """
    questions, refusals = [], []
    images: dict[str, bytes] = {}
    seen: dict[str, int] = {}
    stem = Path(source.path).stem
    for rec in source.rows.to_dict(orient="records"):
        row = int(rec["row"])
        sample_id = None if _blank(rec["sample_id"]) else str(rec["sample_id"]).strip()
        sample_id = sample_id or f"{stem}-{row:06d}"

        def refuse(reason: str, row: int = row, sample_id: str = sample_id) -> None:
            refusals.append({"set": set_name, "source": source.path, "row": row,
                             "sample_id": sample_id, "reason": reason})

        if _blank(rec["answer"]):
            refuse("no answer")
            continue
        question = "" if _blank(rec["question"]) else _IMAGE_TAG.sub("", str(rec["question"]))
        if not question.strip():
            refuse("no question")
            continue
        if sample_id in seen:
            refuse(f"id {sample_id!r} already used by row {seen[sample_id]}")
            continue
        data, path = rec["image_bytes"], rec["image_path"]
        if isinstance(path, list):
            refuse(f"{len(path)} images; ThinkLite questions have one")
            continue
        if data is None and _blank(path):
            refuse("no image")
            continue
        reason, fmt = _decode_error(data, path)
        if reason:
            refuse(reason)
            continue
        if data is not None:
            name = f"{hashlib.sha256(data).hexdigest()[:24]}.{fmt}"
            images[name] = data
            path = os.path.join(image_dir, name)
        seen[sample_id] = row
        question_type = rec.get("question_type")
        kind = stem if _blank(question_type) else str(question_type)
        questions.append({
            "sample_id": sample_id, "image": str(path), "question": question.strip(),
            "answer": str(rec["answer"]).strip(), "options": list(rec["options"] or []),
            "generator": kind, "question_type": kind, "solution": rec["solution"] or "",
            "split": set_name, "source": source.format,
        })
    return (pd.DataFrame(questions, columns=QUESTION_COLUMNS), images,
            pd.DataFrame(refusals, columns=REFUSAL_COLUMNS))

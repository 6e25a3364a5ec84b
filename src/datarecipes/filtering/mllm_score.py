"""MLLM scores (MLM-Filter): a VLM rates each pair 0–100 on four quality metrics.

MLM-Filter (@7c4cd80) asks a fine-tuned VLM one question per metric and reads an integer
0–100 from the first line of a greedy generation of one or two tokens; only rows with
``status == "success"`` count. The prompts below are ours, in the reference's structure (the
caption, then what to judge, then the scale). The model is abstracted as ``generate_fn``:
``[(prompt, image_path), ...] -> [completion, ...]`` (greedy, few new tokens), so scoring,
parsing and statuses are independent of the model and testable with a fake.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datarecipes.engines import GenerationParams
from datarecipes.executors import Executor, ShardStats, map_shards
from datarecipes.filtering.inputs import (
    DECODE_ERROR,
    ID_COLUMN,
    IMAGE_COLUMN,
    PARSE_ERROR,
    SUCCESS,
    image_in_file,
    input_columns,
    read_row,
)

GenerateFn = Callable[[list[tuple[str, str]]], list[str]]

_SCALE = (
    "Rate it on a scale from 0 to 100 and answer with the integer score alone on the first line."
)
#: One prompt per metric: image-text matching, object detail fulfilment, caption text
#: quality, semantic understanding.
PROMPTS: dict[str, str] = {
    "itm": (
        "Caption: {caption}\n\n"
        "Judge how well this caption matches the image. It does not have to mention "
        "everything, but its main subject and objects must be what the image shows. " + _SCALE
    ),
    "odf": (
        "Caption: {caption}\n\n"
        "Judge how fully and correctly the caption describes the objects in the image: their "
        "colour, size, shape, material, number and position. " + _SCALE
    ),
    "ctq": (
        "Caption: {caption}\n\n"
        "Judge the caption as text alone: grammar, fluency, readability, variety of "
        "vocabulary, and whether its length and structure suit a description. " + _SCALE
    ),
    "su": (
        "Caption: {caption}\n\n"
        "Judge how much understanding the caption adds beyond what is trivially visible: "
        "relations between objects, context, purpose or events that the image supports. "
        + _SCALE
    ),
}
METRICS: tuple[str, ...] = tuple(PROMPTS)

# Leading integer of the first line, optionally after "score:" (greedy 1–2 tokens rarely add
# more); anything else on the line after the number is ignored.
_SCORE = re.compile(r"^\s*(?:score\s*[:=]?\s*)?(\d{1,3})(?!\d)", re.IGNORECASE)


def parse_score(completion: str) -> int | None:
    """The integer 0–100 on the first line of ``completion``, or ``None``."""
    if not isinstance(completion, str):
        return None
    first = completion.strip().split("\n", 1)[0] if completion.strip() else ""
    match = _SCORE.match(first)
    if match is None:
        return None
    value = int(match.group(1))
    return value if 0 <= value <= 100 else None


def mllm_prompt(metric: str, caption: str) -> str:
    return PROMPTS[metric].format(caption=caption)


class PairValidator:
    """Per-row preprocessing: check that the pair decodes (the model reads the file itself)."""

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        pair = read_row(row)
        return {
            # A plain file is read by the model itself; an image inside a tar shard or a
            # parquet cell goes to it decoded (the source is never extracted to disk).
            "image_path": row.get(IMAGE_COLUMN) if image_in_file(row) else pair.image,
            "caption": pair.caption if pair.ok else "",
            "status": pair.status,
            "reason": pair.reason,
        }


def _score_batch(generate: GenerateFn, metrics: Sequence[str], batch: Mapping[str, Any]
                 ) -> dict[str, Sequence[Any]]:
    status = np.asarray(batch["status"], dtype=object)
    ok = np.flatnonzero(status == SUCCESS)  # rows that decoded: one prompt per metric each
    requests = [
        (mllm_prompt(m, batch["caption"][i]), batch["image_path"][i]) for i in ok for m in metrics
    ]
    completions = generate(requests) if requests else []
    if len(completions) != len(requests):
        raise ValueError(
            f"generate_fn returned {len(completions)} completions for {len(requests)} prompts"
        )
    grid = np.empty((len(ok), len(metrics)), dtype=object)  # row x metric completions
    grid[:] = np.asarray(completions, dtype=object).reshape(len(ok), len(metrics))
    reasons = np.asarray(batch["reason"], dtype=object).copy()
    out: dict[str, Any] = {}
    for j, metric in enumerate(metrics):
        score = np.full(len(status), np.nan)
        metric_status = np.where(status == SUCCESS, PARSE_ERROR, DECODE_ERROR).astype(object)
        for row, completion in zip(ok, grid[:, j], strict=True):
            value = parse_score(completion)
            if value is None:
                reasons[row] = f"{reasons[row]}; " if reasons[row] else ""
                reasons[row] += f"{metric} answer unparseable: {str(completion)[:40]!r}"
            else:
                score[row] = value
                metric_status[row] = SUCCESS
        out[metric] = score
        out[f"{metric}_status"] = metric_status
    out["reason"] = reasons
    return out


def mllm_batch_fn_factory(generate_factory: Callable[[], GenerateFn], metrics: Sequence[str]
                          ) -> Callable[[], Callable[[Mapping[str, Any]], dict]]:
    """``fn_factory`` for the executor: loads the VLM once (per worker) via ``generate_factory``."""
    unknown = sorted(set(metrics) - set(PROMPTS))
    if unknown:
        raise ValueError(f"mllm.metrics: unknown metric(s) {unknown}; known: {list(PROMPTS)}")

    def factory() -> Callable[[Mapping[str, Any]], dict]:
        generate = generate_factory()
        return lambda batch: _score_batch(generate, tuple(metrics), batch)

    return factory


def vlm_generate_factory(
    scorer: Mapping[str, Any], max_new_tokens: int,
    generation: Mapping[str, Any] | GenerationParams | None = None,
) -> tuple[Callable[[], GenerateFn], str]:
    """A ``generate_fn`` factory for the VLM of spec ``models.scorer``, and its identity key.

    The factory loads the model when called (once per executor worker) on the engine
    ``generation`` names (``hf`` or ``vllm``); generation is greedy with ``max_new_tokens`` new
    tokens, one user turn per prompt with the pair's image.
    """
    from datarecipes.config import from_params
    from datarecipes.models import ModelSpec

    spec = ModelSpec.from_params(scorer, where="parameters_models.yml: models.scorer")
    engine = generation if isinstance(generation, GenerationParams) else from_params(
        GenerationParams, generation or {}, where="parameters_models.yml: generation")
    factory = functools.partial(_vlm_generate_fn, spec, engine, max_new_tokens)
    return factory, repr((spec, engine.engine, max_new_tokens))


def _vlm_generate_fn(spec: Any, engine: GenerationParams, max_new_tokens: int) -> GenerateFn:
    from datarecipes.engines import load_generator

    generator = load_generator(spec, engine)

    def generate_fn(requests: list[tuple[str, str]]) -> list[str]:
        conversations = [[{"role": "user", "content": prompt}] for prompt, _ in requests]
        images = [image for _, image in requests]
        outputs = generator.generate(conversations, images, max_new_tokens=max_new_tokens,
                                     temperature=0.0)
        return [completions[0] for completions in outputs]

    return generate_fn


def score_mllm(
    pairs: pd.DataFrame,
    generate_factory: Callable[[], GenerateFn],
    executor: Executor,
    *,
    metrics: Sequence[str] = METRICS,
    batch_size: int,
    shard_size: int,
    model_key: str,
    resume_dir: str | Path | None = None,
) -> tuple[pd.DataFrame, ShardStats]:
    """MLLM scores → ``[image_id, <metric>, <metric>_status, ..., reason]``, resumable per shard.

    ``model_key`` identifies the model and decoding settings; together with the prompts it
    names the resume directory, so changing either never reuses stale scores.
    """
    directory = None
    if resume_dir is not None:
        key = repr((model_key, tuple(metrics), [PROMPTS[m] for m in metrics]))
        directory = Path(resume_dir) / f"mllm-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    rows = pairs[input_columns(pairs)]
    scores, stats = map_shards(
        executor, mllm_batch_fn_factory(generate_factory, metrics), rows,
        id_column=ID_COLUMN, name="mllm", shard_size=shard_size, batch_size=batch_size,
        directory=directory, preprocess=PairValidator(),
    )
    return scores, stats


def status_counts(scores: pd.DataFrame, metrics: Sequence[str]) -> dict[str, int]:
    """``{"<metric>_<status>": count}`` for every metric and status."""
    counts: dict[str, int] = {}
    for metric in metrics:
        column = scores.get(f"{metric}_status", pd.Series(dtype=object))
        for status in (SUCCESS, PARSE_ERROR, DECODE_ERROR):
            counts[f"{metric}_{status}"] = int((column == status).sum())
    return counts

"""MLLM scores (MLM-Filter): a VLM rates each pair 0–100 on four quality metrics.

MLM-Filter (@7c4cd80) asks a fine-tuned VLM one question per metric and reads an integer
0–100 from the first line of a greedy generation of one or two tokens; only rows with
``status == "success"`` count. Two prompt sets (``filtering.mllm.prompts``): ``reference`` is
the reference's, byte for byte (``mlm_filter_scoring_datacomp_batch_inference_v2.py``, the
script its ``run_inference.sh`` runs for the Qwen2.5 / Llama-3 MLM-Filter models), which the
MLM-Filter checkpoints were trained on and the thresholds were calibrated with; ``ours`` are
shorter paraphrases for instruct VLMs that were not. The model is abstracted as ``generate_fn``:
``[(prompt, image_path), ...] -> [completion, ...]`` (greedy, few new tokens), so scoring,
parsing and statuses are independent of the model and testable with a fake.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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

if TYPE_CHECKING:  # the models package loads torch and transformers: only when scoring
    from datarecipes.models import ModelParams

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

#: ``reference`` = MLM-Filter's prompts byte for byte; ``ours`` = :data:`PROMPTS`.
PromptStyle = Literal["reference", "ours"]

# The reference's instruction template and per-metric criteria, byte for byte
# (mlm_filter_scoring_datacomp_batch_inference_v2.py: LLAVA_INSTRUCTION_TEMPLATE, criteria_*).
# Its "scale of 1-100" in the criteria against "0 to 100" in the template is the reference's.
REFERENCE_TEMPLATE = (
    "Text Caption: {caption}\n"
    "\n"
    "{criteria} A higher score indicates higher level of {aspect}. Ensure that your scoring is "
    "nuanced and uses the entire range from 0 to 100, reflecting the subtle differences. The "
    "score should be given as an integer, with each number between 0 and 100 considered as a "
    "potential score, avoiding the tendency to round to multiples of 5 or 10. Please first "
    "output a single line containing the value indicating the scores. In the subsequent line, "
    "please provide a comprehensive explanation of your evaluation, avoiding any potential "
    "bias."
)
REFERENCE_CRITERIA: dict[str, str] = {
    "itm": (
        "Please evaluate if the provided text caption accurately represents the main features "
        "and objects of the image. The caption doesn't need to detail every aspect of the "
        "image, but it should capture its primary theme. Rate the overall quality of the text "
        "caption's match to the image on a scale of 1-100, considering the criteria mentioned."
    ),
    "odf": (
        "Please evaluate the text caption to determine if it provides detailed descriptions of "
        "objects that align with the image. Specifically, assess if the caption sufficiently "
        "describes the color, size, position, shape, material, etc., of the objects. "
        "Afterward, rate the caption's overall accuracy in capturing object details from the "
        "image on a scale of 1-100, based on the criteria provided."
    ),
    "ctq": (
        "Please evaluate the text caption based on the following criteria: Grammatical "
        "Correctness, Diversity of Vocabulary (e.g., the range and uniqueness of words used), "
        "Fluency (e.g., smoothness and natural flow of sentences), Readability, Length, and "
        "Structure. Assign an overall quality score on a scale of 1-100."
    ),
    "su": (
        "Evaluate the given text caption in relation to its corresponding image. Your goal is "
        "to determine if the text caption provides additional semantic information that isn't "
        "readily apparent just from the image itself.\n"
        "\n"
        "For example:\n"
        "\n"
        "1. If the image mentions \"a man\" but the caption elaborates he is a \"homeless "
        "man\" or a \"businessman,\" then the caption is enriching the semantic context.\n"
        "2. If the caption introduces concepts like the mathematical tangent function, which "
        "require in-depth knowledge to deduce, it is imparting external semantics.\n"
        "3. Captions revealing specific location addresses, festival details, or other nuanced "
        "data not easy to infer from the image also provide external semantic information.\n"
        "4. Directly identifying specific entities in the image such as buildings, people, "
        "bird species, animal breeds, car models, engines, etc., in the caption introduces "
        "additional insights.\n"
        "5. Should the image act as a contextual backdrop and the caption describes elements "
        "not explicitly showcased in the image, it has semantic depth.\n"
        "6. Lastly, if the caption depicts relationships between the subjects in the image, "
        "which need commonsense knowledge to understand, it should be considered semantically "
        "rich.\n"
        "\n"
        "Please assess and determine the extent of semantic enrichment the caption provides "
        "over the image. Rate the text caption's semantic depth on a scale from 1 to 100."
    ),
}

#: The reference's task names: ``aspect`` in the template is the name with spaces.
REFERENCE_TASKS: dict[str, str] = {
    "itm": "image_text_matching",
    "odf": "object_detail_fulfillment",
    "ctq": "caption_text_quality",
    "su": "semantic_understanding",
}

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


def mllm_prompt(metric: str, caption: str, style: PromptStyle = "ours") -> str:
    """The user text that asks for ``metric``'s score of ``caption`` (the image goes before it,
    as the reference's ``<image>\\n`` does)."""
    if style == "reference":
        return REFERENCE_TEMPLATE.format(caption=caption, criteria=REFERENCE_CRITERIA[metric],
                                         aspect=REFERENCE_TASKS[metric].replace("_", " "))
    if style != "ours":
        raise ValueError(f"mllm.prompts must be 'reference' or 'ours', got {style!r}")
    return PROMPTS[metric].format(caption=caption)


def prompt_templates(metrics: Sequence[str], style: PromptStyle) -> list[str]:
    """The prompt of each metric with a placeholder caption: what names a resume directory."""
    return [mllm_prompt(m, "{caption}", style) for m in metrics]


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


def _score_batch(generate: GenerateFn, metrics: Sequence[str], batch: Mapping[str, Any],
                 style: PromptStyle = "ours") -> dict[str, Sequence[Any]]:
    status = np.asarray(batch["status"], dtype=object)
    ok = np.flatnonzero(status == SUCCESS)  # rows that decoded: one prompt per metric each
    requests = [
        (mllm_prompt(m, batch["caption"][i], style), batch["image_path"][i])
        for i in ok for m in metrics
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


def mllm_batch_fn_factory(generate_factory: Callable[[], GenerateFn], metrics: Sequence[str],
                          style: PromptStyle = "ours",
                          ) -> Callable[[], Callable[[Mapping[str, Any]], dict]]:
    """``fn_factory`` for the executor: loads the VLM once (per worker) via ``generate_factory``."""
    unknown = sorted(set(metrics) - set(PROMPTS))
    if unknown:
        raise ValueError(f"mllm.metrics: unknown metric(s) {unknown}; known: {list(PROMPTS)}")

    def factory() -> Callable[[Mapping[str, Any]], dict]:
        generate = generate_factory()
        return lambda batch: _score_batch(generate, tuple(metrics), batch, style)

    return factory


def vlm_generate_factory(
    scorer: ModelParams, max_new_tokens: int, generation: GenerationParams | None = None,
) -> tuple[Callable[[], GenerateFn], str]:
    """A ``generate_fn`` factory for the VLM of spec ``models.scorer``, and its identity key.

    The factory loads the model when called (once per executor worker) on the engine
    ``generation`` names (``hf`` or ``vllm``; default ``GenerationParams()``); generation is
    greedy with ``max_new_tokens`` new tokens, one user turn per prompt with the pair's image.
    """
    engine = GenerationParams() if generation is None else generation
    factory = functools.partial(_vlm_generate_fn, scorer, engine, max_new_tokens)
    return factory, repr((scorer, engine.engine, max_new_tokens))


def _vlm_generate_fn(spec: ModelParams, engine: GenerationParams, max_new_tokens: int
                     ) -> GenerateFn:
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
    prompts: PromptStyle = "ours",
) -> tuple[pd.DataFrame, ShardStats]:
    """MLLM scores → ``[image_id, <metric>, <metric>_status, ..., reason]``, resumable per shard.

    ``model_key`` identifies the model and decoding settings; together with the prompts it
    names the resume directory, so changing either never reuses stale scores.
    """
    directory = None
    if resume_dir is not None:
        key = repr((model_key, tuple(metrics), prompt_templates(metrics, prompts)))
        directory = Path(resume_dir) / f"mllm-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    rows = pairs[input_columns(pairs)]
    scores, stats = map_shards(
        executor, mllm_batch_fn_factory(generate_factory, metrics, prompts), rows,
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

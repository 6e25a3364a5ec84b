"""CLIP score: cosine similarity of a pair's normalised image and text embeddings.

The DataComp/Open-Qwen2VL filters threshold ``clip_b32_similarity_score`` (e.g. >= 0.28 for
laion2b, methods.md §4). Scoring is batched end to end: images are decoded, transformed and
tokenised per row in executor workers (:class:`ClipRowDecoder`); the batch function does one
image and one text forward per batch and a vectorised cosine — no per-sample Python there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from datarecipes.executors import Executor, ShardStats, map_shards
from datarecipes.filtering.inputs import (
    DECODE_ERROR,
    ID_COLUMN,
    SUCCESS,
    input_columns,
    read_row,
)
from datarecipes.models.clip import LoadedClip, state_fingerprint


class ClipRowDecoder:
    """Per-row preprocessing: decode the pair, apply the CLIP transform, tokenise the caption.

    A row that cannot be decoded gets zero pixels/tokens (so the batch still stacks) and
    ``status="decode_error"`` with the reason; the batch function never scores it.
    """

    def __init__(self, transform: Callable[[Any], torch.Tensor],
                 tokenizer: Callable[[list[str]], torch.Tensor], image_size: int) -> None:
        self.transform = transform
        self.tokenizer = tokenizer
        self.image_size = image_size
        self.context_length = int(tokenizer(["x"]).shape[-1])

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        pair = read_row(row)
        if pair.ok:
            try:
                pixels = self.transform(pair.image)
                tokens = self.tokenizer([pair.caption])[0]
            except Exception as err:  # noqa: BLE001 - a bad sample must not kill the shard
                return self._failed(f"preprocessing failed: {err}")
            return {"pixels": pixels, "tokens": tokens, "status": SUCCESS, "reason": ""}
        return self._failed(pair.reason)

    def _failed(self, reason: str) -> dict[str, Any]:
        return {
            "pixels": torch.zeros(3, self.image_size, self.image_size),
            "tokens": torch.zeros(self.context_length, dtype=torch.long),
            "status": DECODE_ERROR,
            "reason": reason,
        }


def decoder_for(loaded: LoadedClip) -> ClipRowDecoder:
    return ClipRowDecoder(loaded.preprocess, loaded.tokenizer, loaded.image_size)


@torch.inference_mode()
def clip_similarity(model: torch.nn.Module, pixels: torch.Tensor, tokens: torch.Tensor
                    ) -> torch.Tensor:
    """Cosine similarity of each image with its own caption (one forward per tower)."""
    image = model.encode_image(pixels, normalize=True)
    text = model.encode_text(tokens, normalize=True)
    return (image * text).sum(dim=-1)


def _score_batch(loaded: LoadedClip, batch: Mapping[str, Any]) -> dict[str, Sequence[Any]]:
    status = np.asarray(batch["status"], dtype=object)
    ok = torch.from_numpy(status == SUCCESS)
    scores = np.full(len(status), np.nan, dtype=np.float32)
    if bool(ok.any()):
        device = next(loaded.model.parameters()).device
        pixels = torch.as_tensor(batch["pixels"])[ok].to(device)
        tokens = torch.as_tensor(batch["tokens"])[ok].to(device)
        scores[ok.numpy()] = clip_similarity(loaded.model, pixels, tokens).float().cpu().numpy()
    return {"clip": scores, "status": status, "reason": np.asarray(batch["reason"], dtype=object)}


def clip_batch_fn_factory(loaded: LoadedClip) -> Callable[[], Callable[[Mapping[str, Any]], dict]]:
    """``fn_factory`` for :meth:`Executor.map_batches` (picklable: a Ray actor can build it)."""

    def factory() -> Callable[[Mapping[str, Any]], dict]:
        loaded.model.eval()
        return functools.partial(_score_batch, loaded)

    return factory


def score_clip(
    pairs: pd.DataFrame,
    loaded: LoadedClip,
    executor: Executor,
    *,
    batch_size: int,
    shard_size: int,
    resume_dir: str | Path | None = None,
) -> tuple[pd.DataFrame, ShardStats]:
    """CLIP scores of ``pairs`` → ``[image_id, clip, status, reason]``, resumable per shard.

    Results go to ``resume_dir/clip-<weights hash>/`` so a retrained model never reuses
    another model's scores.
    """
    directory = None
    if resume_dir is not None:
        directory = Path(resume_dir) / f"clip-{state_fingerprint(loaded.model)}"
    rows = pairs[input_columns(pairs)]
    scores, stats = map_shards(
        executor, clip_batch_fn_factory(loaded), rows,
        id_column=ID_COLUMN, name="clip", shard_size=shard_size, batch_size=batch_size,
        directory=directory, preprocess=decoder_for(loaded),
    )
    if len(scores) == 0:
        scores = pd.DataFrame({ID_COLUMN: [], "clip": [], "status": [], "reason": []})
    return scores, stats

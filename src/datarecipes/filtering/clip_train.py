"""Contrastive training of a CLIP (open_clip's ``ClipLoss``) and image-text retrieval recall.

Used twice by the filtering recipe: to train the offline scorer (there is no pretrained CLIP
offline; the tiny CLIP trained on clean pairs plays the part of the DFN/OpenAI CLIP that scores
a web pool), and for the ``pretrain`` comparison, where the same model is trained for the same
number of steps on unfiltered vs filtered pairs and evaluated by held-out retrieval.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from datarecipes.config import require
from datarecipes.executors import LocalExecutor
from datarecipes.filtering.clip_score import decoder_for
from datarecipes.filtering.inputs import ID_COLUMN, SUCCESS, input_columns
from datarecipes.models.clip import LoadedClip, load_clip

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipTrainParams:
    """Contrastive training of a CLIP."""

    #: Optimiser steps (the same for every run that is compared).
    steps: int = 300
    #: Pairs per step; the contrastive task has batch_size - 1 negatives per pair.
    batch_size: int = 64
    #: Peak AdamW learning rate (after linear warm-up, then cosine decay to 0).
    learning_rate: float = 1e-3
    #: Steps of linear warm-up.
    warmup_steps: int = 20
    #: AdamW decoupled weight decay.
    weight_decay: float = 0.1
    #: Seed of initialisation and batch order.
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        require(self.batch_size >= 2, f"batch_size must be >= 2, got {self.batch_size}")
        require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        require(0 <= self.warmup_steps, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")


@dataclass
class EncodedPairs:
    """Pairs decoded once into model inputs (small worlds fit in memory)."""

    ids: np.ndarray
    pixels: torch.Tensor
    tokens: torch.Tensor
    skipped: int


def encode_pairs(pairs: pd.DataFrame, loaded: LoadedClip, *, batch_size: int = 256,
                 num_workers: int = 0) -> EncodedPairs:
    """Decode, transform and tokenise every pair; undecodable pairs are skipped and counted."""
    decoder = decoder_for(loaded)

    def factory():
        return lambda batch: {"pixels": list(batch["pixels"]), "tokens": list(batch["tokens"]),
                              "status": batch["status"]}

    rows = pairs[input_columns(pairs)]
    out = LocalExecutor(num_workers=num_workers).map_batches(
        factory, rows, batch_size=batch_size, preprocess=decoder, desc="decode pairs"
    )
    if len(out) == 0:
        raise ValueError("encode_pairs: no pairs given")
    ok = (out["status"] == SUCCESS).to_numpy()
    if not ok.any():
        raise ValueError(f"encode_pairs: none of the {len(out)} pairs could be decoded")
    return EncodedPairs(
        ids=rows[ID_COLUMN].to_numpy()[ok],
        pixels=torch.stack([p for p, k in zip(out["pixels"], ok, strict=True) if k]),
        tokens=torch.stack([t for t, k in zip(out["tokens"], ok, strict=True) if k]),
        skipped=int((~ok).sum()),
    )


def subset_pairs(encoded: EncodedPairs, ids) -> EncodedPairs:
    """The pairs of ``encoded`` whose id is in ``ids``, in ``encoded``'s order, without decoding
    again; ``skipped`` counts the ids that ``encoded`` lacks (they did not decode)."""
    wanted = {str(i) for i in ids}
    index = np.flatnonzero(np.isin(encoded.ids.astype(str), list(wanted)))
    return EncodedPairs(ids=encoded.ids[index], pixels=encoded.pixels[index],
                        tokens=encoded.tokens[index], skipped=len(wanted) - len(index))


def _learning_rate(step: int, params: ClipTrainParams) -> float:
    if step < params.warmup_steps:
        return params.learning_rate * (step + 1) / params.warmup_steps
    progress = (step - params.warmup_steps) / max(1, params.steps - params.warmup_steps)
    return params.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


def train_clip_contrastive(loaded: LoadedClip, data: EncodedPairs, params: ClipTrainParams
                           ) -> list[float]:
    """Train ``loaded.model`` in place for ``params.steps`` steps; returns the loss per step.

    Batches are drawn epoch by epoch from a seeded permutation (without replacement within an
    epoch), so two runs on data sets of different size see the same number of steps.
    """
    from open_clip.loss import ClipLoss
    from tqdm.auto import tqdm

    model = loaded.model
    n = len(data.ids)
    require(n >= 2, f"contrastive training needs at least 2 pairs, got {n}")
    batch_size = min(params.batch_size, n)
    generator = torch.Generator().manual_seed(params.seed)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
    )
    loss_fn = ClipLoss()
    order = torch.randperm(n, generator=generator)
    cursor = 0
    losses: list[float] = []
    model.train()
    for step in tqdm(range(params.steps), desc="clip contrastive", leave=False):
        if cursor + batch_size > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        index = order[cursor : cursor + batch_size]
        cursor += batch_size
        for group in optimiser.param_groups:
            group["lr"] = _learning_rate(step, params)
        image_features, text_features, logit_scale = model(data.pixels[index], data.tokens[index])
        loss = loss_fn(image_features, text_features, logit_scale)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        with torch.no_grad():  # open_clip's training clamps the temperature to at most 100
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(float(loss.detach()))
    model.eval()
    return losses


@torch.inference_mode()
def retrieval_recall(loaded: LoadedClip, data: EncodedPairs, ks: tuple[int, ...] = (1, 5),
                     batch_size: int = 256) -> dict[str, float]:
    """Image→text and text→image recall@k of each pair against all pairs in ``data``."""
    model = loaded.model
    model.eval()
    images = torch.cat([model.encode_image(data.pixels[i : i + batch_size], normalize=True)
                        for i in range(0, len(data.ids), batch_size)])
    texts = torch.cat([model.encode_text(data.tokens[i : i + batch_size], normalize=True)
                       for i in range(0, len(data.ids), batch_size)])
    similarity = images @ texts.T
    truth = similarity.diagonal().unsqueeze(1)
    # Rank of the truth = number of *other* candidates scoring at least as high: ties count
    # against the model, so a collapsed model (all embeddings equal) scores recall 0, not 1.
    rank_i2t = (similarity >= truth).sum(dim=1) - 1
    rank_t2i = (similarity.T >= truth).sum(dim=1) - 1
    metrics = {}
    for k in ks:
        metrics[f"image_to_text_recall_at_{k}"] = float((rank_i2t < k).float().mean())
        metrics[f"text_to_image_recall_at_{k}"] = float((rank_t2i < k).float().mean())
    return metrics


def pretrain_clip(model: str, data: EncodedPairs, heldout: EncodedPairs,
                  training: ClipTrainParams, recall_at: tuple[int, ...] = (1, 5)
                  ) -> tuple[dict[str, float], list[float]]:
    """Train CLIP ``model`` from scratch on ``data`` and measure its held-out retrieval:
    (``pairs``, ``steps``, ``samples_seen``, ``final_loss`` and :func:`retrieval_recall` on
    ``heldout``; the loss per step).

    The initialisation is seeded by ``training.seed`` (as the batch order is), so two calls
    with one seed differ only in their data. ``samples_seen`` = steps × pairs per step, the
    compute DataComp holds equal across filters.
    """
    torch.manual_seed(training.seed)
    loaded = load_clip(model)
    losses = train_clip_contrastive(loaded, data, training)
    metrics = {
        "pairs": float(len(data.ids)),
        "steps": float(len(losses)),
        "samples_seen": float(len(losses) * min(training.batch_size, len(data.ids))),
        "final_loss": float(np.mean(losses[-10:])),
        **retrieval_recall(loaded, heldout, recall_at),
    }
    return metrics, losses

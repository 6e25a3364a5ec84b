"""Multimodal sequence packing: first-fit-decreasing into sequences of a given capacity.

Open-Qwen2VL (``mm_sequence_packing``) packs each shard's samples first-fit-decreasing into
4096-token sequences, a sample's length being its text tokens plus 144 tokens per image. Here
the capacity is a parameter, the length comes from the caller (whatever the processor reports),
samples longer than the capacity are dropped and counted, and the algorithm is O(n log n):
a max segment tree over the bins' remaining capacities finds the leftmost bin that still fits
a sample in O(log n) — the reference scans all open bins for every sample (quadratic).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Packing:
    """Where first-fit-decreasing put each sample."""

    #: Bin (sequence) index per sample; -1 for a dropped (over-long) sample.
    bin: np.ndarray
    #: Token offset of the sample inside its bin; -1 when dropped.
    offset: np.ndarray
    #: Number of bins used.
    n_bins: int
    capacity: int

    @property
    def kept(self) -> np.ndarray:
        return self.bin >= 0

    def bin_loads(self, lengths: np.ndarray) -> np.ndarray:
        """Tokens used in each bin."""
        return np.bincount(self.bin[self.kept], weights=lengths[self.kept],
                           minlength=self.n_bins).astype(np.int64)


def first_fit_decreasing(lengths: np.ndarray, capacity: int) -> Packing:
    """Pack ``lengths`` into bins of ``capacity`` tokens, first-fit-decreasing.

    Samples are visited longest first (ties by index, so the result is deterministic) and
    each goes into the lowest-numbered bin with room, opening a new bin when none has.
    Zero-length samples are packed (they take no room); lengths above ``capacity`` and
    negative lengths are dropped.
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"lengths must be a 1-D integer array, got {lengths.dtype}{lengths.shape}")
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    n = len(lengths)
    bins = np.full(n, -1, dtype=np.int64)
    offsets = np.full(n, -1, dtype=np.int64)
    fits = (lengths >= 0) & (lengths <= capacity)
    order = np.flatnonzero(fits)
    order = order[np.argsort(-lengths[order], kind="stable")]
    if len(order) == 0:
        return Packing(bins, offsets, 0, capacity)
    sorted_lengths = lengths[order].astype(np.int64)

    # Samples longer than half the capacity never share a bin with each other, and come
    # first in decreasing order: each opens its own bin, vectorised.
    big = int(np.count_nonzero(2 * sorted_lengths > capacity))
    bins[order[:big]] = np.arange(big)
    offsets[order[:big]] = 0

    # First fit wastes less than half of every bin but one, so it never needs more than
    # 2 * total / capacity + 1 bins: size the tree for that, not for n.
    total = int(sorted_lengths.sum())
    max_bins = min(len(order), 2 * math.ceil(total / capacity) + 1)
    size = 1 << max(0, (max_bins - 1).bit_length())
    # Max segment tree as a flat Python list (faster element access than numpy in the loop):
    # leaves size..2*size-1 hold remaining capacity; unopened bins hold the full capacity.
    tree = [capacity] * (2 * size)
    for b in range(big):
        tree[size + b] = capacity - int(sorted_lengths[b])
    for node in range(size - 1, 0, -1):
        left, right = tree[2 * node], tree[2 * node + 1]
        tree[node] = left if left >= right else right
    n_bins = big
    rest = sorted_lengths[big:].tolist()
    rest_bins = [0] * len(rest)
    rest_offsets = [0] * len(rest)
    for k, length in enumerate(rest):
        node = 1  # descend to the leftmost leaf with remaining >= length
        while node < size:
            node <<= 1
            if tree[node] < length:
                node += 1
        b = node - size
        remaining = tree[node]
        rest_bins[k] = b
        rest_offsets[k] = capacity - remaining
        tree[node] = remaining - length
        if b >= n_bins:
            n_bins = b + 1
        node >>= 1
        while node:  # restore the max on the path to the root
            left, right = tree[2 * node], tree[2 * node + 1]
            best = left if left >= right else right
            if tree[node] == best:
                break
            tree[node] = best
            node >>= 1
    bins[order[big:]] = rest_bins
    offsets[order[big:]] = rest_offsets
    return Packing(bins, offsets, n_bins, capacity)


def packing_metrics(packing: Packing, lengths: np.ndarray) -> dict[str, float]:
    """Fill ratio, bins vs the lower bound, and sample/token loss of a packing."""
    lengths = np.asarray(lengths)
    kept = packing.kept
    used = int(lengths[kept].sum())
    lower_bound = math.ceil(used / packing.capacity) if used else 0
    n = len(lengths)
    return {
        "n_samples": float(n),
        "n_kept": float(kept.sum()),
        "n_dropped_too_long": float(n - kept.sum()),
        "sample_loss": float((n - kept.sum()) / n) if n else 0.0,
        "token_loss": float(lengths[~kept].clip(min=0).sum() / max(1, lengths.clip(min=0).sum())),
        "n_bins": float(packing.n_bins),
        "bins_lower_bound": float(lower_bound),
        "fill_ratio": float(used / (packing.n_bins * packing.capacity)) if packing.n_bins else 0.0,
    }


def sample_lengths(captions: list[str], text_tokens: Callable[[list[str]], list[int]],
                   image_tokens: int | Sequence[int]) -> np.ndarray:
    """Sample length = text tokens + image tokens, as the caller's processor counts them.

    ``text_tokens`` maps captions to their token counts (the target model's tokenizer);
    ``image_tokens`` is the image token count per sample, or one count for all (the
    reference: 144 per image).
    """
    text = np.asarray(text_tokens(list(captions)), dtype=np.int64)
    if text.shape != (len(captions),):
        raise ValueError(f"text_tokens returned {text.shape} counts for {len(captions)} captions")
    return text + np.asarray(image_tokens, dtype=np.int64)


def text_token_counter(tokenizer: str | None = None) -> Callable[[list[str]], list[int]]:
    """Caption -> text token count, for :func:`sample_lengths`.

    ``tokenizer`` null: the CLIP tokenizer (open_clip's ``SimpleTokenizer``, + start and end of
    text) — the only one the CPU default has, since it pretrains a CLIP. Otherwise a hub id or
    local directory of the *trained model's* tokenizer, counted as Open-Qwen2VL's
    ``sequence_packing_image_to_pil.py:preprocess_caption`` does: BOS + ``"<image>\\n" +
    caption`` (the image placeholder is one id, which ``image_tokens`` = 144 covers: 143 + 1)
    + EOS, so a caption's length is ``len(tokenize("\\n" + caption)) + 2``. Its remote code is
    never run.
    """
    if tokenizer is None:
        import open_clip

        clip = open_clip.SimpleTokenizer()
        return lambda captions: [len(clip.encode(c)) + 2 for c in captions]
    from transformers import AutoTokenizer

    local = Path(tokenizer).expanduser().is_dir()
    hf = AutoTokenizer.from_pretrained(
        tokenizer, trust_remote_code=False,
        local_files_only=local or os.environ.get("HF_HUB_OFFLINE") == "1",
    )

    def count(captions: list[str]) -> list[int]:
        ids = hf(["\n" + c for c in captions], add_special_tokens=False)["input_ids"]
        return [len(x) + 2 for x in ids]  # + BOS + EOS, as the reference adds them

    return count

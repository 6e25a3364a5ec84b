"""Text normalisation and shingling, shared by exact and near-duplicate text dedup.

Shingles are hashed in bulk: each distinct word is hashed once (BLAKE2b, stable across
processes and machines, unlike Python's ``hash``), and n-gram hashes are rolled in numpy over
the whole batch, so no per-shingle Python runs.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from datarecipes.dedup.params import DEFAULT_NORM, TextNormParams

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+", re.UNICODE)
#: Odd 64-bit multiplier of the rolling n-gram hash.
_ROLL = np.uint64(0x9E3779B97F4A7C15)
_MASK32 = np.uint64(0xFFFFFFFF)


def normalise_text(text: str, params: TextNormParams = DEFAULT_NORM) -> str:
    """``text`` as compared: NFKC, case-folded, punctuation → spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    if params.casefold:
        text = text.casefold()
    if params.strip_punctuation:
        text = _PUNCT.sub(" ", text)
    if params.collapse_whitespace:
        text = _SPACE.sub(" ", text)
    return text.strip()


def text_digest(normalised: str) -> str:
    """Content hash of normalised text (hex SHA-256)."""
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


@lru_cache(maxsize=1 << 20)
def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def _roll(units: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Rolling hash of every length-``n`` window of ``units`` that starts at ``starts``."""
    acc = np.zeros(len(starts), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            acc = acc * _ROLL + units[starts + k]
    return acc


def shingle_hashes(texts: Sequence[str], kind: str, n: int, *, bits: int = 32
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``bits``-bit hashes (32: MinHash's input; or 64) of the shingles of normalised ``texts``.

    Returns ``(hashes, owner)``: one hash per shingle and the index of the text it came from,
    grouped by text in order. ``word`` shingles are word n-grams, ``char`` shingles character
    n-grams; a text shorter than ``n`` units is one shingle; an empty text has none. Repeated
    shingles of a text are kept (MinHash takes a minimum, so they do not matter).
    """
    units_per_text: list[np.ndarray] = []
    for text in texts:
        if kind == "word":
            units_per_text.append(np.fromiter((_word_hash(w) for w in text.split()),
                                              dtype=np.uint64))
        elif kind == "char":
            units_per_text.append(
                np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64))
        else:
            raise ValueError(f"shingle kind must be 'word' or 'char', got {kind!r}")
    lengths = np.array([len(u) for u in units_per_text], dtype=np.int64)
    if lengths.sum() == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    units = np.concatenate(units_per_text)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    # Full windows: positions p of text t with p + n <= its end.
    windows = np.maximum(lengths - n + 1, 0)
    owner_full = np.repeat(np.arange(len(texts)), windows)
    starts = (np.arange(windows.sum()) - np.repeat(np.cumsum(windows) - windows, windows)
              + np.repeat(offsets, windows))
    hashes = _roll(units, starts, n)
    # Texts shorter than n (but not empty): one shingle of all their units.
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    if len(short):
        extra = np.array([_roll(units, offsets[t : t + 1], int(lengths[t]))[0] for t in short],
                         dtype=np.uint64)
        hashes = np.concatenate([hashes, extra])
        owner_full = np.concatenate([owner_full, short])
        order = np.argsort(owner_full, kind="stable")
        hashes, owner_full = hashes[order], owner_full[order]
    if bits == 32:
        hashes = (hashes ^ (hashes >> np.uint64(32))) & _MASK32
    return hashes, owner_full.astype(np.int64)


def ngram_sets(texts: Sequence[str], n: int) -> list[set[int]]:
    """Distinct 64-bit word n-gram hashes of each normalised text (decontamination: 64 bits,
    so a million pool questions against a large eval set meet no chance collision)."""
    hashes, owner = shingle_hashes(texts, "word", n, bits=64)
    out: list[set[int]] = [set() for _ in texts]
    bounds = np.searchsorted(owner, np.arange(len(texts) + 1))
    for t in range(len(texts)):
        out[t] = set(hashes[bounds[t] : bounds[t + 1]].tolist())
    return out

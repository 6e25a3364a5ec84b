"""Batch functions for the Ray executor tests (shipped to Ray workers by value).

A tiny two-tower scorer built from a fixed seed: each row's 8x8 "image" and token vector are
embedded, normalised and compared by cosine, as CLIP scoring does. Every ``fn_factory`` call
leaves a file in ``calls_dir`` (one per model load) and every output row carries the pid of
the process that scored it, so tests can count model loads per actor.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch


def make_rows(n: int, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "image_id": [f"img{i:03d}" for i in range(n)],
            "pixels": list(rng.integers(0, 256, size=(n, 3, 8, 8), dtype=np.uint8)),
            "tokens": list(rng.normal(size=(n, 6)).astype(np.float32)),
            "caption": [f"caption {i}" if i % 7 else None for i in range(n)],
        }
    )


def decode(row: dict[str, Any]) -> dict[str, Any]:
    """Per-row preprocessing: uint8 image → float tensor in [0, 1], as a CLIP transform does."""
    caption = row["caption"] if isinstance(row["caption"], str) else ""  # missing: NaN / None
    return {
        "pixels": torch.as_tensor(np.asarray(row["pixels"]), dtype=torch.float32) / 255.0,
        "tokens": torch.as_tensor(np.asarray(row["tokens"])),
        "status": "success" if caption else "decode_error",
        "n_words": len(caption.split()) if caption else 0,
    }


class TwoTowerFactory:
    """``fn_factory``: builds the seeded model (once per call) and returns the batch function."""

    def __init__(self, calls_dir: str | Path, crash_on: str | None = None,
                 crash_marker: str | Path | None = None) -> None:
        self.calls_dir = str(calls_dir)
        self.crash_on = crash_on
        self.crash_marker = str(crash_marker) if crash_marker else None

    def __call__(self):
        Path(self.calls_dir).mkdir(parents=True, exist_ok=True)
        (Path(self.calls_dir) / f"{os.getpid()}-{uuid.uuid4().hex}").write_text("")
        torch.manual_seed(1234)
        image_tower = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 16))
        text_tower = torch.nn.Linear(6, 16)

        @torch.inference_mode()
        def score(batch: dict[str, Any]) -> dict[str, Any]:
            if not isinstance(batch["pixels"], torch.Tensor):  # the protocol's types, both ways
                raise TypeError(f"pixels arrived as {type(batch['pixels']).__name__}")
            if not isinstance(batch["status"], list) or not isinstance(batch["n_words"], list):
                raise TypeError("per-row scalars must arrive as lists")
            if self.crash_on is not None and self.crash_on in batch.get("image_id", []):
                marker = Path(self.crash_marker)
                if not marker.exists():
                    marker.write_text(str(os.getpid()))
                    os._exit(1)  # a hard worker death (OOM kill, segfault), not an exception
            image = torch.nn.functional.normalize(image_tower(batch["pixels"]), dim=-1)
            text = torch.nn.functional.normalize(text_tower(batch["tokens"]), dim=-1)
            cosine = (image * text).sum(-1).numpy()
            ok = np.asarray(batch["status"], dtype=object) == "success"
            return {
                "clip": np.where(ok, cosine, np.nan).astype(np.float32),
                "status": np.asarray(batch["status"], dtype=object),
                "n_words": [2 * n for n in batch["n_words"]],
                "pid": np.full(len(ok), os.getpid(), dtype=np.int64),
            }

        return score


def decode_keep_id(row: dict[str, Any]) -> dict[str, Any]:
    """``decode`` that also keeps the row id (for the crash test, which crashes on one id)."""
    return {**decode(row), "image_id": row["image_id"]}

"""The CLIP path: open_clip factory round trips, batched scoring, and a trained tiny CLIP
that separates swapped captions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from datarecipes.executors import LocalExecutor
from datarecipes.filtering.clip_score import score_clip
from datarecipes.filtering.clip_train import (
    ClipTrainParams,
    encode_pairs,
    retrieval_recall,
    train_clip_contrastive,
)
from datarecipes.filtering.evaluation import score_auc
from datarecipes.filtering.inputs import DECODE_ERROR, SUCCESS
from datarecipes.io.checkpoints import ClipCheckpointDataset
from datarecipes.models.clip import (
    WEIGHTS_NAME,
    load_clip,
    save_clip,
    state_fingerprint,
)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_clip("tiny-clip")


def test_tiny_clip_saves_and_loads_through_open_clip_factory(tiny, tmp_path):
    save_clip(tiny, tmp_path / "ckpt")
    by_dir = load_clip(f"local-dir:{tmp_path / 'ckpt'}")
    by_file = load_clip("tiny-clip", pretrained=str(tmp_path / "ckpt" / WEIGHTS_NAME))
    assert state_fingerprint(by_dir.model) == state_fingerprint(tiny.model)
    assert state_fingerprint(by_file.model) == state_fingerprint(tiny.model)
    dataset = ClipCheckpointDataset(path=str(tmp_path / "ds"))
    assert not dataset.exists()
    dataset.save(tiny)
    assert state_fingerprint(dataset.load().model) == state_fingerprint(tiny.model)
    with pytest.raises(ValueError, match="not an open_clip architecture"):
        load_clip("no-such-clip")
    with pytest.raises(FileNotFoundError, match="neither a weights file"):
        load_clip("tiny-clip", pretrained=str(tmp_path / "missing.safetensors"))


def _pairs(tmp_path, n: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (40 + i, 64, 3), dtype=np.uint8)).save(path)
        rows.append({"image_id": f"p{i}", "image_path": str(path), "caption": f"object {i}"})
    return pd.DataFrame(rows)


def test_batched_scores_equal_single_pair_scores_and_bad_rows_are_skipped(tiny, tmp_path):
    pairs = _pairs(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    bad = pd.DataFrame({
        "image_id": ["missing", "corrupt", "empty", "bytes"],
        "image_path": [str(tmp_path / "nope.png"), str(tmp_path / "bad.png"),
                       pairs.image_path[0], pairs.image_path[0]],
        "caption": ["x", "x", "", b"\xff\xfe"],
    })
    mixed = pd.concat([pairs.iloc[:3], bad, pairs.iloc[3:]], ignore_index=True)
    batched, _ = score_clip(mixed, tiny, LocalExecutor(), batch_size=4, shard_size=5)
    single, _ = score_clip(pairs, tiny, LocalExecutor(), batch_size=1, shard_size=100)
    b = batched.set_index("image_id")
    assert b.loc[bad.image_id, "status"].eq(DECODE_ERROR).all()
    assert b.loc[bad.image_id, "clip"].isna().all()
    assert b.loc[["missing", "corrupt", "empty"], "reason"].str.len().gt(0).all()
    assert b.loc[pairs.image_id, "status"].eq(SUCCESS).all()
    np.testing.assert_allclose(b.loc[pairs.image_id, "clip"], single["clip"], atol=1e-5)
    assert (single["clip"].abs() <= 1.0 + 1e-6).all()


def test_trained_tiny_clip_separates_swapped_captions(small_world):
    """The scorer trained on clean pairs ranks true captions above swapped ones."""
    metadata, root = small_world
    pairs = metadata.assign(image_path=root + "/" + metadata["image_path"])
    scorer_pairs = pairs[(pairs.split == "validation") & ~pairs.corrupted]
    pool = pairs[pairs.split == "train"].reset_index(drop=True)

    torch.manual_seed(0)
    clip = load_clip("tiny-clip")
    data = encode_pairs(scorer_pairs, clip)
    before = retrieval_recall(clip, data)
    losses = train_clip_contrastive(
        clip, data, ClipTrainParams(steps=120, batch_size=64, learning_rate=2e-3, warmup_steps=10)
    )
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    assert retrieval_recall(clip, data)["image_to_text_recall_at_5"] > before[
        "image_to_text_recall_at_5"]

    scores, _ = score_clip(pool, clip, LocalExecutor(), batch_size=128, shard_size=1000)
    scored = pool.merge(scores, on="image_id")
    swap_or_clean = scored[scored.corruption.isin(["none", "swap"])]
    auc = score_auc(swap_or_clean["clip"].to_numpy(), swap_or_clean["corrupted"].to_numpy())
    assert auc > 0.7, f"swap AUC {auc:.3f}"

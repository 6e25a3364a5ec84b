"""A scenes world with planted duplicates: re-encoded and resized copies of some scenes."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd
import pytest
from PIL import Image

from datarecipes.scenes import ScenesParams, generate_world

N_SCENES = 60
#: Scenes that get copies, and the copies each gets.
COPIED = range(0, 60, 4)
COPIES = ("jpeg50", "small96", "large200")


def _variant(png: bytes, how: str) -> bytes:
    img = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    if how == "jpeg50":
        img.save(out, "JPEG", quality=50)
    elif how == "small96":
        img.resize((96, 96), Image.Resampling.BILINEAR).save(out, "PNG")
    elif how == "large200":
        img.resize((200, 200), Image.Resampling.BICUBIC).save(out, "JPEG", quality=85)
    else:  # pragma: no cover
        raise ValueError(how)
    return out.getvalue()


@dataclass
class PlantedPool:
    """``rows``: image_id, image (bytes), truth (the original scene's id), score."""

    rows: pd.DataFrame

    @property
    def planted(self) -> pd.DataFrame:
        return self.rows.loc[self.rows["image_id"] != self.rows["truth"]]


def precision_recall(table: pd.DataFrame, truth: pd.Series, kind: str, key: str = "image_id"
                     ) -> tuple[float, float]:
    """Flagged rows whose ``dup_of`` is in their true group / planted rows flagged so."""
    group = dict(zip(table[key], truth))
    flagged = table.loc[table[f"dup.{kind}"]]
    right = sum(group[k] == group[r] for k, r in zip(flagged[key], flagged[f"dup_of.{kind}"]))
    planted = int((table[key].map(group) != table[key]).sum())
    precision = right / len(flagged) if len(flagged) else 1.0
    recall = right / planted if planted else 1.0
    return precision, recall


@pytest.fixture(scope="session")
def world():
    return generate_world(ScenesParams(n_scenes=N_SCENES, seed=11), progress=False)


@pytest.fixture(scope="session")
def planted_pool(world) -> PlantedPool:
    rows = []
    for i, (image_id, png) in enumerate(world.images.items()):
        rows.append({"image_id": image_id, "image": png, "truth": image_id, "score": 0.5})
        if i in COPIED:
            for how in COPIES:
                # Copies score higher than the original: highest_score keeps a copy.
                rows.append({"image_id": f"{image_id}_{how}", "image": _variant(png, how),
                             "truth": image_id, "score": 0.9 if how == "large200" else 0.1})
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)
    return PlantedPool(frame)

"""The scenes world: N seeded scenes as scene graphs, PNG images and a metadata table.

Scene ``i`` (its objects, relations, pixels and true caption) depends only on
``(params, i)``: it is drawn from the child stream ``SeedSequence(seed, spawn_key=(0, i))``,
so growing ``n_scenes`` appends scenes without changing earlier ones. Two steps are
dataset-level and so depend on N as well: the split assignment (exact counts per split, by a
permutation of the stream ``(2,)``) and the caption corruption (stream ``(3,)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from datarecipes.scenegraph import SceneGraph
from datarecipes.scenes.captions import CaptionFacts, caption_facts, corrupt_captions
from datarecipes.scenes.layout import PlacedObject, sample_layout, scene_rng
from datarecipes.scenes.params import SPLITS, ScenesParams
from datarecipes.scenes.relations import derive_relations
from datarecipes.scenes.render import RenderedScene, encode_png, render_layout

#: Folder of the images relative to the world's root; ``data_path`` is ``images/<id>.png``.
IMAGE_DIR = "images"
SPLIT_STREAM = (2,)
SOURCE = "scenes"
METADATA_COLUMNS = (
    "image_id", "split", "image_path", "caption", "corrupted", "corruption",
    "original_caption", "n_objects", "n_relations",
)


def scene_image_id(index: int) -> str:
    return f"scene_{index:06d}"


@dataclass
class GeneratedScene:
    """One scene before the dataset-level steps (splits, corruption)."""

    index: int
    objects: list[PlacedObject]
    relations: list[tuple[int, str, int]]
    facts: CaptionFacts
    rendered: RenderedScene | None


@dataclass
class SceneWorld:
    graphs: dict[str, SceneGraph]  # image id -> scene graph (depth, masks, caption)
    images: dict[str, bytes]  # image id -> PNG bytes
    metadata: pd.DataFrame  # one row per image, columns METADATA_COLUMNS


def build_scene(params: ScenesParams, index: int, render: bool = True) -> GeneratedScene:
    """Lay out, relate, caption and (optionally) render scene ``index``."""
    rng = scene_rng(params.seed, index)
    objects = sample_layout(params, index, rng)
    # The caption draw continues the scene's own stream, after the layout's draws.
    bboxes = np.array([o.box for o in objects], dtype=np.float64)
    relations = derive_relations(bboxes, [o.depth for o in objects])
    facts = caption_facts([o.description for o in objects], relations, rng)
    rendered = render_layout(objects, params.width, params.height) if render else None
    return GeneratedScene(index, objects, relations, facts, rendered)


def assign_splits(n: int, fractions: dict[str, float], seed: int) -> list[str]:
    """Split of each of ``n`` images: exact counts (largest remainder), seeded positions."""
    quotas = [fractions.get(s, 0.0) * n for s in SPLITS]
    counts = [int(np.floor(q)) for q in quotas]
    by_remainder = sorted(range(len(SPLITS)), key=lambda k: (-(quotas[k] - counts[k]), k))
    for k in by_remainder[: n - sum(counts)]:
        counts[k] += 1
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=SPLIT_STREAM))
    order = rng.permutation(n)
    labels = [""] * n
    start = 0
    for split, count in zip(SPLITS, counts):
        for i in order[start : start + count]:
            labels[int(i)] = split
        start += count
    return labels


def generate_world(params: ScenesParams, progress: bool = True) -> SceneWorld:
    """Generate, render and annotate ``params.n_scenes`` scenes."""
    scenes = [
        build_scene(params, i)
        for i in tqdm(range(params.n_scenes), desc="scenes", disable=not progress)
    ]
    splits = assign_splits(params.n_scenes, params.split_fractions, params.seed)
    corruptions = corrupt_captions(
        [s.facts for s in scenes],
        [([o.description for o in s.objects], s.relations) for s in scenes],
        params,
    )
    graphs: dict[str, SceneGraph] = {}
    images: dict[str, bytes] = {}
    rows = []
    for scene, split in zip(scenes, splits):
        image_id = scene_image_id(scene.index)
        image_path = f"{IMAGE_DIR}/{image_id}.png"
        true_caption = scene.facts.text()
        corruption = corruptions.get(scene.index)
        caption = corruption.caption if corruption else true_caption
        kind = corruption.kind if corruption else "none"
        assert scene.rendered is not None
        graphs[image_id] = SceneGraph(
            image_id=image_id,
            width=params.width,
            height=params.height,
            labels=[o.description.shape for o in scene.objects],
            bboxes=np.array([o.box for o in scene.objects], dtype=np.float64),
            attributes=[o.attributes for o in scene.objects],
            relations=list(scene.relations),
            depth=scene.rendered.depth,
            masks=scene.rendered.masks,
            caption=caption,
            image_path=image_path,
            source=SOURCE,
            extra={
                "split": split,
                "corrupted": corruption is not None,
                "corruption": kind,
                "original_caption": true_caption,
                "object_depths": [o.depth for o in scene.objects],
                # Ground truth: every object is certain (the ProVision layer's det_scores).
                "det_scores": [1.0] * len(scene.objects),
            },
        )
        images[image_id] = encode_png(scene.rendered.image)
        rows.append({
            "image_id": image_id,
            "split": split,
            "image_path": image_path,
            "caption": caption,
            "corrupted": corruption is not None,
            "corruption": kind,
            "original_caption": true_caption,
            "n_objects": len(scene.objects),
            "n_relations": len(scene.relations),
        })
    metadata = pd.DataFrame(rows, columns=list(METADATA_COLUMNS))
    return SceneWorld(graphs=graphs, images=images, metadata=metadata)


def summarise_world(metadata: pd.DataFrame) -> dict[str, float]:
    """Flat metrics of a world: counts per split, mean objects/relations, corrupted share."""
    n = len(metadata)
    metrics: dict[str, float] = {"n_images": float(n)}
    for split in SPLITS:
        metrics[f"n_{split}"] = float((metadata["split"] == split).sum())
    metrics["mean_objects"] = float(metadata["n_objects"].mean()) if n else 0.0
    metrics["mean_relations"] = float(metadata["n_relations"].mean()) if n else 0.0
    metrics["corrupted_fraction"] = float(metadata["corrupted"].mean()) if n else 0.0
    return metrics

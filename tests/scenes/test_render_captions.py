"""Rendering (pixels, materials) and captions (truth, corruption ground truth)."""

from __future__ import annotations

import io
import re
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from datarecipes.scenes import ScenesParams, generate_world
from datarecipes.scenes.captions import caption_facts
from datarecipes.scenes.vocabulary import COLOUR_RGB
from datarecipes.scenes.world import assign_splits, build_scene

CHROMATIC = ("red", "blue", "green", "purple", "cyan", "yellow")


def test_png_decodes_to_the_rendered_pixels_and_objects_show_their_colour():
    params = ScenesParams(n_scenes=1, colours=CHROMATIC, materials=("rubber",))
    checked = 0
    for index in range(6):
        scene = build_scene(params, index)
        world_png = generate_world(ScenesParams(n_scenes=index + 1, colours=CHROMATIC,
                                                materials=("rubber",)), progress=False)
        pixels = np.asarray(Image.open(io.BytesIO(world_png.images[f"scene_{index:06d}"])))
        assert pixels.shape == (128, 128, 3) and pixels.dtype == np.uint8
        assert (pixels == scene.rendered.image).all()
        palette = {c: np.array(COLOUR_RGB[c], float) for c in CHROMATIC}
        for obj, mask in zip(scene.objects, scene.rendered.masks):
            if mask.sum() < 20:
                continue
            mean = pixels[mask].astype(float).mean(axis=0)
            cos = {c: mean @ v / (np.linalg.norm(mean) * np.linalg.norm(v))
                   for c, v in palette.items()}
            assert max(cos, key=cos.get) == obj.description.colour
            checked += 1
    assert checked >= 10


def test_metal_is_shinier_than_rubber():
    def brightest(material: str) -> float:
        params = ScenesParams(n_scenes=1, colours=("blue",), materials=(material,))
        values = []
        for index in range(4):
            scene = build_scene(params, index)
            for mask in scene.rendered.masks:
                values.append(scene.rendered.image[mask].max(axis=1).max())
        return float(np.median(values))

    assert brightest("metal") > brightest("rubber") + 30


def _count_phrase(n: int) -> str:
    words = "zero one two three four five six seven eight nine ten eleven twelve".split()
    return words[n] if n < len(words) else str(n)


def test_true_caption_states_the_counts_and_holds():
    params = ScenesParams(n_scenes=12)
    world = generate_world(params, progress=False)
    for graph in world.graphs.values():
        counts = Counter(graph.labels)
        text = graph.caption
        assert text.startswith(f"There {'is' if graph.n_objects == 1 else 'are'} "
                               f"{_count_phrase(graph.n_objects)} object")
        for shape, c in counts.items():
            plural = {"torus": "tori"}.get(shape, shape + "s")
            assert (f"{_count_phrase(c)} {plural}" if c > 1 else f"a {shape}") in text
        # The relation sentence names two described objects that stand in that relation.
        m = re.search(r"\. An? (\w+) (\w+) (\w+) (\w+) (is .*?) an? (\w+) (\w+) (\w+) (\w+)\.$",
                      text)
        if graph.relations:
            assert m, text
            head = [m.group(1), m.group(2), m.group(3)], m.group(4)
            tail = [m.group(6), m.group(7), m.group(8)], m.group(9)
            assert any(
                graph.attributes[h] == head[0] and graph.labels[h] == head[1]
                and graph.attributes[t] == tail[0] and graph.labels[t] == tail[1]
                for h, _, t in graph.relations
            )
        assert graph.extra["original_caption"] == text and not graph.extra["corrupted"]


@pytest.mark.parametrize(("fraction", "kinds"), [
    (0.3, ("swap", "attribute")), (0.5, ("swap",)), (0.25, ("attribute",)),
])
def test_corruption_flags_are_ground_truth(fraction, kinds):
    params = ScenesParams(n_scenes=20, corrupt_fraction=fraction, corruption_kinds=kinds,
                          seed=3)
    world = generate_world(params, progress=False)
    clean = generate_world(ScenesParams(n_scenes=20, seed=3), progress=False)
    meta = world.metadata.set_index("image_id")
    assert int(meta["corrupted"].sum()) == round(fraction * 20)
    for image_id, graph in world.graphs.items():
        row = meta.loc[image_id]
        true_caption = clean.graphs[image_id].caption
        assert row["original_caption"] == true_caption == graph.extra["original_caption"]
        assert row["caption"] == graph.caption
        assert bool(row["corrupted"]) == graph.extra["corrupted"] == (row["corruption"] != "none")
        if not row["corrupted"]:
            assert graph.caption == true_caption
            continue
        assert graph.caption != true_caption
        assert row["corruption"] in kinds
        if row["corruption"] == "swap":
            others = {g.extra["original_caption"] for k, g in world.graphs.items() if k != image_id}
            assert graph.caption in others
        else:  # exactly one attribute word differs
            a, b = graph.caption.split(), true_caption.split()
            diff = [(x, y) for x, y in zip(a, b) if x != y]
            assert len(a) == len(b) and len(diff) == 1
            assert diff[0][1] in params.sizes + params.colours + params.materials


def test_attribute_corruption_is_false_of_its_scene():
    params = ScenesParams(n_scenes=30, corrupt_fraction=1.0, corruption_kinds=("attribute",))
    world = generate_world(params, progress=False)
    rng = np.random.default_rng(0)
    for graph in world.graphs.values():
        assert graph.extra["corruption"] in ("attribute", "swap")
        # Rebuild the scene's possible captions: the corrupted one is none of the true ones.
        scene = build_scene(params, int(graph.image_id.split("_")[1]))
        descriptions = [o.description for o in scene.objects]
        true_texts = {caption_facts(descriptions, [r], rng).text() for r in scene.relations}
        assert graph.caption not in true_texts


def test_splits_have_exact_sizes_and_are_seeded():
    labels = assign_splits(10, {"train": 0.8, "validation": 0.1, "test": 0.1}, seed=0)
    assert Counter(labels) == {"train": 8, "validation": 1, "test": 1}
    assert labels == assign_splits(10, {"train": 0.8, "validation": 0.1, "test": 0.1}, 0)
    assert labels != assign_splits(10, {"train": 0.8, "validation": 0.1, "test": 0.1}, 1)
    odd = assign_splits(7, {"train": 0.5, "validation": 0.25, "test": 0.25}, seed=0)
    assert len(odd) == 7 and set(odd) <= {"train", "validation", "test"}
    assert Counter(odd)["train"] in (3, 4)


def test_scene_content_does_not_depend_on_n():
    small = generate_world(ScenesParams(n_scenes=3), progress=False)
    large = generate_world(ScenesParams(n_scenes=7), progress=False)
    for image_id, graph in small.graphs.items():
        other = large.graphs[image_id]
        assert small.images[image_id] == large.images[image_id]
        assert graph.labels == other.labels and graph.relations == other.relations
        assert (graph.masks == other.masks).all() and (graph.depth == other.depth).all()
        assert graph.extra["original_caption"] == other.extra["original_caption"]

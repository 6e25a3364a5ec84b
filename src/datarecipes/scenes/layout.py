"""Scene layout: sampling objects and placing them on a floor seen in perspective.

The camera looks at a floor whose far edge is at ``FLOOR_FAR`` of the image height; an
object stands with its base at height ``y1`` on the floor. The farther its base (the higher
in the image), the smaller it is drawn (down to ``PERSPECTIVE_MIN`` of its nominal size) and
the lower its depth value: ``depth = DEPTH_FAR + (255 - DEPTH_FAR) * t`` with ``t`` in [0, 1]
the base's position from the far to the near edge (higher = closer, 0 is the background).

Placements are drawn by rejection: an object is kept only if it lies inside the image, its
depth differs from every other object's by at least ``MIN_DEPTH_GAP`` (so the drawing order
and "in front of" are never ties) and every object, it included, keeps at least
``min_visible_fraction`` of its silhouette visible once nearer objects are drawn over it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datarecipes.scenes.params import ScenesParams
from datarecipes.scenes.shapes import box_size, rasterize
from datarecipes.scenes.vocabulary import PERSPECTIVE_MIN, SIZE_FRACTION

FLOOR_FAR = 0.35
DEPTH_FAR = 32
MIN_DEPTH_GAP = 3
MAX_PLACEMENT_TRIES = 200
MAX_SCENE_TRIES = 50


@dataclass(frozen=True)
class Description:
    """What a caption can say about one object."""

    size: str
    colour: str
    material: str
    shape: str

    def phrase(self) -> str:
        return f"{self.size} {self.colour} {self.material} {self.shape}"


@dataclass(frozen=True, eq=False)
class PlacedObject:
    """One object of a scene, placed: its words, full-extent box, depth and raster."""

    description: Description
    box: tuple[int, int, int, int]  # [x0, y0, x1, y1], the full silhouette extent
    depth: int  # uint8 depth value, higher = closer
    silhouette: np.ndarray  # bool (y1 - y0, x1 - x0)
    shade: np.ndarray  # float32 diffuse shading over the box

    @property
    def attributes(self) -> list[str]:
        d = self.description
        return [d.size, d.colour, d.material]

    def full_mask(self, width: int, height: int) -> np.ndarray:
        mask = np.zeros((height, width), dtype=bool)
        x0, y0, x1, y1 = self.box
        mask[y0:y1, x0:x1] = self.silhouette
        return mask


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of scene ``index``: a child stream of ``seed``, independent of N."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, index)))


def _visible_fractions(masks: list[np.ndarray], depths: list[int]) -> list[float]:
    order = np.argsort(depths)[::-1]  # nearest first
    covered = np.zeros_like(masks[0])
    fractions = [0.0] * len(masks)
    for i in order:
        area = masks[i].sum()
        fractions[i] = float((masks[i] & ~covered).sum() / area) if area else 0.0
        covered |= masks[i]
    return fractions


def _place(
    rng: np.random.Generator, desc: Description, params: ScenesParams
) -> PlacedObject | None:
    width, height = params.width, params.height
    t = float(rng.uniform())
    base = FLOOR_FAR * height + t * (1.0 - FLOOR_FAR) * height
    size_px = SIZE_FRACTION[desc.size] * min(width, height)
    size_px *= PERSPECTIVE_MIN + (1.0 - PERSPECTIVE_MIN) * t
    w, h = box_size(desc.shape, size_px)
    y1 = min(height, round(base))
    y0 = y1 - h
    if y0 < 0 or w > width:
        return None
    x0 = int(rng.integers(0, width - w + 1))
    silhouette, shade = rasterize(desc.shape, w, h)
    depth = DEPTH_FAR + round((255 - DEPTH_FAR) * t)
    return PlacedObject(desc, (x0, y0, x0 + w, y1), depth, silhouette, shade)


def _try_layout(rng: np.random.Generator, params: ScenesParams) -> list[PlacedObject] | None:
    n = int(rng.integers(params.min_objects, params.max_objects + 1))
    placed: list[PlacedObject] = []
    masks: list[np.ndarray] = []
    for _ in range(n):
        desc = Description(
            size=str(rng.choice(params.sizes)),
            colour=str(rng.choice(params.colours)),
            material=str(rng.choice(params.materials)),
            shape=str(rng.choice(params.shapes)),
        )
        for _ in range(MAX_PLACEMENT_TRIES):
            obj = _place(rng, desc, params)
            if obj is None or any(abs(obj.depth - o.depth) < MIN_DEPTH_GAP for o in placed):
                continue
            mask = obj.full_mask(params.width, params.height)
            fractions = _visible_fractions(masks + [mask], [o.depth for o in placed + [obj]])
            if min(fractions) >= params.min_visible_fraction:
                placed.append(obj)
                masks.append(mask)
                break
        else:
            return None
    return placed


def sample_layout(
    params: ScenesParams, index: int, rng: np.random.Generator | None = None
) -> list[PlacedObject]:
    """The objects of scene ``index``, a pure function of ``(params, index)``.

    ``rng`` defaults to :func:`scene_rng`; pass it to continue drawing from the same stream.
    """
    rng = scene_rng(params.seed, index) if rng is None else rng
    for _ in range(MAX_SCENE_TRIES):
        layout = _try_layout(rng, params)
        if layout is not None:
            return layout
    raise RuntimeError(
        f"scene {index}: could not place {params.min_objects}-{params.max_objects} objects "
        f"with min_visible_fraction={params.min_visible_fraction} in a "
        f"{params.width}x{params.height} image after {MAX_SCENE_TRIES} attempts; lower "
        "max_objects or min_visible_fraction, or enlarge image_size"
    )

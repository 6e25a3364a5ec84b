"""Rendering a layout to an RGB image, a depth map and instance masks (2.5D painter's order).

Objects are drawn from far to near, so a nearer object covers a farther one wherever their
silhouettes meet; the depth map and the visible masks come from the same pass, so each
object's mask holds exactly the pixels that show it and the depth map holds its depth there
(the background is 0). Materials: rubber is matte; metal gets a higher-contrast shading and
a specular highlight towards the light (upper left).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from datarecipes.scenes.layout import FLOOR_FAR, PlacedObject
from datarecipes.scenes.vocabulary import COLOUR_RGB

_WALL = np.array([0.80, 0.80, 0.82], dtype=np.float32)
_FLOOR_FAR_RGB = np.array([0.70, 0.70, 0.72], dtype=np.float32)
_FLOOR_NEAR_RGB = np.array([0.56, 0.56, 0.58], dtype=np.float32)
_SHADOW = 0.72


@dataclass
class RenderedScene:
    image: np.ndarray  # uint8 (H, W, 3)
    depth: np.ndarray  # uint8 (H, W), higher = closer, 0 = background
    masks: np.ndarray  # bool (n, H, W), visible pixels of each object


def _background(width: int, height: int, objects: list[PlacedObject]) -> np.ndarray:
    rows = np.empty((height, 3), dtype=np.float32)
    horizon = round(FLOOR_FAR * height)
    rows[:horizon] = _WALL
    t = np.linspace(0.0, 1.0, max(1, height - horizon), dtype=np.float32)[:, None]
    rows[horizon:] = (1 - t) * _FLOOR_FAR_RGB + t * _FLOOR_NEAR_RGB
    canvas = np.repeat(rows[:, None, :], width, axis=1)
    # A soft contact shadow under each object, down and right of it (the light is upper left).
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    for obj in objects:
        x0, y0, x1, y1 = obj.box
        cx, cy = (x0 + x1) / 2 + 0.15 * (x1 - x0), y1 - 0.04 * (y1 - y0)
        rx, ry = 0.6 * (x1 - x0), 0.14 * (y1 - y0) + 1.0
        inside = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0
        canvas[inside & (ys >= horizon)] *= _SHADOW
    return canvas


def _object_pixels(obj: PlacedObject) -> np.ndarray:
    """RGB (float, 0-1) of the object over its box, with material shading."""
    colour = np.array(COLOUR_RGB[obj.description.colour], dtype=np.float32) / 255.0
    shade = obj.shade
    if obj.description.material == "metal":
        h, w = shade.shape
        shade = np.clip(0.2 + 1.25 * (shade - 0.35), 0.15, 1.05)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
        sigma = 0.14 * max(w, h)
        spec = 0.85 * np.exp(-((xs - 0.33 * w) ** 2 + (ys - 0.3 * h) ** 2) / (2 * sigma**2))
        base = colour[None, None, :] * shade[:, :, None]
        return base + spec[:, :, None] * (1.0 - base)
    return colour[None, None, :] * shade[:, :, None]


def render_layout(objects: list[PlacedObject], width: int, height: int) -> RenderedScene:
    """Draw ``objects`` far to near; return the image, depth map and visible masks."""
    canvas = _background(width, height, objects)
    depth = np.zeros((height, width), dtype=np.uint8)
    owner = np.full((height, width), -1, dtype=np.int16)
    for i in sorted(range(len(objects)), key=lambda k: objects[k].depth):
        obj = objects[i]
        x0, y0, x1, y1 = obj.box
        sil = obj.silhouette
        canvas[y0:y1, x0:x1][sil] = _object_pixels(obj)[sil]
        depth[y0:y1, x0:x1][sil] = obj.depth
        owner[y0:y1, x0:x1][sil] = i
    image = np.round(np.clip(canvas, 0.0, 1.0) * 255.0).astype(np.uint8)
    masks = owner[None, :, :] == np.arange(len(objects), dtype=np.int16)[:, None, None]
    return RenderedScene(image=image, depth=depth, masks=masks)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 image; the same pixels always give the same bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(
        buf, format="PNG", optimize=False, compress_level=6
    )
    return buf.getvalue()

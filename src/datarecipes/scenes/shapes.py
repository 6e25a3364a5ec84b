"""Shape rasterisers: the silhouette and the diffuse shading of each shape in its own box.

Every shape is drawn into a ``w x h`` box that it touches on all four sides, so an object's
bounding box is exactly the extent of its silhouette (the full object, before occlusion).
Shading is Lambertian under one light from the upper left; materials are applied by the
renderer on top of it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

_LIGHT = np.array([-0.45, -0.65, 0.62])
_LIGHT = _LIGHT / np.linalg.norm(_LIGHT)
_AMBIENT = 0.35


def _lambert(nx: np.ndarray, ny: np.ndarray, nz: np.ndarray) -> np.ndarray:
    norm = np.sqrt(nx**2 + ny**2 + nz**2) + 1e-9
    cos = (nx * _LIGHT[0] + ny * _LIGHT[1] + nz * _LIGHT[2]) / norm
    return (_AMBIENT + (1.0 - _AMBIENT) * np.clip(cos, 0.0, 1.0)).astype(np.float32)


def _centred_grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates scaled to [-1, 1] across the box."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    return (xs - w / 2) / (w / 2), (ys - h / 2) / (h / 2)


def _faces(w: int, h: int, draw: Callable[[ImageDraw.ImageDraw], None]) -> np.ndarray:
    """Face-index image: 0 = outside, k > 0 = face k (later faces cover earlier ones)."""
    img = Image.new("L", (w, h), 0)
    draw(ImageDraw.Draw(img))
    return np.asarray(img)


def _cube(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    # Oblique projection: front square, top and right faces receding up-right.
    dx, dy = max(1, round(0.28 * w)), max(1, round(0.28 * h))

    def draw(d: ImageDraw.ImageDraw) -> None:
        d.polygon([(0, dy), (dx, 0), (w - 1, 0), (w - 1 - dx, dy)], fill=1)
        d.polygon([(w - 1 - dx, dy), (w - 1, 0), (w - 1, h - 1 - dy), (w - 1 - dx, h - 1)], fill=3)
        d.rectangle([0, dy, w - 1 - dx, h - 1], fill=2)

    faces = _faces(w, h, draw)
    shade = np.array([0.0, 1.0, 0.78, 0.55], dtype=np.float32)[faces]
    return faces > 0, shade


def _sphere(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    faces = _faces(w, h, lambda d: d.ellipse([0, 0, w - 1, h - 1], fill=1))
    u, v = _centred_grid(w, h)
    nz = np.sqrt(np.clip(1.0 - u**2 - v**2, 0.0, 1.0))
    return faces > 0, _lambert(u, v, nz)


def _cylinder(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    eh = max(3, round(0.32 * w))

    def draw(d: ImageDraw.ImageDraw) -> None:
        d.rectangle([0, eh // 2, w - 1, h - 1 - eh // 2], fill=2)
        d.ellipse([0, h - eh, w - 1, h - 1], fill=2)
        d.ellipse([0, 0, w - 1, eh - 1], fill=1)

    faces = _faces(w, h, draw)
    u, _ = _centred_grid(w, h)
    body = _lambert(u, np.zeros_like(u), np.sqrt(np.clip(1.0 - u**2, 0.0, 1.0)))
    shade = np.where(faces == 1, np.float32(0.95), body)
    return faces > 0, shade


def _cone(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    eh = max(3, round(0.3 * w))

    def draw(d: ImageDraw.ImageDraw) -> None:
        d.ellipse([0, h - eh, w - 1, h - 1], fill=1)
        d.polygon([((w - 1) / 2, 0), (0, h - 1 - eh / 2), (w - 1, h - 1 - eh / 2)], fill=1)

    faces = _faces(w, h, draw)
    u, _ = _centred_grid(w, h)
    # The cone's surface leans back, so its normals tilt upwards towards the light.
    shade = _lambert(u, np.full_like(u, -0.35), np.sqrt(np.clip(1.0 - u**2, 0.0, 1.0)))
    return faces > 0, shade


def _torus(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    hx, hy = round(0.3 * w), round(0.3 * h)

    def draw(d: ImageDraw.ImageDraw) -> None:
        d.ellipse([0, 0, w - 1, h - 1], fill=1)
        if w - 1 - 2 * hx >= 1 and h - 1 - 2 * hy >= 1:
            d.ellipse([hx, hy, w - 1 - hx, h - 1 - hy], fill=0)

    faces = _faces(w, h, draw)
    u, v = _centred_grid(w, h)
    r = np.sqrt(u**2 + v**2) + 1e-9
    r_in = 0.4
    t = np.clip((r - (1 + r_in) / 2) / ((1 - r_in) / 2), -1.0, 1.0)  # across the tube
    nz = np.sqrt(np.clip(1.0 - t**2, 0.0, 1.0))
    return faces > 0, _lambert(t * u / r, t * v / r, nz)


#: Shape word -> (rasteriser, width/size, height/size). The silhouette touches all box edges.
SHAPES: dict[str, tuple[Callable[[int, int], tuple[np.ndarray, np.ndarray]], float, float]] = {
    "cube": (_cube, 1.0, 1.0),
    "sphere": (_sphere, 1.0, 1.0),
    "cylinder": (_cylinder, 0.8, 1.0),
    "cone": (_cone, 0.85, 1.0),
    "torus": (_torus, 1.0, 0.6),
}


def box_size(shape: str, size_px: float) -> tuple[int, int]:
    """Width and height in pixels of a ``shape`` of nominal size ``size_px``."""
    _, fw, fh = SHAPES[shape]
    return max(3, round(fw * size_px)), max(3, round(fh * size_px))


def rasterize(shape: str, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Silhouette (bool ``(h, w)``) and diffuse shading (float32 in [0, 1]) of ``shape``."""
    fn, _, _ = SHAPES[shape]
    return fn(w, h)

"""What the scenes renderer can draw: the closed vocabularies a parameters file may choose from.

Colours follow CLEVR's palette (Johnson et al., 2017) plus four extras; every colour and size
word is also a known term in :data:`datarecipes.scenegraph.ATTRIBUTE_TYPES`, so the typed
ProVision generators see them as ``color`` / ``size`` / ``material`` attributes.
"""

from __future__ import annotations

#: Colour word -> RGB (0-255). The first eight are CLEVR's.
COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "gray": (87, 87, 87),
    "red": (173, 35, 35),
    "blue": (42, 75, 215),
    "green": (29, 105, 20),
    "brown": (129, 74, 25),
    "purple": (129, 38, 192),
    "cyan": (41, 208, 208),
    "yellow": (255, 238, 51),
    "orange": (255, 140, 0),
    "pink": (255, 105, 180),
    "white": (235, 235, 235),
    "black": (30, 30, 30),
}

#: Size word -> nominal object size as a fraction of the image's shorter side (for the
#: nearest placement; farther objects shrink by at most ``1 - PERSPECTIVE_MIN``). The gap
#: between small and large exceeds the perspective range so "small" and "large" stay visibly
#: distinct wherever the objects stand.
SIZE_FRACTION: dict[str, float] = {"small": 0.14, "medium": 0.18, "large": 0.24}

#: Scale of an object at the far edge of the floor relative to the near edge.
PERSPECTIVE_MIN = 0.8

#: Materials the renderer shades: metal gets high contrast and a specular highlight.
MATERIALS: tuple[str, ...] = ("metal", "rubber")

#: Shape word -> plural, for captions. The shapes' rasterisers live in ``shapes.py``.
SHAPE_PLURALS: dict[str, str] = {
    "cube": "cubes",
    "sphere": "spheres",
    "cylinder": "cylinders",
    "cone": "cones",
    "torus": "tori",
}

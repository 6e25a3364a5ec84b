"""Parameters of the scenes world (section ``scenes`` of ``parameters_scenes.yml``).

Other pipelines that need their own world (the filtering recipe uses one with 30% corrupted
captions) give it a namespaced copy of the section (``params:filtering_world.scenes``), which
the start-up hook builds into a :class:`ScenesParams` too, and call
:func:`datarecipes.scenes.generate_world`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datarecipes.config import ParameterError, parameters_section, require
from datarecipes.scenes.shapes import SHAPES
from datarecipes.scenes.vocabulary import (
    COLOUR_RGB,
    MATERIALS,
    PERSPECTIVE_MIN,
    SIZE_FRACTION,
)

SPLITS: tuple[str, ...] = ("train", "validation", "test")
CORRUPTION_KINDS: tuple[str, ...] = ("swap", "attribute")

#: The smallest object (smallest size, far away) must be at least this many pixels across
#: to stay recognisable.
MIN_OBJECT_PX = 8
#: Largest supported image side (memory of the per-object masks grows with the area).
MAX_IMAGE_SIDE = 2048
#: At most this fraction of the image may be covered by max_objects of the largest size;
#: above it, rejection sampling of visible placements does not terminate in practice.
MAX_COVER = 0.6


@parameters_section("scenes")
@dataclass(frozen=True)
class ScenesParams:
    """A seeded synthetic world of 2.5D object scenes with full ProVision annotations."""

    #: Number of images to generate.
    n_scenes: int = 200
    #: Seed of everything: scene i depends only on (seed, i), whatever n_scenes is.
    seed: int = 0
    #: Image width and height in pixels.
    image_size: tuple[int, ...] = (128, 128)
    #: Fewest objects in a scene.
    min_objects: int = 3
    #: Most objects in a scene.
    max_objects: int = 8
    #: Shape vocabulary (object labels); a subset of the shapes the renderer draws.
    shapes: tuple[str, ...] = ("cube", "sphere", "cylinder", "cone", "torus")
    #: Colour vocabulary; a subset of the renderer's palette.
    colours: tuple[str, ...] = (
        "gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow",
    )
    #: Size vocabulary (small, medium, large).
    sizes: tuple[str, ...] = ("small", "large")
    #: Material vocabulary (metal, rubber).
    materials: tuple[str, ...] = ("metal", "rubber")
    #: Every object keeps at least this fraction of its own area visible after occlusion.
    min_visible_fraction: float = 0.5
    #: Fraction of images per split (train, validation, test); must sum to 1.
    split_fractions: dict[str, float] = field(
        default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1}
    )
    #: Fraction of captions replaced by a false one (ground truth kept in the metadata).
    corrupt_fraction: float = 0.0
    #: Corruptions to draw from: swap (another image's caption), attribute (a wrong word).
    corruption_kinds: tuple[str, ...] = ("swap", "attribute")

    def __post_init__(self) -> None:
        require(self.n_scenes >= 1, f"n_scenes must be at least 1, got {self.n_scenes}")
        require(self.n_scenes <= 999_999, f"n_scenes must be below 1e6, got {self.n_scenes}")
        require(self.seed >= 0, f"seed must be non-negative, got {self.seed}")
        require(self.min_objects >= 1, f"min_objects must be at least 1, got {self.min_objects}")
        require(
            self.max_objects >= self.min_objects,
            f"max_objects ({self.max_objects}) must not be below min_objects "
            f"({self.min_objects})",
        )
        require(self.max_objects <= 16, f"max_objects must be at most 16, got {self.max_objects}")
        self._check_vocabulary("shapes", self.shapes, tuple(SHAPES))
        self._check_vocabulary("colours", self.colours, tuple(COLOUR_RGB))
        self._check_vocabulary("sizes", self.sizes, tuple(SIZE_FRACTION))
        self._check_vocabulary("materials", self.materials, MATERIALS)
        require(
            0.0 < self.min_visible_fraction <= 1.0,
            f"min_visible_fraction must be in (0, 1], got {self.min_visible_fraction}",
        )
        self._check_image_size()
        unknown = sorted(set(self.split_fractions) - set(SPLITS))
        require(not unknown, f"split_fractions: unknown split(s) {unknown}; use {list(SPLITS)}")
        for name, frac in self.split_fractions.items():
            require(
                0.0 <= frac <= 1.0,
                f"split_fractions.{name} must be in [0, 1], got {frac}",
            )
        total = sum(self.split_fractions.values())
        require(
            abs(total - 1.0) < 1e-6,
            f"split_fractions must sum to 1, got {total:g} ({dict(self.split_fractions)})",
        )
        require(
            0.0 <= self.corrupt_fraction <= 1.0,
            f"corrupt_fraction must be in [0, 1], got {self.corrupt_fraction}",
        )
        for kind in self.corruption_kinds:
            require(
                kind in CORRUPTION_KINDS,
                f"corruption_kinds: unknown kind {kind!r}; use {list(CORRUPTION_KINDS)}",
            )
        if self.corrupt_fraction > 0:
            require(
                len(self.corruption_kinds) > 0,
                "corruption_kinds must not be empty when corrupt_fraction > 0",
            )
            if "attribute" in self.corruption_kinds:
                require(
                    max(len(self.colours), len(self.sizes), len(self.materials)) >= 2,
                    "corruption_kinds: 'attribute' needs a vocabulary (colours, sizes or "
                    "materials) with at least two words to swap between",
                )
            if "swap" in self.corruption_kinds:
                require(
                    self.n_scenes >= 2,
                    "corruption_kinds: 'swap' needs n_scenes >= 2 (another image's caption)",
                )

    @staticmethod
    def _check_vocabulary(key: str, words: tuple[str, ...], supported: tuple[str, ...]) -> None:
        require(len(words) > 0, f"{key} must not be empty")
        for word in words:
            if word not in supported:
                raise ParameterError(
                    f"{key}: unknown value {word!r}; the renderer supports {list(supported)}"
                )
        dupes = sorted({w for w in words if words.count(w) > 1})
        require(not dupes, f"{key}: duplicated value(s) {dupes}")

    def _check_image_size(self) -> None:
        require(
            len(self.image_size) == 2,
            f"image_size must be [width, height], got {list(self.image_size)}",
        )
        width, height = self.image_size
        require(
            0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE,
            f"image_size sides must be in 1..{MAX_IMAGE_SIDE}, got {list(self.image_size)}",
        )
        side = min(width, height)
        smallest = min(SIZE_FRACTION[s] for s in self.sizes) * side * PERSPECTIVE_MIN
        require(
            smallest >= MIN_OBJECT_PX,
            f"image_size {list(self.image_size)} is too small: the smallest object would be "
            f"{smallest:.1f} px across (at least {MIN_OBJECT_PX} needed)",
        )
        largest = max(SIZE_FRACTION[s] for s in self.sizes) * side
        cover = self.max_objects * largest**2 / (width * height)
        require(
            cover <= MAX_COVER,
            f"image_size {list(self.image_size)} cannot hold max_objects={self.max_objects} "
            f"objects of size {largest:.0f} px (they would cover {cover:.0%} of the image, "
            f"at most {MAX_COVER:.0%} is placeable)",
        )

    @property
    def width(self) -> int:
        return int(self.image_size[0])

    @property
    def height(self) -> int:
        return int(self.image_size[1])

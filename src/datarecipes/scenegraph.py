"""The scene graph: the one in-memory form of an annotated image.

Real annotations (ProVision's annotation layers, Visual Genome scene graphs) and the synthetic
``scenes`` world are all read into :class:`SceneGraph`, so every generator, filter and recipe
sees one shape of data.

Conventions used everywhere in this project:

* boxes are ``[x0, y0, x1, y1]`` in pixels, ``x`` to the right and ``y`` downwards;
* depth maps are ``uint8`` ``(H, W)`` with **higher = closer** (Depth-Anything's convention;
  ProVision's ``depth.py`` uses the opposite one, a bug we do not copy);
* masks are boolean ``(n_objects, H, W)``;
* relations are ``(head_index, predicate, tail_index)`` triples.

On disk (the ProVision annotation format, see ``../shared/data/provision_sample``): one JSON
file per layer, each ``{image_id: {"data_path", "annotation": {...}, "source"}}``, merged per
image id; depth maps as ``depth_masks/<depth_mask_id>`` (``.npy``), masks as
``seg_masks/<seg_mask_id>`` (``.npz`` with key ``masks`` written by us; ``.npy`` accepted;
``.pkl`` only where a source sets ``allow_pickle: true``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The annotation layer files of the ProVision format, by layer name.
LAYER_FILES: dict[str, str] = {
    "objects": "object-detection-annotations.json",
    "attributes": "image-attributes-annotations.json",
    "relations": "relation-annotations-parsed.json",
    "depth": "depth-estimation-annotations.json",
    "segmentation": "segmentation-annotations.json",
}
DEPTH_DIR = "depth_masks"
MASK_DIR = "seg_masks"

#: Attribute → attribute type, for the typed generators (``TypedAttributeBBox``,
#: ``CompareAttribute``). ProVision normalises 855 terms into 11 types; this table covers the
#: synthetic world and common real terms; anything else is of type ``"other"``.
ATTRIBUTE_TYPES: dict[str, str] = {
    **{c: "color" for c in (
        "red", "green", "blue", "yellow", "purple", "cyan", "brown", "gray", "grey",
        "black", "white", "orange", "pink", "golden", "silver",
    )},
    **{s: "size" for s in ("small", "large", "big", "tiny", "huge", "medium")},
    **{m: "material" for m in (
        "metal", "rubber", "wooden", "plastic", "glass", "stone", "fabric", "leather",
    )},
    **{s: "shape" for s in ("round", "square", "rectangular", "triangular")},
    **{a: "activity" for a in (
        "swinging", "crouching", "kneeling", "squatting", "running", "standing", "sitting",
    )},
}


def attribute_type(attribute: str) -> str:
    """The type of an attribute term (``"other"`` when unknown)."""
    return ATTRIBUTE_TYPES.get(attribute.lower(), "other")


@dataclass
class SceneGraph:
    """One annotated image. Optional layers are ``None`` when the source lacks them."""

    image_id: str
    width: int
    height: int
    labels: list[str]
    bboxes: np.ndarray  # float (n, 4) [x0, y0, x1, y1] pixels
    attributes: list[list[str]] | None = None  # one list per object
    relations: list[tuple[int, str, int]] | None = None
    depth: np.ndarray | None = None  # uint8 (H, W), higher = closer
    masks: np.ndarray | None = None  # bool (n, H, W)
    caption: str | None = None
    image_path: str | None = None  # resolved path (or None when images are not needed)
    source: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def n_objects(self) -> int:
        return len(self.labels)

    def __post_init__(self) -> None:
        self.bboxes = np.asarray(self.bboxes, dtype=np.float64).reshape(-1, 4)
        n = len(self.labels)
        if self.bboxes.shape[0] != n:
            raise ValueError(
                f"image {self.image_id!r}: {n} labels but {self.bboxes.shape[0]} boxes"
            )
        if self.attributes is not None and len(self.attributes) != n:
            raise ValueError(
                f"image {self.image_id!r}: {n} objects but {len(self.attributes)} attribute lists"
            )
        if self.relations is not None:
            for head, rel, tail in self.relations:
                for idx in (head, tail):
                    if not 0 <= int(idx) < n:
                        raise ValueError(
                            f"image {self.image_id!r}: relation ({head}, {rel!r}, {tail}) "
                            f"points to object {idx}, but there are {n} objects"
                        )
        if self.masks is not None and self.masks.shape[0] != n:
            raise ValueError(
                f"image {self.image_id!r}: {n} objects but {self.masks.shape[0]} masks"
            )

"""Single-image generators (24 QA + the caption-only ``SceneGraphCaption``), by family, as in
ProVision's ``generators/single_image``."""

from datarecipes.provision.single import (  # noqa: F401  (registers the generators)
    attribute,
    caption,
    depth,
    object,
    object_depth,
    relation,
    scene_graph,
    segmentation,
)

"""Single-image generators (24), by family, as in ProVision's ``generators/single_image``."""

from datarecipes.provision.single import (  # noqa: F401  (registers the generators)
    attribute,
    depth,
    object,
    object_depth,
    relation,
    scene_graph,
    segmentation,
)

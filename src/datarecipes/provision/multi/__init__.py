"""Multi-image generators (14), as ProVision's ``generators/multi_image``.

Each enumerates the questions of one *group* of images (default 2). The group's order is
the order the images are shown in (the pipeline shuffles it), and answers name images as
``"Image i"`` (0-based) in that order.
"""

from datarecipes.provision.multi import aggregate, compare, select  # noqa: F401

"""Annotation formats read into (and written from) :class:`datarecipes.scenegraph.SceneGraph`."""

from datarecipes.annotations.arrays import AnnotationError
from datarecipes.annotations.provision import load_provision, write_provision
from datarecipes.annotations.visual_genome import load_visual_genome

__all__ = [
    "AnnotationError",
    "load_provision",
    "load_visual_genome",
    "write_provision",
]

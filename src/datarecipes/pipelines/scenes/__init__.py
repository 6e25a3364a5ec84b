"""The ``scenes`` pipeline: the built-in synthetic world with full ProVision annotations."""

from datarecipes.pipelines.scenes.pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""ProVision: scene graphs → single- and multi-image QA (see ``datarecipes.provision``)."""

from datarecipes.pipelines.provision.pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""The ``scm`` pipeline (MachineLearningLM): SCM prior -> SFT records; real-table evaluation."""

from datarecipes.pipelines.scm.pipeline import create_pipeline

__all__ = ["create_pipeline"]

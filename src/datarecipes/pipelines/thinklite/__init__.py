"""ThinkLite-VL: MCTS-difficulty data selection for GRPO (see ``datarecipes.thinklite``)."""

from datarecipes.pipelines.thinklite.pipeline import create_pipeline

__all__ = ["create_pipeline"]

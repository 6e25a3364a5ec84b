"""ThinkLite's selection ablation: mcts vs accuracy vs random, same budget and seed."""

from datarecipes.pipelines.thinklite_ablation.pipeline import create_pipeline

__all__ = ["create_pipeline"]

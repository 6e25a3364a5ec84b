"""ThinkLite's selection experiment: mcts, random, accuracy, all and diverse × seeds, at one
GRPO budget, compared with bootstrap intervals (:mod:`datarecipes.experiments`)."""

from datarecipes.pipelines.thinklite_experiment.pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""Open-Qwen2VL / MLM-Filter's experiment: CLIP pretraining on the recipe's filtered pairs, the
whole pool and the top fraction by CLIP score (DataComp's sweep) × seeds, at one compute
budget, compared by held-out retrieval with bootstrap intervals (:mod:`datarecipes.experiments`)."""

from datarecipes.pipelines.filtering_experiment.pipeline import create_pipeline

__all__ = ["create_pipeline"]

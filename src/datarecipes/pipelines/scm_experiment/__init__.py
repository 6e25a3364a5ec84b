"""MachineLearningLM's experiment: the tabular LM LoRA-trained on the SCM prior at several
seeds, evaluated on held-out prior tasks and real tables at 8..128 shots against majority, kNN
and RF, compared with bootstrap intervals (:mod:`datarecipes.experiments`)."""

from datarecipes.pipelines.scm_experiment.pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""The ``filtering`` pipeline: Open-Qwen2VL / MLM-Filter CLIP and MLLM filtering, packing."""

from datarecipes.pipelines.filtering.pipeline import create_pipeline

__all__ = ["create_pipeline"]

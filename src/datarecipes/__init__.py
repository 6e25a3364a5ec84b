"""datarecipes: data-curation recipes for training (multimodal) LMs, as Kedro pipelines."""

__version__ = "0.1.0"

"""datarecipes: data-curation recipes for training (multimodal) language models, as Kedro pipelines."""

__version__ = "0.1.0"

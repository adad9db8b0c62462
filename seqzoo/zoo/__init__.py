"""The catalogue, free of keras: model directories and their specs (``spec``), weights artifacts,
the cache and the mirror (``artifacts``), and the one place that decides which weights a model
runs on (``weights``)."""

from seqzoo.zoo.spec import ModelNotFoundError, ModelSpec, ModelSpecError, find_model, list_models, load_spec

__all__ = ["ModelNotFoundError", "ModelSpec", "ModelSpecError", "find_model", "list_models", "load_spec"]

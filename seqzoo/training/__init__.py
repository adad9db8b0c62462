"""Training recipes for the zoo's models (``seqzoo train``) and their metrics."""

from seqzoo.training.deepsol import train_deepsol
from seqzoo.training.metrics import binary_metrics

__all__ = ["binary_metrics", "train_deepsol"]

"""Training data sets built from a genome FASTA and labelled intervals (``seqzoo dataset``)."""

from seqzoo.datasets.genome_windows import (
    GenomeWindowDataset,
    SplitError,
    build_dataset,
    parse_split,
    read_manifest,
)

__all__ = ["GenomeWindowDataset", "SplitError", "build_dataset", "parse_split", "read_manifest"]

"""seqzoo: a Keras 3 model zoo for DNA and protein sequences, compatible with kipoi."""

__version__ = "0.1.0"

"""The seqzoo package version (read by setup.cfg and by whatever records provenance)."""

__version__ = "0.1.0"

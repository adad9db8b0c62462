"""Model architectures (keras only), each built by one function whose arguments are its sizes.

One file per family (``basset``, ``deepsea``, ``danq``, ``basenji``, ``resnet``, ``deepsol``,
``ensemble``), each ending in its record (:class:`~seqzoo.architectures.registry.Family`), which
``registry`` finds; shared code: ``heads`` (what DNA families add after their trunk), ``layers``
(custom layers), ``legacy`` (kipoi's Keras 1/2 networks), ``published`` (kipoi's PyTorch weights)
and ``untrained`` (deterministic initial weights). Importing this package imports no keras.
"""

from seqzoo.architectures.basset import build_basset
from seqzoo.architectures.deepsea import build_deepsea
from seqzoo.architectures.deepsol import build_deepsol, build_protein_composition
from seqzoo.architectures.ensemble import build_ensemble
from seqzoo.architectures.registry import Family, build, builder, families, family

__all__ = ["Family", "build", "build_basset", "build_deepsea", "build_deepsol", "build_ensemble",
           "build_protein_composition", "builder", "families", "family"]

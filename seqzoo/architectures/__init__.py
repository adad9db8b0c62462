"""Model architectures (keras only), each built by one function whose arguments are its sizes.

``registry`` maps the name used in a model directory's ``model.yaml`` to its builder; one file per
family (``basset``, ``deepsea``, ``deepsol``, ``ensemble``), shared ``layers``, and ``untrained``
(deterministic initial weights).
"""

from seqzoo.architectures.basset import build_basset
from seqzoo.architectures.deepsea import build_deepsea
from seqzoo.architectures.deepsol import build_deepsol, build_protein_composition
from seqzoo.architectures.ensemble import build_ensemble
from seqzoo.architectures.registry import ARCHITECTURES, build, builder

__all__ = ["ARCHITECTURES", "build", "build_basset", "build_deepsea", "build_deepsol", "build_ensemble",
           "build_protein_composition", "builder"]

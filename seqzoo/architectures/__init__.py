"""Model architectures, each built by one function whose arguments are its sizes.

``ARCHITECTURES`` maps the name used in a model directory's ``model.yaml`` to its builder.
"""

from typing import Callable

import keras

from seqzoo.architectures.basset import build_basset
from seqzoo.architectures.deepsea import build_deepsea
from seqzoo.architectures.deepsol import build_deepsol, build_protein_composition
from seqzoo.architectures.ensemble import build_ensemble

ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {
    "basset": build_basset,
    "deepsea": build_deepsea,
    "deepsol": build_deepsol,
    "ensemble": build_ensemble,
    "protein_composition": build_protein_composition,
}


def build(architecture: str, **config) -> keras.Model:
    """Build ``architecture`` (a key of ``ARCHITECTURES``) with the given size arguments."""
    try:
        builder = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(
            f"unknown architecture {architecture!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
    try:
        return builder(**config)
    except TypeError as e:
        raise ValueError(f"bad configuration for architecture {architecture!r}: {e}") from None


__all__ = ["ARCHITECTURES", "build", "build_basset", "build_deepsea", "build_deepsol", "build_ensemble",
           "build_protein_composition"]

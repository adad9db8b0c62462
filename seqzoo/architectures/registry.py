"""The architectures' registry: the name a model.yaml gives (``args.architecture``) -> its builder.

Builders are named by module and function and imported on first use, so the ensemble (which builds
its members through this registry) and the registry do not import each other.
"""

import importlib
from typing import Callable

import keras

ARCHITECTURES: dict[str, tuple[str, str]] = {
    "basenji": ("seqzoo.architectures.basenji", "build_basenji"),
    "basset": ("seqzoo.architectures.basset", "build_basset"),
    "danq": ("seqzoo.architectures.danq", "build_danq"),
    "deepsea": ("seqzoo.architectures.deepsea", "build_deepsea"),
    "deepsol": ("seqzoo.architectures.deepsol", "build_deepsol"),
    "ensemble": ("seqzoo.architectures.ensemble", "build_ensemble"),
    # a Keras 3 JSON file in the model directory (seqzoo.zoo.spec.KERAS_JSON: imported models)
    "keras_json": ("seqzoo.architectures.legacy", "build_from_json"),
    "protein_composition": ("seqzoo.architectures.deepsol", "build_protein_composition"),
    "resnet": ("seqzoo.architectures.resnet", "build_resnet"),
}


def builder(architecture: str) -> Callable[..., keras.Model]:
    """The builder function of ``architecture`` (a key of ``ARCHITECTURES``)."""
    try:
        module, function = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(
            f"unknown architecture {architecture!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
    return getattr(importlib.import_module(module), function)


def build(architecture: str, **config) -> keras.Model:
    """Build ``architecture`` with the given size arguments."""
    make = builder(architecture)
    try:
        return make(**config)
    except TypeError as e:
        raise ValueError(f"bad configuration for architecture {architecture!r}: {e}") from None

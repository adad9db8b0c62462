"""Storing trained weights compactly: float16 kernels, checked against the float32 model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where used: training.dna's checks run before keras is imported
    import keras

#: Largest |float16-stored - float32| prediction difference allowed when storing in float16.
FLOAT16_TOLERANCE = 1e-3


def _rewrite_float16(path: Path) -> None:
    """Rewrite the float32 kernels (arrays of 2 or more dimensions) of a Keras ``.weights.h5``
    file as float16; Keras casts them back to the variables' float32 on loading. Vectors
    (biases, batch-norm statistics) stay float32: they are a tiny part of the file, and a first
    layer's batch-norm statistics alone can move predictions by more than 1e-3 in float16.
    The file is written anew: HDF5 does not reclaim the space of deleted datasets."""
    import h5py

    half = path.with_name(path.name + ".float16.tmp")

    def copy(source, target):
        target.attrs.update(source.attrs)
        for key, item in source.items():
            if isinstance(item, h5py.Group):
                copy(item, target.create_group(key))
            else:
                values = item[()]
                if isinstance(values, np.ndarray) and values.dtype == np.float32 and values.ndim >= 2:
                    values = values.astype(np.float16)
                target.create_dataset(key, data=values).attrs.update(item.attrs)

    with h5py.File(path, "r") as source, h5py.File(half, "w") as target:
        copy(source, target)
    os.replace(half, path)


def store_float16(path: Path, model: keras.Model, x: np.ndarray) -> float:
    """Rewrite ``path``, the saved weights of ``model``, with float16 kernels, and check that a
    copy of ``model`` loading them predicts ``x`` within :data:`FLOAT16_TOLERANCE` of ``model``
    (else ValueError). Returns the largest difference."""
    import keras

    check = keras.models.clone_model(model)
    _rewrite_float16(Path(path))
    check.load_weights(path)
    deviation = float(np.abs(np.asarray(check.predict_on_batch(x)) - np.asarray(model.predict_on_batch(x))).max())
    if deviation > FLOAT16_TOLERANCE:
        raise ValueError(f"float16 weights change predictions by {deviation:.2e} > {FLOAT16_TOLERANCE}")
    return deviation

"""Deterministic untrained weights, identical on every Keras backend (for models not yet trained)."""

import zlib

import keras
import numpy as np


def untrained_weights(model: keras.Model, seed: int) -> None:
    """Fill ``model`` with deterministic untrained weights drawn from ``seed``.

    Each variable is drawn by NumPy from (seed, variable path), so the values are identical on
    every Keras backend and version, which lets an untrained model carry a reference-prediction
    file. Scales follow Glorot-uniform; biases and batch-norm statistics get small non-trivial
    values so that every part of the network is exercised. These weights are NOT trained.
    """
    for variable in model.weights:
        rng = np.random.default_rng([seed, zlib.crc32(variable.path.encode())])
        shape = tuple(variable.shape)
        kind = variable.path.rsplit("/", 1)[-1]
        if kind == "kernel":
            receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            value = rng.uniform(-limit, limit, shape)
        elif kind == "embeddings":
            value = rng.normal(0.0, 0.5, shape)
        elif kind == "gamma":
            value = rng.uniform(0.9, 1.1, shape)
        elif kind in ("moving_variance", "scale"):  # positive: batch norm, Standardize
            value = rng.uniform(1.0, 1.5, shape)
        else:  # bias, beta, moving_mean
            value = rng.uniform(-0.1, 0.1, shape)
        variable.assign(value.astype(variable.dtype))

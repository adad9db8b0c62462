"""Basset (Kelley et al. 2016, Genome Research 26:990): DNase accessibility from 600 bp."""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqzoo.architectures.registry import Family, PublishedLayout

if TYPE_CHECKING:
    import keras


def build_basset(
    seq_len: int = 600,
    n_tasks: int = 164,
    conv_filters: tuple[int, int, int] = (300, 200, 200),
    conv_widths: tuple[int, int, int] = (19, 11, 7),
    pool_sizes: tuple[int, int, int] = (3, 4, 4),
    dense_units: tuple[int, int] = (1000, 1000),
    dropout: float = 0.3,
    batch_norm_epsilon: float = 1e-5,
) -> keras.Model:
    """Build a Basset-like model; the defaults are the published network (4,140,464 parameters).

    Input: one-hot DNA ``(N, seq_len, 4)`` in ACGT order. Output: ``(N, n_tasks)`` probabilities.
    Each convolution is followed by batch norm, ReLU and max pooling; each hidden dense layer
    by batch norm, ReLU and dropout. Batch norm uses epsilon 1e-5 like the published (Torch)
    network, not Keras' default 1e-3.
    """
    import keras
    from keras import layers

    inputs = keras.Input((seq_len, 4), name="dna")
    x = inputs
    for i, (filters, width, pool) in enumerate(zip(conv_filters, conv_widths, pool_sizes), start=1):
        x = layers.Conv1D(filters, width, name=f"conv{i}")(x)
        x = layers.BatchNormalization(epsilon=batch_norm_epsilon, name=f"conv{i}_bn")(x)
        x = layers.Activation("relu", name=f"conv{i}_relu")(x)
        x = layers.MaxPooling1D(pool, name=f"conv{i}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units, start=1):
        x = layers.Dense(units, name=f"dense{i}")(x)
        x = layers.BatchNormalization(epsilon=batch_norm_epsilon, name=f"dense{i}_bn")(x)
        x = layers.Activation("relu", name=f"dense{i}_relu")(x)
        x = layers.Dropout(dropout, name=f"dense{i}_dropout")(x)
    outputs = layers.Dense(n_tasks, activation="sigmoid", name="output")(x)
    return keras.Model(inputs, outputs, name="basset")


FAMILY = Family(
    name="basset", builder=build_basset, modality="dna", trains="dna", citation="https://doi.org/10.1101/gr.200535.115",
    small={"": dict(seq_len=100, n_tasks=3, conv_filters=(8, 8, 8), conv_widths=(5, 3, 3), dense_units=(16, 16))},
    # kipoi's checkpoint: Linear layers sit inside a small Sequential at element 1 (keys "13.1.weight")
    published=PublishedLayout({"conv1": "0", "conv1_bn": "1", "conv2": "4", "conv2_bn": "5", "conv3": "8",
                               "conv3_bn": "9", "dense1": "13.1", "dense1_bn": "14", "dense2": "17.1",
                               "dense2_bn": "18", "output": "21.1"}),
)

"""DeepSEA (Zhou and Troyanskaya 2015, Nature Methods 12:931): chromatin features from 1000 bp."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from seqzoo.architectures.heads import HEAD_FLOAT32_LAYERS, dna_model
from seqzoo.architectures.registry import Family, PublishedLayout

if TYPE_CHECKING:
    import keras


def build_deepsea(
    seq_len: int = 1000,
    n_tasks: int = 919,
    conv_filters: tuple[int, int, int] = (320, 480, 960),
    conv_width: int | Sequence[int] = 8,
    pool_size: int | Sequence[int] = 4,
    dropouts: tuple[float, float, float] = (0.2, 0.2, 0.5),
    dense_units: int = 925,
    rc_average: bool = False,
    activation_floor: float = 0.0,
    batch_norm: bool = False,
    task_motifs: int = 0,
    task_motif_width: int = 15,
    task_motif_region: int = 400,
) -> keras.Model:
    """Build a DeepSEA-like model; the defaults are the published network (52,843,119 parameters).

    Input: one-hot DNA ``(N, seq_len, 4)`` in ACGT order. Output: ``(N, n_tasks)`` probabilities.
    Three convolutions with ReLU (max pooling after the first two, dropout after each), a
    ReLU dense layer and a sigmoid output. With ``rc_average`` the same layers also score the
    reverse complement and the two predictions are averaged (no extra parameters).
    ``activation_floor`` replaces ReLU by ``x if x > 0 else floor`` (the published network
    uses 1e-6); 0 means ReLU. ``batch_norm`` (not in the published network) adds batch
    normalization between each convolution or hidden dense layer and its activation, which
    makes small versions train in fewer epochs. ``conv_width`` and ``pool_size`` take one
    value for every layer or one per convolution (pool sizes: one per pooling layer).
    """
    n_conv = len(conv_filters)
    widths = [conv_width] * n_conv if isinstance(conv_width, int) else list(conv_width)
    pools = [pool_size] * (n_conv - 1) if isinstance(pool_size, int) else list(pool_size)
    if len(widths) != n_conv or len(pools) != n_conv - 1:
        raise ValueError(
            f"{n_conv} convolutions need {n_conv} conv widths and {n_conv - 1} pool sizes, "
            f"got conv_width={conv_width!r}, pool_size={pool_size!r}"
        )
    import keras
    from keras import layers

    from seqzoo.architectures.layers import Threshold

    inputs = keras.Input((seq_len, 4), name="dna")

    def activation(name):
        if activation_floor:
            return Threshold(activation_floor, name=f"{name}_threshold")
        return layers.Activation("relu", name=f"{name}_relu")

    body = []
    for i, (filters, width, rate) in enumerate(zip(conv_filters, widths, dropouts), start=1):
        body.append(layers.Conv1D(filters, width, name=f"conv{i}"))
        if batch_norm:
            body.append(layers.BatchNormalization(name=f"conv{i}_bn"))
        body.append(activation(f"conv{i}"))
        if i < n_conv:
            body.append(layers.MaxPooling1D(pools[i - 1], name=f"conv{i}_pool"))
        body.append(layers.Dropout(rate, name=f"conv{i}_dropout"))
    body += [layers.Flatten(name="flatten"), layers.Dense(dense_units, name="dense1")]
    if batch_norm:
        body.append(layers.BatchNormalization(name="dense1_bn"))
    # With a motif branch the "output" layer gives logits; the sigmoid follows the sum.
    body += [
        activation("dense1"),
        layers.Dense(n_tasks, activation=None if task_motifs else "sigmoid", name="output"),
    ]

    def trunk(x):
        for layer in body:
            x = layer(x)
        return x

    return dna_model(inputs, trunk, "deepsea", n_tasks=n_tasks, rc_average=rc_average, task_motifs=task_motifs,
                     task_motif_width=task_motif_width, task_motif_region=task_motif_region)


FAMILY = Family(
    name="deepsea", builder=build_deepsea, modality="dna", trains="dna", citation="https://doi.org/10.1038/nmeth.3547",
    small={"": dict(seq_len=200, n_tasks=5, conv_filters=(8, 8, 8), dense_units=16, rc_average=True),
           "task_motifs": dict(seq_len=200, n_tasks=5, conv_filters=(8, 8, 8), dense_units=16, rc_average=True,
                               task_motifs=2, task_motif_width=7, task_motif_region=60)},
    float32_layers=HEAD_FLOAT32_LAYERS,
    # kipoi's checkpoint: an nn.Sequential whose first module recodes ACGT input to AGCT
    published=PublishedLayout({"conv1": "0", "conv2": "4", "conv3": "8", "dense1": "12.1", "output": "14.1"},
                              input_order="AGCT"),
)

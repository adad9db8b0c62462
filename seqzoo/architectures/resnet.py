"""A residual network for DNA (He et al. 2016's blocks, as in ResNet-style genomics models):
stages of two-convolution blocks whose input is added to their output, pooled between stages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqzoo.architectures.heads import HEAD_FLOAT32_LAYERS, dna_model
from seqzoo.architectures.registry import Family

if TYPE_CHECKING:
    import keras


def build_resnet(
    seq_len: int = 1000,
    n_tasks: int = 919,
    stem_filters: int = 64,
    stem_width: int = 15,
    stage_filters: tuple[int, ...] = (64, 128, 192),
    blocks_per_stage: int = 2,
    block_width: int = 5,
    pool_size: int = 4,
    dense_units: int = 256,
    dropout: float = 0.2,
    rc_average: bool = False,
    task_motifs: int = 0,
    task_motif_width: int = 15,
    task_motif_region: int = 400,
) -> keras.Model:
    """Build a ResNet-like model.

    Input: one-hot DNA ``(N, seq_len, 4)`` in ACGT order. Output: ``(N, n_tasks)`` probabilities.
    A stem convolution with batch norm, ReLU and max pooling; per stage, ``blocks_per_stage`` residual blocks
    (convolution, batch norm, ReLU, convolution, batch norm, added to the block's input -- through
    a width-1 convolution where the channels change -- and ReLU) and max pooling; then a dense
    layer with dropout and the output. ``rc_average`` and the motif branch are those of
    :func:`seqzoo.architectures.heads.dna_model`.
    """
    import keras
    from keras import layers

    inputs = keras.Input((seq_len, 4), name="dna")
    stem = [layers.Conv1D(stem_filters, stem_width, padding="same", use_bias=False, name="conv1"),
            layers.BatchNormalization(name="conv1_bn"), layers.Activation("relu", name="conv1_relu"),
            layers.MaxPooling1D(pool_size, name="conv1_pool")]
    stages, channels = [], stem_filters
    for s, filters in enumerate(stage_filters, start=1):
        blocks = []
        for b in range(1, blocks_per_stage + 1):
            name = f"stage{s}_block{b}"
            path = [layers.Conv1D(filters, block_width, padding="same", use_bias=False, name=f"{name}_conv_a"),
                    layers.BatchNormalization(name=f"{name}_bn_a"), layers.Activation("relu", name=f"{name}_relu_a"),
                    layers.Conv1D(filters, block_width, padding="same", use_bias=False, name=f"{name}_conv_b"),
                    layers.BatchNormalization(name=f"{name}_bn_b")]
            shortcut = (layers.Conv1D(filters, 1, use_bias=False, name=f"{name}_shortcut")
                        if channels != filters else None)
            blocks.append((path, shortcut, layers.Add(name=f"{name}_add"),
                           layers.Activation("relu", name=f"{name}_relu")))
            channels = filters
        stages.append((blocks, layers.MaxPooling1D(pool_size, name=f"stage{s}_pool")))
    head = [layers.Flatten(name="flatten"), layers.Dropout(dropout, name="flatten_dropout"),
            layers.Dense(dense_units, name="dense1"), layers.BatchNormalization(name="dense1_bn"),
            layers.Activation("relu", name="dense1_relu"), layers.Dropout(dropout, name="dense1_dropout"),
            layers.Dense(n_tasks, activation=None if task_motifs else "sigmoid", name="output")]

    def trunk(x):
        for layer in stem:
            x = layer(x)
        for blocks, pool in stages:
            for path, shortcut, add, relu in blocks:
                y = x
                for layer in path:
                    y = layer(y)
                x = relu(add([shortcut(x) if shortcut else x, y]))
            x = pool(x)
        for layer in head:
            x = layer(x)
        return x

    return dna_model(inputs, trunk, "resnet", n_tasks=n_tasks, rc_average=rc_average, task_motifs=task_motifs,
                     task_motif_width=task_motif_width, task_motif_region=task_motif_region)


FAMILY = Family(
    name="resnet", builder=build_resnet, modality="dna", trains="dna", citation="https://doi.org/10.1109/CVPR.2016.90",
    small={"": dict(seq_len=200, n_tasks=5, stem_filters=8, stage_filters=(8, 12), dense_units=16),
           "task_motifs": dict(seq_len=200, n_tasks=5, stem_filters=8, stage_filters=(8, 12), dense_units=16,
                               rc_average=True, task_motifs=2, task_motif_width=7, task_motif_region=60)},
    float32_layers=HEAD_FLOAT32_LAYERS,
)

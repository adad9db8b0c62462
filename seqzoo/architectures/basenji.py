"""Basenji (Kelley et al. 2018, Genome Research 28:739): a convolution tower that pools the
sequence, then dilated residual convolutions whose receptive field doubles with every layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqzoo.architectures.heads import HEAD_FLOAT32_LAYERS, dna_model
from seqzoo.architectures.registry import Family

if TYPE_CHECKING:
    import keras


def build_basenji(
    seq_len: int = 1000,
    n_tasks: int = 919,
    stem_filters: int = 64,
    stem_width: int = 15,
    tower_filters: tuple[int, ...] = (96, 128, 160),
    tower_width: int = 5,
    dilated_layers: int = 4,
    dilated_width: int = 3,
    central_bins: int = 8,
    dense_units: int = 256,
    dropout: float = 0.2,
    rc_average: bool = False,
    task_motifs: int = 0,
    task_motif_width: int = 15,
    task_motif_region: int = 400,
) -> keras.Model:
    """Build a Basenji-like model at window-classification scale (Basenji itself predicts 128 bp
    bins of 131 kb; here the central bins of the last layer feed one prediction per window).

    Input: one-hot DNA ``(N, seq_len, 4)`` in ACGT order. Output: ``(N, n_tasks)`` probabilities.
    Blocks are GELU -> convolution -> batch norm (Basenji's order). A stem convolution
    (``stem_width``) and max pooling by 2; one block and max pooling by 2 per ``tower_filters``
    entry; ``dilated_layers`` residual blocks, each a ``dilated_width`` convolution with dilation
    2, 4, 8, ... (half the channels) and a width-1 convolution back to the channels, with dropout,
    added to its input; then the ``central_bins`` central positions, a dense layer and the output.
    ``rc_average`` and the motif branch are those of :func:`seqzoo.architectures.heads.dna_model`.
    """
    import keras
    from keras import layers

    inputs = keras.Input((seq_len, 4), name="dna")

    def block(name, filters, width, dilation=1):
        return [layers.Activation("gelu", name=f"{name}_gelu"),
                layers.Conv1D(filters, width, dilation_rate=dilation, padding="same", use_bias=False, name=name),
                layers.BatchNormalization(name=f"{name}_bn")]

    stem = [layers.Conv1D(stem_filters, stem_width, padding="same", use_bias=False, name="conv1"),
            layers.BatchNormalization(name="conv1_bn"), layers.MaxPooling1D(2, name="conv1_pool")]
    tower = []
    for i, filters in enumerate(tower_filters, start=2):
        tower += block(f"conv{i}", filters, tower_width) + [layers.MaxPooling1D(2, name=f"conv{i}_pool")]
    channels = tower_filters[-1] if tower_filters else stem_filters
    residuals = []
    for i in range(1, dilated_layers + 1):
        residuals.append(
            block(f"dilated{i}", channels // 2, dilated_width, dilation=2 ** i)
            + block(f"dilated{i}_mix", channels, 1)
            + [layers.Dropout(dropout, name=f"dilated{i}_dropout"), layers.Add(name=f"dilated{i}_add")]
        )
    length = seq_len // 2 ** (1 + len(tower_filters))
    if not 0 < central_bins <= length:
        raise ValueError(f"central_bins must lie between 1 and the tower's output length {length}, got {central_bins}")
    crop = (length - central_bins) // 2
    head = [layers.Activation("gelu", name="head_gelu"),
            layers.Cropping1D((crop, length - central_bins - crop), name="head_crop"),
            layers.Flatten(name="flatten"), layers.Dense(dense_units, name="dense1"),
            layers.BatchNormalization(name="dense1_bn"), layers.Activation("gelu", name="dense1_gelu"),
            layers.Dropout(dropout, name="dense1_dropout"),
            layers.Dense(n_tasks, activation=None if task_motifs else "sigmoid", name="output")]

    def trunk(x):
        for layer in stem + tower:
            x = layer(x)
        for residual in residuals:
            y = x
            for layer in residual[:-1]:
                y = layer(y)
            x = residual[-1]([x, y])
        for layer in head:
            x = layer(x)
        return x

    return dna_model(inputs, trunk, "basenji", n_tasks=n_tasks, rc_average=rc_average, task_motifs=task_motifs,
                     task_motif_width=task_motif_width, task_motif_region=task_motif_region)


FAMILY = Family(
    name="basenji", builder=build_basenji, modality="dna", trains="dna",
    citation="https://doi.org/10.1101/gr.227819.117",
    small={"": dict(seq_len=200, n_tasks=5, stem_filters=8, tower_filters=(8, 12), dilated_layers=2, central_bins=4,
                    dense_units=16),
           "task_motifs": dict(seq_len=200, n_tasks=5, stem_filters=8, tower_filters=(8, 12), dilated_layers=2,
                               central_bins=4, dense_units=16, rc_average=True, task_motifs=2, task_motif_width=7,
                               task_motif_region=60)},
    float32_layers=HEAD_FLOAT32_LAYERS,
)

"""DanQ (Quang and Xie 2016, Nucleic Acids Research 44:e107): a convolution finds motifs, a
bidirectional LSTM reads their order and spacing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqzoo.architectures.heads import HEAD_FLOAT32_LAYERS, dna_model
from seqzoo.architectures.registry import Family

if TYPE_CHECKING:
    import keras


def build_danq(
    seq_len: int = 1000,
    n_tasks: int = 919,
    conv_filters: int = 320,
    conv_width: int = 26,
    pool_size: int = 13,
    lstm_units: int = 320,
    dense_units: int = 925,
    dropouts: tuple[float, float] = (0.2, 0.5),
    batch_norm: bool = False,
    rc_average: bool = False,
    task_motifs: int = 0,
    task_motif_width: int = 15,
    task_motif_region: int = 400,
) -> keras.Model:
    """Build a DanQ-like model; the defaults are the published network (46,926,479 parameters).

    Input: one-hot DNA ``(N, seq_len, 4)`` in ACGT order. Output: ``(N, n_tasks)`` probabilities.
    One ReLU convolution, max pooling and dropout; a bidirectional LSTM over the pooled positions
    (both directions' outputs concatenated at every position), dropout, a ReLU dense layer and the
    output. ``batch_norm`` (not in the published network) normalizes the convolution and the dense
    layer. ``rc_average`` and the per-task motif branch (``task_motifs`` filters per task) are
    those of :func:`seqzoo.architectures.heads.dna_model`.
    """
    import keras
    from keras import layers

    inputs = keras.Input((seq_len, 4), name="dna")
    body = [layers.Conv1D(conv_filters, conv_width, name="conv1")]
    if batch_norm:
        body.append(layers.BatchNormalization(name="conv1_bn"))
    body += [
        layers.Activation("relu", name="conv1_relu"),
        layers.MaxPooling1D(pool_size, name="conv1_pool"),
        layers.Dropout(dropouts[0], name="conv1_dropout"),
        layers.Bidirectional(layers.LSTM(lstm_units, return_sequences=True, name="lstm"), name="bilstm"),
        layers.Dropout(dropouts[1], name="bilstm_dropout"),
        layers.Flatten(name="flatten"),
        layers.Dense(dense_units, name="dense1"),
    ]
    if batch_norm:
        body.append(layers.BatchNormalization(name="dense1_bn"))
    body += [
        layers.Activation("relu", name="dense1_relu"),
        layers.Dense(n_tasks, activation=None if task_motifs else "sigmoid", name="output"),
    ]

    def trunk(x):
        for layer in body:
            x = layer(x)
        return x

    return dna_model(inputs, trunk, "danq", n_tasks=n_tasks, rc_average=rc_average, task_motifs=task_motifs,
                     task_motif_width=task_motif_width, task_motif_region=task_motif_region)


FAMILY = Family(
    name="danq", builder=build_danq, modality="dna", trains="dna", citation="https://doi.org/10.1093/nar/gkw226",
    small={"": dict(seq_len=200, n_tasks=5, conv_filters=8, conv_width=9, pool_size=5, lstm_units=4, dense_units=16),
           "task_motifs": dict(seq_len=200, n_tasks=5, conv_filters=8, conv_width=9, pool_size=5, lstm_units=4,
                               dense_units=16, batch_norm=True, rc_average=True, task_motifs=2, task_motif_width=7,
                               task_motif_region=60)},
    float32_layers=HEAD_FLOAT32_LAYERS,
)

"""DanQ (Quang and Xie 2016, Nucleic Acids Research 44:e107): a convolution finds motifs, a
bidirectional LSTM reads their order and spacing."""

import keras
from keras import layers

from seqzoo.architectures.heads import dna_model


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
    inputs = keras.Input((seq_len, 4), name="dna")
    body = [layers.Conv1D(conv_filters, conv_width, name="conv1")]
    if batch_norm:
        body.append(layers.BatchNormalization(name="conv1_bn"))
    body += [
        layers.Activation("relu", name="conv1_relu"),
        layers.MaxPooling1D(pool_size, name="conv1_pool"),
        layers.Dropout(dropouts[0], name="conv1_dropout"),
        layers.Bidirectional(layers.LSTM(lstm_units, return_sequences=True), name="bilstm"),
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

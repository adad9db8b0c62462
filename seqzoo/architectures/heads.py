"""What DNA families share after their trunk: a per-task motif branch and strand averaging.

A family builds its trunk's layers once and passes a function applying them
(``trunk(x) -> logits`` or probabilities); :func:`dna_model` adds the optional motif branch, the
sigmoid and the optional reverse-complement average, calling the same layers on both strands so
that averaging adds no parameters. Layer names are part of the weights files: keep them.
Shared code, not a family (keras is imported inside the functions, as in every family file).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

#: Layers of the head kept in float32 under bfloat16: the strand average of two probabilities.
HEAD_FLOAT32_LAYERS = ("rc_average",)


def task_motif_branch(seq_len: int, n_tasks: int, motifs: int, width: int, region: int) -> Callable:
    """Per-task logits from ``motifs`` filters of ``width`` bp owned by each task alone, scanned over
    the central ``region`` bp; each task's logit is a weighted sum of its filters' best matches."""
    from keras import layers

    from seqzoo.architectures.layers import TaskwiseLinear

    if not width <= region <= seq_len:
        raise ValueError(f"task_motif_region must lie between task_motif_width ({width}) and "
                         f"seq_len ({seq_len}), got {region}")
    crop = (seq_len - region) // 2
    branch = [
        layers.Cropping1D((crop, seq_len - region - crop), name="task_motif_crop"),
        layers.Conv1D(n_tasks * motifs, width, name="task_motif_conv"),
        layers.GlobalMaxPooling1D(name="task_motif_max"),
        TaskwiseLinear(n_tasks, motifs, name="task_motif_logit"),
    ]

    def logits(x):
        for layer in branch:
            x = layer(x)
        return x

    return logits


def dna_model(inputs: keras.KerasTensor, trunk: Callable, name: str, *, n_tasks: int, rc_average: bool = False,
              task_motifs: int = 0, task_motif_width: int = 15, task_motif_region: int = 400) -> keras.Model:
    """The model scoring ``inputs`` with ``trunk``: probabilities when there is no motif branch
    (the trunk ends in a sigmoid ``output`` layer), else the trunk's logits (a linear ``output``)
    plus the motif branch's, through a sigmoid; with ``rc_average`` the mean over both strands."""
    import keras
    from keras import layers

    from seqzoo.architectures.layers import ReverseComplement

    seq_len = inputs.shape[1]
    if task_motifs:
        motif_logits = task_motif_branch(seq_len, n_tasks, task_motifs, task_motif_width, task_motif_region)
        add_logits = layers.Add(name="task_motif_add")  # shared by both strands, like every layer
        sigmoid = layers.Activation("sigmoid", name="output_sigmoid")

    def score(x):
        if not task_motifs:
            return trunk(x)
        return sigmoid(add_logits([trunk(x), motif_logits(x)]))

    outputs = score(inputs)
    if rc_average:
        reverse = score(ReverseComplement(name="reverse_complement")(inputs))
        outputs = layers.Average(name="rc_average")([outputs, reverse])
    return keras.Model(inputs, outputs, name=name)

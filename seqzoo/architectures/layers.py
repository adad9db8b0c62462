"""Small layers shared by the architectures (only keras.ops, so they run on any backend)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqzoo")
class ReverseComplement(keras.layers.Layer):
    """Reverse complement of a one-hot DNA batch ``(N, L, 4)`` in ACGT order.

    In ACGT order the complement (TGCA) is the reversed channel order, so the reverse
    complement is a flip of both the length and the channel axis.
    """

    def call(self, x):
        return ops.flip(ops.flip(x, axis=1), axis=2)

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


@keras.saving.register_keras_serializable(package="seqzoo")
class Threshold(keras.layers.Layer):
    """``x`` where ``x > 0``, else ``floor``: the published DeepSEA's ``Threshold(0, 1e-6)``.

    With ``floor = 0`` this is a ReLU; the published network replaces non-positive values by
    1e-6, not 0, and its weights were trained with that.
    """

    def __init__(self, floor: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.floor = float(floor)

    def call(self, x):
        return ops.where(x > 0, x, ops.cast(self.floor, x.dtype))

    def get_config(self):
        return {**super().get_config(), "floor": self.floor}

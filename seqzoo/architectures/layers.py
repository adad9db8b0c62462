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


@keras.saving.register_keras_serializable(package="seqzoo")
class ProteinComposition(keras.layers.Layer):
    """Global composition of each protein in a token batch ``(N, L)``: ``(N, 20 + 400 g + 1)``.

    The 20 residue frequencies; for each gap ``k`` in ``pair_gaps``, the 400 frequencies of
    ordered residue pairs ``k`` residues apart (``k = 0``: dipeptides; ``k = 1``: residues i and
    i + 2; row = first residue; divided by the number of such pairs), as in CKSAAP features; and
    the log of the length. Padding (token 0) is ignored, so the features do not depend on how
    far a protein is padded. Composition is a classic solubility signal (charged residues,
    cysteines, hydrophobic pairs) that DeepSol's globally max-pooled convolutions, which see
    only the strongest window, cannot count.
    """

    def __init__(self, pair_gaps=(0,), **kwargs):
        super().__init__(**kwargs)
        self.pair_gaps = tuple(int(k) for k in pair_gaps)

    def call(self, tokens):
        tokens = ops.cast(tokens, "int32")
        valid = ops.cast(tokens > 0, "float32")
        residues = ops.one_hot(ops.maximum(tokens - 1, 0), 20) * valid[..., None]  # (N, L, 20)
        length = ops.sum(valid, axis=1, keepdims=True)  # (N, 1)
        features = [ops.sum(residues, axis=1) / ops.maximum(length, 1.0)]
        for k in self.pair_gaps:
            pairs = ops.einsum("nli,nlj->nij", residues[:, : -(k + 1)], residues[:, k + 1 :])  # (N, 20, 20)
            features.append(ops.reshape(pairs, (-1, 400)) / ops.maximum(length - (k + 1.0), 1.0))
        features.append(ops.log(ops.maximum(length, 1.0)))
        return ops.concatenate(features, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 20 + 400 * len(self.pair_gaps) + 1)

    def get_config(self):
        return {**super().get_config(), "pair_gaps": list(self.pair_gaps)}


@keras.saving.register_keras_serializable(package="seqzoo")
class Standardize(keras.layers.Layer):
    """``(x - mean) / scale`` per feature, with ``mean`` and ``scale`` stored as (non-trainable)
    weights: set them from the training data with :meth:`set_statistics` before training."""

    def build(self, input_shape):
        n = input_shape[-1]
        self.mean = self.add_weight(shape=(n,), initializer="zeros", trainable=False, name="mean")
        self.scale = self.add_weight(shape=(n,), initializer="ones", trainable=False, name="scale")

    def set_statistics(self, mean, scale) -> None:
        """Use ``mean`` and ``scale`` (one value per feature; scale must be positive)."""
        self.mean.assign(ops.convert_to_tensor(mean, dtype=self.mean.dtype))
        self.scale.assign(ops.convert_to_tensor(scale, dtype=self.scale.dtype))

    def call(self, x):
        return (x - ops.cast(self.mean, x.dtype)) / ops.cast(self.scale, x.dtype)


@keras.saving.register_keras_serializable(package="seqzoo")
class WeightedAverage(keras.layers.Layer):
    """``sum_i w_i x_i`` over a list of same-shaped inputs, with fixed ``weights`` normalised to
    sum to 1 (a configuration, not trained)."""

    def __init__(self, weights, **kwargs):
        super().__init__(**kwargs)
        total = float(sum(weights))
        self.member_weights = [float(w) / total for w in weights]

    def call(self, inputs):
        return sum(ops.cast(w, x.dtype) * x for w, x in zip(self.member_weights, inputs))

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "weights": self.member_weights}


@keras.saving.register_keras_serializable(package="seqzoo")
class PlattScaling(keras.layers.Layer):
    """Recalibrated probabilities ``sigmoid(slope * logit(p) + intercept)``, with a fixed
    ``slope`` and ``intercept`` fitted elsewhere on held-out predictions (a configuration, not
    trained). The ranking of the inputs is unchanged when ``slope`` is positive."""

    def __init__(self, slope: float, intercept: float, **kwargs):
        super().__init__(**kwargs)
        self.slope, self.intercept = float(slope), float(intercept)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")  # logit needs float32 near 0 and 1
        eps = 1e-7
        p = ops.clip(x, eps, 1.0 - eps)
        return ops.sigmoid(self.slope * (ops.log(p) - ops.log(1.0 - p)) + self.intercept)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "slope": self.slope, "intercept": self.intercept}


@keras.saving.register_keras_serializable(package="seqzoo")
class TaskwiseLinear(keras.layers.Layer):
    """Per-task linear score ``(N, tasks * k) -> (N, tasks)``: task ``t`` sees only its own ``k``
    features ``x[:, t*k:(t+1)*k]``, with its own ``k`` weights and bias (a block-diagonal dense
    layer, written out because grouped convolutions are not supported on every backend's CPU)."""

    def __init__(self, n_tasks: int, per_task: int, kernel_init: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.n_tasks, self.per_task, self.kernel_init = int(n_tasks), int(per_task), float(kernel_init)

    def build(self, input_shape):
        if input_shape[-1] != self.n_tasks * self.per_task:
            raise ValueError(f"TaskwiseLinear({self.n_tasks} tasks x {self.per_task}) needs "
                             f"{self.n_tasks * self.per_task} features, got {input_shape[-1]}")
        self.kernel = self.add_weight(shape=(self.n_tasks, self.per_task), name="kernel",
                                      initializer=keras.initializers.Constant(self.kernel_init))
        self.bias = self.add_weight(shape=(self.n_tasks,), name="bias", initializer="zeros")

    def call(self, x):
        x = ops.reshape(x, (-1, self.n_tasks, self.per_task))
        return ops.sum(x * ops.cast(self.kernel, x.dtype), axis=-1) + ops.cast(self.bias, x.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_tasks)

    def get_config(self):
        return {**super().get_config(), "n_tasks": self.n_tasks, "per_task": self.per_task,
                "kernel_init": self.kernel_init}


@keras.saving.register_keras_serializable(package="seqzoo")
def legacy_hard_sigmoid(x):
    """Keras 1 and 2's ``hard_sigmoid``, ``clip(0.2 x + 0.5, 0, 1)``: the recurrent activation their
    LSTMs and GRUs default to. Keras 3's ``hard_sigmoid`` is another function (``clip(x / 6 + 0.5)``),
    so converted models name this one."""
    return ops.clip(0.2 * x + 0.5, 0.0, 1.0)


@keras.saving.register_keras_serializable(package="seqzoo")
class SplineT(keras.layers.Layer):
    """concise's ``SplineT`` (kipoi's rbp models): a per-feature linear map of B-spline bases.

    Input ``(N, ..., features, bases)`` (scalars expanded by concise's ``EncodeSplines``), output
    ``(N, ..., features)``: feature ``f`` is ``sum_b x[..., f, b] * kernel[b, f]``, plus ``bias[f]``
    with ``use_bias``; with ``shared_weights`` every feature uses ``kernel[b, 0]`` and, as in concise,
    no bias is added. Written from
    concise 0.6's definition; only the forward pass and the weights' layout matter here (its
    training-time regularizer is not carried over).
    """

    def __init__(self, shared_weights: bool = False, use_bias: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.shared_weights, self.use_bias = bool(shared_weights), bool(use_bias)

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"SplineT needs an input (N, ..., features, bases); got {input_shape}")
        n_features, n_bases = input_shape[-2], input_shape[-1]
        self.kernel = self.add_weight(shape=(n_bases, 1 if self.shared_weights else n_features), name="kernel",
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(n_features,), name="bias", initializer="zeros") if self.use_bias else None

    def call(self, x):
        kernel = ops.cast(self.kernel, x.dtype)  # (bases, features or 1)
        out = ops.sum(x * ops.transpose(kernel), axis=-1)  # broadcast over (..., features, bases)
        if self.use_bias and not self.shared_weights:
            out = out + ops.cast(self.bias, x.dtype)
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def get_config(self):
        return {**super().get_config(), "shared_weights": self.shared_weights, "use_bias": self.use_bias}


# Basenji's custom layers (calico/basenji basenji/layers.py), which scBasset and kipoi's Basenji-style
# Keras models name in their configurations. Inference behaviour only: the stochastic augmentations
# are the identity outside training, which is all a converted model runs.

@keras.saving.register_keras_serializable(package="seqzoo")
class GELU(keras.layers.Layer):
    """Basenji's GELU: the sigmoid approximation ``sigmoid(1.702 x) * x`` (not Keras' exact ``gelu``)."""

    def call(self, x):
        return ops.sigmoid(ops.cast(1.702, x.dtype) * x) * x


@keras.saving.register_keras_serializable(package="seqzoo")
class StochasticReverseComplement(keras.layers.Layer):
    """Basenji's training-time random reverse complement. Returns ``(x, reversed)``; at inference
    ``x`` unchanged and ``reversed`` False (a scalar), which :class:`SwitchReverse` reads."""

    def call(self, x):
        return x, ops.convert_to_tensor(False)

    def compute_output_spec(self, x):
        return (keras.KerasTensor(x.shape, x.dtype), keras.KerasTensor((), "bool"))


@keras.saving.register_keras_serializable(package="seqzoo")
class StochasticShift(keras.layers.Layer):
    """Basenji's training-time random shift by up to ``shift_max`` positions; the identity at inference."""

    def __init__(self, shift_max: int = 0, symmetric: bool = True, pad: str = "uniform", **kwargs):
        super().__init__(**kwargs)
        self.shift_max, self.symmetric, self.pad = int(shift_max), bool(symmetric), str(pad)

    def call(self, x):
        return x

    def get_config(self):
        return {**super().get_config(), "shift_max": self.shift_max, "symmetric": self.symmetric, "pad": self.pad}


@keras.saving.register_keras_serializable(package="seqzoo")
class SwitchReverse(keras.layers.Layer):
    """Basenji's ``SwitchReverse([x, reversed])``: ``x`` flipped along its position axis (axes 1 and 2
    for 4-D ``x``) when ``reversed``, else ``x``."""

    def call(self, inputs):
        x, reverse = inputs
        if len(x.shape) not in (3, 4):
            raise ValueError(f"SwitchReverse reads 3-D or 4-D predictions; got shape {x.shape}")
        flipped = ops.flip(x, axis=1) if len(x.shape) == 3 else ops.flip(ops.flip(x, axis=1), axis=2)
        return ops.where(reverse, flipped, x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

"""Attributions of a DNA model's logits: DeepLIFT/DeepSHAP, integrated gradients, ISM, saliency,
input x gradient.

Every method explains a target's **logit**, the output before its final sigmoid (or softmax): a
Keras copy of the network (:func:`logit_model`) drops each output activation that reaches the
model's output through averages only, so for DeepSEA's reverse-complement average and an
ensemble's (weighted) average the logit is the same average of the strands' and members' logits
(averages are linear, so the attributions are the averages of theirs).

**DeepLIFT** (Shrikumar et al. 2017) with the rescale rule, DeepSHAP style (Lundberg and Lee 2017):
each window is paired with ``references`` dinucleotide-shuffled copies of itself
(:func:`dinucleotide_shuffle`, seeded), and the multipliers of the pairs are averaged. It runs in
Keras 3 on the TensorFlow, torch and jax backends: the copy of the network reads the window and
its reference as the two halves of one batch, and every nonlinearity's gradient is replaced
(``keras.ops.custom_gradient``) by its DeepLIFT multiplier, computed from the pair's activations:

* elementwise activations (ReLU, DeepSEA's ``Threshold`` floor, ELU, tanh, a hidden sigmoid, ...):
  the rescale rule ``(f(x) - f(r)) / (x - r)``, or the gradient where ``|x - r| < 1e-6``;
* max pooling (``MaxPooling1D`` with stride = pool size, ``GlobalMaxPooling1D``): the rule of
  captum and tangermeme: the change of each pooled output, ``max(o, o_ref) - o_ref`` routed to the
  window's argmax position and ``o - max(o, o_ref)`` to the reference's, divided by each
  position's change (the gradient where the change is exactly 0);
* linear layers (convolutions, dense layers, batch normalization and dropout at inference,
  flatten, cropping, adds, averages, the reverse complement, ``TaskwiseLinear``) keep their
  gradient, which is their multiplier.

Any other layer (a calibration, a gate, softmax inside the network) is refused with its name and
the reason; nothing is treated as linear by default. Because the rules conserve the difference,
each window's attributions sum to ``logit(x) - mean(logit(refs))``; the difference is the
window's **convergence delta**. A window is flagged (a sign of a rule that does not hold, never
expected) when ``|delta|`` exceeds both ``tolerance`` times the mean ``|logit(x) - logit(ref)|``
(the relative delta) and the absolute floor :data:`DELTA_FLOOR` (1e-4 logits): where the logit
hardly moves between a window and its references, the relative delta divides float32 rounding
(about 1e-6 logits) by a tiny difference and explodes although the attributions are exact.

**Integrated gradients** (Sundararajan et al. 2017) use the same seeded dinucleotide-shuffled
references as baselines: for each reference ``r`` the gradient of the logit is averaged over
``steps`` points ``r + a (x - r)`` at the midpoints ``a = (k + 1/2) / steps`` (a Riemann sum), and
the results are averaged over the references. The attributions sum to ``logit(x) -
mean(logit(refs))`` only up to the quadrature error, reported as the same **completeness delta**
(flagged above ``tolerance`` and the floor as for DeepLIFT; more ``steps`` make it smaller).

**ISM** predicts every single-base substitution, batched across windows; the identity mutation
(the observed base) is never run, and ``ism_region`` ``(start, end)`` (0-based offsets in the
window, half-open) restricts the substitutions to a central stretch: outside it both arrays are 0.
The result records the forward passes run and those saved against the naive ``1 + 4 L`` per window.

**Arrays.** For each window and target: ``hypothetical`` ``(L, 4)``, the contribution each base
would make at each position (DeepLIFT: the multipliers projected onto the one-hot change,
``m[i, b] - sum_c ref[i, c] m[i, c]``, averaged over the references, as TF-MoDISco needs;
integrated gradients: the same with ``m`` the path-averaged gradient); and
``attributions`` = ``hypothetical`` times the one-hot window (only the observed base carries a
value). For ``ism``, ``hypothetical[i, b]`` is the logit change of base ``b`` at ``i`` minus the
mean change over the four bases at ``i``; for ``saliency`` both arrays are the gradient of the
logit; for ``input_x_gradient`` ``hypothetical`` is the gradient and ``attributions`` the
gradient times the input.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from seqzoo.architectures.layers import (PlattScaling, ReverseComplement, TaskwiseLinear, Threshold,
                                         WeightedAverage)
from seqzoo.interpret import input_gradients, target_index
from seqzoo.io.bed import Interval, centered_window, rereadable_bed
from seqzoo.io.genome import Genome
from seqzoo.io.tables import check_output, output_format, publish, temporary_file
from seqzoo.io.tracks import TrackWriter
from seqzoo.runtime import ZooModel
from seqzoo.windows import check_bed, count_tiles, iter_tiles, iter_window_batches, tile_regions

__all__ = [
    "ATTRIBUTE_FORMATS", "ATTRIBUTION_METHODS", "AttributionResult", "attribute", "attribute_windows",
    "deeplift", "DELTA_FLOOR", "dinucleotide_shuffle", "integrated_gradients", "logit_model", "REFERENCE_METHODS",
    "UnsupportedLayer",
]

ATTRIBUTION_METHODS = ("deeplift", "ism", "saliency", "input_x_gradient", "integrated_gradients")
#: Methods that explain the difference to dinucleotide-shuffled references (with a convergence delta).
REFERENCE_METHODS = ("deeplift", "integrated_gradients")
#: Output formats of :func:`attribute_windows` by extension.
ATTRIBUTE_FORMATS = {".npz": "npz", ".h5": "hdf5", ".hdf5": "hdf5", ".bw": "bigwig", ".bigwig": "bigwig"}
#: A window's convergence delta is flagged above this fraction of its mean |logit(x) - logit(ref)|...
TOLERANCE = 1e-3
#: ... and above this absolute floor (logits). DeepLIFT's deltas on real windows are float32 rounding:
#: at most 1.1e-6 logits on DeepSEA_Athaliana265's 52 ABF2 summit windows and 102 ABF2-bound bins of
#: the validation block (research/measure_attribution_biology.py); the floor is about 100 times that,
#: and a 1e-4 change of a logit moves a probability by at most 2.5e-5, far below anything a prediction
#: is read for.
DELTA_FLOOR = 1e-4
_SMALL = 1e-6  # the rescale rule's fallback to the gradient (captum's and tangermeme's threshold)


class UnsupportedLayer(ValueError):
    """A layer DeepLIFT has no rule for (or an output that has no logit): refused, never guessed."""


# ---------------------------------------------------------------------------------------------
# Dinucleotide shuffles


def _shuffle_tokens(tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly drawn sequence with exactly the dinucleotide counts, first and last token of
    ``tokens`` (Altschul and Erickson 1985): a random last-exit arborescence toward the last token
    (Wilson's loop-erased walk over the transition multigraph), then the other exits of every
    token in random order, walked as an Eulerian path."""
    n_tokens = int(tokens.max()) + 1
    exits = [list(tokens[1:][tokens[:-1] == t]) for t in range(n_tokens)]
    last = int(tokens[-1])
    present = {int(t) for t in tokens}
    # Wilson's algorithm: from each token, walk random exits until the tree is hit, erasing loops.
    in_tree = {last}
    chosen: dict[int, int] = {}  # token -> index into exits[token] of its last exit
    for start in sorted(present):
        step: dict[int, int] = {}
        u = start
        while u not in in_tree:
            step[u] = int(rng.integers(len(exits[u])))
            u = int(exits[u][step[u]])
        u = start
        while u not in in_tree:
            chosen[u] = step[u]
            in_tree.add(u)
            u = int(exits[u][step[u]])
    order = []
    for t in range(n_tokens):
        out = list(exits[t])
        if t in chosen:
            final = out.pop(chosen[t])
            out = [out[i] for i in rng.permutation(len(out))] + [final]
        else:
            out = [out[i] for i in rng.permutation(len(out))]
        order.append(out)
    result = np.empty_like(tokens)
    result[0] = tokens[0]
    used = [0] * n_tokens
    for i in range(1, len(tokens)):
        t = int(result[i - 1])
        result[i] = order[t][used[t]]
        used[t] += 1
    return result


def dinucleotide_shuffle(x: np.ndarray, n: int = 20, seed: int = 0) -> np.ndarray:
    """``n`` dinucleotide-shuffled copies ``(n, L, 4)`` of one one-hot window ``x`` ``(L, 4)``.

    Each copy has exactly the window's counts of every pair of adjacent columns, and its first and
    last column (a column is a base, or N / an IUPAC code as encoded: each distinct column is one
    letter of the shuffle, so N stretches keep their length and neighbours' counts). The copies are
    drawn uniformly among such sequences (Altschul-Erickson) from ``seed`` alone.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 4 or len(x) < 1:
        raise ValueError(f"expected one one-hot window (L, 4); got shape {x.shape}")
    columns, tokens = np.unique(x, axis=0, return_inverse=True)
    tokens = tokens.reshape(-1)
    rng = np.random.default_rng(seed)
    if len(columns) == 1 or len(x) < 3:
        return np.repeat(x[None], n, axis=0)
    return np.stack([columns[_shuffle_tokens(tokens, rng)] for _ in range(n)]).astype(x.dtype)


# ---------------------------------------------------------------------------------------------
# The logit network with DeepLIFT rules

_LINEAR = (layers.InputLayer, layers.Conv1D, layers.Dense, layers.BatchNormalization, layers.Dropout,
           layers.SpatialDropout1D, layers.GaussianNoise, layers.GaussianDropout, layers.Flatten, layers.Reshape,
           layers.Permute, layers.Cropping1D, layers.ZeroPadding1D, layers.Add, layers.Subtract, layers.Average,
           layers.Concatenate, layers.AveragePooling1D, layers.GlobalAveragePooling1D, layers.Identity,
           ReverseComplement, WeightedAverage, TaskwiseLinear)
_OUTPUT_ACTIVATIONS = ("sigmoid", "softmax")
_ELEMENTWISE = ("relu", "elu", "selu", "gelu", "silu", "swish", "tanh", "sigmoid", "softplus", "softsign",
                "leaky_relu", "relu6", "mish", "hard_sigmoid", "exponential")


def _activation_name(layer) -> str | None:
    """The name of a layer's activation function (None for a layer without one)."""
    function = getattr(layer, "activation", None)
    if function is None:
        return None
    name = keras.activations.serialize(function)
    return name if isinstance(name, str) else getattr(function, "__name__", str(function))


def _output_activations(model: keras.Model) -> set[int]:
    """ids of the layers whose sigmoid/softmax reaches the model's output through averages only
    (members of an ensemble, strands of a reverse-complement average): those are dropped."""
    found: set[int] = set()

    def walk(tensor) -> None:
        operation, node_index, tensor_index = tensor._keras_history
        if isinstance(operation, (layers.Average, WeightedAverage)):
            for t in operation._inbound_nodes[node_index].input_tensors:
                walk(t)
        elif isinstance(operation, keras.Model):
            walk(operation.outputs[tensor_index])
        elif _activation_name(operation) in _OUTPUT_ACTIVATIONS:
            found.add(id(operation))

    for tensor in model.outputs:
        walk(tensor)
    return found


def _derivative(name: str, function, z):
    """f'(z) for the rescale rule's fallback (exact for ReLU-like units, else a central difference)."""
    if name in ("relu", "threshold"):
        return ops.cast(z > 0, z.dtype)
    h = 1e-3
    return (function(z + h) - function(z - h)) / (2 * h)


def _rescale(function, name: str):
    """``function`` applied to a batch [inputs; references], with DeepLIFT's rescale multiplier as
    its gradient (the inputs' half; the references' half gets the same)."""

    @ops.custom_gradient
    def op(z):
        y = function(z)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            n = ops.shape(z)[0] // 2
            dz = z[:n] - z[n:]
            small = ops.abs(dz) < _SMALL
            secant = (y[:n] - y[n:]) / ops.where(small, ops.ones_like(dz), dz)
            half = upstream[:n] * ops.where(small, _derivative(name, function, z[:n]), secant)
            return ops.concatenate([half, half], axis=0)

        return y, grad

    return op


def _max_pool(z, pool: int, global_pool: bool):
    """Max pooling of a batch [inputs; references] ``(2n, L, C)`` over windows of ``pool`` (stride
    ``pool``, trailing positions dropped as Keras' 'valid' does), with the captum/tangermeme DeepLIFT
    rule as its gradient (module docstring)."""

    @ops.custom_gradient
    def op(z):
        length, channels = z.shape[1], z.shape[2]
        n_out = length // pool
        windows = ops.reshape(z[:, :n_out * pool], (-1, n_out, pool, channels))
        y = ops.max(windows, axis=2)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            n = ops.shape(z)[0] // 2
            g = ops.reshape(upstream, (-1, n_out, channels))[:n]
            wx, wr = windows[:n], windows[n:]
            yx, yr = y[:n], y[n:]
            hit_x = ops.one_hot(ops.argmax(wx, axis=2), pool, axis=2, dtype=z.dtype)
            hit_r = ops.one_hot(ops.argmax(wr, axis=2), pool, axis=2, dtype=z.dtype)
            top = ops.maximum(yx, yr)
            routed = hit_x * ops.expand_dims(g * (top - yr), 2) + hit_r * ops.expand_dims(g * (yx - top), 2)
            dz = wx - wr
            zero = dz == 0
            half = ops.where(zero, hit_x * ops.expand_dims(g, 2), routed / ops.where(zero, ops.ones_like(dz), dz))
            half = ops.reshape(half, (-1, n_out * pool, channels))
            if n_out * pool < length:
                half = ops.pad(half, ((0, 0), (0, length - n_out * pool), (0, 0)))
            return ops.concatenate([half, half], axis=0)

        return (y[:, 0] if global_pool else y), grad

    return op(z)


class _DeepLIFTRule(keras.layers.Layer):
    """A nonlinearity of the DeepLIFT network: forward as the original, DeepLIFT multipliers as
    gradient; its input is the batch [inputs; references]."""

    def __init__(self, kind: str, function=None, activation: str = "", pool: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.function, self.activation_name, self.pool = kind, function, activation, pool

    def call(self, z):
        if self.kind == "rescale":
            return _rescale(self.function, self.activation_name)(z)
        return _max_pool(z, self.pool or z.shape[1], self.kind == "global_max")

    def compute_output_shape(self, input_shape):
        if self.kind == "rescale":
            return input_shape
        if self.kind == "global_max":
            return (input_shape[0], input_shape[2])
        return (input_shape[0], input_shape[1] // self.pool, input_shape[2])


class _Then(keras.layers.Layer):
    """A linear layer followed by its activation's DeepLIFT rule (a Dense or Conv1D with a hidden
    nonlinear activation); holds the linear layer's weights, in its order."""

    def __init__(self, linear, rule, **kwargs):
        super().__init__(**kwargs)
        self.linear, self.rule = linear, rule

    def build(self, input_shape):
        self.linear.build(input_shape)

    def call(self, x):
        return self.rule(self.linear(x))

    def compute_output_shape(self, input_shape):
        return self.linear.compute_output_shape(input_shape)


def _without_activation(layer):
    config = layer.get_config()
    config["activation"] = "linear"
    return type(layer).from_config(config)


def _elementwise(layer, activation: str | None):
    """(name, function) of an elementwise activation layer (or of a layer's activation)."""
    if isinstance(layer, Threshold):
        floor = layer.floor
        return "threshold", lambda z: ops.where(z > 0, z, ops.cast(floor, z.dtype))
    if isinstance(layer, (layers.ReLU, layers.LeakyReLU, layers.ELU)):
        return f"{type(layer).__name__.lower()}_layer", layer.call  # its own arguments: derivative numerically
    return activation, layer.activation


def _clone_layer(layer, output_activations: set[int], deeplift: bool, model_name: str):
    """The copy of ``layer`` in the logit (and, with ``deeplift``, DeepLIFT) network."""
    where = f"{model_name}: layer {layer.name!r} ({type(layer).__name__})"
    activation = _activation_name(layer)
    if isinstance(layer, PlattScaling):
        raise UnsupportedLayer(f"{where} recalibrates averaged probabilities: the output has no logit that "
                               "is a sum of contributions; explain the uncalibrated model")
    if id(layer) in output_activations:  # the output's sigmoid/softmax: the logit is its input
        if isinstance(layer, layers.Activation):
            return layers.Identity(name=layer.name)
        return _without_activation(layer)
    if not deeplift:  # the logit network alone: every other layer as it is
        return type(layer).from_config(layer.get_config())
    if isinstance(layer, (layers.MaxPooling1D, layers.GlobalMaxPooling1D)):
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise UnsupportedLayer(f"{where}: only channels_last pooling has a DeepLIFT rule here")
        if isinstance(layer, layers.MaxPooling1D):
            pool, stride = layer.pool_size[0], layer.strides[0]
            if stride != pool or layer.padding != "valid":
                raise UnsupportedLayer(f"{where}: max pooling with stride {stride} != pool {pool} or padding "
                                       f"{layer.padding!r} has no DeepLIFT rule here (windows must not overlap)")
            return _DeepLIFTRule("max", pool=pool, name=layer.name)
        if getattr(layer, "keepdims", False):
            raise UnsupportedLayer(f"{where}: keepdims=True has no DeepLIFT rule here")
        return _DeepLIFTRule("global_max", name=layer.name)
    if isinstance(layer, (Threshold, layers.Activation, layers.ReLU, layers.LeakyReLU, layers.ELU)):
        name, function = _elementwise(layer, activation)
        if name == "linear":
            return type(layer).from_config(layer.get_config())
        if name != "threshold" and not name.endswith("_layer") and name not in _ELEMENTWISE:
            raise UnsupportedLayer(f"{where}: activation {name!r} is not elementwise or has no DeepLIFT rule "
                                   "here (a softmax only at the output)")
        return _DeepLIFTRule("rescale", function, name, name=layer.name)
    if isinstance(layer, _LINEAR):
        if activation in (None, "linear"):
            return type(layer).from_config(layer.get_config())
        if activation not in _ELEMENTWISE:
            raise UnsupportedLayer(f"{where}: activation {activation!r} is not elementwise or has no DeepLIFT "
                                   "rule here (a softmax only at the output)")
        name, function = _elementwise(layer, activation)
        rule = _DeepLIFTRule("rescale", function, name, name=f"{layer.name}_rule")
        return _Then(_without_activation(layer), rule, name=layer.name)
    if isinstance(layer, (layers.RNN, layers.Bidirectional)):
        cell = type(layer.forward_layer if isinstance(layer, layers.Bidirectional) else layer).__name__
        raise UnsupportedLayer(f"{where} is a recurrent layer ({cell}): DeepLIFT has no rule here for its gates "
                               "(a gate multiplies a signal, which the rescale rule does not cover), so its "
                               "attributions would not sum to the logit difference; use method "
                               "'integrated_gradients' (seqzoo attribute --method integrated_gradients: only "
                               "gradients, its completeness delta reported) or 'ism'")
    raise UnsupportedLayer(f"{where} has no DeepLIFT rule: it is neither linear nor an elementwise "
                           "activation nor max pooling, and is refused rather than treated as linear")


def logit_model(keras_model: keras.Model, deeplift: bool = False) -> keras.Model:
    """A copy of ``keras_model`` (same weights) whose output is the logits (module docstring).

    With ``deeplift`` the copy reads a batch ``[inputs; references]`` (the two halves paired row by
    row) and its gradient with respect to the inputs' half is the DeepLIFT multipliers. Raises
    :class:`UnsupportedLayer` naming the first layer without a rule.
    """
    outputs = _output_activations(keras_model)

    def clone(layer):
        return _clone_layer(layer, outputs, deeplift, keras_model.name)

    copy = keras.models.clone_model(keras_model, clone_function=clone, recursive=True)
    copy.set_weights(keras_model.get_weights())
    return copy


# ---------------------------------------------------------------------------------------------
# Attributions of windows


@dataclass
class AttributionResult:
    """Attributions of windows ``(W, L, 4)`` for targets ``T``: arrays ``(W, T, L, 4)`` and ``(W, T)``
    (see the module docstring). ``deltas``, ``relative_deltas`` and ``flagged`` are NaN/False for
    the methods without a reference; ``logits`` are the windows' logits, ``reference_logits`` the
    mean logits of their references (DeepLIFT, integrated gradients)."""

    method: str
    targets: list[str]
    attributions: np.ndarray
    hypothetical: np.ndarray
    logits: np.ndarray
    reference_logits: np.ndarray = field(default=None)
    deltas: np.ndarray = field(default=None)
    relative_deltas: np.ndarray = field(default=None)
    flagged: np.ndarray = field(default=None)
    references: int = 0
    seed: int = 0
    tolerance: float = TOLERANCE
    steps: int = 0  #: integrated gradients' steps per reference
    forward_passes: int = 0  #: ISM: forward passes run
    forward_passes_saved: int = 0  #: ISM: against the naive 1 + 4 L per window


def _forward(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([keras.ops.convert_to_numpy(model(x[lo:lo + batch_size], training=False))
                           for lo in range(0, len(x), batch_size)]) if len(x) else np.zeros((0,))


def _references(x: np.ndarray, references: int, seed: int, reference_windows: np.ndarray | None) -> np.ndarray:
    """``(W, K, L, 4)``: the given reference windows, or ``references`` dinucleotide shuffles of window
    ``w`` drawn with seed ``seed + w``."""
    if reference_windows is None:
        reference_windows = np.stack([dinucleotide_shuffle(w, references, seed + i) for i, w in enumerate(x)]) \
            if len(x) else np.zeros((0, references) + x.shape[1:], np.float32)
    return np.asarray(reference_windows, dtype=np.float32)


def _converged(x: np.ndarray, hypothetical: np.ndarray, refs: np.ndarray, targets: list[int],
               logits_net: keras.Model, batch_size: int, tolerance: float) -> dict:
    """The :class:`AttributionResult` arrays of a reference method from its ``hypothetical``
    ``(W, T, L, 4)``: attributions, logits, the references' mean logits and the convergence deltas."""
    n_windows, k = refs.shape[:2]
    logits = _forward(logits_net, x, batch_size)[:, targets].astype(np.float64)
    ref_logits = _forward(logits_net, refs.reshape((-1,) + x.shape[1:]), batch_size)[:, targets] \
        .astype(np.float64).reshape(n_windows, k, -1)
    attributions = hypothetical * x[:, None]
    deltas = attributions.sum(axis=(2, 3)) - (logits - ref_logits.mean(axis=1))
    scale = np.abs(logits[:, None] - ref_logits).mean(axis=1)
    relative = np.abs(deltas) / np.maximum(scale, 1e-12)
    return dict(attributions=attributions.astype(np.float32), hypothetical=hypothetical.astype(np.float32),
                logits=logits, reference_logits=ref_logits.mean(axis=1), deltas=deltas,
                relative_deltas=relative, flagged=(relative > tolerance) & (np.abs(deltas) > DELTA_FLOOR))


def _projected(multipliers: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Hypothetical contributions from per-pair multipliers ``(W*K, L, 4)``:
    ``m[i, b] - sum_c r[i, c] m[i, c]`` (the contribution of base ``b`` at ``i`` had it been there),
    averaged over each window's ``K`` references -> ``(W, L, 4)``."""
    n_windows, k = refs.shape[:2]
    pairs_r = refs.reshape(multipliers.shape)
    projected = multipliers - (multipliers * pairs_r).sum(axis=-1, keepdims=True)
    return projected.reshape((n_windows, k) + multipliers.shape[1:]).mean(axis=1)


def deeplift(keras_model: keras.Model, x: np.ndarray, targets: list[int], references: int = 20, seed: int = 0,
             batch_size: int = 32, tolerance: float = TOLERANCE, reference_windows: np.ndarray | None = None,
             networks: tuple[keras.Model, keras.Model] | None = None) -> dict:
    """DeepLIFT/DeepSHAP of the logits of ``targets`` (column indices) for windows ``x`` ``(W, L, 4)``.

    Window ``w`` is paired with ``references`` dinucleotide shuffles drawn with seed ``seed + w``
    (or the given ``reference_windows`` ``(W, K, L, 4)``); ``batch_size`` pairs go through the
    network at once. ``networks`` are the (logit, DeepLIFT) copies when the caller holds them.
    Returns a dict of the :class:`AttributionResult` arrays.
    """
    x = np.asarray(x, dtype=np.float32)
    refs = _references(x, references, seed, reference_windows)
    k = refs.shape[1]
    logits_net, lift_net = networks or (logit_model(keras_model), logit_model(keras_model, deeplift=True))
    pairs_x = np.repeat(x, k, axis=0)
    pairs_r = refs.reshape((-1,) + x.shape[1:])
    hypothetical = np.zeros((len(x), len(targets)) + x.shape[1:], dtype=np.float64)
    for j, t in enumerate(targets):
        multipliers = np.concatenate([
            input_gradients(lift_net, np.concatenate([pairs_x[lo:lo + batch_size], pairs_r[lo:lo + batch_size]]),
                            t)[:len(pairs_x[lo:lo + batch_size])]
            for lo in range(0, len(pairs_x), batch_size)]).astype(np.float64)
        hypothetical[:, j] = _projected(multipliers, refs)
    return _converged(x, hypothetical, refs, targets, logits_net, batch_size, tolerance)


def integrated_gradients(keras_model: keras.Model, x: np.ndarray, targets: list[int], references: int = 20,
                         seed: int = 0, steps: int = 32, batch_size: int = 32, tolerance: float = TOLERANCE,
                         reference_windows: np.ndarray | None = None, network: keras.Model | None = None) -> dict:
    """Integrated gradients of the logits of ``targets`` for windows ``x`` ``(W, L, 4)``, from the
    same references as :func:`deeplift` (``seed``, ``reference_windows``), with ``steps`` midpoint
    steps per reference (module docstring). ``network`` is the logit copy when the caller holds it.
    Returns a dict of the :class:`AttributionResult` arrays (``deltas``: the completeness gap)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    x = np.asarray(x, dtype=np.float32)
    refs = _references(x, references, seed, reference_windows)
    k = refs.shape[1]
    net = network or logit_model(keras_model)
    pairs_x = np.repeat(x, k, axis=0)
    pairs_r = refs.reshape((-1,) + x.shape[1:])
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)
    hypothetical = np.zeros((len(x), len(targets)) + x.shape[1:], dtype=np.float64)
    for j, t in enumerate(targets):
        mean_gradients = np.zeros(pairs_x.shape, np.float64)
        # every (pair, step) point of the paths, batch_size points at a time
        points = np.arange(len(pairs_x) * steps)
        for lo in range(0, len(points), batch_size):
            pair, step = np.divmod(points[lo:lo + batch_size], steps)
            a = alphas[step][:, None, None]
            path = pairs_r[pair] + a * (pairs_x[pair] - pairs_r[pair])
            np.add.at(mean_gradients, pair, input_gradients(net, path, t).astype(np.float64))
        hypothetical[:, j] = _projected(mean_gradients / steps, refs)
    return _converged(x, hypothetical, refs, targets, net, batch_size, tolerance)


def _ism(net: keras.Model, x: np.ndarray, targets: list[int], batch_size: int,
         region: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Logit changes of every single-base substitution ``(W, T, L, 4)`` (0 at the observed base,
    whose identity mutation is not run, and outside ``region``), the windows' logits ``(W, T)`` and
    the number of forward passes run. Mutants of all windows are batched together."""
    n_windows, length = x.shape[:2]
    start, end = region or (0, length)
    effects = np.zeros((n_windows, len(targets), length, 4), dtype=np.float64)
    logits = _forward(net, x, batch_size)[:, targets].astype(np.float64)
    window, position, base = np.meshgrid(np.arange(n_windows), np.arange(start, end), np.arange(4), indexing="ij")
    window, position, base = window.ravel(), position.ravel(), base.ravel()
    keep = x[window, position, base] != 1  # the observed base: no change, no forward pass
    window, position, base = window[keep], position[keep], base[keep]
    eye = np.eye(4, dtype=np.float32)
    for lo in range(0, len(window), batch_size):
        w, pos, b = window[lo:lo + batch_size], position[lo:lo + batch_size], base[lo:lo + batch_size]
        mutants = x[w].copy()
        mutants[np.arange(len(w)), pos] = eye[b]
        out = _forward(net, mutants, batch_size)[:, targets].astype(np.float64)
        effects[w, :, pos, b] = out - logits[w]
    return effects, logits, n_windows + len(window)


def attribute(model: ZooModel | keras.Model, x: np.ndarray, targets: list[str | int] | str | int,
              method: str = "deeplift", references: int = 20, seed: int = 0, batch_size: int = 32,
              tolerance: float = TOLERANCE, steps: int = 32, ism_region: tuple[int, int] | None = None,
              reference_windows: np.ndarray | None = None, networks: dict | None = None) -> AttributionResult:
    """Attributions of the logits of ``targets`` (labels, ``NAME#i`` columns or 0-based indices) for
    one-hot windows ``x`` ``(W, L, 4)`` by ``method`` (module docstring). ``references``, ``seed``
    (window ``w``'s references are drawn with ``seed + w``) or ``reference_windows`` ``(W, K, L, 4)``
    are DeepLIFT's and integrated gradients'; ``steps`` integrated gradients'; ``ism_region``
    ``(start, end)`` restricts ISM to those window offsets. ``networks`` caches the Keras copies
    between calls (a dict the caller keeps)."""
    if method not in ATTRIBUTION_METHODS:
        raise ValueError(f"method must be one of {', '.join(ATTRIBUTION_METHODS)}; got {method!r}")
    if isinstance(references, bool) or not isinstance(references, int) or references < 1:
        raise ValueError(f"references must be a positive integer; got {references!r}")
    keras_model = model.keras_model if isinstance(model, ZooModel) else model
    targets = [targets] if isinstance(targets, (str, int)) else list(targets)
    if isinstance(model, ZooModel):
        indices = [target_index(model, t) for t in targets]
        names = [model.columns[i] for i in indices]
    else:
        indices, names = [int(t) for t in targets], [str(t) for t in targets]
    x = np.asarray(x, dtype=np.float32)
    if ism_region is not None:
        if method != "ism":
            raise ValueError(f"ism_region is for method 'ism', not {method!r}")
        if not 0 <= ism_region[0] < ism_region[1] <= x.shape[1]:
            raise ValueError(f"ism_region {ism_region}: need 0 <= start < end <= {x.shape[1]}")
    networks = {} if networks is None else networks
    device = model.device if isinstance(model, ZooModel) else "cpu"
    with keras.device(device):
        if "logits" not in networks:
            networks["logits"] = logit_model(keras_model)
        net = networks["logits"]
        if method == "deeplift":
            if "deeplift" not in networks:
                networks["deeplift"] = logit_model(keras_model, deeplift=True)
            arrays = deeplift(keras_model, x, indices, references, seed, batch_size, tolerance,
                              reference_windows=reference_windows, networks=(net, networks["deeplift"]))
            return AttributionResult(method, names, references=references, seed=seed, tolerance=tolerance, **arrays)
        if method == "integrated_gradients":
            arrays = integrated_gradients(keras_model, x, indices, references, seed, steps, batch_size, tolerance,
                                          reference_windows=reference_windows, network=net)
            return AttributionResult(method, names, references=references, seed=seed, tolerance=tolerance,
                                     steps=steps, **arrays)
        passes = saved = 0
        if method == "ism":
            effects, logits, passes = _ism(net, x, indices, max(batch_size, 64), ism_region)
            saved = len(x) * (1 + 4 * x.shape[1]) - passes
            hypothetical = effects - effects.mean(axis=-1, keepdims=True)
            if ism_region is not None:  # outside the region nothing was measured: 0, not minus the mean
                hypothetical[:, :, :ism_region[0]] = 0
                hypothetical[:, :, ism_region[1]:] = 0
        else:
            hypothetical = np.stack([np.concatenate([input_gradients(net, x[lo:lo + batch_size], t)
                                                     for lo in range(0, len(x), batch_size)])
                                     for t in indices], axis=1).astype(np.float64)
            logits = _forward(net, x, batch_size)[:, indices].astype(np.float64)
    attributions = hypothetical if method == "saliency" else hypothetical * x[:, None]
    missing = np.full(logits.shape, np.nan)
    return AttributionResult(method, names, attributions.astype(np.float32), hypothetical.astype(np.float32),
                             logits, missing, missing, missing, np.zeros(logits.shape, bool), tolerance=tolerance,
                             forward_passes=passes, forward_passes_saved=saved)


# ---------------------------------------------------------------------------------------------
# Genome windows in, arrays or tracks out

def _window_arrays(result: AttributionResult, x: np.ndarray, intervals: list[Interval], notes: list[str],
                   starts: np.ndarray) -> dict:
    """The arrays of one batch as stored in .npz/.h5 (see :func:`attribute_windows`)."""
    return {
        "sequences": x.astype(np.float32), "attributions": result.attributions,
        "hypothetical": result.hypothetical, "logits": result.logits.astype(np.float32),
        "reference_logits": result.reference_logits.astype(np.float32), "deltas": result.deltas,
        "relative_deltas": result.relative_deltas, "flagged": result.flagged,
        "chrom": np.array([iv.chrom for iv in intervals]), "start": np.array([iv.start for iv in intervals], np.int64),
        "end": np.array([iv.end for iv in intervals], np.int64), "name": np.array([iv.name for iv in intervals]),
        "strand": np.array([iv.strand for iv in intervals]), "window_start": starts.astype(np.int64),
        "note": np.array(notes),
    }


def _write_arrays(output: Path, kind: str, arrays: dict, overwrite: bool) -> None:
    """Write ``arrays`` to ``output`` (.npz or HDF5) atomically (``seqzoo.io.tables.publish``)."""
    partial = temporary_file(output)
    try:
        if kind == "npz":
            with open(partial, "wb") as f:  # a file object: numpy would append .npz to the name
                np.savez_compressed(f, **arrays)
        else:
            import h5py

            with h5py.File(partial, "w") as f:
                for key, value in arrays.items():
                    if value.ndim == 0:  # method, references, seed, tolerance, model: attributes
                        f.attrs[key] = value.item()
                    elif value.dtype.kind == "U":
                        f.create_dataset(key, data=value.astype(object), dtype=h5py.string_dtype())
                    else:
                        f.create_dataset(key, data=value, compression="gzip" if value.ndim > 2 else None)
        publish(partial, output, overwrite)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def attribute_windows(model: ZooModel, fasta: str | os.PathLike, output: str | os.PathLike, *,
                      targets: list[str | int] | str, bed: str | os.PathLike | None = None, tile: str | None = None,
                      step: int | None = None, method: str = "deeplift", references: int = 20, seed: int = 0,
                      batch_size: int = 32, out_of_bounds: str = "pad", tolerance: float = TOLERANCE,
                      overwrite: bool = True, max_windows: int = 10_000, steps: int = 32,
                      ism_region: tuple[int, int] | None = None) -> dict:
    """Attributions of ``targets`` over the windows of ``bed`` (or tiled along ``tile``, as
    ``seqzoo predict --tile``: one ``prediction_bin`` every ``step`` bp, the window centred on it)
    of ``fasta``, written to ``output``:

    * ``.npz`` / ``.h5``: ``sequences`` (W, L, 4) one-hot as the model read them; ``attributions``
      and ``hypothetical`` (W, T, L, 4) (module docstring; window orientation: a ``-`` strand BED
      line's window is the reverse complement); ``logits``, ``reference_logits``, ``deltas``,
      ``relative_deltas`` (W, T) float and ``flagged`` (W, T) bool (the convergence delta of
      DeepLIFT and integrated gradients: flagged above ``tolerance`` relative and ``delta_floor``
      logits absolute; NaN / False for the other methods); ``chrom``, ``start``, ``end``, ``name``, ``strand`` (the BED
      line or tile bin), ``window_start`` (genome start of the window), ``note`` (why a window has
      no attributions: NaN there); ``targets`` (T,), and scalars ``method``, ``references``,
      ``seed``, ``tolerance``, ``delta_floor``, ``steps``, ``model``. Held in memory: at most
      ``max_windows`` windows.
    * ``.bw``/``.bigwig`` (with ``tile`` only): per base, the observed base's contribution
      (``attributions`` summed over the bases) over each bin's central ``step`` bp (the whole bin
      when ``step`` >= bin), so tracks do not overlap and line up with ``seqzoo predict --tile``'s;
      one file per target (``{target}`` in the name for several), chromosome sizes from the FASTA.

    ``steps`` is integrated gradients'; ``ism_region`` ``(start, end)`` restricts ISM to those
    offsets of every window.

    Returns a summary: ``windows``, ``flagged`` (count), ``max_relative_delta``, ``max_delta``
    (absolute, logits), ``targets``,
    ``forward_passes`` and ``forward_passes_saved`` (ISM).
    """
    output = Path(output)
    kind = output_format(output, ATTRIBUTE_FORMATS)
    if (bed is None) == (tile is None):
        raise ValueError("give the windows with either bed or tile")
    if kind == "bigwig" and tile is None:
        raise ValueError(f"{output}: a track needs tiled windows (--tile); a BED's intervals may overlap")
    targets = [targets] if isinstance(targets, (str, int)) else list(targets)
    names = [model.columns[target_index(model, t)] for t in targets]
    if kind != "bigwig":
        check_output(output, inputs=[fasta, bed, tile], overwrite=overwrite)
    seq_len = model.spec.input_shape[0]
    if method not in ATTRIBUTION_METHODS:
        raise ValueError(f"method must be one of {', '.join(ATTRIBUTION_METHODS)}; got {method!r}")
    networks: dict = {}  # the Keras copies, built by the first batch and kept for the others
    if method == "deeplift":  # a layer without a rule is refused before any window is read
        with keras.device(model.device):
            networks["deeplift"] = logit_model(model.keras_model, deeplift=True)
    flagged, worst, worst_abs, n, passes, saved = 0, 0.0, 0.0, 0, 0, 0
    with Genome(fasta) as genome, rereadable_bed(bed) if bed is not None else nullcontext() as bed_path:
        if tile is not None:
            bin_size = model.spec.prediction_bin
            if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 1):
                raise ValueError(f"step must be an integer of at least 1 (bp); got {step!r}")
            step = step or bin_size
            regions = tile_regions(genome, tile)
            total = count_tiles(regions, step)
            intervals = iter_tiles(regions, step, bin_size)
        else:
            total = check_bed(bed_path, genome)
            intervals = bed_path
        if kind != "bigwig" and total > max_windows:
            raise ValueError(f"{bed or tile}: {total} windows; .npz/.h5 outputs are held in memory, so give at "
                             f"most {max_windows} (or write a .bw track)")
        tracks = TrackWriter(output, names, genome.chrom_sizes, overwrite=overwrite, inputs=[fasta, tile]) \
            if kind == "bigwig" else None
        chunks = []
        try:
            for batch in iter_window_batches(intervals, genome, seq_len, 64, out_of_bounds):
                x = batch.x
                ok = ~batch.refused
                seeds = seed + n + np.flatnonzero(ok)  # window i of the run: seed + i, whatever the batching
                result = _attribute_batch(model, x[ok], targets, method, references, seeds, batch_size,
                                          tolerance, networks, steps, ism_region)
                passes += result.forward_passes
                saved += result.forward_passes_saved
                full = _expand(result, ok, len(x))
                starts = np.array([centered_window(iv, seq_len)[0] for iv in batch.intervals])
                n += len(x)
                flagged += int(full.flagged.sum())
                if np.isfinite(full.relative_deltas).any():
                    worst = max(worst, float(np.nanmax(full.relative_deltas)))
                    worst_abs = max(worst_abs, float(np.nanmax(np.abs(full.deltas))))
                if tracks is not None:
                    _write_track(tracks, batch.intervals, starts, full, x, bin_size, step)
                else:
                    chunks.append(_window_arrays(full, x, batch.intervals, batch.notes, starts))
            if tracks is not None:
                tracks.close()
        except BaseException:
            if tracks is not None:
                tracks.abort()
            raise
    if n != total:
        raise RuntimeError(f"{output}: attributed {n} windows of {total}; the output was not kept")
    if tracks is None:
        arrays = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]} if chunks else {}
        arrays.update(targets=np.array(names), method=np.array(method), references=np.array(references),
                      seed=np.array(seed), tolerance=np.array(tolerance), delta_floor=np.array(DELTA_FLOOR),
                      steps=np.array(steps),
                      model=np.array(model.name))
        _write_arrays(output, kind, arrays, overwrite)
    return {"windows": n, "flagged": flagged, "max_relative_delta": worst, "max_delta": worst_abs, "targets": names,
            "forward_passes": passes, "forward_passes_saved": saved}


def _attribute_batch(model: ZooModel, x: np.ndarray, targets, method, references, seeds, batch_size, tolerance,
                     networks: dict, steps: int, ism_region) -> AttributionResult:
    """:func:`attribute` for one batch, with the networks built once per run and, for the reference
    methods, one seed per window (so a window's references do not depend on the batching)."""
    if not len(x):
        shape = (0, len(targets))
        empty = np.zeros(shape)
        return AttributionResult(method, [], np.zeros(shape + (x.shape[1], 4), np.float32),
                                 np.zeros(shape + (x.shape[1], 4), np.float32), empty, empty, empty, empty,
                                 np.zeros(shape, bool))
    refs = None
    if method in REFERENCE_METHODS:
        refs = np.stack([dinucleotide_shuffle(w, references, int(s)) for w, s in zip(x, seeds)])
    result = attribute(model, x, targets, method, references, 0, batch_size, tolerance, steps=steps,
                       ism_region=ism_region, reference_windows=refs, networks=networks)
    result.seed = int(seeds[0])
    return result


def _expand(result: AttributionResult, ok: np.ndarray, n: int) -> AttributionResult:
    """``result`` of the windows ``ok`` of a batch of ``n``, as ``n`` rows (NaN for refused windows)."""
    def grow(values, fill):
        out = np.full((n,) + values.shape[1:], fill, dtype=values.dtype if fill is False else np.result_type(
            values.dtype, np.float32))
        out[ok] = values
        return out

    return AttributionResult(result.method, result.targets, grow(result.attributions, np.nan),
                             grow(result.hypothetical, np.nan), grow(result.logits, np.nan),
                             grow(result.reference_logits, np.nan), grow(result.deltas, np.nan),
                             grow(result.relative_deltas, np.nan), grow(result.flagged, False),
                             result.references, result.seed, result.tolerance, result.steps,
                             result.forward_passes, result.forward_passes_saved)


def _write_track(tracks: TrackWriter, intervals: list[Interval], starts: np.ndarray, result: AttributionResult,
                 x: np.ndarray, bin_size: int, step: int) -> None:
    """Per-base observed-base contributions of each tile's central ``min(step, bin)`` bp."""
    trim = (bin_size - step) // 2 if step < bin_size else 0
    cover = min(step, bin_size)
    per_base = (result.hypothetical * x[:, None]).sum(axis=-1)  # (W, T, L)
    for iv, start, values in zip(intervals, starts, per_base):
        first = iv.start + trim
        offset = first - start
        positions = np.arange(first, first + cover, dtype=np.int64)
        tracks.write(np.array([iv.chrom] * cover), positions, positions + 1, values[:, offset:offset + cover].T)

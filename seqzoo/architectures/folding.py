"""Batch normalization folded into the layer before it: the graph ``ZooModel`` predicts with.

At prediction a ``BatchNormalization`` layer is a fixed affine map per channel,
``y = x * s + (beta - mean * s)`` with ``s = gamma / sqrt(variance + epsilon)``. Where ``x`` is the
output of a linear ``Conv1D``, ``Conv2D`` or ``Dense`` layer (no activation) that feeds nothing else,
the map can be applied to that layer's kernel and bias (work the size of the kernel) instead of to
every activation (work the size of the batch): Basset's three convolutions and two dense layers,
every block of Basenji and ResNet. Outputs change only by float32 rounding (about 1e-6).

The folded graph shares the model's layers and variables (:class:`FoldedLinear` holds the two layers
it joins and folds their current values at each call), so it always predicts with the model's
weights, also after ``set_weights`` or fine-tuning, and costs no memory of its own.
"""

from __future__ import annotations

import keras
from keras import ops

LINEAR_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Dense)


class FoldedLinear(keras.layers.Layer):
    """A linear layer and the ``BatchNormalization`` after it, computed as one linear layer with
    the normalization folded into the kernel and bias (the module's docstring). Float32 only."""

    def __init__(self, linear: keras.layers.Layer, normalization: keras.layers.BatchNormalization, **kwargs):
        super().__init__(name=linear.name, **kwargs)
        self.linear, self.normalization = linear, normalization

    def call(self, inputs):
        linear, bn = self.linear, self.normalization
        scale = ops.rsqrt(bn.moving_variance + bn.epsilon)
        if bn.scale:
            scale = scale * bn.gamma
        bias = linear.bias if linear.use_bias else ops.zeros_like(bn.moving_mean)
        shift = (bias - bn.moving_mean) * scale + (bn.beta if bn.center else 0.0)
        kernel = linear.kernel * scale  # the output channels are the kernel's last axis
        if isinstance(linear, keras.layers.Dense):
            outputs = ops.matmul(inputs, kernel)
        else:
            outputs = linear.convolution_op(inputs, kernel)
        return outputs + shift

    def compute_output_shape(self, input_shape):
        return self.normalization.compute_output_shape(self.linear.compute_output_shape(input_shape))


class Folded(keras.layers.Layer):
    """Where a folded ``BatchNormalization`` stood: its input passes through unchanged."""

    def call(self, inputs, training=None, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


def _normalized_layer(bn: keras.layers.Layer, graph: set) -> keras.layers.Layer | None:
    """The float32 linear layer whose output ``bn`` normalizes on every call of the ``graph`` (a
    model's nodes), alone and over its channels; None where folding would change what is computed."""
    if not isinstance(bn, keras.layers.BatchNormalization) or bn.dtype_policy.compute_dtype != "float32":
        return None
    calls = [node for node in bn._inbound_nodes if node in graph]
    if not calls or any(len(node.parent_nodes) != 1 for node in calls):
        return None
    producers = {node.parent_nodes[0].operation for node in calls}
    if len(producers) != 1 or any(bn.axis not in (-1, len(node.output_tensors[0].shape) - 1) for node in calls):
        return None  # fed by several layers, or not over the channels (the last axis)
    linear = producers.pop()
    if not isinstance(linear, LINEAR_LAYERS):
        return None
    config = linear.get_config()
    if (config["activation"] != "linear" or config.get("padding") == "causal"
            or config.get("data_format", "channels_last") != "channels_last"
            or linear.dtype_policy.compute_dtype != "float32"
            or any(node.operation is not bn for node in linear._outbound_nodes if node in graph)):
        return None
    return linear


def folded_batchnorm(model: keras.Model) -> keras.Model:
    """A model computing what ``model`` computes at prediction, with each foldable
    ``BatchNormalization`` folded into the layer before it and every other layer shared with
    ``model`` (see the module's docstring); ``model`` itself when nothing folds."""
    replacements = {}  # id(layer of model) -> the layer taking its place

    def collect(scope: keras.Model) -> None:
        graph = {node for nodes in scope._nodes_by_depth.values() for node in nodes}
        for layer in scope.layers:
            if isinstance(layer, keras.Model):  # an ensemble's members
                collect(layer)
            elif (linear := _normalized_layer(layer, graph)) is not None:
                replacements[id(linear)] = FoldedLinear(linear, layer, dtype="float32")
                replacements[id(layer)] = Folded(name=layer.name, dtype="float32")

    collect(model)
    if not replacements:
        return model
    return keras.models.clone_model(model, clone_function=lambda layer: replacements.get(id(layer), layer),
                                    recursive=True)

"""A NumPy forward pass for small jobs: a zoo model run without importing TensorFlow or Keras.

Importing TensorFlow takes longer than predicting a few hundred windows, so a short ``seqzoo
predict`` spends most of its time starting up. This module interprets the model's Keras 3
functional configuration (``keras_config.json`` in the model directory, written by
``seqzoo.packaging.write_keras_config`` beside ``test.expect.h5``) layer by layer in NumPy, with the
weights read by h5py from the same verified ``.weights.h5`` file Keras loads.

It computes only what it knows exactly: every layer class and option it meets must be one it
implements (:data:`LAYERS`), in float32; anything else makes :func:`numpy_model` return the reason
instead of a model, and the caller runs TensorFlow. ``tests/test_numpy_engine.py`` holds it within
1e-5 of TensorFlow on every registered zoo model.

Weights are found the way Keras 3 writes them (``keras.src.saving.saving_lib``): a functional
model's layers, in the order of its configuration, under ``layers/<snake_case class name>[_i]``
(numbered per class), nested models under their own ``layers/`` group, each layer's variables as
``vars/0, 1, ...`` in creation order (trainable first). Counts and shapes are checked against the
configuration, so a file that does not fit is an error, never a silent misassignment.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import h5py
import numpy as np

from seqzoo.zoo.spec import ModelSpec
from seqzoo.zoo.weights import LoadedModel, ResolvedWeights, resolve_weights

#: The file in a model directory that holds the Keras 3 configuration the NumPy engine reads.
KERAS_CONFIG_FILE = "keras_config.json"
#: ``format`` of that file; another value is not read.
KERAS_CONFIG_FORMAT = "seqzoo-keras-config-1"
#: ``--engine local`` runs NumPy up to this many windows (a BED's intervals), TensorFlow above.
SMALL_JOB = 256


class Unsupported(Exception):
    """The configuration holds something the NumPy engine does not implement (the reason)."""


def _snake_case(name: str) -> str:
    """Keras 3's ``naming.to_snake_case``: the group name a layer's weights are saved under."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ---------------------------------------------------------------------------------------------
# Element-wise functions and layers. Each layer is (variables it owns, forward function).

def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
    "exponential": np.exp,
    "softplus": lambda x: np.logaddexp(0, x).astype(x.dtype),
}


def _activation(name) -> Callable[[np.ndarray], np.ndarray]:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise Unsupported(f"activation {name!r}")
    return ACTIVATIONS[name]


def _one(value) -> int:
    """Keras stores 1-D sizes as ``[k]`` or ``k``."""
    return int(value[0] if isinstance(value, (list, tuple)) else value)


def _padding(length: int, size: int, stride: int, padding: str) -> tuple[int, int, int]:
    """(left, right, output length) of a 1-D window operation, TensorFlow's ``SAME``/``VALID`` rule."""
    if padding == "valid":
        return 0, 0, (length - size) // stride + 1
    out = -(-length // stride)
    total = max((out - 1) * stride + size - length, 0)
    return total // 2, total - total // 2, out


def _conv1d(config: dict, weights: list[np.ndarray]) -> Callable:
    if config.get("padding") not in ("valid", "same"):
        raise Unsupported(f"padding={config.get('padding')!r}")
    width, stride, dilation = _one(config["kernel_size"]), _one(config["strides"]), _one(config["dilation_rate"])
    kernel, bias = weights[0], (weights[1] if config.get("use_bias", True) else None)
    flat = np.ascontiguousarray(kernel.transpose(1, 0, 2).reshape(-1, kernel.shape[2]))  # (channels*width, filters)
    activation = _activation(config.get("activation", "linear"))

    def forward(x):
        span = (width - 1) * dilation + 1
        left, right, out = _padding(x.shape[1], span, stride, config["padding"])
        if left or right:
            x = np.pad(x, ((0, 0), (left, right), (0, 0)))
        # im2col: the (windows x width*channels) patch matrix and one 2-D matmul (NumPy's 3-D @ 2-D
        # matmul does not reach BLAS and is 20x slower), in chunks of about 32 MB of patches
        n = x.shape[0]
        patches = np.lib.stride_tricks.sliding_window_view(x, span, axis=1)[:, ::stride, :, ::dilation][:, :out]
        per_row = out * patches.shape[2] * width * 4
        step = max(1, (32 << 20) // per_row)
        parts = [patches[i: i + step].reshape(-1, flat.shape[0]) @ flat for i in range(0, n, step)]
        y = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if bias is not None:
            y += bias
        return activation(y.reshape(n, out, -1))

    return forward


def _dense(config: dict, weights: list[np.ndarray]) -> Callable:
    kernel, bias = weights[0], (weights[1] if config.get("use_bias", True) else None)
    activation = _activation(config.get("activation", "linear"))

    def forward(x):
        y = x.reshape(-1, x.shape[-1]) @ kernel  # 2-D: BLAS (see _conv1d)
        y = (y + bias if bias is not None else y).reshape(x.shape[:-1] + (-1,))
        return activation(y)

    return forward


def _batch_norm(config: dict, weights: list[np.ndarray]) -> Callable:
    if config.get("axis") not in (-1, [-1]):
        raise Unsupported(f"axis={config.get('axis')!r}")
    w = list(weights)
    gamma = w.pop(0) if config.get("scale", True) else None
    beta = w.pop(0) if config.get("center", True) else None
    mean, variance = w
    # Keras: (x - mean) * rsqrt(variance + epsilon) * gamma + beta, in that order
    inv = 1 / np.sqrt(variance + np.float32(config["epsilon"]))
    if gamma is not None:
        inv = inv * gamma

    def forward(x):
        y = (x - mean) * inv
        return y + beta if beta is not None else y

    return forward


def _max_pooling1d(config: dict, weights) -> Callable:
    size = _one(config["pool_size"])
    stride = _one(config["strides"] if config.get("strides") is not None else size)
    if config.get("padding") not in ("valid", "same"):
        raise Unsupported(f"padding={config.get('padding')!r}")

    def forward(x):
        left, right, out = _padding(x.shape[1], size, stride, config["padding"])
        if left or right:
            x = np.pad(x, ((0, 0), (left, right), (0, 0)), constant_values=-np.inf)
        if stride == size:
            return x[:, : out * size].reshape(x.shape[0], out, size, x.shape[2]).max(axis=2)
        windows = np.lib.stride_tricks.sliding_window_view(x, size, axis=1)[:, ::stride][:, :out]
        return windows.max(axis=-1)

    return forward


def _global_max_pooling1d(config: dict, weights) -> Callable:
    keepdims = bool(config.get("keepdims", False))
    return lambda x: x.max(axis=1, keepdims=keepdims)


def _cropping1d(config: dict, weights) -> Callable:
    left, right = (config["cropping"] if isinstance(config["cropping"], (list, tuple))
                   else (config["cropping"], config["cropping"]))
    return lambda x: x[:, left: x.shape[1] - right]


def _flatten(config: dict, weights) -> Callable:
    return lambda x: x.reshape(x.shape[0], -1)


def _concatenate(config: dict, weights) -> Callable:
    axis = int(config.get("axis", -1))
    return lambda xs: np.concatenate(xs, axis=axis)


def _embedding(config: dict, weights) -> Callable:
    table = weights[0]
    return lambda tokens: table[tokens]


def _taskwise_linear(config: dict, weights) -> Callable:
    kernel, bias = weights
    n_tasks, per_task = int(config["n_tasks"]), int(config["per_task"])
    return lambda x: (x.reshape(-1, n_tasks, per_task) * kernel).sum(axis=-1) + bias


def _threshold(config: dict, weights) -> Callable:
    floor = np.float32(config.get("floor", 1e-6))
    return lambda x: np.where(x > 0, x, floor)


def _protein_composition(config: dict, weights) -> Callable:
    gaps = [int(k) for k in config.get("pair_gaps", [0])]

    def forward(tokens):  # seqzoo.architectures.layers.ProteinComposition, step for step
        tokens = tokens.astype(np.int32)
        valid = (tokens > 0).astype(np.float32)
        residues = np.eye(20, dtype=np.float32)[np.maximum(tokens - 1, 0)] * valid[..., None]
        length = valid.sum(axis=1, keepdims=True)
        features = [residues.sum(axis=1) / np.maximum(length, 1.0)]
        for k in gaps:
            pairs = np.einsum("nli,nlj->nij", residues[:, : -(k + 1)], residues[:, k + 1:])
            features.append(pairs.reshape(-1, 400) / np.maximum(length - (k + 1.0), 1.0))
        features.append(np.log(np.maximum(length, 1.0)))
        return np.concatenate(features, axis=1).astype(np.float32)

    return forward


def _standardize(config: dict, weights) -> Callable:
    mean, scale = weights
    return lambda x: (x - mean) / scale


def _weighted_average(config: dict, weights) -> Callable:
    member = [np.float32(w) for w in config["weights"]]
    return lambda xs: sum(w * x for w, x in zip(member, xs))


def _platt_scaling(config: dict, weights) -> Callable:
    slope, intercept = np.float32(config["slope"]), np.float32(config["intercept"])

    def forward(x):
        p = np.clip(x.astype(np.float32), np.float32(1e-7), np.float32(1 - 1e-7))
        return _sigmoid(slope * (np.log(p) - np.log(1 - p)) + intercept)

    return forward


#: Configuration keys that do not change a layer's inference output (training-time settings).
INFERENCE_IRRELEVANT = {"name", "trainable", "dtype", "autocast", "activity_regularizer", "kernel_regularizer",
                        "bias_regularizer", "kernel_constraint", "bias_constraint", "kernel_initializer",
                        "bias_initializer", "beta_initializer", "gamma_initializer", "moving_mean_initializer",
                        "moving_variance_initializer", "beta_regularizer", "gamma_regularizer", "beta_constraint",
                        "gamma_constraint", "embeddings_initializer", "embeddings_regularizer",
                        "embeddings_constraint", "momentum", "synchronized", "renorm_momentum", "renorm_clipping",
                        "rate", "seed", "noise_shape", "batch_shape", "sparse", "ragged", "optional", "input_dim",
                        "output_dim", "units", "filters", "quantization_config", "kernel_init", "lora_rank",
                        "lora_alpha"}
#: Keys that must hold one value (what Keras' default means; anything else is not implemented).
FIXED = {"quantization_config": None, "lora_rank": None, "renorm": False, "mask_zero": False, "groups": 1,
         "data_format": "channels_last"}


@dataclass(frozen=True)
class LayerKind:
    """How the engine runs one Keras layer class: ``make(config, weights) -> forward``, its
    variables' names (by configuration), and the configuration keys ``make`` reads (any other key
    that can change the output makes the layer :class:`Unsupported`)."""
    make: Callable[[dict, list[np.ndarray]], Callable]
    variables: Callable[[dict], list[str]] = field(default=lambda config: [])
    reads: tuple[str, ...] = ()

    def check(self, config: dict) -> None:
        unknown = sorted(set(config) - INFERENCE_IRRELEVANT - set(FIXED) - set(self.reads))
        if unknown:
            raise Unsupported(f"option(s) {', '.join(unknown)}")
        for key, value in FIXED.items():
            if key in config and config[key] != value:
                raise Unsupported(f"{key}={config[key]!r}")


def _kernel_bias(config: dict) -> list[str]:
    return ["kernel"] + (["bias"] if config.get("use_bias", True) else [])


def _no_weights(function: Callable) -> Callable:
    return lambda config, weights: function


#: Layer class (with its registered package for seqzoo's custom layers) -> how it runs.
LAYERS: dict[str, LayerKind] = {
    "InputLayer": LayerKind(_no_weights(lambda x: x)),
    "Conv1D": LayerKind(_conv1d, _kernel_bias, ("kernel_size", "strides", "padding", "dilation_rate", "activation",
                                                "use_bias")),
    "Dense": LayerKind(_dense, _kernel_bias, ("activation", "use_bias")),
    "BatchNormalization": LayerKind(_batch_norm, lambda c: (["gamma"] if c.get("scale", True) else [])
                                    + (["beta"] if c.get("center", True) else []) + ["moving_mean", "moving_variance"],
                                    ("axis", "epsilon", "center", "scale")),
    "Activation": LayerKind(lambda config, w: _activation(config["activation"]), reads=("activation",)),
    "Dropout": LayerKind(_no_weights(lambda x: x)),  # inference: the identity
    "Flatten": LayerKind(_flatten),
    "MaxPooling1D": LayerKind(_max_pooling1d, reads=("pool_size", "strides", "padding")),
    "GlobalMaxPooling1D": LayerKind(_global_max_pooling1d, reads=("keepdims",)),
    "Cropping1D": LayerKind(_cropping1d, reads=("cropping",)),
    "Add": LayerKind(_no_weights(lambda xs: sum(xs[1:], xs[0]))),
    "Average": LayerKind(_no_weights(lambda xs: sum(xs[1:], xs[0]) / np.float32(len(xs)))),
    "Concatenate": LayerKind(_concatenate, reads=("axis",)),
    "Embedding": LayerKind(_embedding, lambda c: ["embeddings"]),
    "seqzoo>ReverseComplement": LayerKind(_no_weights(lambda x: x[:, ::-1, ::-1])),
    "seqzoo>Threshold": LayerKind(_threshold, reads=("floor",)),
    "seqzoo>TaskwiseLinear": LayerKind(_taskwise_linear, lambda c: ["kernel", "bias"], ("n_tasks", "per_task")),
    "seqzoo>ProteinComposition": LayerKind(_protein_composition, reads=("pair_gaps",)),
    "seqzoo>Standardize": LayerKind(_standardize, lambda c: ["mean", "scale"]),
    "seqzoo>WeightedAverage": LayerKind(_weighted_average, reads=("weights",)),
    "seqzoo>PlattScaling": LayerKind(_platt_scaling, reads=("slope", "intercept")),
}
FUNCTIONAL = "Functional"


# ---------------------------------------------------------------------------------------------
# The functional graph.

def _history(item) -> tuple[str, int, int]:
    if not (isinstance(item, dict) and item.get("class_name") == "__keras_tensor__"):
        raise Unsupported(f"a layer input that is not a tensor: {str(item)[:80]}")
    name, node, index = item["config"]["keras_history"]
    return name, int(node), int(index)


def _refs(args: list):
    """A node's ``args``: one tensor, or a list of tensors (merge layers) -> the same of references."""
    if len(args) != 1:
        raise Unsupported(f"a layer called with {len(args)} positional arguments")
    arg = args[0]
    return [_history(a) for a in arg] if isinstance(arg, list) else _history(arg)


def _endpoints(value) -> list[tuple[str, int, int]]:
    """``input_layers``/``output_layers``: ``[name, node, index]`` or a list of them."""
    if value and isinstance(value[0], str):
        value = [value]
    return [(name, int(node), int(index)) for name, node, index in value]


class Graph:
    """A Keras 3 functional configuration made runnable, with its weights from ``group`` (h5py)."""

    def __init__(self, config: dict, group: h5py.Group, where: str):
        if config.get("class_name") != FUNCTIONAL:
            raise Unsupported(f"{where}: a {config.get('class_name')} model (only functional models)")
        body = config["config"]
        self.inputs = _endpoints(body["input_layers"])
        self.outputs = _endpoints(body["output_layers"])
        self.layers: dict[str, tuple[Callable, list]] = {}  # name -> (forward, nodes' argument references)
        used: dict[str, int] = {}
        stored = set(group["layers"]) if "layers" in group else set()
        for layer in body["layers"]:
            cls = layer["class_name"]
            key = layer.get("registered_name") or cls
            base = _snake_case(cls)
            used[base] = used.get(base, -1) + 1
            saved = base if used[base] == 0 else f"{base}_{used[base]}"  # saving_lib._get_unique_name
            stored.discard(saved)
            here = f"{where}/{layer['name']}"
            sub = group["layers"][saved] if "layers" in group and saved in group["layers"] else None
            policy = (layer["config"].get("dtype") or {})
            policy = policy.get("config", {}).get("name") if isinstance(policy, dict) else policy
            if policy not in (None, "float32", "int32") and cls != "InputLayer":
                raise Unsupported(f"{here}: dtype policy {policy!r} (the NumPy engine computes float32)")
            if cls == FUNCTIONAL:
                if sub is None:
                    raise ValueError(f"{where}: the weights file has no group for the nested model {layer['name']!r}")
                forward = Graph(layer, sub, here)
            else:
                kind = LAYERS.get(key)
                if kind is None or (key == cls and layer.get("module") not in (None, "keras.layers")):
                    raise Unsupported(f"{here}: layer {key} ({layer.get('module')})")
                try:
                    kind.check(layer["config"])
                    weights = _variables(sub, kind.variables(layer["config"]), here)
                    forward = kind.make(layer["config"], weights)
                except Unsupported as e:
                    raise Unsupported(f"{here}: {cls} with {e}") from None
            nodes = []
            for node in layer["inbound_nodes"]:
                extra = {k: v for k, v in node.get("kwargs", {}).items() if v not in (None, False)}
                if extra:
                    raise Unsupported(f"{here}: called with {extra}")
                nodes.append(_refs(node["args"]))
            self.layers[layer["name"]] = (forward, nodes)
        leftover = sorted(s for s in stored if "vars" in group["layers"][s] and len(group["layers"][s]["vars"]))
        if leftover:
            raise ValueError(f"{where}: the weights file holds variables for {leftover}, which the configuration "
                             "does not have")

    def __call__(self, inputs):
        inputs = inputs if isinstance(inputs, list) else [inputs]
        values: dict[tuple[str, int, int], np.ndarray] = {ref: x for ref, x in zip(self.inputs, inputs)}

        def value(ref):
            if ref not in values:
                name, node, index = ref
                forward, nodes = self.layers[name]
                args = nodes[node]
                x = [value(r) for r in args] if isinstance(args, list) else value(args)
                out = forward(x)
                for i, o in enumerate(out if isinstance(out, tuple) else (out,)):
                    values[(name, node, i)] = o
            return values[ref]

        outputs = [value(ref) for ref in self.outputs]
        return outputs[0] if len(outputs) == 1 else outputs


def _variables(group: h5py.Group | None, names: list[str], where: str) -> list[np.ndarray]:
    stored = sorted(group["vars"], key=int) if group is not None and "vars" in group else []
    if len(stored) != len(names):
        raise ValueError(f"{where}: the weights file holds {len(stored)} variable(s), the layer has "
                         f"{len(names)} ({', '.join(names) or 'none'})")
    # stored as float16 or float32; Keras loads them into float32 variables
    return [np.asarray(group["vars"][s][()], dtype=np.float32) for s in stored]


# ---------------------------------------------------------------------------------------------
# The model.

class NumpyModel(LoadedModel):
    """A zoo model run by NumPy: the same ``predict_on_batch``, ``spec``, ``files`` as
    ``seqzoo.runtime.ZooModel`` (float32, on the CPU). Build one with :func:`numpy_model`."""

    precision = "float32"
    device = "cpu"
    engine = "numpy"

    def __init__(self, spec: ModelSpec, weights: ResolvedWeights, graph: Graph, input_dtype: str):
        self.spec, self.weights, self._graph, self._input_dtype = spec, weights, graph, input_dtype

    def predict_on_batch(self, x: np.ndarray) -> np.ndarray:
        """Predict one batch ``(N,) + input shape`` -> ``(N,) + target shape`` (float32)."""
        x = np.asarray(x)
        expected = self.spec.input_shape
        if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"{self.name} expects a batch of shape (N, {', '.join(map(str, expected))}); got {x.shape}")
        if "int" in self._input_dtype and not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"{self.name} expects integer tokens; got dtype {x.dtype}")
        if len(x) == 0:
            return np.zeros((0,) + self.spec.target_shape, dtype="float32")
        return np.asarray(self._graph(x.astype(self._input_dtype)), dtype=np.float32)

    def __repr__(self) -> str:
        return f"NumpyModel({self.name!r}, {self.spec.architecture}, {self.weights.describe()})"


def read_keras_config(spec: ModelSpec) -> dict:
    """The directory's ``keras_config.json`` if it describes this ``spec``'s architecture and
    configuration (:class:`Unsupported` naming why not)."""
    path = spec.directory / KERAS_CONFIG_FILE
    if not path.is_file():
        raise Unsupported(f"{spec.name} has no {KERAS_CONFIG_FILE} (seqzoo check {spec.name} --write-expect writes it)")
    data = json.loads(path.read_text())
    if data.get("format") != KERAS_CONFIG_FORMAT:
        raise Unsupported(f"{path}: format {data.get('format')!r}, not {KERAS_CONFIG_FORMAT!r}")
    if data.get("architecture") != spec.architecture or data.get("config") != json.loads(json.dumps(spec.config)):
        raise Unsupported(f"{path} describes another architecture or configuration than model.yaml (stale: "
                          f"seqzoo check {spec.name} --write-expect rewrites it)")
    return data["model"]


def numpy_model(spec: ModelSpec, weights: str | os.PathLike | None = None,
                precision: str = "float32", device: str = "auto") -> NumpyModel:
    """``spec`` run by NumPy on the CPU, or :class:`Unsupported` saying why it cannot be (then run
    TensorFlow): a GPU or bfloat16 asked for, untrained or published weights (drawn or imported by
    Keras), no current ``keras_config.json``, or a layer or option the engine does not implement.
    A weights file that does not fit the configuration is a ValueError, as it is for Keras."""
    if device == "gpu":
        raise Unsupported("device gpu (the NumPy engine runs on the CPU)")
    if precision != "float32":
        raise Unsupported(f"precision {precision} (the NumPy engine computes float32)")
    if weights == "published" or (weights is None and (spec.artifact is None or not spec.artifact.trained)):
        raise Unsupported(f"{spec.name}'s {'published' if weights == 'published' or spec.artifact is None else 'untrained'} "
                          "weights are made by Keras")
    config = read_keras_config(spec)
    resolved = resolve_weights(spec, weights)
    with h5py.File(resolved.path, "r") as f:
        graph = Graph(config, f, spec.name)
    inputs = config["config"]["layers"]
    first = next(l for l in inputs if l["name"] == graph.inputs[0][0])
    return NumpyModel(spec, resolved, graph, first["config"].get("dtype") or "float32")

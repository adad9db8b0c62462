"""Keras 1.x and 2.x saved models (kipoi's Keras networks) in Keras 3.

Three steps, each strict, each error naming the layer:

1. :func:`convert_config`: a Keras 1 or 2 model configuration (an architecture JSON, or the
   ``model_config`` of a whole-model HDF5) becomes a Keras 3 one. Sequential and functional models,
   nested models included; a Keras 1 Sequential that merges Sequential branches becomes the
   functional model it computes. Layer classes and arguments are renamed (``Convolution1D`` ->
   ``Conv1D``, ``nb_filter`` -> ``filters``, ``border_mode`` -> ``padding``, ``Merge(mode=...)`` ->
   ``Concatenate``/``Add``/..., ``dim_ordering`` -> ``data_format``, ...). What only matters for
   training (initializers, regularizers, constraints) is not carried over and is listed in
   ``Conversion.notes``. ``hard_sigmoid`` becomes :func:`~seqzoo.architectures.layers.legacy_hard_sigmoid`
   (Keras 3's ``hard_sigmoid`` is another function). A ``Lambda`` layer (it carries marshalled
   Python bytecode) and any class that is neither a Keras layer nor one of seqzoo's own
   (:data:`SEQZOO_LAYERS`, matched by class name) are refused: nothing is ever imported or run
   from where the files came from.
2. :func:`build_model`: the Keras 3 configuration is checked (:func:`check_config`: Keras
   classes and seqzoo's registered ones only) and deserialized in safe mode.
3. :func:`read_legacy_weights` and :func:`set_legacy_weights`: every HDF5 layout Keras 1.2 and
   2.x wrote (a weights file with ``layer_names``/``weight_names`` attributes, or a whole-model
   file with a ``model_weights`` group) is read and set by layer name: every stored weight is used
   once, every Keras 3 weight is set, shapes are checked. Keras 1's layouts are converted: the
   per-gate LSTM (i, c, f, o stored apart -> one kernel in i, f, c, o order) and GRU matrices,
   the 4-D kernels of ``Convolution1D``, ``th``-ordered convolution kernels, Theano-flipped kernels
   (when the file says ``backend: theano``), and batch normalization's ``running_std`` (which
   holds the variance). Keras 2's ``CuDNNLSTM`` and ``CuDNNGRU`` become ``LSTM`` and
   ``GRU(reset_after=True)`` with their weights rearranged as Keras 2 itself converted them.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import keras
import numpy as np

from seqzoo.architectures import layers as seqzoo_layers

__all__ = ["Conversion", "LegacyModelError", "LegacyWeights", "SEQZOO_LAYERS", "build_from_json", "build_model",
           "check_config", "convert_config", "read_legacy_config", "read_legacy_weights", "set_legacy_weights"]


class LegacyModelError(ValueError):
    """A Keras 1/2 model that cannot be converted or loaded; the message names the layer."""


#: Custom classes of kipoi's Keras models that seqzoo implements itself, by the class name their
#: configurations use. Any other custom class is refused.
SEQZOO_LAYERS = {"SplineT": seqzoo_layers.SplineT, "GELU": seqzoo_layers.GELU,
                 "StochasticReverseComplement": seqzoo_layers.StochasticReverseComplement,
                 "StochasticShift": seqzoo_layers.StochasticShift, "SwitchReverse": seqzoo_layers.SwitchReverse}
_REGISTERED = {f"seqzoo>{name}" for name in ("ReverseComplement", "Threshold", "ProteinComposition", "Standardize",
                                             "WeightedAverage", "PlattScaling", "TaskwiseLinear", *SEQZOO_LAYERS)}
_REGISTERED_FUNCTIONS = {"seqzoo>legacy_hard_sigmoid"}
_HARD_SIGMOID = {"module": "builtins", "class_name": "function", "config": "seqzoo>legacy_hard_sigmoid",
                 "registered_name": "function"}

# Keras 1 class names -> Keras 3's.
_CLASS_RENAMES = {
    "Convolution1D": "Conv1D", "AtrousConvolution1D": "Conv1D", "Convolution2D": "Conv2D",
    "AtrousConvolution2D": "Conv2D", "Convolution3D": "Conv3D",
}
# Keras 1 argument names -> Keras 3's (for every class; output_dim is handled per class).
_ARG_RENAMES = {
    "nb_filter": "filters", "filter_length": "kernel_size", "border_mode": "padding",
    "subsample_length": "strides", "subsample": "strides", "atrous_rate": "dilation_rate", "bias": "use_bias",
    "pool_length": "pool_size", "stride": "strides", "p": "rate", "inner_activation": "recurrent_activation",
    "dropout_W": "dropout", "dropout_U": "recurrent_dropout", "input_dtype": "dtype", "sigma": "stddev",
}
_DIM_ORDERING = {"th": "channels_first", "tf": "channels_last"}
_MERGE_MODES = {"concat": "Concatenate", "sum": "Add", "mul": "Multiply", "ave": "Average", "max": "Maximum",
                "dot": "Dot", "cos": "Dot"}
_RECURRENT = {"LSTM", "GRU", "SimpleRNN"}
# Keras 2's cuDNN-only layers -> the Keras 3 layer computing the same (cuDNN's tanh and sigmoid; a GRU
# that resets after the recurrent product); their weights are rearranged by _from_cudnn.
_CUDNN = {"CuDNNLSTM": ("LSTM", {}), "CuDNNGRU": ("GRU", {"reset_after": True})}
_WRAPPERS = {"Bidirectional", "TimeDistributed"}
# Keys that only describe the input (they become an InputLayer) or nothing Keras 3 knows.
_INPUT_KEYS = {"batch_input_shape", "input_shape", "input_dim", "input_length", "batch_size"}
_DROPPED_QUIETLY = {"consume_less", "implementation", "weights", "output_shape_type", "mode_type", "output_mask",
                    "output_mask_type", "arguments"}
# Arguments Keras 3 dropped, accepted at the value that behaves as Keras 3 does.
_DROPPED_AT_DEFAULT = {"time_major": False}
# Base-layer arguments every Keras 3 layer accepts.
_BASE_ARGS = {"name", "trainable", "dtype", "activity_regularizer", "autocast"}


@dataclass
class Conversion:
    """A converted configuration.

    ``config``: the Keras 3 model configuration (``Functional`` or ``Sequential``).
    ``notes``: what was not carried over (training-time settings), one line each.
    ``channels_first_kernels``: names of Keras 1 convolution layers with ``th`` dim ordering
    (their kernels are stored ``(filters, channels, rows, cols)``).
    ``keras_version``: the version that wrote the configuration, where it says.
    """

    config: dict
    notes: list[str] = field(default_factory=list)
    channels_first_kernels: set[str] = field(default_factory=set)
    keras_version: str | None = None


def read_legacy_config(path: str | os.PathLike) -> tuple[dict, str | None]:
    """The model configuration and the Keras version that wrote it, from an architecture JSON or a
    whole-model HDF5 (its ``model_config`` attribute)."""
    path = Path(path)
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            if "model_config" not in f.attrs:
                raise LegacyModelError(f"{path} holds no model configuration (a weights-only file): "
                                       "give the architecture JSON too")
            text, version = f.attrs["model_config"], f.attrs.get("keras_version")
        config = json.loads(text.decode() if isinstance(text, bytes) else text)
        return config, (version.decode() if isinstance(version, bytes) else version)
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LegacyModelError(f"{path} is neither an architecture JSON nor an HDF5 model: {e}") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise LegacyModelError(f"{path}: expected a model configuration with 'class_name' and 'config'")
    return config, config.get("keras_version")


def convert_config(legacy: dict, keras_version: str | None = None) -> Conversion:
    """Convert a Keras 1.x/2.x model configuration (``{"class_name": ..., "config": ...}``) to Keras 3."""
    conversion = Conversion(config={}, keras_version=keras_version or legacy.get("keras_version"))
    conversion.config = _convert_model(legacy, conversion)
    return conversion


def _convert_model(entry: dict, state: Conversion) -> dict:
    kind = entry.get("class_name")
    config = entry.get("config")
    if kind == "Sequential":
        layers = config if isinstance(config, list) else (config or {}).get("layers", [])
        name = "sequential" if isinstance(config, list) else config.get("name", "sequential")
        if layers and _merges_branches(layers[0]):
            return _merged_sequential(name, layers, state)
        converted = []
        for i, layer in enumerate(layers):
            if i == 0 and layer.get("class_name") not in ("InputLayer", "Merge"):
                converted.append(_input_layer_for(layer, f"{name}_input"))
            if _merges_branches(layer):
                raise LegacyModelError(f"layer {layer['config'].get('name')!r} (Merge): a Merge of models must be the "
                                       "first layer of a Keras 1 Sequential")
            converted.append(_convert_entry(layer, state))
        return {"module": "keras", "class_name": "Sequential", "registered_name": None,
                "config": {"name": name, "trainable": True, "layers": converted}}
    if kind in ("Model", "Functional"):
        # A nested model built on its own input has that first node in Keras 1/2 (calls in the outer
        # model are its nodes 1, 2, ...), none in Keras 3: references to it shift down by one.
        own_node = {layer["name"] for layer in config["layers"] if _has_own_node(layer)}
        layers = []
        for layer in config["layers"]:
            converted = _convert_entry(layer, state)
            converted["name"] = layer["name"]
            converted["inbound_nodes"] = [[_node(n, own_node) for n in node] for node in layer.get("inbound_nodes", [])]
            layers.append(converted)
        return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
                "config": {"name": config.get("name", "model"), "trainable": True, "layers": layers,
                           "input_layers": config["input_layers"], "output_layers": config["output_layers"]}}
    raise LegacyModelError(f"model class {kind!r} is neither Sequential nor a functional Model")


def _merges_branches(layer: dict) -> bool:
    return layer.get("class_name") == "Merge" and bool((layer.get("config") or {}).get("layers"))


def _merged_sequential(name: str, layers: list, state: Conversion) -> dict:
    """A Keras 1 Sequential whose first layer merges Sequential branches (``Merge(layers=[branch, ...])``,
    each branch on its own input) as the functional model it computes. Every layer stays at the top
    level under its own name, as Keras 1 saved their weights (``Sequential.flattened_layers``)."""
    merge = dict(layers[0]["config"])
    graph, inputs, ends = [], [], []
    for branch in merge.pop("layers"):
        config = branch.get("config")
        steps = config if isinstance(config, list) else (config or {}).get("layers", [])
        if branch.get("class_name") != "Sequential" or not steps or _merges_branches(steps[0]):
            _refuse(merge.get("name"), "Merge", f"a merged branch is a {branch.get('class_name')} "
                    "(only Sequential branches, themselves without a Merge, are converted)")
        first = _input_layer_for(steps[0], f"{steps[0]['config']['name']}_input")  # Keras 1's name for it
        graph.append({**first, "name": first["config"]["name"], "inbound_nodes": []})
        inputs.append([first["config"]["name"], 0, 0])
        ends.append(_chain(graph, steps, first["config"]["name"], state))
    merged = _convert_entry({"class_name": "Merge", "config": merge}, state)
    graph.append({**merged, "name": merge["name"], "inbound_nodes": [[[end, 0, 0, {}] for end in ends]]})
    last = _chain(graph, layers[1:], merge["name"], state)
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": name, "trainable": True, "layers": graph, "input_layers": inputs,
                       "output_layers": [[last, 0, 0]]}}


def _chain(graph: list, layers: list, previous: str, state: Conversion) -> str:
    """Append ``layers`` to the functional ``graph``, each called on the one before; the last one's name."""
    for layer in layers:
        if layer.get("class_name") in ("Sequential", "Model", "Functional", "InputLayer") or _merges_branches(layer):
            _refuse((layer.get("config") or {}).get("name"), layer.get("class_name"),
                    "a nested model or input inside a merged Keras 1 Sequential is not converted")
        converted = _convert_entry(layer, state)
        name = converted["config"]["name"]
        graph.append({**converted, "name": name, "inbound_nodes": [[[previous, 0, 0, {}]]]})
        previous = name
    return previous


def _has_own_node(layer: dict) -> bool:
    if layer.get("class_name") in ("Model", "Functional"):
        return True
    if layer.get("class_name") != "Sequential":
        return False
    config = layer.get("config")
    layers = config if isinstance(config, list) else (config or {}).get("layers", [])
    return bool(layers) and (layers[0].get("class_name") == "InputLayer"
                             or _input_shape(layers[0].get("config") or {}) is not None)


def _node(item: list, own_node: set) -> list:
    """A Keras 1 (3 items) or 2 (4 items) inbound-node reference as Keras 3 reads it."""
    name, index, tensor = item[0], item[1], item[2]
    if name in own_node:
        if index < 1:
            raise LegacyModelError(f"layer {name!r}: the model uses the nested model's own input node")
        index -= 1
    return [name, index, tensor, item[3] if len(item) > 3 else {}]


def _input_shape(config: dict) -> list | None:
    if config.get("batch_input_shape"):
        return list(config["batch_input_shape"])
    if config.get("input_shape"):
        return [None, *config["input_shape"]]
    if config.get("input_dim"):
        length = config.get("input_length")
        return [None, length, config["input_dim"]] if "input_length" in config else [None, config["input_dim"]]
    if config.get("input_length"):  # a Keras 1 Embedding's tokens
        return [None, config["input_length"]]
    return None


def _input_layer_for(layer: dict, name: str) -> dict:
    config = layer.get("config") or {}
    shape = _input_shape(config)
    if shape is None:
        raise LegacyModelError(f"layer {config.get('name')!r} ({layer.get('class_name')}): the first layer of a "
                               "Sequential model gives no input shape")
    dtype = config.get("input_dtype") or config.get("dtype") or "float32"
    if layer.get("class_name") == "Embedding":
        dtype = "int32"
    return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
            "config": {"batch_shape": shape, "dtype": dtype, "name": name}}


def _refuse(name, class_name, why: str):
    raise LegacyModelError(f"layer {name!r} ({class_name}): {why}")


def _convert_entry(entry: dict, state: Conversion) -> dict:
    """One layer (or nested model) entry -> its Keras 3 serialization (without graph keys)."""
    class_name = entry.get("class_name")
    config = dict(entry.get("config") or {})
    name = config.get("name", entry.get("name"))
    if class_name in ("Sequential", "Model", "Functional"):
        return _convert_model(entry, state)
    if class_name == "Lambda":
        _refuse(name, class_name, "a Lambda layer carries Python code (marshalled bytecode), which seqzoo never "
                "runs; the model needs a seqzoo layer in its place")
    if class_name in SEQZOO_LAYERS:
        return _convert_custom(class_name, name, config, state)
    class_name = _CLASS_RENAMES.get(class_name, class_name)
    if class_name in _CUDNN:
        class_name, fixed = _CUDNN[class_name]
        config = {**config, **fixed, "activation": "tanh", "recurrent_activation": "sigmoid"}
    if class_name == "Merge":
        class_name, config = _convert_merge(name, config)
    if class_name == "InputLayer":
        shape = _input_shape(config)
        return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                "config": {"batch_shape": shape, "dtype": config.get("input_dtype") or config.get("dtype", "float32"),
                           "sparse": bool(config.get("sparse", False)), "name": name}}
    layer_class = getattr(keras.layers, class_name, None)
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        _refuse(name, class_name, f"not a Keras layer nor one of seqzoo's own ({', '.join(sorted(SEQZOO_LAYERS))}); "
                "custom code from the model's files is never loaded")
    if class_name in _WRAPPERS:
        inner = _convert_entry(config.pop("layer"), state)
        out = {k: v for k, v in config.items() if k in ("name", "trainable", "merge_mode")}
        return _serialized(class_name, {**out, "layer": inner})
    return _serialized(class_name, _convert_arguments(class_name, layer_class, name, config, state))


def _serialized(class_name: str, config: dict) -> dict:
    return {"module": "keras.layers", "class_name": class_name, "registered_name": None, "config": config}


def _convert_merge(name, config: dict) -> tuple[str, dict]:
    mode = config.get("mode", "sum")
    if config.get("mode_type", "raw") != "raw" or not isinstance(mode, str) or mode not in _MERGE_MODES:
        _refuse(name, "Merge", f"merge mode {mode!r} is Python code or unknown; known: {', '.join(_MERGE_MODES)}")
    converted = {"name": name, "trainable": config.get("trainable", True)}
    if mode == "concat":
        converted["axis"] = config.get("concat_axis", -1)
    elif mode in ("dot", "cos"):
        converted["axes"] = config.get("dot_axes", -1)
        converted["normalize"] = mode == "cos"
    return _MERGE_MODES[mode], converted


def _training_only(key: str) -> bool:
    return (key in ("init", "inner_init", "forget_bias_init", "activity_regularizer")
            or key.endswith(("_initializer", "_regularizer", "_constraint", "_init")))


def _activation(value, name, class_name):
    if value is None or isinstance(value, dict):
        if isinstance(value, dict):
            _refuse(name, class_name, f"activation {value!r} is not a Keras activation name")
        return value
    if value == "hard_sigmoid":
        return dict(_HARD_SIGMOID)
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        _refuse(name, class_name, f"activation {value!r} is not a Keras activation")
    return value


def _convert_arguments(class_name: str, layer_class: type, name, config: dict, state: Conversion) -> dict:
    converted = {}
    for key, value in config.items():
        if key in _INPUT_KEYS or key in _DROPPED_QUIETLY:
            continue
        if key in _DROPPED_AT_DEFAULT:
            if value != _DROPPED_AT_DEFAULT[key]:
                _refuse(name, class_name, f"{key}={value!r} has no Keras 3 counterpart")
            continue
        if _training_only(key) or key in ("W_regularizer", "b_regularizer", "U_regularizer", "W_constraint",
                                          "b_constraint", "U_constraint"):
            if value and key.endswith(("regularizer", "constraint")):
                state.notes.append(f"layer {name!r} ({class_name}): {key} {value} (training only) not carried over")
            continue
        if key == "output_dim" and class_name != "Embedding":
            key = "units"
        elif key == "dim_ordering":
            if value not in _DIM_ORDERING:
                _refuse(name, class_name, f"dim_ordering {value!r} is neither 'th' nor 'tf'")
            if value == "th" and class_name.startswith("Conv"):
                state.channels_first_kernels.add(name)
            key, value = "data_format", _DIM_ORDERING[value]
        elif key in ("nb_row", "nb_col", "kernel_dim1", "kernel_dim2", "kernel_dim3"):
            continue  # gathered below
        else:
            key = _ARG_RENAMES.get(key, key)
        if key in ("activation", "recurrent_activation"):
            value = _activation(value, name, class_name)
        converted[key] = value
    if "nb_row" in config:
        converted["kernel_size"] = [config["nb_row"], config["nb_col"]]
    if "kernel_dim1" in config:
        converted["kernel_size"] = [config["kernel_dim1"], config["kernel_dim2"], config["kernel_dim3"]]
    if converted.get("padding") not in (None, "valid", "same", "causal") and class_name != "ZeroPadding1D" \
            and isinstance(converted.get("padding"), str):
        _refuse(name, class_name, f"padding {converted['padding']!r} has no Keras 3 counterpart")
    if class_name == "BatchNormalization":
        axis = converted.get("axis", -1)
        if isinstance(axis, list):  # tf.keras 2 writes [2]
            if len(axis) != 1:
                _refuse(name, class_name, f"normalization over several axes {axis} is not converted")
            converted["axis"] = axis[0]
        if converted.pop("mode", 0) != 0:
            _refuse(name, class_name, "only Keras 1 batch normalization mode 0 (feature-wise, running statistics at "
                    "inference) is converted; modes 1 and 2 use the batch's own statistics")
    if class_name == "Flatten":
        # Keras 1 flattened whatever order the tensor had; Keras 3's channels_first would transpose first.
        converted.setdefault("data_format", "channels_last")
    if class_name == "GRU":
        converted.setdefault("reset_after", False)  # Keras 1 and 2 (before 2.1.3: always) reset before
    if class_name in _RECURRENT and "recurrent_activation" not in converted and class_name != "SimpleRNN":
        converted["recurrent_activation"] = dict(_HARD_SIGMOID)  # the Keras 1/2 default
    if class_name == "LeakyReLU" and "alpha" in converted:
        converted["negative_slope"] = converted.pop("alpha")
    accepted = set(inspect.signature(layer_class.__init__).parameters) | _BASE_ARGS
    unknown = sorted(set(converted) - accepted)
    if unknown:
        _refuse(name, class_name, f"argument(s) {', '.join(unknown)} have no Keras 3 counterpart")
    return converted


def _convert_custom(class_name: str, name, config: dict, state: Conversion) -> dict:
    layer_class = SEQZOO_LAYERS[class_name]
    converted = {}
    accepted = set(inspect.signature(layer_class.__init__).parameters) | _BASE_ARGS
    for key, value in config.items():
        if key in _INPUT_KEYS:
            continue
        if _training_only(key):
            if value and key.endswith(("regularizer", "constraint")):
                state.notes.append(f"layer {name!r} ({class_name}): {key} {value} (training only) not carried over")
            continue
        if key not in accepted:
            _refuse(name, class_name, f"argument {key!r} is not one seqzoo's {class_name} implements")
        converted[key] = value
    return {"module": layer_class.__module__, "class_name": class_name, "registered_name": f"seqzoo>{class_name}",
            "config": converted}


# ---------------------------------------------------------------------------------------------
# The Keras 3 configuration: checked, then deserialized in safe mode.

_VALUE_CLASSES = {"__keras_tensor__", "__tuple__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__", "__typespec__", "__tensor__"}


def check_config(config, where: str = "the architecture") -> None:
    """Refuse a Keras 3 configuration naming anything but Keras' own classes and seqzoo's registered
    layers and functions (``Lambda`` included, wherever it is)."""
    if isinstance(config, list):
        for item in config:
            check_config(item, where)
        return
    if not isinstance(config, dict):
        return
    class_name = config.get("class_name")
    if class_name is not None and class_name not in _VALUE_CLASSES:
        name = (config.get("config") or {}).get("name") if isinstance(config.get("config"), dict) else None
        module = str(config.get("module") or "")
        registered = config.get("registered_name")
        if class_name in ("Lambda", "TFOpLambda", "SlicingOpLambda"):
            raise LegacyModelError(f"{where}: layer {name!r} ({class_name}) runs Python code; refused")
        if class_name == "function":
            if config.get("config") not in _REGISTERED_FUNCTIONS:
                raise LegacyModelError(f"{where}: function {config.get('config')!r} is not one of seqzoo's "
                                       f"({', '.join(sorted(_REGISTERED_FUNCTIONS))})")
        elif registered and str(registered).startswith("seqzoo>"):
            if registered not in _REGISTERED:
                raise LegacyModelError(f"{where}: layer {name!r} names {registered!r}, not a seqzoo class")
        elif not (module == "keras" or module.startswith("keras.")):
            raise LegacyModelError(f"{where}: layer {name!r} ({class_name}) of module {module!r} is neither a "
                                   "Keras class nor one of seqzoo's registered ones")
    for value in config.values():
        check_config(value, where)


def build_model(config: dict, where: str = "the architecture") -> keras.Model:
    """A Keras 3 model from its configuration: checked (:func:`check_config`), deserialized in safe mode."""
    check_config(config, where)
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except (TypeError, ValueError, KeyError) as e:
        raise LegacyModelError(f"{where}: Keras 3 cannot build it: {e}") from None
    if not isinstance(model, keras.Model):
        raise LegacyModelError(f"{where}: not a model configuration ({type(model).__name__})")
    return model


def build_from_json(file: str, sha256: str | None = None) -> keras.Model:
    """The architecture of a model directory defined by a Keras 3 JSON file (``args.architecture:
    keras_json``); with ``sha256`` the file must have it."""
    data = Path(file).read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise LegacyModelError(f"{file} has sha256 {hashlib.sha256(data).hexdigest()}, but model.yaml records "
                               f"{sha256}: the architecture was changed after it was written")
    try:
        config = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LegacyModelError(f"{file} is not a JSON architecture: {e}") from None
    return build_model(config, where=str(file))


# ---------------------------------------------------------------------------------------------
# HDF5 weights of Keras 1.2 and 2.x.

@dataclass
class LegacyWeights:
    """Weights as a Keras 1/2 HDF5 file stores them: layer name -> [(weight name, array)], in the
    file's order, and what wrote them."""

    path: Path
    layers: dict[str, list[tuple[str, np.ndarray]]]
    keras_version: str | None
    backend: str | None


def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def read_legacy_weights(path: str | os.PathLike) -> LegacyWeights:
    """Read a Keras 1.2/2.x weights file, or the ``model_weights`` of a whole-model file."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise LegacyModelError(f"{path} is not an HDF5 file: {e}") from None
    with f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            raise LegacyModelError(f"{path}: no 'layer_names' attribute; not a weights file written by Keras 1.2 "
                                   "or 2.x (a Keras 3 .weights.h5 loads with model.load_weights)")
        layers = {}
        for layer_name in (_text(n) for n in group.attrs["layer_names"]):
            if layer_name not in group:
                raise LegacyModelError(f"{path}: layer_names lists {layer_name!r}, which has no group")
            layer_group = group[layer_name]
            names = [_text(n) for n in layer_group.attrs.get("weight_names", [])]
            missing = [n for n in names if n not in layer_group]
            if missing:
                raise LegacyModelError(f"{path}: layer {layer_name!r} lists weights {missing} it does not hold")
            layers[layer_name] = [(n, np.asarray(layer_group[n], dtype=np.float32)) for n in names]
        version = _text(group.attrs.get("keras_version", f.attrs.get("keras_version")))
        backend = _text(group.attrs.get("backend", f.attrs.get("backend")))
    return LegacyWeights(path, layers, version, backend)


_KERAS1_ROLE = re.compile(r"^(.*?)_(W_[icfozrh]|U_[icfozrh]|b_[icfozrh]|running_mean|running_std|gamma|beta|W|U|b)$")
_KERAS1_ROLES = {"W": "kernel", "U": "recurrent_kernel", "b": "bias", "running_mean": "moving_mean",
                 "running_std": "moving_variance", "gamma": "gamma", "beta": "beta"}
_GATES = {"LSTM": "ifco", "GRU": "zrh"}


def _scope_and_role(weight_name: str) -> tuple[str, str]:
    """(scope, role) of a stored weight: ``conv1_5/kernel:0`` -> (conv1_5, kernel);
    Keras 1's ``lstm_1_W_i:0`` -> (lstm_1, kernel_i)."""
    stem = re.sub(r":\d+$", "", weight_name)
    if "/" in stem:
        scope, _, role = stem.rpartition("/")
        return scope, role
    match = _KERAS1_ROLE.match(stem)
    if not match:
        return "", stem
    scope, role = match.groups()
    base, _, gate = role.partition("_")
    return scope, _KERAS1_ROLES[base] + (f"_{gate}" if gate else "")


def set_legacy_weights(model: keras.Model, weights: LegacyWeights, channels_first_kernels=frozenset()) -> None:
    """Set every weight of ``model`` from ``weights``, by layer name, strictly (module docstring)."""
    stored = {name: items for name, items in weights.layers.items() if items}
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in stored:
            raise LegacyModelError(f"layer {layer.name!r} ({type(layer).__name__}) has weights but "
                                   f"{weights.path.name} holds none for it (it holds: {', '.join(stored) or 'none'})")
        _assign(layer, stored.pop(layer.name), weights, channels_first_kernels)
    if stored:
        raise LegacyModelError(f"{weights.path.name} holds weights for layer(s) {', '.join(sorted(stored))}, which "
                               "the architecture does not have (or has without weights)")


def _assign(layer, items: list[tuple[str, np.ndarray]], weights: LegacyWeights, channels_first) -> None:
    where = f"layer {layer.name!r} ({type(layer).__name__})"
    if isinstance(layer, keras.Model):
        groups: dict[str, list] = {}
        for name, value in items:
            scope, _ = _scope_and_role(name)
            groups.setdefault(scope.split("/")[0], []).append((name, value))
        for sub in layer.layers:
            if sub.weights:
                if sub.name not in groups:
                    raise LegacyModelError(f"{where}: no stored weights for its layer {sub.name!r} (stored scopes: "
                                           f"{', '.join(groups)})")
                _assign(sub, groups.pop(sub.name), weights, channels_first)
        if groups:
            raise LegacyModelError(f"{where}: stored weights of {', '.join(groups)} match none of its layers")
        return
    if isinstance(layer, keras.layers.Bidirectional):
        halves = {"forward": [], "backward": []}
        for name, value in items:
            parts = re.sub(r":\d+$", "", name).split("/")
            direction = [d for d in halves for p in parts if p.startswith(d + "_")]
            if len(direction) != 1:
                raise LegacyModelError(f"{where}: cannot tell the direction of stored weight {name!r}")
            halves[direction[0]].append((name, value))
        _assign(layer.forward_layer, halves["forward"], weights, channels_first)
        _assign(layer.backward_layer, halves["backward"], weights, channels_first)
        return
    if isinstance(layer, keras.layers.TimeDistributed):
        _assign(layer.layer, items, weights, channels_first)
        return
    roles: dict[str, np.ndarray] = {}
    for name, value in items:
        role = _scope_and_role(name)[1]
        if role in roles:
            raise LegacyModelError(f"{where}: two stored weights are its {role!r}")
        roles[role] = value
    values = _keras3_values(layer, where, roles, weights, layer.name in channels_first)
    layer.set_weights(values)


def _from_cudnn(roles: dict, n_gates: int) -> dict:
    """Keras 2's CuDNNLSTM/CuDNNGRU weights as Keras 3's LSTM / GRU(reset_after=True) reads them,
    as Keras 2 converted them itself (``_convert_rnn_weights`` of its HDF5 loader): cuDNN reads each
    gate's input kernel as a flat buffer of shape (units, input) and each recurrent kernel transposed;
    the biases come twice (input and recurrent), summed for an LSTM, kept apart for a GRU."""
    def per_gate(kernel, convert):
        return np.hstack([convert(k) for k in np.hsplit(kernel, n_gates)])

    bias = roles["bias"]
    return {**roles, "kernel": per_gate(roles["kernel"], lambda k: k.T.reshape(k.shape, order="F")),
            "recurrent_kernel": per_gate(roles["recurrent_kernel"], lambda k: k.T),
            "bias": bias.reshape(2, -1).sum(axis=0) if n_gates == 4 else bias.reshape(2, -1)}


def _keras3_values(layer, where: str, roles: dict, weights: LegacyWeights, channels_first: bool) -> list:
    kind = type(layer).__name__
    gates = _GATES.get(kind)
    bias, recurrent = roles.get("bias"), roles.get("recurrent_kernel")
    if gates and bias is not None and recurrent is not None and bias.ndim == 1 \
            and bias.shape[0] == 2 * len(gates) * recurrent.shape[0]:  # a CuDNNLSTM's or CuDNNGRU's
        roles = _from_cudnn(roles, len(gates))
    if gates and any(r.endswith("_" + gates[0]) for r in roles):  # Keras 1: one matrix per gate
        for part in ("kernel", "recurrent_kernel", "bias"):
            try:
                roles[part] = np.concatenate([roles.pop(f"{part}_{g}") for g in gates], axis=-1)
            except KeyError as e:
                raise LegacyModelError(f"{where}: Keras 1 gate weight {e.args[0]} missing") from None
    if kind == "Embedding" and "kernel" in roles:
        roles["embeddings"] = roles.pop("kernel")
    kernel = roles.get("kernel")
    if kernel is not None and isinstance(layer, keras.layers.Conv1D) and kernel.ndim == 4:
        if kernel.shape[1] != 1:  # Keras 1.1: (filters, channels, length, 1)
            kernel = kernel.transpose(2, 3, 1, 0)
        kernel = kernel[:, 0]  # Keras 1.2: (length, 1, channels, filters)
    elif kernel is not None and channels_first and kind in ("Conv2D", "Conv3D"):
        kernel = np.moveaxis(kernel, (0, 1), (-1, -2))  # (filters, channels, *space) -> (*space, channels, filters)
    if kernel is not None and weights.backend == "theano" and kind in ("Conv1D", "Conv2D", "Conv3D"):
        kernel = kernel[(slice(None, None, -1),) * (kernel.ndim - 2)].copy()  # Theano convolves, flipped
    if kernel is not None:
        roles["kernel"] = kernel
    values = []
    for variable in layer.weights:
        role = variable.name
        if role not in roles:
            raise LegacyModelError(f"{where}: {weights.path.name} has no {role!r} for it (it holds "
                                   f"{', '.join(sorted(roles)) or 'nothing'})")
        value = roles.pop(role)
        if tuple(value.shape) != tuple(variable.shape):
            raise LegacyModelError(f"{where}: its {role} has shape {tuple(variable.shape)}, the file's "
                                   f"{tuple(value.shape)}")
        values.append(value)
    if roles:
        raise LegacyModelError(f"{where}: stored weight(s) {', '.join(sorted(roles))} have no place in it")
    return values

"""A loaded zoo model: architecture + verified weights, run through one ``predict_on_batch``."""

import logging
import os
import zlib
from pathlib import Path

import keras
import numpy as np

from seqzoo.architectures import build
from seqzoo.artifacts import WeightsArtifact, fetch
from seqzoo.device import BFLOAT16_CPU_FLAGS, cpu_description, resolve_device
from seqzoo.zoo import ModelSpec, find_model, load_spec

logger = logging.getLogger(__name__)


def untrained_weights(model: keras.Model, seed: int) -> None:
    """Fill ``model`` with deterministic untrained weights drawn from ``seed``.

    Each variable is drawn by NumPy from (seed, variable path), so the values are identical on
    every Keras backend and version, which lets an untrained model carry a reference-prediction
    file. Scales follow Glorot-uniform; biases and batch-norm statistics get small non-trivial
    values so that every part of the network is exercised. These weights are NOT trained.
    """
    for variable in model.weights:
        rng = np.random.default_rng([seed, zlib.crc32(variable.path.encode())])
        shape = tuple(variable.shape)
        kind = variable.path.rsplit("/", 1)[-1]
        if kind == "kernel":
            receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            value = rng.uniform(-limit, limit, shape)
        elif kind == "embeddings":
            value = rng.normal(0.0, 0.5, shape)
        elif kind == "gamma":
            value = rng.uniform(0.9, 1.1, shape)
        elif kind in ("moving_variance", "scale"):  # positive: batch norm, Standardize
            value = rng.uniform(1.0, 1.5, shape)
        else:  # bias, beta, moving_mean
            value = rng.uniform(-0.1, 0.1, shape)
        variable.assign(value.astype(variable.dtype))


PRECISIONS = ("float32", "bfloat16")
FLOAT32_LAYERS = ("output", "rc_average")  # kept in float32 so probabilities are not rounded


def mixed_bfloat16(model: keras.Model) -> keras.Model:
    """A copy of ``model`` computing in bfloat16 (weights stay float32, Keras' mixed_bfloat16
    policy); the output layers stay float32. Faster on CPUs and GPUs with bfloat16 units;
    predictions deviate from float32 by about 1e-3 at most (see tests)."""

    def clone(layer):
        config = layer.get_config()
        config["dtype"] = "float32" if layer.name in FLOAT32_LAYERS else "mixed_bfloat16"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


class ZooModel:
    """A zoo model ready to predict: ``predict_on_batch(x)`` returns a NumPy array.

    Build one with :func:`get_model`. ``keras_model`` is the underlying Keras model,
    ``spec`` what the model directory says, ``labels`` the target names.
    """

    def __init__(self, spec: ModelSpec, weights: str | os.PathLike | WeightsArtifact | None = None,
                 device: str = "auto", precision: str = "float32"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        self.spec = spec
        self.precision = precision
        self.device = resolve_device(device)
        if weights is None and spec.artifact is None:
            weights = "published"  # the directory's model.yaml says args.weights: published
        if isinstance(weights, str) and weights == "published":
            from seqzoo.published import published_artifact

            weights = published_artifact(spec.name)
        if weights is None or isinstance(weights, WeightsArtifact):
            self.artifact: WeightsArtifact | None = weights or spec.artifact
        else:
            self.artifact = None  # a local weights file given by the caller
        with keras.device(self.device):
            self.keras_model = build(spec.architecture, **spec.config)
            self._check_shapes()
            if self.artifact is None:
                self.weights_path: Path | None = Path(weights)
            elif self.artifact.trained:
                self.weights_path = fetch(self.artifact)
            else:
                self.weights_path = None
                logger.warning(
                    "%s: weights are UNTRAINED (deterministic initialisation, seed %d); "
                    "its predictions carry no biological meaning", spec.name, self.artifact.untrained_seed)
                untrained_weights(self.keras_model, self.artifact.untrained_seed)
            if self.weights_path is not None:
                self.keras_model.load_weights(self.weights_path)
            if precision == "bfloat16":
                self.keras_model = mixed_bfloat16(self.keras_model)
        if precision == "bfloat16" and self.device == "cpu":
            cpu, native = cpu_description()
            if native is False:
                logger.warning("%s: this CPU (%s) has no bfloat16 units (%s); bfloat16 is emulated and "
                               "usually slower than float32 here", spec.name, cpu, ", ".join(BFLOAT16_CPU_FLAGS))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def labels(self) -> tuple[str, ...]:
        return self.spec.labels

    @property
    def columns(self) -> list[str]:
        """Output column names (see ``ModelSpec.columns``)."""
        return self.spec.columns

    @property
    def trained(self) -> bool:
        """False when the model runs on deterministic untrained weights."""
        return self.weights_path is not None

    def _check_shapes(self) -> None:
        built_in = tuple(self.keras_model.input_shape[1:])
        built_out = tuple(self.keras_model.output_shape[1:])
        if built_in != self.spec.input_shape or built_out != self.spec.target_shape:
            raise ValueError(
                f"{self.spec.directory / 'model.yaml'}: the schema says input {self.spec.input_shape} -> "
                f"targets {self.spec.target_shape}, but the architecture {self.spec.architecture!r} with "
                f"config {self.spec.config} is {built_in} -> {built_out}"
            )

    def predict_on_batch(self, x: np.ndarray) -> np.ndarray:
        """Predict one batch; ``x`` has shape ``(N,) + input shape``. Returns ``(N,) + target shape``."""
        x = np.asarray(x)
        expected = self.spec.input_shape
        if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"{self.name} expects a batch of shape (N, {', '.join(map(str, expected))}); got {x.shape}"
            )
        input_dtype = self.keras_model.inputs[0].dtype
        if "int" in str(input_dtype):
            if not np.issubdtype(x.dtype, np.integer):
                raise ValueError(f"{self.name} expects integer tokens; got dtype {x.dtype}")
        x = x.astype(input_dtype)
        if len(x) == 0:
            return np.zeros((0,) + self.spec.target_shape, dtype="float32")
        with keras.device(self.device):
            return np.asarray(self.keras_model.predict_on_batch(x))

    def __repr__(self) -> str:
        state = "trained" if self.trained else "UNTRAINED"
        return f"ZooModel({self.name!r}, {self.spec.architecture}, {state}, device={self.device!r})"


def get_model(name: str | os.PathLike, weights: str | os.PathLike | WeightsArtifact | None = None,
              device: str = "auto", precision: str = "float32") -> ZooModel:
    """Load a zoo model by name (see ``list_models()``) or from a model directory path.

    ``weights`` overrides the directory's artifact: a ``.weights.h5`` path, a
    ``WeightsArtifact``, or ``"published"`` for the published weights imported with
    ``seqzoo import-weights``. ``precision="bfloat16"`` computes in bfloat16 (faster where the
    hardware supports it, within about 1e-3 of float32). ``device`` is ``"auto"`` (a GPU when one is visible), ``"cpu"`` or ``"gpu"``.
    """
    return ZooModel(load_spec(find_model(name)), weights=weights, device=device, precision=precision)

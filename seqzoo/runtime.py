"""A loaded zoo model (architecture + verified weights, one ``predict_on_batch``) and where it runs
(device, precision). The batch helpers every feature shares (``predict_batch``, ``prefetch``,
``write_behind``) are :mod:`seqzoo.batching`'s, which imports no Keras."""

import logging
import os
import platform
import warnings
from pathlib import Path

import keras
import numpy as np

from seqzoo.architectures.registry import build, float32_layers
from seqzoo.architectures.untrained import untrained_weights
from seqzoo.zoo.artifacts import WeightsArtifact
from seqzoo.zoo.spec import ModelSpec, find_model, load_spec
from seqzoo.architectures.published import fetch_published
from seqzoo.zoo.weights import UNTRAINED_WARNING, LoadedModel, ResolvedWeights, resolve_weights

logger = logging.getLogger(__name__)


DEVICES = ("auto", "cpu", "gpu")
# x86 CPU flags of native bfloat16 arithmetic; without them bfloat16 is emulated and slower
# than float32 (measured on an AVX2-only AMD EPYC: 0.8x of float32 for Basset).
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def visible_gpus() -> int:
    """Number of GPUs the current Keras backend can use."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if backend == "torch":
        import torch

        return torch.cuda.device_count()
    if backend == "jax":
        import jax

        return sum(d.platform == "gpu" for d in jax.devices())
    return 0


def resolve_device(device: str = "auto") -> str:
    """Turn ``auto``/``cpu``/``gpu`` into a Keras device name (``"cpu"`` or ``"gpu:0"``).

    ``auto`` means the first GPU when one is visible, else the CPU. Asking for ``gpu`` where
    none is visible is an error rather than a silent fall-back to the CPU.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    if device == "cpu":
        # "cpu", not "cpu:0": under the torch backend Keras 3.15 mis-creates integer
        # variables (dropout seeds) inside a "cpu:0" scope.
        return "cpu"
    gpus = visible_gpus()
    if device == "gpu" and gpus == 0:
        raise RuntimeError(
            f"device='gpu' was requested but the Keras {keras.backend.backend()} backend sees no GPU; "
            "use device='cpu' or 'auto'"
        )
    return "gpu:0" if gpus else "cpu"


def cpu_description(cpuinfo: str | Path = "/proc/cpuinfo") -> tuple[str, bool | None]:
    """The CPU's model name and whether it has native bfloat16 units (None: unknown, not Linux x86)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return platform.processor() or platform.machine(), None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    if "flags" not in fields:  # not x86 (aarch64 reports "Features")
        return fields.get("model name", platform.machine()), None
    flags = set(fields["flags"].split())
    return fields.get("model name", platform.machine()), any(f in flags for f in BFLOAT16_CPU_FLAGS)


PRECISIONS = ("float32", "bfloat16", "int8")
#: ``precision="int8"`` is served only where the weights record (``WeightsArtifact.int8_auroc_change``,
#: ``int8_auprc_change``) that validation mean AUROC and AUPRC move by at most this in int8.
INT8_BOUND = 0.002
#: Loading a model in bfloat16 warns when its weights' measured deviation from float32 on real
#: sequences (``WeightsArtifact.bfloat16_deviation``) is above this, or was never measured.
BFLOAT16_BOUND = 1e-3


def mixed_bfloat16(model: keras.Model) -> keras.Model:
    """A copy of ``model`` computing in bfloat16 (weights stay float32, Keras' mixed_bfloat16
    policy); the layers its family records keep in float32 (``registry.float32_layers()``: the
    output layers, the strand average, an ensemble's average and calibration, DeepSol's composition
    features; so that nothing small is rounded to bfloat16's 8 bits) stay float32. Faster on CPUs and GPUs with
    bfloat16 units; how far predictions deviate from float32 is measured per model on real
    sequences (``bfloat16_deviation`` in its ``weights.yaml``: 3.5e-4 to 8.7e-3 on the zoo's)."""

    kept = float32_layers()

    def clone(layer):
        config = layer.get_config()
        config["dtype"] = "float32" if layer.name in kept else "mixed_bfloat16"
        return layer.__class__.from_config(config)

    # recursive: the layers inside nested models (an ensemble's members) are cloned too, else they
    # would stay float32 and only the top level would change precision
    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def int8_refusal(spec: ModelSpec, artifact: WeightsArtifact | None) -> str | None:
    """Why ``spec`` with these weights does not serve int8 (None: it does, see :data:`INT8_BOUND`)."""
    changes = (artifact.int8_auroc_change, artifact.int8_auprc_change) if artifact else (None, None)
    if None in changes:
        return (f"{spec.name}: int8 is not validated for these weights (it is served where validation mean AUROC "
                f"and AUPRC move by at most {INT8_BOUND}, measured with `seqzoo evaluate MODEL --precision int8`); "
                f"Keras {keras.__version__} quantizes only Dense and Embedding layers, not the convolutions, so "
                "int8 gains little for convolutional networks (the model card gives the figure); use float32 "
                "or bfloat16")
    if max(abs(c) for c in changes) > INT8_BOUND:
        return (f"{spec.name}: in int8 validation mean AUROC moves by {changes[0]:+.4f} and AUPRC by "
                f"{changes[1]:+.4f} (its card), more than the {INT8_BOUND} allowed; use float32 or bfloat16")
    return None


def quantized_int8(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with Keras' ``quantize("int8")`` applied: int8 weights and dynamically
    quantized inputs in the layers Keras quantizes (Dense and Embedding in Keras 3.15); the rest,
    convolutions included, stay float32."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    with warnings.catch_warnings():  # one warning per layer without a quantize method: most of them
        warnings.filterwarnings("ignore", message="Layer .* does not have a `quantize` method")
        copy.quantize("int8")
    return copy


class ZooModel(LoadedModel):
    """A zoo model ready to predict: ``predict_on_batch(x)`` returns a NumPy array.

    Build one with :func:`get_model`. ``keras_model`` is the underlying Keras model,
    ``spec`` what the model directory says, ``labels`` the target names.
    """

    def __init__(self, spec: ModelSpec, weights: str | os.PathLike | WeightsArtifact | None = None,
                 device: str = "auto", precision: str = "float32", validate_int8: bool = False):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        self.spec = spec
        self.precision = precision
        self.device = resolve_device(device)
        if weights == "published" or (weights is None and spec.artifact is None):
            fetch_published(spec.name)  # imported on first use: kipoi's checkpoint, its md5 checked
        self.weights: ResolvedWeights = resolve_weights(spec, weights)
        # validate_int8: the measurement that decides (seqzoo evaluate --precision int8) runs it unvalidated
        if precision == "int8" and not validate_int8 and (reason := int8_refusal(spec, self.weights.artifact)):
            raise ValueError(reason)
        with keras.device(self.device):
            self.keras_model = build(spec.architecture, **spec.config)
            self._check_shapes()
            if self.weights.trained:
                self.keras_model.load_weights(self.weights.path)
            else:
                logger.warning(UNTRAINED_WARNING, spec.name, self.weights.untrained_seed)
                untrained_weights(self.keras_model, self.weights.untrained_seed)
            if precision == "bfloat16":
                self.keras_model = mixed_bfloat16(self.keras_model)
            elif precision == "int8":
                self.keras_model = quantized_int8(self.keras_model)
        if precision == "bfloat16":
            self._warn_bfloat16_deviation()
        if precision == "bfloat16" and self.device == "cpu":
            cpu, native = cpu_description()
            if native is False:
                logger.warning("%s: this CPU (%s) has no bfloat16 units (%s); bfloat16 is emulated and "
                               "usually slower than float32 here", spec.name, cpu, ", ".join(BFLOAT16_CPU_FLAGS))

    def _warn_bfloat16_deviation(self) -> None:
        artifact = self.weights.artifact
        deviation = artifact.bfloat16_deviation if artifact else None
        if deviation is None:
            logger.warning("%s: how far these weights' bfloat16 predictions deviate from float32 was not "
                           "measured; use float32 where that matters", self.spec.name)
        elif deviation > BFLOAT16_BOUND:
            logger.warning("%s: in bfloat16 its predictions deviate from float32 by up to %.1e on real "
                           "sequences (measured, see its card); float32 has no such error", self.spec.name, deviation)

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
        return f"ZooModel({self.name!r}, {self.spec.architecture}, {self.weights.describe()}, device={self.device!r})"


def get_model(name: str | os.PathLike, weights: str | os.PathLike | WeightsArtifact | None = None,
              device: str = "auto", precision: str = "float32", validate_int8: bool = False) -> ZooModel:
    """Load a zoo model by name (see ``list_models()``) or from a model directory path.

    ``weights`` overrides the directory's artifact: a ``.weights.h5`` path, a
    ``WeightsArtifact``, or ``"published"`` for the published weights imported with
    ``seqzoo import-weights``. ``precision="bfloat16"`` computes in bfloat16 (faster where the
    hardware supports it, within 1e-2 of float32); ``"int8"`` quantizes (:func:`quantized_int8`) where
    the weights are validated for it (:func:`int8_refusal`; ``validate_int8=True`` skips that check,
    for the measurement that validates them). ``device`` is ``"auto"`` (a GPU when one is visible), ``"cpu"`` or ``"gpu"``.
    """
    return ZooModel(load_spec(find_model(name)), weights=weights, device=device, precision=precision,
                    validate_int8=validate_int8)

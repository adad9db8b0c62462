"""Import the published Basset and DeepSEA weights from kipoi's PyTorch checkpoints.

kipoi serves the published models as PyTorch ``state_dict`` files of ``nn.Sequential`` models,
keys being layer indices. This module maps every tensor onto the layer of the same role in
seqzoo's Keras model, by name and strictly: every checkpoint tensor is used once and every Keras
weight is set, or the import fails naming the keys. The conversions that matter:

- convolution kernels: PyTorch ``(out, in, height, width)`` with one spatial axis of size 1,
  Keras ``Conv1D`` ``(width, in, out)``;
- the flatten before the first dense layer: PyTorch flattens ``(N, C, L, 1)`` channels-first
  (feature ``c * L + l``), Keras flattens ``(N, L, C)`` (feature ``l * C + c``), so the rows of
  that dense kernel are permuted;
- DeepSEA's network sees bases in AGCT order (its first module recodes ACGT input), so the
  first convolution's input channels are permuted to seqzoo's ACGT;
- the layer maps and input orders are the families' records' (``Family.published``);
- DeepSEA's ``Threshold(0, 1e-6)`` and reverse-complement averaging are part of the model
  directory's architecture (``activation_floor``, ``rc_average``); Basset's batch norm uses
  PyTorch's epsilon 1e-5 and its running statistics.

``import_weights`` writes a seqzoo weights artifact (``.weights.h5`` plus a ``published.yaml``
description with its sha256 and provenance) that ``get_model(name, weights="published")`` and
the kipoi directories (``args.weights: published``) load. :func:`fetch_published` does it on
demand: it downloads the checkpoint from the URL kipoi/models lists, checks kipoi's md5, converts
it and caches the result (``get_model`` and ``seqzoo fetch --weights published`` call it).
"""

import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np

from seqzoo.encoding import DNA_ALPHABET
from seqzoo.version import __version__
from seqzoo.architectures.registry import FIRST_CONVOLUTION, build, family
from seqzoo.zoo.artifacts import WeightsArtifact, cache_dir, cached_path, fetch_checkpoint, file_md5, verify
from seqzoo.zoo.spec import ModelSpec, find_model, load_spec
from seqzoo.zoo.weights import PUBLISHED, published_description


class CheckpointError(ValueError):
    """A checkpoint that does not fit the model: the message names the keys and shapes."""


def _conv_kernel(weight: np.ndarray) -> np.ndarray:
    """PyTorch Conv2d weight with one spatial axis of size 1 -> Keras Conv1D kernel."""
    out_channels, in_channels, height, width = weight.shape
    if height != 1 and width != 1:
        raise CheckpointError(f"expected a (k, 1) or (1, k) convolution kernel, got {weight.shape}")
    return weight.reshape(out_channels, in_channels, height * width).transpose(2, 1, 0)


def _flattened_dense_kernel(weight: np.ndarray, channels: int, length: int) -> np.ndarray:
    """Linear weight over a channels-first flatten -> Keras Dense kernel over a length-first one."""
    out_features = weight.shape[0]
    if weight.shape[1] != channels * length:
        raise CheckpointError(f"dense weight {weight.shape} does not match a flatten of {channels} x {length}")
    return weight.reshape(out_features, channels, length).transpose(2, 1, 0).reshape(length * channels, out_features)


def state_dict_to_keras(model: keras.Model, architecture: str, state: dict[str, np.ndarray],
                        prefix: str = "") -> None:
    """Set every weight of ``model`` from ``state`` (a PyTorch state_dict as NumPy arrays).

    Strict: raises ``CheckpointError`` naming missing, unused or mis-shaped tensors.
    """
    layout = family(architecture).published  # the family record's layer map
    if layout is None:
        raise CheckpointError(f"no PyTorch layout is known for architecture {architecture!r}")
    unmapped = [layer.name for layer in model.layers if layer.weights and layer.name not in layout.layers]
    if unmapped:
        raise CheckpointError(f"layers {unmapped} have no counterpart in the published {architecture} layout: "
                              "the model directory's config is not the published network")
    unused = {k for k in state if not k.endswith("num_batches_tracked")}
    flatten = model.get_layer("flatten")
    length, channels = flatten.input.shape[1], flatten.input.shape[2]

    def take(key: str) -> np.ndarray:
        full = prefix + key
        if full not in state:
            raise CheckpointError(f"checkpoint has no tensor {full!r}")
        unused.discard(full)
        return np.asarray(state[full], dtype=np.float32)

    for layer_name, index in layout.layers.items():
        layer = model.get_layer(layer_name)
        if isinstance(layer, keras.layers.BatchNormalization):
            values = [take(f"{index}.{k}") for k in ("weight", "bias", "running_mean", "running_var")]
        elif isinstance(layer, keras.layers.Conv1D):
            kernel = _conv_kernel(take(f"{index}.weight"))
            if layer_name == FIRST_CONVOLUTION and layout.input_order != DNA_ALPHABET:
                # the published network's channel for each of seqzoo's ACGT bases
                kernel = kernel[:, [layout.input_order.index(base) for base in DNA_ALPHABET], :]
            values = [kernel, take(f"{index}.bias")]
        elif layer_name == "dense1":
            values = [_flattened_dense_kernel(take(f"{index}.weight"), channels, length), take(f"{index}.bias")]
        else:
            values = [take(f"{index}.weight").T, take(f"{index}.bias")]
        expected = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != expected:
            raise CheckpointError(f"layer {layer_name!r} (PyTorch module {prefix}{index}) needs shapes "
                               f"{expected}, the checkpoint gives {[v.shape for v in values]}")
        layer.set_weights(values)
    if unused:
        raise CheckpointError(f"checkpoint tensors not used by the {architecture} layout: {sorted(unused)}")


def read_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Tensors of a PyTorch ``state_dict`` file as NumPy arrays (needs torch: ``pip install torch``)."""
    try:
        import torch
    except ImportError:
        raise ImportError("reading PyTorch checkpoints needs torch: pip install 'seqzoo[import]'") from None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a PyTorch state_dict (got {type(state).__name__})")
    return {k: v.detach().numpy() for k, v in state.items()}


def import_weights(name: str, checkpoint: str | os.PathLike, verify_source: bool = True) -> Path:
    """Convert kipoi's PyTorch checkpoint of model ``name`` into a seqzoo weights artifact.

    The ``.weights.h5`` goes into the cache under its sha256 and its description to
    ``published_description(name)``. With ``verify_source`` the checkpoint's md5 must be the one
    kipoi publishes; ``verify_source=False`` (for your own checkpoints of the same layout) records
    that the source was not verified. Returns the description's path.
    """
    spec: ModelSpec = load_spec(find_model(name))
    checkpoint = Path(checkpoint)
    source = PUBLISHED.get(spec.name)
    md5 = file_md5(checkpoint)
    if verify_source:
        if source is None:
            raise CheckpointError(f"no published checkpoint is known for {spec.name}; use verify_source=False")
        if md5 != source.md5:
            raise CheckpointError(f"{checkpoint} has md5 {md5}, but kipoi's {source.file_name} has {source.md5}: "
                               "it is not the published checkpoint (pass --unverified-source to import it anyway)")
    prefix = source.key_prefix if source else ""
    model = build(spec.architecture, **spec.config)
    state_dict_to_keras(model, spec.architecture, read_checkpoint(checkpoint), prefix=prefix)

    file_name = f"{spec.name.lower()}-published-{md5[:8]}.weights.h5"
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        staged = Path(tmp) / file_name
        model.save_weights(staged)
        provenance = (f"seqzoo {__version__} import-weights {spec.name} from {checkpoint.name} "
                      f"(md5 {md5}, {'verified against kipoi' if verify_source else 'source NOT verified'}); "
                      f"keras {keras.__version__}")
        artifact = WeightsArtifact.describe(staged, produced_by=provenance)
        final = cached_path(artifact)
        final.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staged, final)
    verify(final, artifact)
    description = published_description(spec.name)
    description.parent.mkdir(parents=True, exist_ok=True)
    staged_description = description.with_suffix(".yaml.tmp")
    artifact.to_yaml(staged_description)
    os.replace(staged_description, description)  # never a half-written description
    return description


def fetch_published(name: str, progress: bool = True) -> Path:
    """The published weights of ``name`` (Basset, DeepSEA), imported on first use: kipoi's checkpoint
    fetched from its URL (or ``$SEQZOO_MIRROR``) with kipoi's md5 checked, then :func:`import_weights`.
    Returns the description's path; an imported description is returned without any download."""
    description = published_description(name)
    if description.is_file():
        return description
    source = PUBLISHED.get(name)
    if source is None:
        raise CheckpointError(f"no published checkpoint is known for {name} (known: {', '.join(PUBLISHED)})")
    checkpoint = fetch_checkpoint(source.url, source.md5, source.file_name, progress=progress)
    return import_weights(name, checkpoint)

"""The one place that decides which weights a model runs on (no keras here).

Every entry point (``get_model``, the kipoi adapter, ``seqzoo predict``/``variants``/``explain``
``--weights``, ``list``, ``info``, ``fetch``, evaluation and export) asks :func:`resolve_weights`.
What a caller may ask for:

- nothing: the model directory's own ``args.weights`` (its ``weights.yaml`` artifact, or
  ``published`` when the directory serves the imported published weights);
- ``"published"``: the published weights converted from kipoi's PyTorch checkpoint by
  ``seqzoo import-weights`` (recorded in the cache, see :func:`published_description`);
- a :class:`WeightsArtifact`;
- a path to a local ``.weights.h5`` file.

A model is *trained* unless its artifact is deterministic untrained weights (``untrained_seed``);
that is the only meaning of the word, and :data:`UNTRAINED_WARNING` the only warning about it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from urllib.parse import urlparse
from urllib.request import url2pathname

from seqzoo.zoo.artifacts import MIRROR_ENV, ArtifactError, WeightsArtifact, cache_dir, cached_path, fetch, is_cached
from seqzoo.zoo.spec import ModelSpec
from seqzoo.zoo.trust import load_plain_yaml

__all__ = ["PUBLISHED", "PublishedCheckpoint", "ResolvedWeights", "UNTRAINED_WARNING", "model_files",
           "published_artifact", "published_description", "resolve_weights", "run_files", "weights_state"]

UNTRAINED_WARNING = ("%s: weights are UNTRAINED (deterministic initialisation, seed %d); "
                     "its predictions carry no biological meaning")


@dataclass(frozen=True)
class PublishedCheckpoint:
    """Where kipoi publishes a model's PyTorch checkpoint, and its md5 as kipoi records it."""

    file_name: str
    url: str
    md5: str
    key_prefix: str  # prefix of the network's keys inside the checkpoint


PUBLISHED = {
    "Basset": PublishedCheckpoint(
        "pretrained_model_reloaded_th.pth",
        "https://zenodo.org/record/1466068/files/pretrained_model_reloaded_th.pth?download=1",
        "4878981d84499eb575abd0f3b45570d3", ""),
    "DeepSEA": PublishedCheckpoint(
        "deepsea_predict.pth",
        "https://zenodo.org/record/1466993/files/deepsea_predict.pth?download=1",
        "89e640bf6bdbe1ff165f484d9796efc7", "2."),
}


def published_description(name: str) -> Path:
    """Where ``seqzoo import-weights`` records the imported artifact of model ``name``."""
    return cache_dir() / "imported" / name / "published.yaml"


def published_artifact(name: str) -> WeightsArtifact:
    """The imported published weights of ``name``; a clear error when not imported yet."""
    path = published_description(name)
    if not path.is_file():
        source = PUBLISHED.get(name)
        how = (f"`seqzoo fetch {name} --weights published` downloads kipoi's checkpoint {source.url} and "
               f"imports it (offline: put {source.file_name} in the folder SEQZOO_MIRROR names, or run "
               f"`seqzoo import-weights {name} {source.file_name}`)" if source
               else "no published checkpoint is known for it")
        raise FileNotFoundError(f"the published weights of {name} have not been imported ({path} "
                                f"does not exist): {how}")
    return WeightsArtifact.from_yaml(path)


@dataclass(frozen=True)
class ResolvedWeights:
    """The weights a model will run on.

    ``source`` is ``"directory"`` (the model directory's artifact), ``"published"``, ``"artifact"``
    (one given by the caller) or ``"file"`` (a local file given by path, ``artifact`` None).
    ``path`` is the verified local file to load, None for untrained weights (or before fetching).
    """

    source: str
    artifact: WeightsArtifact | None
    path: Path | None

    @property
    def trained(self) -> bool:
        """False only for deterministic untrained weights."""
        return self.artifact is None or self.artifact.trained

    @property
    def untrained_seed(self) -> int | None:
        return None if self.trained else self.artifact.untrained_seed

    def describe(self) -> str:
        """One line for messages and ``repr``."""
        if not self.trained:
            return f"UNTRAINED (seed {self.untrained_seed})"
        name = self.path.name if self.artifact is None else self.artifact.file_name
        return f"{self.source}: {name}"


def resolve_weights(spec: ModelSpec, weights: str | os.PathLike | WeightsArtifact | None = None, *,
                    download: bool = True, progress: bool = True) -> ResolvedWeights:
    """Decide (and, with ``download``, fetch and verify) the weights of ``spec`` (module docstring)."""
    if isinstance(weights, WeightsArtifact):
        source, artifact = "artifact", weights
    elif weights is None and spec.artifact is not None:
        source, artifact = "directory", spec.artifact
    elif weights is None or (isinstance(weights, str) and weights == "published"):
        source, artifact = "published", published_artifact(spec.name)
    else:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"{spec.name}: the weights file {path} does not exist "
                                    "(give a .weights.h5 file, or 'published')")
        return ResolvedWeights("file", None, path)
    path = fetch(artifact, progress=progress) if download and artifact.trained else None
    return ResolvedWeights(source, artifact, path)


def weights_state(spec: ModelSpec) -> str:
    """What ``seqzoo list`` shows: UNTRAINED, cached, not fetched, or published (imported or not)."""
    if spec.artifact is None:
        imported = published_description(spec.name).is_file()
        return "published (imported)" if imported else "published (not imported)"
    if not spec.artifact.trained:
        return "UNTRAINED"
    return "cached" if is_cached(spec.artifact) else "not fetched"


def model_files(spec: ModelSpec) -> list[Path]:
    """The model directory's own files: every file at its top (model.yaml, weights.yaml, the
    labels, the weights it ships, test.expect.h5, the card) and the labels file wherever
    model.yaml puts it. An output naming one of them is refused (``seqzoo.io.tables.check_output``)."""
    directory = Path(spec.directory)
    files = [p for p in sorted(directory.iterdir()) if p.is_file()]
    try:
        labels = load_plain_yaml(directory / "model.yaml")["schema"]["targets"].get("column_labels")
    except Exception:  # noqa: BLE001 - load_spec read it already; a missing key means no labels file
        labels = None
    if labels:
        files.append(directory / labels)
    return files


class LoadedModel:
    """What a loaded model says of itself from its ``spec`` and resolved ``weights``: shared by
    ``seqzoo.runtime.ZooModel`` (Keras) and ``seqzoo.numpy_engine.NumpyModel`` (no keras here)."""

    spec: ModelSpec
    weights: ResolvedWeights

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def labels(self) -> tuple[str, ...]:
        return self.spec.labels

    @property
    def columns(self) -> tuple[str, ...]:
        """Output column names (see ``ModelSpec.columns``)."""
        return self.spec.columns

    @property
    def trained(self) -> bool:
        """False when the model runs on deterministic untrained weights (``ResolvedWeights.trained``)."""
        return self.weights.trained

    @property
    def weights_path(self) -> Path | None:
        """The verified weights file loaded, None for untrained weights."""
        return self.weights.path

    @property
    def files(self) -> list[Path]:
        """The files this model was read from (its directory's files and the weights file): an
        output naming one is refused (``seqzoo.io.tables.check_output``)."""
        return model_files(self.spec) + ([self.weights.path] if self.weights.path is not None else [])


def _local_sources(artifact: WeightsArtifact) -> list[Path]:
    """The files ``fetch`` may copy ``artifact`` from: its cached copy, its file:// URLs and the
    ``$SEQZOO_MIRROR`` copy."""
    files = [cached_path(artifact)]
    files += [Path(url2pathname(urlparse(u).path)) for u in artifact.urls if urlparse(u).scheme == "file"]
    if os.environ.get(MIRROR_ENV):
        files.append(Path(os.environ[MIRROR_ENV]).expanduser() / artifact.file_name)
    return files


def run_files(spec: ModelSpec, weights: str | os.PathLike | WeightsArtifact | None = None) -> list[Path]:
    """Every file a run of ``spec`` on ``weights`` (as :func:`resolve_weights` takes them) reads,
    without downloading anything: :func:`model_files`, the weights file given, or the artifact's
    cached copy and local sources (and, for ``"published"``, the import record). Weights that do not
    resolve add nothing: loading them reports why. For ``check_output``'s ``inputs``."""
    files = model_files(spec)
    if isinstance(weights, str) and weights == "published":
        files.append(published_description(spec.name))
    try:
        resolved = resolve_weights(spec, weights, download=False)
        if resolved.path is not None:
            files.append(resolved.path)
        elif resolved.artifact is not None and resolved.artifact.trained:
            files += _local_sources(resolved.artifact)
    except (OSError, ArtifactError):  # a missing file, weights not imported, no cache: the load says so
        pass
    return files

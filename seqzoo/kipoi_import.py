"""``seqzoo import-kipoi``: a kipoi Keras model directory as a seqzoo model directory.

kipoi describes a Keras model in its ``model.yaml`` (``type: keras`` or ``defined_as:
kipoi.model.KerasModel``) by ``args.arch`` (a Keras 1/2 architecture JSON) and ``args.weights`` (an
HDF5 of weights, or a whole model when ``arch`` is absent). :func:`import_kipoi` reads those files,
converts them (:mod:`seqzoo.architectures.legacy`: names mapped, weights set strictly by layer name)
and writes a seqzoo model directory: ``architecture.json`` (Keras 3, deserialized in safe mode),
``<name>.weights.h5``, ``weights.yaml`` (sha256), ``model.yaml`` (``args.architecture: keras_json``),
``target_labels.txt`` and ``README.md`` (kipoi's ``info`` and the provenance of every file).

Nothing from the kipoi directory is imported or executed: its YAML is read with the safe loader
(a tag is refused), its ``custom_objects`` Python file and its dataloader's code are never read;
custom layers are matched by class name against seqzoo's own implementations.

``args.arch`` and ``args.weights`` are local paths inside the directory, or kipoi's downloads
``{url: ..., md5: ...}``: fetched by :func:`seqzoo.zoo.artifacts.fetch_checkpoint` (cached, bounded by
``$SEQZOO_FETCH_TIMEOUT``, served from ``$SEQZOO_MIRROR`` when it holds the file), kipoi's md5 checked;
the card records each file's URL, md5 and sha256. The model reads one DNA input of shape ``(L, 4)``,
which seqzoo's ``DNAIntervalDataset`` gives.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import keras
import yaml

from seqzoo.architectures import legacy
from seqzoo.packaging import ModelInfo, TargetsInfo, write_model_dir
from seqzoo.version import __version__
from seqzoo.zoo import trust
from seqzoo.zoo.artifacts import ArtifactError, fetch_checkpoint
from seqzoo.zoo.spec import KERAS_JSON

__all__ = ["KipoiImportError", "import_kipoi"]

ARCHITECTURE_FILE = "architecture.json"
_KERAS_TYPES = {"keras", "tf.keras"}
_KERAS_CLASSES = {"kipoi.model.KerasModel", "kipoi.model.TensorFlowKerasModel"}


class KipoiImportError(ValueError):
    """A kipoi model directory that cannot be imported; the message names the file and the key."""


def _hashes(path: Path) -> tuple[str, str]:
    data = path.read_bytes()
    return hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class _File:
    """A file kipoi's description names: where it is here, and the URL it was downloaded from."""

    path: Path
    url: str | None = None


_MD5 = re.compile(r"^[0-9a-f]{32}$")


def _download(named: dict, where: str) -> _File:
    """kipoi's ``{url: ..., md5: ...}``, fetched and md5-checked (:func:`fetch_checkpoint`)."""
    url, md5 = named.get("url"), named.get("md5")
    unknown = sorted(set(named) - {"url", "md5"})
    if unknown:
        raise KipoiImportError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; kipoi's downloads are "
                               "{url: ..., md5: ...}")
    if not isinstance(url, str) or urlparse(url).scheme not in ("http", "https"):
        raise KipoiImportError(f"{where}: url {url!r} is not an http(s) URL")
    if isinstance(md5, int) and not isinstance(md5, bool):  # YAML reads a 32-digit md5 as a number
        raise KipoiImportError(f"{where}: md5 {md5} was read as a number (YAML); quote it")
    if not isinstance(md5, str) or not _MD5.match(md5.lower()):
        raise KipoiImportError(f"{where}: {url} comes without an md5 (given: {md5!r}); seqzoo checks every download "
                               "against kipoi's md5")
    file_name = unquote(Path(urlparse(url).path).name)
    if not file_name or file_name in (".", "..") or not re.fullmatch(r"[\w.+=-]+", file_name):
        file_name = "download"
    try:
        return _File(fetch_checkpoint(url, md5.lower(), file_name), url)
    except ArtifactError as e:
        raise KipoiImportError(f"{where}: {e}") from None


def _file(source: Path, named, where: str) -> _File:
    """A local file inside ``source`` or a kipoi download."""
    if isinstance(named, dict):
        return _download(named, where)
    return _File(_local_file(source, named, where))


def _local_file(source: Path, named, where: str) -> Path:
    if isinstance(named, dict):
        raise KipoiImportError(f"{where} is a download ({named.get('url')}); seqzoo reads this file from the "
                               "model directory: name its path")
    try:
        path = trust.inside(source, named, where)
    except ValueError as e:
        raise KipoiImportError(str(e)) from None
    if not path.is_file():
        raise KipoiImportError(f"{where} names {path}, which does not exist")
    return path


def _kipoi_description(source: Path) -> tuple[Path, dict]:
    path = source / "model.yaml"
    if not path.is_file():
        raise KipoiImportError(f"{source} is not a kipoi model directory: it has no model.yaml")
    try:
        descr = trust.load_plain_yaml(path)  # a YAML tag is refused: kipoi's unsafe loader would run it
    except yaml.YAMLError as e:
        raise KipoiImportError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(descr, dict):
        raise KipoiImportError(f"{path}: expected a mapping at the top level")
    if descr.get("type") not in _KERAS_TYPES and descr.get("defined_as") not in _KERAS_CLASSES:
        raise KipoiImportError(f"{path}: not a kipoi Keras model (type {descr.get('type')!r}, defined_as "
                               f"{descr.get('defined_as')!r}; expected type keras or defined_as kipoi.model.KerasModel)")
    if not isinstance(descr.get("args"), dict) or "weights" not in descr["args"]:
        raise KipoiImportError(f"{path}: missing 'args.weights'")
    return path, descr


def _dna_input(path: Path, descr: dict, model: keras.Model) -> int:
    """The input length of a model reading one-hot DNA ``(L, 4)``; other inputs are refused."""
    inputs = (descr.get("schema") or {}).get("inputs") or {}
    if isinstance(inputs, dict) and "shape" not in inputs and len(inputs) == 1:  # {name: {shape: ...}}
        inputs = next(iter(inputs.values())) or {}
    if len(model.inputs) != 1 or not isinstance(inputs, dict) or "shape" not in inputs:
        names = [i.name for i in model.inputs] if len(model.inputs) != 1 else list(inputs)
        raise KipoiImportError(f"{path}: the model reads {len(model.inputs)} inputs ({', '.join(map(str, names))}); "
                               "seqzoo's model directories read one DNA sequence input")
    if inputs.get("special_type") != "DNASeq":
        raise KipoiImportError(f"{path}: schema.inputs is {inputs.get('special_type')!r}, not DNASeq; seqzoo serves "
                               "DNA and protein models")
    shape = tuple(model.input_shape[1:])
    if len(shape) != 2 or shape[1] != 4 or shape[0] is None:
        raise KipoiImportError(f"{path}: the network's input is {shape}; seqzoo's DNA dataloader gives (L, 4) "
                               "(other layouts, such as (4, L, 1), are not mapped yet)")
    return int(shape[0])


def _labels(source: Path, path: Path, descr: dict, n_outputs: int) -> tuple[str, ...]:
    targets = (descr.get("schema") or {}).get("targets") or {}
    labels = targets.get("column_labels")
    if isinstance(labels, str):
        labels = _local_file(source, labels, f"{path} schema.targets.column_labels").read_text().split()
    if labels is None:
        name = targets.get("name")
        labels = [str(name)] if name and n_outputs == 1 else [f"target_{i}" for i in range(n_outputs)]
    labels = tuple(str(label) for label in labels)
    if len(labels) != n_outputs:
        raise KipoiImportError(f"{path}: {len(labels)} column labels for {n_outputs} outputs")
    return labels


def _example(source: Path, staging: Path) -> bool:
    """Copy the default dataloader's example FASTA and intervals (kipoi's ``dataloader.yaml``
    ``args.*.example``) as ``example/genome.fa`` and ``example/intervals.bed``, when both are there."""
    spec = source / "dataloader.yaml"
    try:
        args = (trust.load_plain_yaml(spec) or {}).get("args") or {} if spec.is_file() else {}
    except yaml.YAMLError:
        return False
    examples = {key: (value or {}).get("example") for key, value in args.items() if isinstance(value, dict)}
    found = {}
    for key, target in (("fasta_file", "genome.fa"), ("intervals_file", "intervals.bed")):
        named = examples.get(key)
        if not isinstance(named, str):
            return False
        try:
            found[target] = _local_file(source, named, f"{spec} args.{key}.example")
        except KipoiImportError:
            return False
    (staging / "example").mkdir()
    for target, path in found.items():
        shutil.copyfile(path, staging / "example" / target)
    return True


def _card(source: Path, descr: dict, name: str, files: list[tuple[str, _File]], versions: dict, command: str,
          conversion: legacy.Conversion, input_length: int) -> str:
    info = descr.get("info") or {}
    authors = ", ".join(str(a.get("name", a)) if isinstance(a, dict) else str(a) for a in info.get("authors") or [])
    lines = [f"# {name}", "", str(info.get("doc") or "").strip() or "(kipoi's description gives no doc)", "",
             f"Imported from the kipoi model directory `{source}` by seqzoo {__version__}, keras {keras.__version__}.",
             "", f"- Authors: {authors or 'not given'}",
             f"- Cite as: {info.get('cite_as') or 'not given in kipoi description'}",
             f"- License: {info.get('license') or 'not given in kipoi description'}",
             f"- Trained on: {info.get('trained_on') or 'not given in kipoi description'}",
             f"- Input: one-hot DNA ({input_length}, 4), ACGT order (seqzoo.dataloaders.DNAIntervalDataset).",
             "", "## Provenance", "", f"Command: `{command}`", "", "| file | md5 | sha256 | written by |",
             "|---|---|---|---|"]
    for key, file in files:
        md5, sha256 = _hashes(file.path)
        where = file.url or file.path.relative_to(source)
        lines.append(f"| `{key}`: {where} | `{md5}` | `{sha256}` | "
                     f"Keras {versions.get(key) or 'version not recorded (Keras 1.x writes none)'} |")
    lines += ["", "The architecture was converted to Keras 3 (`architecture.json`, loaded in safe mode) and the "
              "weights set by layer name, every stored weight used once (seqzoo.architectures.legacy)."]
    if conversion.notes:
        lines += ["", "Not carried over (training-time settings):", ""] + [f"- {n}" for n in conversion.notes]
    return "\n".join(lines) + "\n"


def import_kipoi(source: str | os.PathLike, output: str | os.PathLike, name: str | None = None,
                 command: str | None = None) -> Path:
    """Import the kipoi Keras model directory ``source`` into a new seqzoo model directory ``output``.

    ``name`` names the weights file and the card (default: the source directory's name);
    ``command`` is recorded in the card. ``output`` must not exist (or be empty); it is written
    completely or not at all. Returns ``output``.
    """
    source, output = Path(source).resolve(), Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise KipoiImportError(f"{output} exists and is not empty; give a new directory")
    path, descr = _kipoi_description(source)
    name = name or source.name
    args = descr["args"]
    weights = _file(source, args["weights"], f"{path} args.weights")
    arch = _file(source, args["arch"], f"{path} args.arch") if args.get("arch") else weights
    arch_path, weights_path = arch.path, weights.path
    legacy_config, config_version = legacy.read_legacy_config(arch_path)
    conversion = legacy.convert_config(legacy_config, config_version)
    model = legacy.build_model(conversion.config, where=str(arch_path))
    stored = legacy.read_legacy_weights(weights_path)
    legacy.set_legacy_weights(model, stored, conversion.channels_first_kernels)
    input_length = _dna_input(path, descr, model)
    if len(model.output_shape) != 2:
        raise KipoiImportError(f"{path}: the network's output is {model.output_shape[1:]}; seqzoo's model "
                               "directories give one row of targets per sequence")
    labels = _labels(source, path, descr, model.output_shape[-1])
    info = descr.get("info") or {}
    command = command or f"seqzoo.kipoi_import.import_kipoi({str(source)!r}, {str(output)!r})"
    files = [("arch", arch)] + ([("weights", weights)] if weights != arch else [])
    versions = {"arch": conversion.keras_version, "weights": stored.keras_version}

    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}.") as tmp:
        staging = Path(tmp)
        architecture = staging / ARCHITECTURE_FILE
        architecture.write_text(json.dumps(json.loads(model.to_json()), indent=1) + "\n")
        weights_file = staging / f"{name}.weights.h5"
        model.save_weights(weights_file)
        has_example = _example(source, staging)
        (staging / "README.md").write_text(
            _card(source, descr, name, files, versions, command, conversion, input_length))
        authors = tuple(str(a.get("name", a)) if isinstance(a, dict) else str(a) for a in info.get("authors") or [])
        md5s = ", ".join(f"{key} {f.url or f.path.name} md5 {_hashes(f.path)[0]}" for key, f in files)
        write_model_dir(
            staging, architecture=KERAS_JSON,
            config={"file": ARCHITECTURE_FILE, "sha256": _hashes(architecture)[1]},
            weights_file=weights_file, modality="dna", input_length=input_length,
            produced_by=(f"{command}; converted from kipoi's Keras {stored.keras_version or '1.x'} files ({md5s}) by "
                         f"seqzoo {__version__}, keras {keras.__version__}"),
            targets=TargetsInfo(labels=labels, name=str(((descr.get("schema") or {}).get("targets") or {})
                                                        .get("name") or "targets"),
                                doc=str(((descr.get("schema") or {}).get("targets") or {}).get("doc") or "")),
            info=ModelInfo(doc=str(info.get("doc") or f"kipoi model {name}, imported"),
                           trained_on=str(info.get("trained_on") or "not given in kipoi description"),
                           cite_as=str(info.get("cite_as") or "not given in kipoi description"),
                           authors=authors or ("not given",), contributors=("seqzoo import-kipoi",),
                           license=str(info.get("license") or "not given in kipoi description"),
                           version=str(info.get("version") or "0.1")),
        )
        if not has_example:
            text = (staging / "model.yaml").read_text()
            (staging / "model.yaml").write_text(text.replace("test:\n  expect: test.expect.h5\n  precision_decimal: 5\n", ""))
        if output.exists():
            output.rmdir()
        os.replace(staging, output)
        staging.mkdir()  # for TemporaryDirectory's clean-up
    return output

"""The zoo's registry: model directories under ``models/`` and what their ``model.yaml`` says.

A model directory is self-describing. seqzoo reads the same ``model.yaml`` that kipoi reads:
``args`` names the architecture, its size arguments and the weights artifact description;
``schema`` gives the input and target shapes and the target labels file.
"""

import fnmatch
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

from seqzoo.suggest import did_you_mean
from seqzoo.zoo import stores, trust
from seqzoo.zoo.artifacts import ArtifactError, WeightsArtifact

#: What a model reads. DNA: one-hot windows ``(L, 4)``; protein: amino-acid tokens ``(L,)``.
MODALITIES = ("dna", "protein")

# Where the zoo's model directories are, in this order:
# 1. $SEQZOO_ZOO, a directory holding models/ (e.g. a copy of the repository);
# 2. the checkout the package sits in (the repository itself, or an editable install): models/ at
#    its root, beside setup.cfg;
# 3. the copy a wheel installs inside the package, seqzoo/zoo/models/ (setup.cfg maps the package
#    seqzoo.zoo.models onto the repository's models/).
ZOO_ENV = "SEQZOO_ZOO"
_PACKAGE_ZOO = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE_ZOO.parents[1]


def zoo_root() -> Path:
    """Directory holding ``models/``: ``$SEQZOO_ZOO``, else the checkout, else the installed copy."""
    env = os.environ.get(ZOO_ENV)
    if env:
        root = Path(env).expanduser()
        if not (root / "models").is_dir():
            raise FileNotFoundError(f"{ZOO_ENV}={env}: no models/ directory under {root.resolve()}")
        return root.resolve()
    # A checkout is recognised by setup.cfg beside models/: an installed package's parents[1] is
    # site-packages, where another distribution's top-level "models" package must not be taken.
    if (_CHECKOUT / "models").is_dir() and (_CHECKOUT / "setup.cfg").is_file():
        return _CHECKOUT
    if (_PACKAGE_ZOO / "models").is_dir():
        return _PACKAGE_ZOO
    raise FileNotFoundError(
        f"no models/ directory: not in {_CHECKOUT} (a checkout) nor in {_PACKAGE_ZOO} "
        f"(an installed wheel); reinstall seqzoo (pip install seqzoo, or pip install -e . from "
        f"its repository) or set {ZOO_ENV} to a directory holding models/"
    )


def models_dir() -> Path:
    """The ``models/`` directory: one sub-directory per model, also usable as a kipoi source."""
    return zoo_root() / "models"


def list_models(pattern: str = "") -> list[str]:
    """Names of the zoo's models (directories of ``models/`` with a ``model.yaml``), sorted.

    ``pattern`` keeps only names containing it (case-insensitive).
    """
    names = sorted(p.parent.name for p in models_dir().glob("*/model.yaml"))
    return [n for n in names if pattern.lower() in n.lower()]


#: The reference predictions of a model directory's example, which ``kipoi test`` compares with.
EXPECT_FILE = "test.expect.h5"


class ModelNotFoundError(LookupError):
    """No model of that name in the zoo."""


class ModelSpecError(ValueError):
    """A model directory whose ``model.yaml`` is missing, malformed or inconsistent."""


def _parse_shape(text, where: str) -> tuple:
    """kipoi writes shapes as strings like ``(600, 4)``; ``None`` is a free dimension."""
    if isinstance(text, (list, tuple)):
        return tuple(text)
    try:
        items = [s.strip() for s in str(text).strip().strip("()").split(",") if s.strip()]
        return tuple(None if s == "None" else int(s) for s in items)
    except ValueError:
        raise ModelSpecError(f"{where}: shape {text!r} is not a tuple of integers") from None


@dataclass(frozen=True)
class ModelSpec:
    """Everything seqzoo needs from a model directory."""

    name: str
    directory: Path
    architecture: str
    config: dict
    artifact: WeightsArtifact | None  # None: the published weights imported by import-weights
    input_shape: tuple
    target_shape: tuple
    labels: tuple[str, ...]
    dataloader: str = ""
    default_dataloader_args: dict = field(default_factory=dict)
    doc: str = ""
    modality: str = "dna"  # see MODALITIES and _modality
    #: The stretch of a DNA window its predictions are about (``schema.targets.prediction_bin``;
    #: the DeepSEA design's central 200 bp), else the whole input: ``--tile``'s default step.
    prediction_bin: int | None = None
    version: str = ""  # info.version of model.yaml

    @cached_property  # per-target callers would otherwise rebuild it for each of 919 targets
    def columns(self) -> tuple[str, ...]:
        """Output column names: the labels, made unique where a label repeats (a tuple: it is
        computed once and shared).

        A label that names several outputs (the published DeepSEA has 54 such, e.g. repeated
        GM12878_CTCF_None experiments) gets its 0-based column index appended, ``NAME#i``, on
        every occurrence; unlabelled models get ``target_i``.
        """
        labels = list(self.labels) or [f"target_{i}" for i in range(self.target_shape[-1])]
        repeated = {label for label, n in Counter(labels).items() if n > 1}
        return tuple(f"{label}#{i}" if label in repeated else label for i, label in enumerate(labels))

    def column_index(self, target: str | int) -> int:
        """Column index of a target given by label (or ``NAME#i`` column name) or by 0-based index;
        an unknown name is an error suggesting the nearest (``seqzoo.suggest``)."""
        if isinstance(target, int) or str(target).isdigit():
            index = int(target)
            if not 0 <= index < len(self.columns):
                raise ValueError(f"{self.name}: target index {index} is outside 0..{len(self.columns) - 1}")
            return index
        for names in (self.columns, list(self.labels)):
            if target in names:
                if list(names).count(target) > 1:
                    raise ValueError(f"{self.name}: target {target!r} names several columns; use NAME#column")
                return list(names).index(target)
        raise ValueError(f"{self.name}: no target named {target!r}" + did_you_mean(str(target), self.columns)
                         + f" (see `seqzoo info {self.name}`)")

    def select_columns(self, patterns: str | list[str] | None) -> list[int]:
        """Indices of the output columns named by ``patterns`` (``"ABF2,WRKY*"`` or a list; names or
        glob patterns, matched against the column names and the labels), in column order; None or
        empty: all. A pattern matching nothing is an error listing the nearest names."""
        if not patterns:
            return list(range(len(self.columns)))
        if isinstance(patterns, str):
            patterns = [p.strip() for p in patterns.split(",") if p.strip()]
        names = list(zip(self.columns, list(self.labels) or self.columns))
        chosen: set[int] = set()
        for pattern in patterns:
            hits = {i for i, (column, label) in enumerate(names)
                    if fnmatch.fnmatchcase(column, pattern) or fnmatch.fnmatchcase(label, pattern)}
            if not hits:
                raise ValueError(f"{self.name}: no target named {pattern!r}"
                                 + did_you_mean(pattern, self.columns, n=5, cutoff=0.5)
                                 + f" (`seqzoo info {self.name}` lists its {len(self.columns)} targets)")
            chosen |= hits
        return sorted(chosen)


def _modality(inputs: dict, path: Path) -> str:
    """``schema.inputs.special_type: DNASeq`` (kipoi's own marker) is a DNA model; anything else
    declares ``schema.inputs.modality`` (kipoi ignores the extra key)."""
    declared = inputs.get("modality")
    if declared is None and inputs.get("special_type") == "DNASeq":
        declared = "dna"
    if declared not in MODALITIES:
        raise ModelSpecError(f"{path}: schema.inputs must say what the model reads: 'special_type: DNASeq' "
                             f"for one-hot DNA, or 'modality:' one of {', '.join(MODALITIES)} (got {declared!r})")
    if declared == "dna" and inputs.get("special_type", "DNASeq") != "DNASeq":
        raise ModelSpecError(f"{path}: schema.inputs says modality dna but special_type {inputs['special_type']!r}")
    return declared


def _prediction_bin(targets: dict, inputs: dict, path: Path) -> int | None:
    """``schema.targets.prediction_bin`` (bp), else the whole input length; None for proteins."""
    length = _parse_shape(inputs.get("shape"), f"{path} schema.inputs")[0] if "shape" in inputs else None
    if inputs.get("modality", "dna") != "dna":
        return None
    declared = targets.get("prediction_bin", length)
    if not isinstance(declared, int) or declared <= 0 or (length and declared > length):
        raise ModelSpecError(f"{path}: schema.targets.prediction_bin must be a positive number of bases no "
                             f"longer than the input ({length}); got {declared!r}")
    return declared


def _named_file(directory: Path, named, where: str) -> Path:
    """The file a model.yaml field names: inside the model directory (``trust.inside``) and there."""
    try:
        return trust.inside(directory, named, where, existing=True)
    except ValueError as e:
        raise ModelSpecError(str(e)) from None


#: ``args.architecture`` of a model defined by a Keras 3 JSON configuration file in its directory
#: (imported models: ``seqzoo import-kipoi``) rather than by a registry builder.
KERAS_JSON = "keras_json"


def _architecture_config(directory: Path, path: Path, architecture, config) -> dict:
    """``args.config`` as the builder takes it. For :data:`KERAS_JSON`: ``file`` (the JSON, inside
    the directory; resolved to its path here) and optionally ``sha256`` (checked when it is built)."""
    if config is not None and not isinstance(config, dict):
        raise ModelSpecError(f"{path}: args.config must be a mapping; got {config!r}")
    config = dict(config or {})
    if architecture != KERAS_JSON:
        return config
    unknown = sorted(set(config) - {"file", "sha256"})
    if "file" not in config or unknown:
        raise ModelSpecError(f"{path}: args.architecture {KERAS_JSON} needs args.config with 'file' (the Keras 3 "
                             f"JSON in the model directory) and optionally 'sha256'"
                             + (f"; unknown key(s) {', '.join(unknown)}" if unknown else ""))
    file = _named_file(directory, config["file"], f"{path} args.config.file")
    return {**config, "file": str(file)}


def load_spec(directory: str | os.PathLike) -> ModelSpec:
    """Read a model directory's ``model.yaml`` (and the files it names) into a ``ModelSpec``."""
    directory = Path(directory).resolve()
    path = directory / "model.yaml"
    if not path.is_file():
        raise ModelSpecError(f"{directory} is not a model directory: it has no model.yaml")
    # Every YAML file here is one kipoi may read with its unsafe loader (model.yml before
    # model.yaml, a dataloader.yaml): a tag in any of them refuses the directory (trust module).
    for other in trust.yaml_files(directory):
        if other != path:
            try:
                trust.load_plain_yaml(other)
            except yaml.YAMLError:
                pass  # malformed but tag-free: no code can come of it
    try:
        descr = trust.load_plain_yaml(path)
    except yaml.YAMLError as e:
        raise ModelSpecError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(descr, dict):
        raise ModelSpecError(f"{path}: expected a mapping at the top level")

    def need(mapping, key, where):
        if not isinstance(mapping, dict) or key not in mapping:
            raise ModelSpecError(f"{path}: missing '{where}{key}'")
        return mapping[key]

    args = need(descr, "args", "")
    schema = need(descr, "schema", "")
    inputs, targets = need(schema, "inputs", "schema."), need(schema, "targets", "schema.")
    weights = need(args, "weights", "args.")
    artifact = None  # "published": the weights imported by `seqzoo import-weights`
    if weights != "published":
        weights_file = _named_file(directory, weights, f"{path} args.weights")
        try:
            trust.load_plain_yaml(weights_file)
        except yaml.YAMLError:
            pass  # WeightsArtifact.from_yaml names the problem
        artifact = WeightsArtifact.from_yaml(weights_file)
    target_shape = _parse_shape(need(targets, "shape", "schema.targets."), f"{path} schema.targets")
    labels: tuple[str, ...] = ()
    if "column_labels" in targets:
        labels_path = _named_file(directory, targets["column_labels"], f"{path} schema.targets.column_labels")
        labels = tuple(line.strip() for line in labels_path.read_text().splitlines() if line.strip())
        if len(labels) != target_shape[-1]:
            raise ModelSpecError(
                f"{labels_path} has {len(labels)} labels but the targets have {target_shape[-1]} columns"
            )
    dataloader = need(descr, "default_dataloader", "")
    if not isinstance(dataloader, dict) or "defined_as" not in dataloader:
        raise ModelSpecError(f"{path}: default_dataloader must name a class with 'defined_as' "
                             "(e.g. seqzoo.dataloaders.DNAIntervalDataset)")
    installed_from = stores.origin(directory)
    return ModelSpec(
        name=installed_from["name"] if installed_from else directory.name,
        directory=directory,
        architecture=need(args, "architecture", "args."),
        config=_architecture_config(directory, path, args["architecture"], args.get("config")),
        artifact=artifact,
        input_shape=_parse_shape(need(inputs, "shape", "schema.inputs."), f"{path} schema.inputs"),
        target_shape=target_shape,
        labels=labels,
        dataloader=dataloader["defined_as"],
        default_dataloader_args=dict(dataloader.get("default_args") or {}),
        doc=str((descr.get("info") or {}).get("doc", "")).strip(),
        version=str((descr.get("info") or {}).get("version", "")),
        modality=_modality(inputs, path),
        prediction_bin=_prediction_bin(targets, inputs, path),
    )


def find_model(name_or_path: str | os.PathLike) -> Path:
    """The directory of a model: a path to a model directory, a zoo name, ``NAME@VERSION`` (an installed
    version), or ``STORE/NAME[@VERSION]`` (installed from that store on first use, see ``seqzoo.zoo.stores``).

    A bare name is the zoo's own model when there is one (the zoo wins), else the newest installed version.
    """
    candidate = Path(name_or_path)
    if (candidate / "model.yaml").is_file():
        return candidate.resolve()
    text = str(name_or_path)
    if "://" in text or (Path(text.partition("@")[0]).parent / stores.CATALOGUE).is_file():
        return stores.install(text)  # STORE/NAME[@VERSION]: a URI, or a local folder holding a catalogue
    name, _, version = text.partition("@")
    if version:
        if version in stores.installed_versions(name):
            return stores.installed_dir(name, version)
        raise ModelNotFoundError(f"{name} {version} is not installed (installed: "
                                 f"{', '.join(stores.installed_versions(name)) or 'none'}); install it with "
                                 f"`seqzoo install STORE/{name}@{version}`")
    directory = models_dir() / name
    if (directory / "model.yaml").is_file():
        return directory
    installed = stores.installed_versions(name)
    if installed:
        return stores.installed_dir(name, installed[-1])
    known = list_models()
    raise ModelNotFoundError(f"no model named {text!r} in the zoo (known: {', '.join(known)}) or installed"
                             + did_you_mean(name, [*known, *stores.list_installed()]))


__all__ = ["EXPECT_FILE", "KERAS_JSON", "MODALITIES", "ArtifactError", "ModelNotFoundError", "ModelSpec", "ModelSpecError", "find_model", "list_models", "load_spec", "models_dir", "zoo_root"]

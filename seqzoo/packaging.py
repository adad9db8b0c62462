"""Model directories: writing one, and checking it the way ``kipoi test`` does plus seqzoo's
stricter checks.

``write_model_dir`` writes a directory's ``model.yaml``, ``weights.yaml`` and
``target_labels.txt`` from what a trainer knows (both ``seqzoo export`` kinds use it, inside
``staged_model_dir``, so a directory appears or is replaced whole, and never without ``--force``);
``write_expect`` writes the reference predictions ``kipoi test`` compares against and the Keras 3
configuration the NumPy engine reads (``keras_config.json``, ``write_keras_config``);
``check_model_dir`` returns a list of problems (empty = the directory passes).
"""

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import yaml

import keras

from seqzoo.architectures.registry import families
from seqzoo.encoding import DNA_ALPHABET, PROTEIN_ALPHABET
from seqzoo.numpy_engine import KERAS_CONFIG_FILE, KERAS_CONFIG_FORMAT
from seqzoo.runtime import ZooModel
from seqzoo.zoo.artifacts import WeightsArtifact
from seqzoo.zoo.spec import EXPECT_FILE, KERAS_JSON, MODALITIES, ModelSpec, load_spec
from seqzoo.zoo.stores import UnsafePackageError
from seqzoo.zoo.trust import UnsafeYAMLError, package_problems


#: What ``model.yaml`` says about each modality's inputs, and the dataloader that reads them
#: (with the name of its argument that takes the model's input length).
INPUTS = {
    "dna": {"schema": {"name": "seq", "special_type": "DNASeq"},
            "doc": f"One-hot DNA, {DNA_ALPHABET} order (see dataloaders/DNAIntervals).",
            "dataloader": "seqzoo.dataloaders.DNAIntervalDataset", "length_argument": "seq_len"},
    "protein": {"schema": {"name": "tokens", "modality": "protein"},  # kipoi has no special type for proteins
                "doc": f"Amino-acid tokens, 0 = padding, 1-20 = {PROTEIN_ALPHABET} (see dataloaders/Proteins).",
                "dataloader": "seqzoo.dataloaders.ProteinDataset", "length_argument": "max_len"},
}

_WEIGHTS_YAML_HEADER = (
    "# The weights this directory serves (see seqzoo.zoo.artifacts.WeightsArtifact). The URL without a\n"
    "# scheme is the file shipped beside this description; it is verified by sha256 like a download.\n")


@dataclass(frozen=True)
class ModelInfo:
    """The ``info:`` section of a ``model.yaml``: what the model is, who made it, what it was
    trained on. Nothing here has a species or data default: ``doc``, ``trained_on`` and
    ``tags`` say them. ``cite_as`` None cites the architecture's paper (its family's ``citation``).
    ``license`` (an SPDX identifier) and ``authors`` have no default either: only the model's
    author can say them, and :func:`write_model_dir` refuses a model without them."""

    doc: str
    trained_on: str
    cite_as: str | None = None
    tags: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    contributors: tuple[str, ...] = ()
    license: str | None = None
    version: str = "1.0.0"


@dataclass(frozen=True)
class TargetsInfo:
    """The ``schema.targets`` section: one label per output column, the targets' name and doc."""

    labels: tuple[str, ...]
    name: str = "targets"
    doc: str = "Probability of each target (see target_labels.txt)."


def citation(architecture: str, config: dict) -> str | None:
    """The paper of ``architecture`` (of an ensemble: of its first member), if its family record
    names one."""
    if architecture == "ensemble" and config.get("members"):
        first = config["members"][0]
        return citation(first["architecture"], first.get("config", {}))
    known = families()
    return known[architecture].citation if architecture in known else None


class _FlowList(list):
    pass


class _FlowDict(dict):
    pass


class _Dumper(yaml.SafeDumper):
    """Writes :func:`_compact`'s leaf lists and mappings on one line, as hand-written model.yaml
    files do (``kernels: {2: 32, 3: 32}``, ``conv_filters: [64, 128, 192]``)."""


_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
_Dumper.add_representer(_FlowDict, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))


def _compact(value):
    """``value`` with its lists and mappings of scalars only marked for one-line output."""
    if isinstance(value, dict):
        items = {k: _compact(v) for k, v in value.items()}
        return _FlowDict(items) if not any(isinstance(v, (dict, list, tuple)) for v in value.values()) else items
    if isinstance(value, (list, tuple)):
        items = [_compact(v) for v in value]
        return _FlowList(items) if not any(isinstance(v, (dict, list, tuple)) for v in value) else items
    return value


def _shape(shape: tuple) -> str:
    """A shape as kipoi writes it: ``(1000, 4)``, ``(1, )``."""
    return "(" + ", ".join(str(d) for d in shape) + (", )" if len(shape) == 1 else ")")


def write_model_dir(
    directory: str | os.PathLike,
    *,
    architecture: str,
    config: dict,
    weights_file: str | os.PathLike,
    produced_by: str,
    modality: str,
    input_length: int,
    targets: TargetsInfo,
    info: ModelInfo,
    dataloader: str | None = None,
    dataloader_args: dict | None = None,
    example: str | os.PathLike | None = None,
    lineage: list[dict] | None = None,
    prediction_bin: int | None = None,
) -> WeightsArtifact:
    """Write a kipoi/seqzoo model directory around a trained weights file.

    ``lineage`` (one record per fine-tuned network: base model, version, store, base weights
    sha256, data set manifest) goes to ``info.lineage`` in model.yaml and to the card's
    "Lineage" section (written into ``README.md`` between markers; the rest of the card is the
    author's).

    Writes ``model.yaml`` (``args`` = ``architecture`` and its size arguments ``config``;
    ``schema.inputs`` with ``special_type: DNASeq`` for ``modality`` "dna" or ``modality:
    protein``, of length ``input_length``; ``schema.targets`` from ``targets``; ``info``; the
    modality's dataloader, see :data:`INPUTS`), ``weights.yaml`` (the weights file as a
    :class:`~seqzoo.zoo.artifacts.WeightsArtifact` by relative URL, with ``produced_by``) and
    ``target_labels.txt``. ``weights_file`` is copied into ``directory`` unless it is there.
    ``example`` (a directory of example inputs, e.g. ``genome.fa`` and ``intervals.bed``, or
    ``proteins.fa``) is copied to ``directory/example``; when ``directory/example`` exists,
    :func:`write_expect` writes ``test.expect.h5``. ``README.md`` is the author's.

    Returns:
        The weights artifact written to ``weights.yaml``.
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {', '.join(MODALITIES)}; got {modality!r}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    weights_file = Path(weights_file)
    if not weights_file.name.endswith(".weights.h5"):
        raise ValueError(f"the weights file name must end in .weights.h5, got {weights_file.name!r}")
    if weights_file.resolve().parent != out.resolve():
        shutil.copyfile(weights_file, out / weights_file.name)
    if not info.license or not info.authors:
        raise ValueError("say the model's licence and authors (ModelInfo.license, ModelInfo.authors; "
                         "seqzoo export --license, --authors): seqzoo does not guess them")
    cite_as = info.cite_as or citation(architecture, config)
    if not cite_as:
        raise ValueError(f"no known paper for architecture {architecture!r}: say what to cite (cite_as, --cite-as)")
    inputs = INPUTS[modality]
    labels = list(targets.labels)
    input_shape = (input_length, len(DNA_ALPHABET)) if modality == "dna" else (input_length,)
    description = {
        "defined_as": "seqzoo.kipoi_adapter.KipoiModel",
        "args": {"architecture": architecture, "config": _compact(config), "weights": "weights.yaml"},
        "info": {
            "authors": [{"name": a} for a in info.authors],
            **({"contributors": [{"name": c} for c in info.contributors]} if info.contributors else {}),
            "doc": info.doc,
            "version": info.version,
            "license": info.license,
            "cite_as": cite_as,
            "trained_on": info.trained_on,
            "tags": list(info.tags),
            **({"lineage": lineage} if lineage else {}),
        },
        "default_dataloader": {
            "defined_as": dataloader or inputs["dataloader"],
            "default_args": dict({inputs["length_argument"]: input_length}, **(dataloader_args or {})),
        },
        "dependencies": {"pip": ["seqzoo"]},
        "schema": {
            "inputs": {**inputs["schema"], "shape": _shape(input_shape), "doc": inputs["doc"]},
            "targets": {"name": targets.name, "shape": _shape((len(labels),)), "doc": targets.doc,
                        "column_labels": "target_labels.txt",
                        **({"prediction_bin": prediction_bin} if prediction_bin else {})},
        },
        "test": {"expect": EXPECT_FILE, "precision_decimal": 5},
    }
    (out / "target_labels.txt").write_text("\n".join(labels) + "\n")
    artifact = WeightsArtifact.describe(out / weights_file.name, urls=[weights_file.name], produced_by=produced_by)
    artifact.to_yaml(out / "weights.yaml")
    (out / "weights.yaml").write_text(_WEIGHTS_YAML_HEADER + (out / "weights.yaml").read_text())
    (out / "model.yaml").write_text(
        "# Written by seqzoo.packaging.write_model_dir (seqzoo export); kipoi and seqzoo read it as it is.\n"
        + yaml.dump(description, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True))
    if lineage:
        write_card_lineage(out / "README.md", lineage)
    if example is not None and Path(example).resolve() != (out / "example").resolve():
        shutil.copytree(example, out / "example", dirs_exist_ok=True)
    if (out / "example").is_dir():
        write_expect(out)
    return artifact


_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextmanager
def staged_model_dir(directory: str | os.PathLike, *, overwrite: bool = False, sources=(),
                     keep: tuple[str, ...] = ("README.md",)):
    """Write a model directory whole: yields a new hidden sibling directory
    (``.NAME.<random>.partial``) to write into, which takes the name ``directory`` only when the
    block ends without an error; on any error (Ctrl-C included) it is deleted and an existing
    ``directory`` is left as it was.

    An existing ``directory`` that is not empty is refused (FileExistsError, before any work)
    unless ``overwrite``: then it is replaced as a whole (nothing of the old model, its weights
    included, is left beside the new one) except the files named in ``keep`` (the author's card),
    carried over. ``sources`` (the runs or model directories read) may not be ``directory`` or lie
    inside it: replacing it would delete them."""
    final = Path(directory)
    if final.exists() and not final.is_dir():
        raise ValueError(f"{final} is a file; give the model directory to write")
    for source in sources:
        if final.resolve() == Path(source).resolve() or final.resolve() in Path(source).resolve().parents:
            raise ValueError(f"{final} is where {source} is read from; write the model directory elsewhere")
    if final.is_dir() and any(final.iterdir()) and not overwrite:
        raise FileExistsError(f"{final} exists and is not empty (a model directory: model.yaml, its weights); "
                              "pass --force to replace it (overwrite=True in Python)")
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
    try:
        os.chmod(stage, 0o777 & ~_UMASK)  # mkdtemp's 0700 -> what mkdir would give
        for name in keep:
            if (final / name).is_file():
                shutil.copy2(final / name, stage / name)
        yield stage
        if final.exists():  # swap: the old directory aside, the new one in, the old one deleted
            old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".old"))
            os.replace(final, old)
            try:
                os.replace(stage, final)
            except BaseException:
                os.replace(old, final)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


#: What each of seqzoo's dataloaders gives (checked against model.yaml's modality).
DATALOADER_MODALITIES = {"seqzoo.dataloaders.DNAIntervalDataset": "dna", "seqzoo.dataloaders.ProteinDataset": "protein"}

LINEAGE_BEGIN, LINEAGE_END = "<!-- lineage: written by seqzoo export -->", "<!-- end of lineage -->"


def write_card_lineage(card: Path, lineage: list[dict]) -> None:
    """Write (or replace) the card's "Lineage" section: where each fine-tuned network started."""
    lines = [LINEAGE_BEGIN, "## Lineage", ""]
    for record in lineage:
        data = record.get("data_manifest") or {}
        lines += [f"- Fine-tuned from **{record['base_model']}** version {record.get('base_version') or '?'}"
                  f" ({'store ' + record['base_store'] if record.get('base_store') else 'the zoo or a local directory'}),"
                  f" base weights sha256 `{record['base_weights_sha256']}`; output head {record['head']}"
                  f"{', trunk frozen' if record.get('frozen_trunk') else ''}.",
                  f"  Data set: `{data.get('path')}` (manifest sha256 `{data.get('sha256')}`), tasks "
                  f"{', '.join(data.get('tasks', []))}; built by `{data.get('command')}`."]
    section = "\n".join(lines + ["", LINEAGE_END])
    text = card.read_text() if card.is_file() else ""
    if LINEAGE_BEGIN in text and LINEAGE_END in text:
        head, rest = text.split(LINEAGE_BEGIN, 1)
        text = head + section + rest.split(LINEAGE_END, 1)[1]
    else:
        text = (text.rstrip() + "\n\n" if text else "") + section + "\n"
    card.write_text(text)


@contextmanager
def _inside(directory: Path):
    # kipoi resolves a model's example files relative to its directory; do the same.
    previous = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)


def dataloader_class(spec: ModelSpec, trust_code: bool = False):
    """The model's default dataloader class with the model's ``default_args`` applied.

    A dataloader other than seqzoo's own (:data:`DATALOADER_MODALITIES`) is imported only with
    ``trust_code``: kipoi's ``load_obj`` would import it from anywhere on ``sys.path`` or, failing
    that, execute ``<module>.py`` from the working directory (``seqzoo.zoo.trust``).
    """
    from kipoi_utils.utils import load_obj, override_default_kwargs

    if spec.dataloader not in DATALOADER_MODALITIES and not trust_code:
        raise UnsafePackageError(f"{spec.directory / 'model.yaml'}: the dataloader {spec.dataloader!r} is not one "
                                 f"of seqzoo's ({', '.join(DATALOADER_MODALITIES)}); importing it could run code "
                                 "from the model directory or the working directory (pass --trust-code, or "
                                 "trust_code=True, to run it)")
    return override_default_kwargs(load_obj(spec.dataloader), spec.default_dataloader_args)


def example_batch(spec: ModelSpec, trust_code: bool = False) -> dict:
    """All of the directory's example inputs as one batch (``inputs`` and ``metadata``);
    ``trust_code`` as for :func:`dataloader_class`."""
    from kipoi_utils.data_utils import numpy_collate_concat

    cls = dataloader_class(spec, trust_code)
    with _inside(spec.directory):
        # kipoi's load_all, without the progress bar it draws (a stray "0/1" in export and publish)
        return numpy_collate_concat(list(cls.init_example().batch_iter(batch_size=32)))


def keras_config(spec: ModelSpec, keras_model: keras.Model) -> dict | None:
    """What ``keras_config.json`` holds for ``spec`` built as ``keras_model``: the builder and its
    arguments it was made from (the NumPy engine reads it only while model.yaml says the same) and
    Keras 3's functional configuration. None for a model defined by a Keras JSON file already
    (``KERAS_JSON``: imported models, which the NumPy engine does not run)."""
    if spec.architecture == KERAS_JSON:
        return None
    return {"format": KERAS_CONFIG_FORMAT, "architecture": spec.architecture, "config": spec.config,
            "keras_version": keras.__version__, "model": json.loads(keras_model.to_json())}


def write_keras_config(spec: ModelSpec, keras_model: keras.Model) -> Path | None:
    """Write ``keras_config.json`` (:func:`keras_config`) into the model directory; its path, or None."""
    data = keras_config(spec, keras_model)
    if data is None:
        return None
    path = spec.directory / KERAS_CONFIG_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def keras_config_problems(spec: ModelSpec, keras_model: keras.Model) -> list[str]:
    """``keras_config.json`` differs from what the architecture builds now (stale); a missing one is
    no problem (small jobs then import TensorFlow)."""
    path = spec.directory / KERAS_CONFIG_FILE
    if not path.is_file() or spec.architecture == KERAS_JSON:
        return []
    expected = json.loads(json.dumps(keras_config(spec, keras_model)))
    found = json.loads(path.read_text())
    found.pop("keras_version", None), expected.pop("keras_version")
    if found != expected:
        return [f"{KERAS_CONFIG_FILE} is not what the architecture builds now (stale); "
                f"seqzoo check {spec.name} --write-expect rewrites it"]
    return []


def write_expect(directory: str | os.PathLike, trust_code: bool = False) -> Path:
    """Predict the directory's example with its weights; write ``test.expect.h5`` for kipoi, and
    ``keras_config.json`` for the NumPy engine (:func:`write_keras_config`).
    ``trust_code`` as for :func:`dataloader_class`."""
    spec = load_spec(directory)
    batch = example_batch(spec, trust_code)
    model = ZooModel(spec, device="cpu")
    write_keras_config(spec, model.keras_model)
    preds = model.predict_on_batch(batch["inputs"])
    path = spec.directory / EXPECT_FILE
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:  # the layout kipoi's HDF5Reader reads: /inputs, /preds
        f.create_dataset("inputs", data=batch["inputs"])
        f.create_dataset("preds", data=preds)
    os.replace(tmp, path)
    return path


def check_model_dir(directory: str | os.PathLike, trust_code: bool = False) -> list[str]:
    """Problems with a model directory; an empty list means it passes every check.

    The checks load the directory through kipoi, which imports the model class and dataloader
    that model.yaml names. The rule that ``publish`` and ``install`` apply comes first
    (``seqzoo.zoo.trust.package_problems``): a directory naming or carrying code seqzoo did not write
    (unless ``trust_code``), a YAML tag or alias, a ``model.yml``, a link or a path leaving the
    directory is reported and nothing of it is imported.
    """
    import kipoi

    problems: list[str] = []
    directory = Path(directory).resolve()
    if unsafe := package_problems(directory, trust_code=trust_code):
        always = set(package_problems(directory, trust_code=True))  # what --trust-code does not lift
        return [p if p in always else f"{p} (not imported; pass --trust-code, or trust_code=True, to run it)"
                for p in unsafe]
    try:
        spec = load_spec(directory)  # refuses YAML tags in every YAML file kipoi may read
    except UnsafeYAMLError as e:  # names its own file (model.yml, dataloader.yaml ...)
        return [str(e)]
    except Exception as e:  # report, don't crash: the caller lists every problem
        return [f"model.yaml: {e}"]
    for name in ("README.md", "weights.yaml", EXPECT_FILE):
        if not (directory / name).is_file():
            problems.append(f"missing {name}")
    if not spec.labels:
        problems.append("schema.targets has no column_labels file")
    try:
        loader = dataloader_class(spec, trust_code)
    except Exception as e:  # a trusted dataloader that does not import: report it like the rest
        return problems + [f"the dataloader {spec.dataloader} cannot be loaded: {type(e).__name__}: {e}"]
    # by name: the dataloaders are kipoi's layer, above this one
    ancestors = {f"{c.__module__}.{c.__name__}" for c in loader.__mro__}
    loader_modality = next((m for name, m in DATALOADER_MODALITIES.items() if name in ancestors), None)
    if loader_modality is not None and loader_modality != spec.modality:
        problems.append(f"model.yaml says the model reads {spec.modality}, but its dataloader {spec.dataloader} "
                        f"gives {loader_modality}")
    schema = loader.get_output_schema()
    if tuple(schema.inputs.shape) != spec.input_shape:
        problems.append(f"dataloader input shape {tuple(schema.inputs.shape)} != model input {spec.input_shape}")
    try:
        model = kipoi.get_model(str(directory), source="dir")
        batch = example_batch(spec)
        if tuple(batch["inputs"].shape[1:]) != spec.input_shape:
            problems.append(f"example batch has shape {batch['inputs'].shape}, model expects {spec.input_shape}")
        preds = model.predict_on_batch(batch["inputs"])
        problems += keras_config_problems(spec, model.model.keras_model)
        if tuple(preds.shape[1:]) != spec.target_shape:
            problems.append(f"predictions have shape {preds.shape}, schema says {spec.target_shape}")
        if (directory / EXPECT_FILE).is_file():
            with h5py.File(directory / EXPECT_FILE, "r") as f:
                expected = f["preds"][:]
                same_inputs = np.array_equal(f["inputs"][:], batch["inputs"])
            if not same_inputs:
                problems.append(f"{EXPECT_FILE} inputs differ from the example's inputs")
            elif not np.allclose(preds, expected, atol=1.5e-5, rtol=0):
                problems.append(f"predictions differ from {EXPECT_FILE} (max |diff| {np.abs(preds - expected).max():.2e})")
    except Exception as e:
        problems.append(f"loading or predicting through kipoi failed: {type(e).__name__}: {e}")
    return problems

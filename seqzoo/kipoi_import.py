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
the card records each file's URL, md5 and sha256. A kipoi model group (``model-template.yaml`` +
``models.tsv``, as DeepBind and CpGenie) is rendered for one row (:func:`render_template`: kipoi's
jinja2 substitutions and ifs, no other template code). The written directory reads one DNA input
``(L, 4)``, which seqzoo's ``DNAIntervalDataset`` gives; a network that reads kipoiseq
``SeqIntervalDl``'s other layouts (``(4, 1, L)``, ``(L, 4, 1)``, ...) gets them from ``Permute`` and
``Reshape`` layers placed in front of it (:class:`InputLayout`), and several one-column heads are
concatenated into one row of targets.

A network that reads sequences of any length (input ``(None, 4)``, as pwm_HOCOMOCO's PWM scanners)
whose dataloader fixes none (no ``auto_resize_len``) is served at the window length the user gives
(``seq_len``, ``--seq-len``). A network reading two inputs that kipoi's description gives as one
interval's two strands (DeepMEL: ``(500, 4)`` and its reverse complement) becomes one model reading
one ``(L, 4)`` input, the reverse strand computed inside it (:class:`ReverseComplement`).
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
import numpy as np
import yaml

from seqzoo.architectures import legacy
from seqzoo.architectures.layers import ReverseComplement
from seqzoo.packaging import ModelInfo, TargetsInfo, write_model_dir
from seqzoo.suggest import did_you_mean
from seqzoo.version import __version__
from seqzoo.zoo import trust
from seqzoo.zoo.artifacts import ArtifactError, fetch_checkpoint
from seqzoo.zoo.spec import KERAS_JSON

__all__ = ["InputLayout", "KipoiImportError", "import_kipoi", "is_group", "read_models_tsv", "render_template",
           "seq_interval_layout"]

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
    if isinstance(md5, str) and md5.lower().startswith("md5:"):
        md5 = md5[4:]  # zenodo's spelling, as kipoi/models' DeepMEL and DeepFlyBrain copy it
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
        return trust.inside(source, named, where, existing=True)
    except ValueError as e:
        raise KipoiImportError(str(e)) from None


# kipoi renders a group's model-template.yaml with jinja2 (kipoi.sources.LocalComponentGroup), a template
# language that can call Python; seqzoo renders the part of it kipoi/models' templates use, and refuses
# the rest: {{ column }}, {% if column == 'text' %} / {% if column != 'text' %} / {% else %} / {% endif %}.
_TAG = re.compile(r"\{\{(.*?)\}\}|\{%-?(.*?)-?%\}|\{#.*?#\}", re.S)
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_IF = re.compile(rf"^if\s+({_IDENT})\s*(==|!=)\s*(?:'([^'\\]*)'|\"([^\"\\]*)\")$")


def read_models_tsv(path: Path) -> dict[str, dict[str, str]]:
    """A group's ``models.tsv``: row name (column ``model``) -> {column: text}. Lines starting with
    ``#`` are comments (kipoi reads it with pandas, ``comment='#'``); a ``#`` inside a line, a row of
    the wrong width or a repeated name is refused, naming the line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rows, header = {}, None
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = line.split("\t")
        if "#" in line:
            raise KipoiImportError(f"{path}, line {number}: a '#' inside a line (kipoi's pandas reader would cut the "
                                   "line there); refused")
        if header is None:
            header = cells
            if "model" not in header:
                raise KipoiImportError(f"{path}, line {number}: no column 'model' in the header ({', '.join(header)})")
            continue
        if len(cells) != len(header):
            raise KipoiImportError(f"{path}, line {number}: {len(cells)} cells for {len(header)} columns")
        row = dict(zip(header, cells))
        if row["model"] in rows:
            raise KipoiImportError(f"{path}, line {number}: model {row['model']!r} is listed twice")
        rows[row["model"]] = row
    if header is None:
        raise KipoiImportError(f"{path} is empty")
    return rows


def render_template(text: str, row: dict[str, str], where: str) -> str:
    """kipoi's rendering of a group's ``model-template.yaml`` for one row of ``models.tsv``, limited
    to substitutions and if/else on a column's value (module comment above); anything else, and a
    column that is missing or empty, is refused naming ``where`` and the line."""
    out, stack, position = [], [], 0  # stack: [emitting?] per open if

    def line(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    def emitting() -> bool:
        return all(stack)

    def value(name: str, offset: int) -> str:
        if not row.get(name):
            raise KipoiImportError(f"{where}, line {line(offset)}: column {name!r} is "
                                   f"{'empty' if name in row else 'not in models.tsv'} for model {row.get('model')!r}")
        if any(c in row[name] for c in "\n\r"):
            raise KipoiImportError(f"{where}: column {name!r} of model {row.get('model')!r} holds a line break")
        return row[name]

    for match in _TAG.finditer(text):
        if emitting():
            out.append(text[position:match.start()])
        position = match.end()
        expression, statement = match.group(1), match.group(2)
        if expression is not None:
            name = expression.strip()
            if not re.fullmatch(_IDENT, name):
                raise KipoiImportError(f"{where}, line {line(match.start())}: {match.group(0)!r} is not a plain "
                                       "column name; seqzoo renders only {{ column }}, never expressions")
            if emitting():
                out.append(value(name, match.start()))
        elif statement is not None:
            words = statement.strip()
            condition = _IF.match(words)
            if condition:
                name, operator, single, double = condition.groups()
                equal = row.get(name) == (single if single is not None else double)
                stack.append(equal == (operator == "=="))
            elif words == "else" and stack:
                stack[-1] = not stack[-1]
            elif words == "endif" and stack:
                stack.pop()
            else:
                raise KipoiImportError(f"{where}, line {line(match.start())}: {match.group(0)!r} is refused; seqzoo "
                                       "renders only {% if column == 'text' %} (or !=), {% else %} and {% endif %}")
    if stack:
        raise KipoiImportError(f"{where}: an {{% if %}} is not closed by {{% endif %}}")
    out.append(text[position:])
    return "".join(out)


def _group_description(source: Path, row: str) -> tuple[Path, dict]:
    """The model description of ``row`` in the kipoi group ``source`` (model-template.yaml + models.tsv)."""
    template, table = source / "model-template.yaml", source / "models.tsv"
    rows = read_models_tsv(table)
    if row not in rows:
        raise KipoiImportError(f"{table}: no model {row!r} among its {len(rows)} rows"
                               + did_you_mean(row, rows, n=3))
    text = render_template(template.read_text(encoding="utf-8"), rows[row], str(template))
    where = f"{template} rendered for model {row!r}"
    try:
        return template, trust.parse_plain_yaml(text, where)
    except yaml.YAMLError as e:
        raise KipoiImportError(f"{where} is not valid YAML: {e}") from None


def is_group(source: Path) -> bool:
    """Whether ``source`` is a kipoi model group (``model-template.yaml`` and ``models.tsv``)."""
    return (source / "model-template.yaml").is_file() and (source / "models.tsv").is_file()


def _kipoi_description(source: Path, row: str | None = None) -> tuple[Path, dict]:
    path = source / "model.yaml"
    if is_group(source) and not path.is_file():
        if row is None:
            rows = list(read_models_tsv(source / "models.tsv"))
            raise KipoiImportError(f"{source} is a kipoi model group ({len(rows)} models in models.tsv, e.g. "
                                   f"{', '.join(rows[:3])}): name one with --row")
        path, descr = _group_description(source, row)
    elif row is not None:
        raise KipoiImportError(f"{source} is not a kipoi model group (model-template.yaml and models.tsv); --row "
                               "applies to groups only")
    elif not path.is_file():
        raise KipoiImportError(f"{source} is not a kipoi model directory: it has no model.yaml (nor a group's "
                               "model-template.yaml and models.tsv)")
    else:
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


_SEQ_INTERVAL_DL = {"kipoiseq.dataloaders.SeqIntervalDl", "kipoiseq.dataloaders.sequence.SeqIntervalDl"}
# SeqIntervalDl's arguments: those that shape the array, and those that do not change it for seqzoo
_LAYOUT_ARGS = {"auto_resize_len", "alphabet_axis", "dummy_axis", "alphabet", "dtype"}
_OTHER_ARGS = {"ignore_targets", "use_strand", "num_chr_fasta", "label_dtype"}
_FLOAT_DTYPES = {None, "float", "float32", "float64", "np.float32", "np.float64", "numpy.float32", "numpy.float64"}


@dataclass(frozen=True)
class InputLayout:
    """How kipoi's dataloader hands one-hot DNA to the network: ``shape`` (no batch axis), made from
    seqzoo's ``(length, 4)`` by ``keras.layers.Permute(permutation)`` then ``Reshape(shape)``
    (either left out when it changes nothing). ``dataloader`` says where the layout was read."""

    length: int
    shape: tuple[int, ...]
    permutation: tuple[int, int] = (1, 2)
    dataloader: str = "seqzoo's (L, 4)"
    chosen_length: bool = False  # the network reads any length; ``length`` is the user's seq_len
    strand_pair: tuple[str, str] | None = None  # the network's (forward, reverse complement) inputs

    @property
    def is_plain(self) -> bool:
        return self.shape == (self.length, 4) and self.strand_pair is None


def seq_interval_layout(args: dict, where: str) -> tuple[tuple[str, ...], dict]:
    """The axes kipoiseq's ``SeqIntervalDl`` (``ReorderedOneHot``) gives for ``args``: a tuple of
    'L' (sequence), 'A' (alphabet, 4) and 'D' (dummy, 1), e.g. ``('A', 'D', 'L')`` for
    ``alphabet_axis=0, dummy_axis=1``; with the checked arguments. Arguments that change values
    rather than axes (another alphabet, an integer dtype) are refused, naming ``where``."""
    unknown = sorted(set(args) - _LAYOUT_ARGS - _OTHER_ARGS)
    if unknown:
        raise KipoiImportError(f"{where}: SeqIntervalDl argument(s) {', '.join(unknown)} are not mapped by seqzoo")
    alphabet = args.get("alphabet", "ACGT")
    if not isinstance(alphabet, (str, list)) or "".join(map(str, alphabet)) != "ACGT":
        raise KipoiImportError(f"{where}: alphabet {alphabet!r}; seqzoo's one-hot columns are A, C, G, T in that "
                               "order (another alphabet is not mapped)")
    if args.get("dtype") not in _FLOAT_DTYPES:
        raise KipoiImportError(f"{where}: dtype {args.get('dtype')!r}; seqzoo gives float32 (N = 0.25, which an "
                               "integer dtype would make 0), so only float dtypes are mapped")
    alphabet_axis, dummy_axis = args.get("alphabet_axis", 1), args.get("dummy_axis")
    for key, value in (("alphabet_axis", alphabet_axis), ("dummy_axis", dummy_axis)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise KipoiImportError(f"{where}: {key} {value!r} is not an axis number")
    # ReorderedOneHot's own rules (kipoiseq/transforms/transforms.py)
    if dummy_axis is not None and (dummy_axis == alphabet_axis or not 0 <= dummy_axis <= 2):
        raise KipoiImportError(f"{where}: dummy_axis {dummy_axis} must be 0, 1 or 2 and differ from alphabet_axis")
    if alphabet_axis is None or not (0 <= alphabet_axis < 2 or (alphabet_axis == 2 and dummy_axis is not None)):
        raise KipoiImportError(f"{where}: alphabet_axis {alphabet_axis!r} is not one kipoiseq accepts")
    axes = ["L", "A"]
    if dummy_axis is not None:
        axes.insert(dummy_axis, "D")  # np.expand_dims
    existing = 2 if dummy_axis is not None and dummy_axis < 2 else 1
    axes[existing], axes[alphabet_axis] = axes[alphabet_axis], axes[existing]  # np.swapaxes
    return tuple(axes), args


def _dataloader_args(source: Path, path: Path, descr: dict) -> tuple[dict | None, str]:
    """kipoiseq ``SeqIntervalDl`` default arguments of the model's default dataloader, with where they
    were read; ``None`` when it is another dataloader (code seqzoo does not run)."""
    dataloader = descr.get("default_dataloader")
    where = f"{path} default_dataloader"
    if isinstance(dataloader, str):  # a dataloader directory, usually "."
        try:
            directory = trust.inside(source, dataloader, where)
        except ValueError as e:
            raise KipoiImportError(str(e)) from None
        spec = directory / "dataloader.yaml"
        if not spec.is_file():
            return None, where
        try:
            dataloader = trust.load_plain_yaml(spec)
        except yaml.YAMLError as e:
            raise KipoiImportError(f"{spec} is not valid YAML: {e}") from None
        where = str(spec)
    if not isinstance(dataloader, dict) or dataloader.get("defined_as") not in _SEQ_INTERVAL_DL:
        return None, where
    args = dataloader.get("default_args") or {}
    if not isinstance(args, dict):
        raise KipoiImportError(f"{where}: default_args is not a mapping")
    return args, f"{where} (kipoiseq SeqIntervalDl)"


def _schema_inputs(descr: dict) -> list[dict]:
    """kipoi's ``schema.inputs`` as a list of entries, whichever of its three spellings is used:
    ``{shape: ...}``, ``[{shape: ...}, ...]`` (DeepMEL, DeepFlyBrain) or ``{name: {shape: ...}, ...}``."""
    inputs = (descr.get("schema") or {}).get("inputs") or {}
    if isinstance(inputs, list):
        return [entry if isinstance(entry, dict) else {} for entry in inputs]
    if isinstance(inputs, dict) and "shape" not in inputs:
        return [dict(entry or {}, name=name) if isinstance(entry, dict) or entry is None else {}
                for name, entry in inputs.items()]
    return [inputs] if isinstance(inputs, dict) else []


_REVERSE_DOC = re.compile(r"reverse[- ]?complement", re.I)


def _strand_pair(path: Path, entries: list[dict], model: keras.Model, args: dict | None) -> tuple[str, str] | None:
    """The network's (forward, reverse-complement) input names when kipoi's description gives its two
    inputs as one interval's two strands: exactly two inputs, the second's doc saying it is the
    reverse complement and the first's not (DeepMEL's "DNA sequence" / "Reverse-complemented DNA
    sequence"; its dataloader.py gives ``seq_onehot[::-1, ::-1]``). ``None`` for any other inputs; a
    pair seqzoo cannot feed (other channels than one-hot DNA, as FactorNet's DNase and mappability
    tracks, or unequal shapes) is refused with the reason."""
    if len(model.inputs) != 2 or len(entries) != 2:
        return None
    docs = [str(entry.get("doc") or "") for entry in entries]
    if _REVERSE_DOC.search(docs[0]) or not _REVERSE_DOC.search(docs[1]):
        return None
    names = tuple(str(i.name) for i in model.inputs)
    shapes = [tuple(shape[1:]) for shape in model.input_shape]
    pair = f"{path}: the model reads a strand pair ({names[0]} {shapes[0]}: {docs[0]!r}; {names[1]} {shapes[1]}: " \
           f"{docs[1]!r})"
    if shapes[0] != shapes[1] or len(shapes[0]) != 2:
        raise KipoiImportError(f"{pair} of different or non-(L, C) shapes; seqzoo computes the reverse strand of one "
                               "(L, 4) sequence")
    if shapes[0][1] != 4:
        raise KipoiImportError(f"{pair} of {shapes[0][1]} channels: one-hot DNA and {shapes[0][1] - 4} other channel(s) "
                               "(signal tracks); seqzoo feeds the reverse strand of one-hot DNA (L, 4) only")
    if args is not None:
        raise KipoiImportError(f"{pair}, but its dataloader is kipoiseq's SeqIntervalDl, which gives one input")
    if any(entry.get("special_type") not in (None, "DNASeq") for entry in entries) or \
            not all(re.search(r"\bDNA\b", doc) for doc in docs):
        raise KipoiImportError(f"{pair}, not described as DNA (special_type DNASeq or a doc naming DNA)")
    return names[0], names[1]


def _dna_layout(source: Path, path: Path, descr: dict, model: keras.Model, seq_len: int | None = None) -> InputLayout:
    """How the model reads one-hot DNA: its length and the layout its dataloader gives it (kipoiseq
    ``SeqIntervalDl``'s arguments, or ``(L, 4)`` for a dataloader seqzoo cannot read); a network
    whose input is not that layout, and any input that is not one DNA sequence (or one interval's
    two strands, :func:`_strand_pair`), are refused. ``seq_len`` serves a network that reads any
    length; it is refused when the network or its dataloader fixes another length."""
    entries = _schema_inputs(descr)
    args, where = _dataloader_args(source, path, descr)
    pair = _strand_pair(path, entries, model, args)
    inputs = entries[0] if len(entries) == 1 or pair else {}
    if (len(model.inputs) != 1 and not pair) or "shape" not in inputs:
        names = [i.name for i in model.inputs] if len(model.inputs) != 1 else [e.get("name") for e in entries]
        raise KipoiImportError(f"{path}: the model reads {len(model.inputs)} inputs ({', '.join(map(str, names))}); "
                               "seqzoo's model directories read one DNA sequence input (or one interval's two strands: "
                               "a second input documented as the first's reverse complement)")
    network = tuple(model.input_shape[0][1:]) if pair else tuple(model.input_shape[1:])
    if pair:
        inputs = dict(inputs, special_type="DNASeq")  # _strand_pair checked that both strands are DNA
    # kipoiseq's SeqIntervalDl gives DNA whatever the schema says (DeepSTARR's names no special_type)
    if inputs.get("special_type") != "DNASeq" and not (args is not None and inputs.get("special_type") is None):
        raise KipoiImportError(f"{path}: schema.inputs is {inputs.get('special_type')!r}, not DNASeq; seqzoo serves "
                               "DNA and protein models")
    if args is None:
        axes, where = ("L", "A"), f"{where} (a dataloader seqzoo does not run; its layout is taken as (L, 4))"
    else:
        axes, args = seq_interval_layout(args, where)
    if len(network) != len(axes) or any(n is not None and n != {"A": 4, "D": 1}.get(a, n)
                                        for n, a in zip(network, axes)):
        shown = "(" + ", ".join({"L": "L", "A": "4", "D": "1"}[a] for a in axes) + ")"
        raise KipoiImportError(f"{path}: the network's input is {network}, but the dataloader ({where}) gives {shown}")
    length = network[axes.index("L")]
    resize = (args or {}).get("auto_resize_len")
    if resize is not None and length is not None and resize != length:
        raise KipoiImportError(f"{where}: auto_resize_len {resize}, but the network reads sequences of {length}")
    fixed = length or resize
    if seq_len is not None and fixed is not None and seq_len != fixed:
        fixer = "the network" if length else f"its dataloader ({where}: auto_resize_len)"
        raise KipoiImportError(f"{path}: --seq-len {seq_len}, but {fixer} reads sequences of {fixed}; leave --seq-len "
                               f"out (or give {fixed})")
    length = fixed or seq_len
    if not isinstance(length, int) or length <= 0:
        raise KipoiImportError(f"{path}: the network reads sequences of any length (input {network}) and its "
                               "dataloader fixes none (auto_resize_len); seqzoo's model directories read one length: "
                               "give the window length to serve it at with --seq-len N (Python: seq_len=N)")
    shape = tuple({"L": length, "A": 4, "D": 1}[a] for a in axes)
    order = [a for a in axes if a != "D"]
    return InputLayout(length, shape, (1, 2) if order == ["L", "A"] else (2, 1), where,
                       chosen_length=fixed is None, strand_pair=pair)


def _head_names(model: keras.Model) -> list[str] | None:
    """The output layers' names of a network with several one-column outputs (DeepSTARR's heads)."""
    if len(model.outputs) < 2 or any(o.shape[-1] != 1 for o in model.outputs):
        return None
    return [str(name) for name in model.output_names]


def _with_layout(model: keras.Model, layout: InputLayout) -> keras.Model:
    """``model`` reading seqzoo's ``(L, 4)`` and giving one ``(N, targets)`` array: the kipoi layout
    made by Permute/Reshape in front of it, so every seqzoo path (predict, variants, tracks, kipoi
    through seqzoo's dataloader) gives the network exactly what kipoi's dataloader gave it; several
    ``(N, k)`` outputs (DeepSTARR's two heads) side by side, in the network's order."""
    several = len(model.outputs) > 1
    if several and any(len(o.shape) != 2 for o in model.outputs):
        raise KipoiImportError(f"the network has {len(model.outputs)} outputs of shapes "
                               f"{', '.join(str(tuple(o.shape[1:])) for o in model.outputs)}; seqzoo's model "
                               "directories give one row of targets per sequence")
    if layout.is_plain and tuple(model.input_shape[1:]) == layout.shape and not several:
        return model
    inputs = keras.Input((layout.length, 4), name="dna" if layout.strand_pair else "seq")
    x = inputs
    if layout.permutation != (1, 2):
        x = keras.layers.Permute(layout.permutation, name="kipoi_layout_permute")(x)
    if layout.shape != tuple(x.shape[1:]):
        x = keras.layers.Reshape(layout.shape, name="kipoi_layout_reshape")(x)
    if layout.strand_pair:  # the second input gets the first's reverse complement, as kipoi's dataloader made it
        outputs = model([x, ReverseComplement(name="kipoi_reverse_strand")(x)])
    else:
        outputs = model(x)
    if several:
        outputs = keras.layers.Concatenate(name="kipoi_outputs")(list(outputs))
    return keras.Model(inputs, outputs, name=f"{model.name}_seqzoo")


def _labels(source: Path, path: Path, descr: dict, n_outputs: int, output_names=None) -> tuple[str, ...]:
    targets = (descr.get("schema") or {}).get("targets") or {}
    if isinstance(targets, list):  # one entry per output head (DeepCpG_DNA): their names label the columns
        names = [t.get("name") if isinstance(t, dict) else None for t in targets]
        output_names = names if all(names) else output_names
        targets = {}
    labels = targets.get("column_labels")
    where = f"{path} schema.targets.column_labels"
    if isinstance(labels, list) and len(labels) == 1 and isinstance(labels[0], str) and \
            (source / labels[0]).is_file():  # kipoi reads a one-item list naming a file as that file's lines
        labels = [line.rstrip() for line in _local_file(source, labels[0], where).read_text().splitlines()]
    elif isinstance(labels, str):
        labels = _local_file(source, labels, where).read_text().split()
    if labels is None and output_names and len(output_names) == n_outputs:
        labels = output_names  # one column per head, named as the network names it
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


def _synthetic_example(directory: Path, length: int, n: int = 20) -> None:
    """A seeded random genome (one chromosome) and ``n`` intervals of ``length`` inside it, for a kipoi
    directory that ships no example seqzoo can read (kipoiseq's are downloads)."""
    rng = np.random.default_rng(0)
    size = length * 3 + 1000
    directory.mkdir()
    genome = "".join(rng.choice(list("ACGT"), size))
    lines = [genome[i:i + 60] for i in range(0, size, 60)]
    (directory / "genome.fa").write_text(">chrS\n" + "\n".join(lines) + "\n")
    starts = rng.integers(0, size - length, n)
    (directory / "intervals.bed").write_text("".join(f"chrS\t{s}\t{s + length}\tr{i}\n" for i, s in enumerate(starts)))


def _card(source: Path, descr: dict, name: str, files: list[tuple[str, _File]], versions: dict, command: str,
          conversion: legacy.Conversion, layout: InputLayout, row: str | None, example: str,
          backend: str | None = None) -> str:
    origin = f"group `{source}`, row `{row}` of models.tsv" if row else f"directory `{source}`"
    info = descr.get("info") or {}
    authors = ", ".join(str(a.get("name", a)) if isinstance(a, dict) else str(a) for a in info.get("authors") or [])
    lines = [f"# {name}", "", str(info.get("doc") or "").strip() or "(kipoi's description gives no doc)", "",
             f"Imported from the kipoi model {origin} by seqzoo {__version__}, keras {keras.__version__}.",
             "", f"- Authors: {authors or 'not given'}",
             f"- Cite as: {info.get('cite_as') or 'not given in kipoi description'}",
             f"- License: {info.get('license') or 'not given in kipoi description'}",
             f"- Trained on: {info.get('trained_on') or 'not given in kipoi description'}",
             f"- Input: one-hot DNA ({layout.length}, 4), ACGT order (seqzoo.dataloaders.DNAIntervalDataset)"
             + ("." if layout.is_plain or layout.strand_pair else
                f"; the network reads {layout.shape}, as kipoi's dataloader gave it ({layout.dataloader}): "
                f"Permute{layout.permutation} and Reshape{layout.shape} layers in front of it make that layout.")]
    if layout.chosen_length:
        lines += [f"- Window length: {layout.length}, chosen at import (`--seq-len {layout.length}`): the network "
                  "reads sequences of any length and kipoi's dataloader fixes none (no auto_resize_len), passing "
                  f"each interval at its own length; seqzoo centres every interval on a window of {layout.length}."]
    if layout.strand_pair:
        forward, reverse = layout.strand_pair
        lines += [f"- Strands: the network reads two inputs, `{forward}` and `{reverse}`, which kipoi's description "
                  "gives as one interval's forward strand and its reverse complement; the reverse complement is "
                  f"computed inside the model (ReverseComplement) and fed to `{reverse}`, so the model reads one input."]
    lines += [
             f"- Example: {example}",
             "", "## Provenance", "", f"Command: `{command}`", "", "| file | md5 | sha256 | written by |",
             "|---|---|---|---|"]
    for key, file in files:
        md5, sha256 = _hashes(file.path)
        where = file.url or file.path.relative_to(source)
        lines.append(f"| `{key}`: {where} | `{md5}` | `{sha256}` | "
                     f"Keras {versions.get(key) or 'version not recorded (Keras 1.x writes none)'} |")
    lines += ["", "The architecture was converted to Keras 3 (`architecture.json`, loaded in safe mode) and the "
              "weights set by layer name, every stored weight used once (seqzoo.architectures.legacy)."]
    if backend == "theano":
        lines += ["", "The weights are Theano's (the file says so, or kipoi's `args.backend` where a Keras 1 file "
                  "records no backend): Theano convolves, flipping the kernels, so their convolution kernels were "
                  "flipped for Keras 3, which cross-correlates."]
    if conversion.notes:
        lines += ["", "Not carried over (training-time settings):", ""] + [f"- {n}" for n in conversion.notes]
    return "\n".join(lines) + "\n"


def import_kipoi(source: str | os.PathLike, output: str | os.PathLike, name: str | None = None,
                 command: str | None = None, row: str | None = None, seq_len: int | None = None) -> Path:
    """Import the kipoi Keras model directory ``source`` into a new seqzoo model directory ``output``.

    Args:
        source: a kipoi model directory (``model.yaml``), or a kipoi model group
            (``model-template.yaml`` + ``models.tsv``, as DeepBind and CpGenie) with ``row``.
        output: the directory to write; it must not exist (or be empty); it is written completely
            or not at all.
        name: names the weights file and the card (default: the source directory's name, or the
            row with '/' as '-').
        command: recorded in the card.
        row: the group's model (column ``model`` of ``models.tsv``).
        seq_len: the window length to serve a network that reads sequences of any length (input
            ``(None, 4)``, pwm_HOCOMOCO) whose dataloader fixes none; recorded in the card. Refused
            when the network or its dataloader fixes another length; required when neither fixes one.

    Returns:
        ``output``.
    """
    source, output = Path(source).resolve(), Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise KipoiImportError(f"{output} exists and is not empty; give a new directory")
    path, descr = _kipoi_description(source, row)
    name = name or (row.replace("/", "-") if row else source.name)
    args = descr["args"]
    weights = _file(source, args["weights"], f"{path} args.weights")
    arch = _file(source, args["arch"], f"{path} args.arch") if args.get("arch") else weights
    arch_path, weights_path = arch.path, weights.path
    legacy_config, config_version = legacy.read_legacy_config(arch_path)
    conversion = legacy.convert_config(legacy_config, config_version)
    model = legacy.build_model(conversion.config, where=str(arch_path))
    stored = legacy.read_legacy_weights(weights_path)
    if stored.backend is None and args.get("backend") is not None:
        # Keras 1 files record no backend: the kernels are what kipoi runs them with, under args.backend
        # (Theano's convolution flips them, as when Keras 2 loads a file that says 'theano')
        stored.backend = str(args["backend"])
    legacy.set_legacy_weights(model, stored, conversion.channels_first_kernels)
    layout = _dna_layout(source, path, descr, model, seq_len)
    heads = _head_names(model)
    try:
        model = _with_layout(model, layout)
    except KipoiImportError as e:
        raise KipoiImportError(f"{path}: {e}") from None
    input_length = layout.length
    if len(model.output_shape) != 2:
        raise KipoiImportError(f"{path}: the network's output is {model.output_shape[1:]}; seqzoo's model "
                               "directories give one row of targets per sequence")
    labels = _labels(source, path, descr, model.output_shape[-1], heads)
    info = descr.get("info") or {}
    command = command or (f"seqzoo.kipoi_import.import_kipoi({str(source)!r}, {str(output)!r}"
                          + (f", row={row!r}" if row else "") + (f", seq_len={seq_len}" if seq_len else "") + ")")
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
        if not has_example:
            _synthetic_example(staging / "example", input_length)
        (staging / "README.md").write_text(
            _card(source, descr, name, files, versions, command, conversion, layout, row,
                  "kipoi's own example FASTA and intervals (dataloader.yaml)" if has_example else
                  "synthetic (seeded random genome and intervals written by import-kipoi; kipoi's directory has "
                  "none seqzoo can read); test.expect.h5 guards the conversion against later changes only",
                  stored.backend))
        targets = (descr.get("schema") or {}).get("targets") or {}
        targets = targets if isinstance(targets, dict) else {"doc": "; ".join(
            str(t.get("doc") or t.get("name")) for t in targets if isinstance(t, dict))}  # one entry per head
        authors = tuple(str(a.get("name", a)) if isinstance(a, dict) else str(a) for a in info.get("authors") or [])
        md5s = ", ".join(f"{key} {f.url or f.path.name} md5 {_hashes(f.path)[0]}" for key, f in files)
        write_model_dir(
            staging, architecture=KERAS_JSON,
            config={"file": ARCHITECTURE_FILE, "sha256": _hashes(architecture)[1]},
            weights_file=weights_file, modality="dna", input_length=input_length,
            produced_by=(f"{command}; converted from kipoi's Keras {stored.keras_version or '1.x'} files ({md5s}) by "
                         f"seqzoo {__version__}, keras {keras.__version__}"),
            targets=TargetsInfo(labels=labels, name=str(targets.get("name") or "targets"),
                                doc=str(targets.get("doc") or "")),
            info=ModelInfo(doc=str(info.get("doc") or f"kipoi model {name}, imported"),
                           trained_on=str(info.get("trained_on") or "not given in kipoi description"),
                           cite_as=str(info.get("cite_as") or "not given in kipoi description"),
                           authors=authors or ("not given",), contributors=("seqzoo import-kipoi",),
                           license=str(info.get("license") or "not given in kipoi description"),
                           version=str(info.get("version") or "0.1")),
        )
        if output.exists():
            output.rmdir()
        os.replace(staging, output)
        staging.mkdir()  # for TemporaryDirectory's clean-up
    return output

"""What seqzoo never runs unasked, and what a model package may hold: the one rule for
``seqzoo check``, ``publish`` and ``install`` (:func:`package_problems`).

seqzoo imports no code from a model directory, a zoo or the working directory unless the caller
asks for it (``trust_code=True``; ``--trust-code`` on the command line, the same flag as
``seqzoo publish`` and ``install``):

* A model directory whose ``model.yaml`` names a model class other than seqzoo's
  (``seqzoo.kipoi_adapter.KipoiModel``) or a dataloader other than seqzoo's own, or which carries
  code files (``.py`` ...), pickles or full Keras models, is refused by everything that would hand
  it to kipoi (``seqzoo check``, ``publish``, ``install``, ``check_model_dir``,
  ``dataloader_class``). kipoi would import such a class from the model directory (its
  ``model.py``) or, when that fails, execute ``<name>.py`` from the working directory
  (``kipoi_utils.utils.load_obj``). ``trust_code`` lifts these checks only.

Never lifted, not even by ``trust_code``:

* Every YAML file of a model directory (at any depth; kipoi's ``model.yml`` included, and the
  dataloaders' specifications in ``seqzoo/dataloader_specs/``) is parsed with the safe loader
  first and refused, naming the file, the line and the tag, when it holds a tag
  (``!!python/object/apply:os.system`` and the like): kipoi parses these files with PyYAML's
  unsafe loader, which would run such a tag. An alias (``*name``) is refused too: a kilobyte of
  nested aliases expands to gigabytes once anything walks the document.
* A ``model.yml``: kipoi reads it before ``model.yaml``, so it would be a second description that
  seqzoo never checked.
* Every path the description names (``args.weights``, ``args.config.file``,
  ``schema.targets.column_labels``, the weights' relative URLs, the dataloader's default arguments)
  stays inside the directory, and a
  package's weights URL is never a ``file://`` path of the machine that installs it.
* Links: a package holds plain files only.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import yaml

__all__ = ["UnsafeYAMLError", "code_problems", "inside", "load_plain_yaml", "package_files", "package_problems",
           "parse_plain_yaml", "yaml_files"]

#: The tags the safe loader builds plain data from (str, int, map, ...); any other tag is refused.
_PLAIN_TAGS = frozenset(tag for tag in yaml.SafeLoader.yaml_constructors if tag is not None)
# libyaml's parser where PyYAML has it (the same safe constructors, about 10x faster: a model's
# YAML files took 0.3 s to read in pure Python, a third of a small prediction's time)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What a model package may not carry unless trusted: code, pickles, full models.
_CODE_SUFFIXES = {".py", ".pyc", ".pyo", ".so", ".sh", ".ipynb"}
_PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt"}
_MODEL_CLASS = "seqzoo.kipoi_adapter.KipoiModel"
_DATALOADER_PREFIX = "seqzoo.dataloaders."


class UnsafeYAMLError(ValueError):
    """A YAML file holding a tag (which an unsafe loader, kipoi's, turns into running code) or an alias."""


def _shown(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag


def parse_plain_yaml(text: str, where: str | os.PathLike):
    """``yaml.safe_load(text)``, refusing any tag or alias first (:class:`UnsafeYAMLError` naming
    ``where``, the line and what is refused); a malformed document is a ``yaml.YAMLError`` as usual."""
    for event in yaml.parse(text, Loader=_LOADER):  # aliases first: nothing below expands one
        if isinstance(event, yaml.AliasEvent):
            raise UnsafeYAMLError(f"{where}, line {event.start_mark.line + 1}: the YAML alias '*{event.anchor}' is "
                                  "refused (nested aliases expand without bound); write the value out")
    root = yaml.compose(text, Loader=_LOADER)
    todo = [root] if root is not None else []
    while todo:  # without aliases the node graph is a tree
        node = todo.pop()
        if node.tag not in _PLAIN_TAGS:
            raise UnsafeYAMLError(f"{where}, line {node.start_mark.line + 1}: the YAML tag {_shown(node.tag)!r} "
                                  "is refused (an unsafe YAML loader, such as kipoi's, would run code for it); "
                                  "seqzoo reads plain YAML only")
        if isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            todo.extend(item for pair in node.value for item in pair)
    return yaml.load(text, Loader=_LOADER)


def load_plain_yaml(path: str | os.PathLike):
    """The content of the YAML file ``path``, read by :func:`parse_plain_yaml`."""
    return parse_plain_yaml(Path(path).read_text(encoding="utf-8"), path)


def yaml_files(directory: str | os.PathLike) -> list[Path]:
    """The YAML files at the top of a model directory: those kipoi or seqzoo may read."""
    directory = Path(directory)
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def package_files(directory: str | os.PathLike) -> list[str]:
    """Relative POSIX paths of every file of a model directory (hidden files and ``__pycache__`` aside)."""
    directory = Path(directory)
    files = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if (path.is_file() or path.is_symlink()) and not any(part.startswith(".") or part == "__pycache__"
                                                             for part in rel.split("/")):
            files.append(rel)
    return files


def inside(directory: str | os.PathLike, named: object, where: str, *, existing: bool = False) -> Path:
    """``directory / named``, refusing (ValueError naming ``where``) a path that leaves the directory:
    absolute, ``..`` above it, ``~``, or a link out of it; with ``existing``, also one that is no file."""
    directory = Path(directory).resolve()
    text = str(named)
    path = (directory / text).resolve()
    if (not text or PurePosixPath(text).is_absolute() or Path(text).is_absolute() or text.startswith("~")
            or (path != directory and directory not in path.parents)):
        raise ValueError(f"{where} names {text!r}, which is outside the model directory {directory}; every path "
                         "a model directory names must stay inside it")
    if existing and not path.is_file():
        raise ValueError(f"{where} names {path}, which does not exist")
    return path


def _is_full_keras_model(path: Path) -> bool:
    if path.suffix == ".keras":
        return True
    if path.suffix in (".h5", ".hdf5") and not path.name.endswith(".weights.h5"):
        import h5py

        try:
            with h5py.File(path, "r") as f:
                return "model_config" in f.attrs
        except OSError:
            return False  # not HDF5: data of another kind
    return False


def _code_problems(directory: Path, files: list[str], descr: dict) -> list[str]:
    """What ``trust_code`` lifts: code, pickles, full models, a class or dataloader not seqzoo's."""
    problems = []
    for rel in files:
        suffix = PurePosixPath(rel).suffix.lower()
        if suffix in _CODE_SUFFIXES:
            problems.append(f"{rel}: a code file")
        elif suffix in _PICKLE_SUFFIXES:
            problems.append(f"{rel}: a pickle-based file (loading it can run code)")
        elif (directory / rel).is_file() and _is_full_keras_model(directory / rel):
            problems.append(f"{rel}: a full Keras model (its config can name code); ship .weights.h5 only")
    if descr.get("defined_as") != _MODEL_CLASS:
        problems.append(f"model.yaml: defined_as {descr.get('defined_as')!r} is not seqzoo's {_MODEL_CLASS}")
    loader = descr.get("default_dataloader") or {}
    loader_class = loader.get("defined_as") if isinstance(loader, dict) else loader
    if not str(loader_class).startswith(_DATALOADER_PREFIX):
        problems.append(f"model.yaml: default_dataloader {loader_class!r} is not one of seqzoo's "
                        f"({_DATALOADER_PREFIX}*)")
    return problems


def _path_problems(directory: Path, descr: dict) -> list[str]:
    """Paths of the description that leave the directory (module docstring)."""
    problems = []

    def check(named, where: str) -> Path | None:
        try:
            return inside(directory, named, where)
        except ValueError as e:
            problems.append(str(e))
            return None

    args = descr.get("args") if isinstance(descr.get("args"), dict) else {}
    weights = args.get("weights")
    if weights is not None and weights != "published":
        weights_file = check(weights, "model.yaml args.weights")
        if weights_file is not None and weights_file.is_file():
            try:
                urls = (load_plain_yaml(weights_file) or {}).get("urls") or []
            except (ValueError, yaml.YAMLError, AttributeError):
                urls = []  # its own problems are reported where it is read
            for url in urls if isinstance(urls, list) else []:
                scheme = urlparse(str(url)).scheme
                if scheme == "file":
                    problems.append(f"{weights_file.name}: the URL {url!r} is a file of this machine, outside the "
                                    "model directory; name the weights file relative to it")
                elif not scheme:
                    check(Path(weights).parent / str(url), f"{weights_file.name} urls")
    config = args.get("config") if isinstance(args.get("config"), dict) else {}
    if "file" in config:  # an architecture given as a Keras 3 JSON file (imported models)
        check(config["file"], "model.yaml args.config.file")
    schema = descr.get("schema") if isinstance(descr.get("schema"), dict) else {}
    targets = schema.get("targets") if isinstance(schema.get("targets"), dict) else {}
    if "column_labels" in targets:
        check(targets["column_labels"], "model.yaml schema.targets.column_labels")
    loader = descr.get("default_dataloader")
    default_args = (loader.get("default_args") or {}) if isinstance(loader, dict) else {}
    for key, value in default_args.items() if isinstance(default_args, dict) else ():
        if isinstance(value, str) and ("/" in value or "\\" in value or value.startswith("~")):
            check(value, f"model.yaml default_dataloader.default_args.{key}")
    return problems


def package_problems(directory: str | os.PathLike, files: list[str] | None = None, *,
                     trust_code: bool = False) -> list[str]:
    """Why ``directory`` may not be checked, published or installed; empty when it may.

    The one rule of ``seqzoo check``, ``publish`` and ``install`` (module docstring): links, YAML tags
    and aliases in every YAML file, ``model.yml``, and paths leaving the directory are refused always;
    code, pickles, full models and classes not seqzoo's unless ``trust_code``.
    """
    directory = Path(directory)
    files = package_files(directory) if files is None else files
    problems = []
    for rel in files:
        path = directory / rel
        if path.is_symlink():
            problems.append(f"{rel}: a link; a model package holds plain files only")
        elif PurePosixPath(rel).suffix.lower() in (".yaml", ".yml"):
            try:
                load_plain_yaml(path)
            except UnsafeYAMLError as e:
                problems.append(str(e))
            except (yaml.YAMLError, UnicodeDecodeError):
                pass  # malformed but tag- and alias-free: no code can come of it; its reader names it
    if "model.yml" in files:
        problems.append("model.yml: kipoi reads model.yml before model.yaml, a description seqzoo does not "
                        "check; remove it")
    if problems:
        return problems  # nothing below may read a file refused above
    try:
        descr = load_plain_yaml(directory / "model.yaml")
    except (OSError, yaml.YAMLError) as e:
        return [f"model.yaml: unreadable: {e}"]
    if not isinstance(descr, dict):
        return ["model.yaml: not a mapping"]
    problems += _path_problems(directory, descr)
    if not trust_code:
        problems += _code_problems(directory, files, descr)
    return problems


def code_problems(directory: str | os.PathLike) -> list[str]:
    """Why handing ``directory`` to kipoi would run code seqzoo did not write or read outside it;
    empty when it holds only data (:func:`package_problems` without ``trust_code``)."""
    return package_problems(directory)

"""What seqzoo never runs unasked: code a model directory names or carries, and executable YAML.

seqzoo imports no code from a model directory, a zoo or the working directory unless the caller
asks for it (``trust_code=True``; ``--trust-code`` on the command line, the same flag as
``seqzoo publish`` and ``install``):

* A model directory whose ``model.yaml`` names a model class other than seqzoo's
  (``seqzoo.kipoi_adapter.KipoiModel``) or a dataloader other than seqzoo's own, or which carries
  code files (``.py`` ...), pickles or full Keras models, is refused by everything that would hand
  it to kipoi (``seqzoo check``, ``check_model_dir``, ``dataloader_class``). kipoi would import
  such a class from the model directory (its ``model.py``) or, when that fails, execute
  ``<name>.py`` from the working directory (``kipoi_utils.utils.load_obj``). The rule is
  :func:`seqzoo.zoo.stores.safety_problems`, the one a store's packages follow.
* Every YAML file seqzoo reads or hands to kipoi (each ``*.yaml``/``*.yml`` at the top of a model
  directory, kipoi's ``model.yml`` included, and the dataloaders' specifications in
  ``seqzoo/dataloader_specs/``) is parsed with the safe loader first and refused, naming the file,
  the line and the tag, when it holds a tag (``!!python/object/apply:os.system`` and the like): kipoi
  parses these files with PyYAML's unsafe loader, which would run such a tag. ``trust_code`` does
  not lift this: a model description never needs a tag.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from seqzoo.zoo import stores

__all__ = ["UnsafeYAMLError", "code_problems", "load_plain_yaml", "parse_plain_yaml",
           "yaml_files"]

#: The tags the safe loader builds plain data from (str, int, map, ...); any other tag is refused.
_PLAIN_TAGS = frozenset(tag for tag in yaml.SafeLoader.yaml_constructors if tag is not None)


class UnsafeYAMLError(ValueError):
    """A YAML file holding a tag, which an unsafe loader (kipoi's) would turn into running code."""


def _shown(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag


def parse_plain_yaml(text: str, where: str | os.PathLike):
    """``yaml.safe_load(text)``, refusing any tag first (:class:`UnsafeYAMLError` naming ``where``,
    the line and the tag); a malformed document is a ``yaml.YAMLError`` as usual."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    seen, todo = set(), [root] if root is not None else []
    while todo:  # walk the node graph; anchors can make it cyclic
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.tag not in _PLAIN_TAGS:
            raise UnsafeYAMLError(f"{where}, line {node.start_mark.line + 1}: the YAML tag {_shown(node.tag)!r} "
                                  "is refused (an unsafe YAML loader, such as kipoi's, would run code for it); "
                                  "seqzoo reads plain YAML only")
        if isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            todo.extend(item for pair in node.value for item in pair)
    return yaml.safe_load(text)


def load_plain_yaml(path: str | os.PathLike):
    """The content of the YAML file ``path``, read by :func:`parse_plain_yaml`."""
    return parse_plain_yaml(Path(path).read_text(encoding="utf-8"), path)


def yaml_files(directory: str | os.PathLike) -> list[Path]:
    """The YAML files at the top of a model directory: those kipoi or seqzoo may read."""
    directory = Path(directory)
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def code_problems(directory: str | os.PathLike) -> list[str]:
    """Why handing ``directory`` to kipoi would import code seqzoo did not write; empty when it holds
    only data and names only seqzoo's model class and dataloaders (``stores.safety_problems``)."""
    directory = Path(directory)
    files = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        # links count as what they point to: kipoi would import a linked model.py all the same
        if path.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.split("/")):
            files.append(rel)
    problems = stores.safety_problems(directory, files)
    if (directory / "model.yml").is_file() and (directory / "model.yaml").is_file():
        problems.append("model.yml beside model.yaml: kipoi reads model.yml, seqzoo model.yaml; keep one")
    return problems


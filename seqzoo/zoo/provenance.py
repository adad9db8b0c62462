"""How provenance names files: relative to the data it names, never by a machine's folders.

What a run, a data set or a model directory records (``training.json``, ``manifest.json``,
``weights.yaml``'s ``produced_by``, a card's lineage, the commands) is read on other machines,
where ``/tmp/dna/run1`` or ``/home/me/data`` mean nothing. A path is therefore written
(:func:`portable_path`):

- below the data root, the folder named by the environment variable ``SEQZOO_DATA`` when it
  is set, as ``$SEQZOO_DATA/<the path below it>`` (``$SEQZOO_DATA/arabidopsis/tasks.tsv``);
- below the working directory, relative to it (``models/DeepSol``, ``data/peaks.bed``);
- anywhere else (a temporary folder, another disk), by its name alone (``deepsea_ds``).

A recorded command (:func:`portable_command`) has each of its path arguments written that way,
as a shell reads it: with ``SEQZOO_DATA`` set, the command runs again as recorded.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

__all__ = ["DATA_ROOT_ENV", "portable_command", "portable_path"]

#: The environment variable naming the data root.
DATA_ROOT_ENV = "SEQZOO_DATA"
_VARIABLE = "$" + DATA_ROOT_ENV


def _below(path: Path, root: Path) -> str | None:
    """``path`` relative to ``root`` (POSIX separators; "" for the root itself), or None."""
    if path == root or root in path.parents:
        return path.relative_to(root).as_posix() if path != root else ""
    return None


def portable_path(path: str | os.PathLike) -> str:
    """``path`` as provenance records it (module docstring)."""
    absolute = Path(os.path.abspath(Path(path).expanduser()))
    root = os.environ.get(DATA_ROOT_ENV)
    if root:
        below = _below(absolute, Path(os.path.abspath(Path(root).expanduser())))
        if below is not None:
            return f"{_VARIABLE}/{below}" if below else _VARIABLE
    below = _below(absolute, Path.cwd())
    if below is not None:
        return below or "."
    return absolute.name or str(path)


def _is_path(word: str) -> bool:
    # relative words are kept as written: they are relative to the working directory already,
    # and a word such as a --doc text or a split rule is not mistaken for a path
    return bool(word) and not any(c.isspace() for c in word) and word.startswith(("/", "~", ".."))


def _shell_word(word: str) -> str:
    if word.startswith(_VARIABLE):  # left unquoted, so that a shell expands it
        return _VARIABLE + (shlex.quote(word[len(_VARIABLE):]) if word != _VARIABLE else "")
    return shlex.quote(word)


def portable_command(words: list[str]) -> str:
    """``words`` (a command's arguments) joined for a shell, each path argument (absolute,
    ``~`` or ``..``, also after ``--option=``) written by :func:`portable_path`."""
    out = []
    for word in words:
        option, equals, value = word.partition("=") if word.startswith("--") and "=" in word else ("", "", word)
        if _is_path(value):
            value = portable_path(value)
        out.append(shlex.quote(option + equals) + _shell_word(value) if equals else _shell_word(value))
    return " ".join(out)

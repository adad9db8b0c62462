"""Streaming reader for protein FASTA files (input of the protein models, e.g. DeepSol).

Accepted input: plain or gzip-compressed (detected from the first bytes), LF or CRLF
line endings, blank lines anywhere, sequences wrapped over any number of lines.
The record id is the first whitespace-separated word of the header; sequence lines are
joined with all whitespace removed. Residues are not checked here (see
:func:`seqzoo.encoding.encode_protein`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Literal

from seqzoo.io.bed import iter_lines

__all__ = ["FastaRecord", "iter_fasta"]

_MAX_SHOWN = 80


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record.

    ``id``: first word of the header; ``description``: the rest of the header (may be
    ""); ``sequence``: the joined sequence lines (may be "" for a header without
    sequence); ``line``: 1-based line number of the ``>`` header.
    """

    id: str
    description: str
    sequence: str
    line: int


def _shorten(text: str) -> str:
    return repr(text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "...")


def iter_fasta(
    path: str | os.PathLike, on_duplicate: Literal["error", "allow"] = "error"
) -> Iterator[FastaRecord]:
    """Stream the records of a FASTA file in file order (one record in memory at a time).

    Args:
        path: plain or gzip-compressed FASTA file.
        on_duplicate: ``"error"`` (default) raises on a repeated id; ``"allow"`` yields
            duplicates as they are.

    Raises:
        ValueError: ``"<path>, line <n>: <problem>"`` for text before the first ``>``
            header (the file is not FASTA), a header with an empty id, or (with
            ``on_duplicate="error"``) a duplicate id, naming both line numbers;
            ``"<path>: no FASTA records found"`` for a file without any record.
    """
    if on_duplicate not in ("error", "allow"):
        raise ValueError(f"on_duplicate must be 'error' or 'allow', got {on_duplicate!r}")
    seen: dict[str, int] = {}  # id -> header line; only ids are kept, not sequences
    header: tuple[str, str, int] | None = None  # (id, description, line) of the current record
    chunks: list[str] = []
    n_records = 0

    for line_no, line in iter_lines(path):
        if line.startswith(">"):
            if header is not None:
                yield FastaRecord(header[0], header[1], "".join(chunks), header[2])
                n_records += 1
            words = line[1:].strip().split(maxsplit=1)
            if not words:
                raise ValueError(f"{path}, line {line_no}: header with an empty id: {_shorten(line)}")
            record_id = words[0]
            if on_duplicate == "error":
                if record_id in seen:
                    raise ValueError(
                        f"{path}, line {line_no}: duplicate id {record_id!r} "
                        f"(first seen at line {seen[record_id]}, again at line {line_no})"
                    )
                seen[record_id] = line_no
            header = (record_id, words[1] if len(words) > 1 else "", line_no)
            chunks = []
        elif header is None:
            if line.strip():
                raise ValueError(
                    f"{path}, line {line_no}: text before the first '>' header; "
                    f"the file is not FASTA: {_shorten(line)}"
                )
        else:
            chunks.append("".join(line.split()))

    if header is not None:
        yield FastaRecord(header[0], header[1], "".join(chunks), header[2])
        n_records += 1
    if n_records == 0:
        raise ValueError(f"{path}: no FASTA records found")

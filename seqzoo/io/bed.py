"""Reading genomic intervals from BED files.

Accepted input (plain or gzip-compressed, detected from the file's first bytes, not
its extension; LF or CRLF line endings):

* blank lines, ``#`` comment lines and UCSC ``track`` / ``browser`` lines are skipped;
* one header line (e.g. ``chrom<TAB>start<TAB>end``) is skipped if it is the first
  line that is not a comment;
* every other line needs at least 3 **tab**-separated columns: chrom, start, end
  (0-based, half-open, ``0 <= start < end``); column 4 (name, default ``"."``) and
  column 6 (strand: ``+``, ``-`` or ``.``, default ``"."``) are optional; other
  columns are ignored.

Any other line raises :class:`BEDError` naming the file, the 1-based line number,
the problem and the offending line.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TextIO

__all__ = ["BEDError", "Interval", "centered_window", "iter_bed", "iter_lines", "open_text", "read_bed"]

_GZIP_MAGIC = b"\x1f\x8b"
# Other compressions we cannot read: say so instead of failing on garbage.
_OTHER_MAGIC = {b"BZh": "bzip2", b"\xfd7zXZ": "xz", b"PK\x03\x04": "zip", b"\x28\xb5\x2f\xfd": "zstd"}

_SPACE_RE = re.compile(r"\s")
_INT_RE = re.compile(r"-?[0-9]+")
_HEADER_FIRST = ("chrom", "#chrom", "seqname", "seqnames", "contig")
_HEADER_SECOND = {"start", "chromstart", "chrom_start", "begin", "txstart"}
_STRANDS = {"+", "-", "."}
# First characters of the lines _is_skipped may skip (blank, comment, track, browser).
_MAY_BE_SKIPPED = frozenset("#tb \t\r\x0b\x0c")
_MAX_SHOWN = 80


def open_text(path: str | os.PathLike, newline: str | None = None) -> TextIO:
    """Open a text file for reading, decompressing it if it starts with the gzip magic
    bytes (whatever its extension).

    Lines are decoded as UTF-8 (a leading BOM is dropped, undecodable bytes are replaced
    so that they surface as parse errors with a line number); ``\\r\\n`` becomes ``\\n``.
    ``newline`` is ``open``'s: ``"\\n"`` ends lines at ``\\n`` only (as htslib does), so a lone
    ``\\r`` stays inside its line. Raises ``ValueError`` for bzip2/xz/zip/zstd files, which are
    not supported.
    """
    with open(path, "rb") as fh:
        magic = fh.read(6)
    for prefix, kind in _OTHER_MAGIC.items():
        if magic.startswith(prefix):
            raise ValueError(f"{path}: the file is {kind}-compressed; only plain text or gzip is supported")
    if magic.startswith(_GZIP_MAGIC):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", errors="replace", newline=newline)
    return open(path, encoding="utf-8-sig", errors="replace", newline=newline)


def iter_lines(path: str | os.PathLike, newline: str | None = None) -> Iterator[tuple[int, str]]:
    """Yield ``(1-based line number, line without its line ending)`` of a plain or gzip
    text file (``newline`` as in :func:`open_text`). A corrupt or truncated gzip stream
    raises ``ValueError`` naming the file and the last line read."""
    line_no = 0
    with open_text(path, newline) as fh:
        try:
            for line_no, line in enumerate(fh, start=1):
                yield line_no, line.rstrip("\r\n")
        except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
            raise ValueError(f"{path}: could not read the file after line {line_no}: {err}") from err


class BEDError(ValueError):
    """A malformed BED file. The message reads ``"<path>, line <n>: <problem>: <line>"``
    (or ``"<path>: <problem>"`` for problems with the whole file); ``path`` and ``line``
    are also available as attributes (``line`` is None for whole-file problems)."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.path = path
        self.line = line


@dataclass(frozen=True, slots=True)
class Interval:
    """A BED interval: 0-based, half-open ``[start, end)``.

    ``line`` is the 1-based line of the BED file it came from (0 if not from a file).
    """

    chrom: str
    start: int
    end: int
    name: str = "."
    strand: str = "."
    line: int = 0

    def __len__(self) -> int:
        return self.end - self.start


def _shorten(text: str) -> str:
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return repr(text)  # repr shows tabs as \t, which makes space/tab mix-ups visible


def _error(path: str, line_no: int, problem: str, line: str) -> BEDError:
    return BEDError(f"{path}, line {line_no}: {problem}: {_shorten(line)}", path=path, line=line_no)


def _is_int(text: str) -> bool:
    return _INT_RE.fullmatch(text.strip()) is not None


def _looks_like_header(line: str) -> bool:
    fields = line.split()
    if len(fields) >= 3 and _is_int(fields[1]) and _is_int(fields[2]):
        return False
    if not fields:
        return False
    return fields[0].lower().startswith(_HEADER_FIRST) or (
        len(fields) >= 2 and fields[1].lower() in _HEADER_SECOND
    )


def _is_skipped(line: str) -> bool:
    if not line.strip() or line.startswith("#"):
        return True
    for keyword in ("track", "browser"):
        if line.startswith(keyword) and (len(line) == len(keyword) or line[len(keyword)].isspace()):
            return True
    return False


def _parse_line(path: str, line_no: int, line: str) -> Interval:
    # Fast path for well-formed lines (the genome-wide case); anything unusual goes through the
    # careful checks below, which name the problem.
    fields = line.split("\t")
    if len(fields) >= 3:
        chrom, start_text, end_text = fields[0], fields[1], fields[2]
        if (start_text.isdigit() and end_text.isdigit() and start_text.isascii() and end_text.isascii()
                and chrom.isprintable() and chrom and " " not in chrom):
            start, end = int(start_text), int(end_text)
            strand = fields[5] if len(fields) >= 6 else "."
            if start < end and strand in _STRANDS:
                return Interval(chrom, start, end, fields[3] if len(fields) >= 4 and fields[3] else ".", strand, line_no)
    return _parse_line_carefully(path, line_no, line, fields)


def _parse_line_carefully(path: str, line_no: int, line: str, fields: list[str]) -> Interval:
    if len(fields) < 3:
        if len(line.split()) >= 3:
            raise _error(path, line_no, "columns are separated by spaces; BED columns must be separated by tabs", line)
        raise _error(
            path, line_no, f"expected at least 3 tab-separated columns (chrom, start, end), found {len(fields)}", line
        )
    chrom, start_text, end_text = fields[0], fields[1].strip(), fields[2].strip()
    if not chrom:
        raise _error(path, line_no, "empty chromosome name (column 1)", line)
    if _SPACE_RE.search(chrom):
        if len(chrom.split()) > 1:
            raise _error(path, line_no, "columns are separated by spaces; BED columns must be separated by tabs", line)
        raise _error(path, line_no, f"chromosome name {chrom!r} contains whitespace", line)
    for column, text in (("start", start_text), ("end", end_text)):
        if not _INT_RE.fullmatch(text):
            hint = "; BED columns must be separated by tabs" if " " in text else ""
            raise _error(path, line_no, f"{column} (column {2 if column == 'start' else 3}) is not an integer: {text!r}{hint}", line)
    start, end = int(start_text), int(end_text)
    if start < 0 or end < 0:
        raise _error(path, line_no, f"negative coordinate (start={start}, end={end})", line)
    if start >= end:
        raise _error(path, line_no, f"start ({start}) must be less than end ({end})", line)
    name = fields[3] if len(fields) >= 4 and fields[3] else "."
    strand = fields[5].strip() if len(fields) >= 6 else "."
    if strand not in _STRANDS:
        raise _error(path, line_no, f"strand (column 6) must be '+', '-' or '.', got {strand!r}", line)
    return Interval(chrom=chrom, start=start, end=end, name=name, strand=strand, line=line_no)


def iter_bed(path: str | os.PathLike) -> Iterator[Interval]:
    """Stream the intervals of a BED file (plain or gzip), in file order.

    See the module docstring for the accepted format.

    Raises:
        BEDError: on the first malformed line (naming file, line number, problem and
            line), or ``"<path>: no intervals found"`` if the file has no intervals.
        FileNotFoundError: if the file does not exist.
    """
    path_str = str(Path(path))
    seen_data_line = False
    n_intervals = 0
    try:
        lines = iter_lines(path)
        for line_no, line in lines:
            if (not line or line[0] in _MAY_BE_SKIPPED) and _is_skipped(line):
                continue
            if not seen_data_line:
                seen_data_line = True
                if _looks_like_header(line):  # a header is allowed as the first line only
                    continue
            try:
                interval = _parse_line(path_str, line_no, line)
            except BEDError:
                if _looks_like_header(line):  # checked on failure only, to keep the hot path fast
                    raise _error(path_str, line_no,
                                 "header line found after the first line (a header is only allowed first)",
                                 line) from None
                raise
            yield interval
            n_intervals += 1
    except BEDError:
        raise
    except ValueError as err:  # unreadable or unsupported compressed file
        raise BEDError(str(err), path=path_str) from err
    if n_intervals == 0:
        raise BEDError(f"{path_str}: no intervals found", path=path_str)


def read_bed(path: str | os.PathLike) -> list[Interval]:
    """Read all intervals of a BED file into a list (see :func:`iter_bed`)."""
    return list(iter_bed(path))


def centered_window(interval: Interval, length: int) -> tuple[int, int]:
    """Return ``(start, end)`` of a window of ``length`` bases centred on the interval.

    ``centre = (start + end) // 2``, ``start' = centre - length // 2``,
    ``end' = start' + length``. The window may extend before 0 or past the chromosome
    end; :meth:`seqzoo.io.genome.Genome.fetch_codes` pads those parts with N.
    """
    if length <= 0:
        raise ValueError(f"window length must be positive, got {length}")
    centre = (interval.start + interval.end) // 2
    start = centre - length // 2
    return start, start + length

"""Reading genomic intervals from BED files.

Accepted input (plain or gzip-compressed, detected from the file's first bytes, not
its extension; LF or CRLF line endings):

* blank lines, ``#`` comment lines and UCSC ``track`` / ``browser`` lines are skipped;
* one header line (e.g. ``chrom<TAB>start<TAB>end``) is skipped if it is the first
  line that is not a comment;
* every other line needs at least 3 **tab**-separated columns: chrom, start, end
  (0-based, half-open, ``0 <= start < end <= MAX_COORDINATE``); column 4 (name, default
  ``"."``, at most :data:`MAX_NAME` characters, no control characters) and column 6
  (strand: ``+``, ``-`` or ``.``, default ``"."``) are optional; other columns are ignored;
* a line is at most :data:`MAX_LINE` characters; it is read in pieces of that size, so a
  file without line breaks (``/dev/zero``) never fills the memory;
* the text is UTF-8: a byte that is not (e.g. a Latin-1 ``\xe9`` in a name) is an error,
  never a name changed silently.

Any other line raises :class:`BEDError` naming the file, the 1-based line number,
the problem and the offending line.

A BED given as a pipe (``--bed <(...)``, ``/dev/stdin``) can be read only once; the
callers that read a BED twice (check every line first, then predict) read it through
:func:`rereadable_bed`, which copies it once to a temporary file.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TextIO

__all__ = ["BEDError", "InputCopy", "Interval", "LineTooLong", "MAX_COORDINATE", "MAX_LINE", "MAX_NAME",
           "centered_window", "iter_bed", "iter_lines", "open_text", "read_bed", "rereadable_bed"]

#: The longest BED line read (characters). Real lines are well under a kilobyte; the bound keeps a
#: file without line breaks (``/dev/zero``, a binary file) from being read into memory whole.
MAX_LINE = 1 << 20
#: The longest name (column 4). The BED specification (GA4GH BED 1.0) allows 255 characters;
#: this leaves room for names joined by tools (``bedtools merge -o collapse``) while keeping a
#: batch's names small in memory.
MAX_NAME = 1024
#: The largest start or end accepted: 2^53, far past any chromosome (the longest known are a few
#: 10^9 bases). Every coordinate then stays an int64 in every output and exact as a float64, and
#: a window around it cannot overflow int64; a larger one is a BED error, not a float column.
MAX_COORDINATE = 1 << 53

_GZIP_MAGIC = b"\x1f\x8b"
# Other compressions we cannot read: say so instead of failing on garbage.
_OTHER_MAGIC = {b"BZh": "bzip2", b"\xfd7zXZ": "xz", b"PK\x03\x04": "zip", b"\x28\xb5\x2f\xfd": "zstd"}

_SPACE_RE = re.compile(r"\s")
_INT_RE = re.compile(r"-?[0-9]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HEADER_FIRST = ("chrom", "#chrom", "seqname", "seqnames", "contig")
_HEADER_SECOND = {"start", "chromstart", "chrom_start", "begin", "txstart"}
_STRANDS = {"+", "-", "."}
# First characters of the lines _is_skipped may skip (blank, comment, track, browser).
_MAY_BE_SKIPPED = frozenset("#tb \t\r\x0b\x0c")
_MAX_SHOWN = 80
_REPLACED = "\ufffd"  # what open_text decodes a byte that is not UTF-8 to


class _Prefixed(io.RawIOBase):
    """A stream that cannot be rewound (a pipe), with the bytes already read from it put back in
    front, so that its first bytes can be looked at and still be read."""

    def __init__(self, head: bytes, rest: io.BufferedReader):
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._rest.read1(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._rest.close()
        super().close()


class _GzipStream(gzip.GzipFile):
    """A gzip reader of an open stream that closes the stream with itself (GzipFile leaves a
    stream it was given open)."""

    def __init__(self, stream):
        super().__init__(fileobj=stream, mode="rb")
        self._stream = stream

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._stream.close()


def open_text(path: str | os.PathLike, newline: str | None = None) -> TextIO:
    """Open a text file for reading, decompressing it if it starts with the gzip magic
    bytes (whatever its extension).

    Lines are decoded as UTF-8 (a leading BOM is dropped, undecodable bytes are replaced
    so that they surface as parse errors with a line number); ``\\r\\n`` becomes ``\\n``.
    ``newline`` is ``open``'s: ``"\n"`` ends lines at ``\n`` only (as htslib does), so a lone
    ``\r`` stays inside its line. The file is opened once, so a pipe (``<(...)``, ``/dev/stdin``)
    reads whole. Raises ``ValueError`` for bzip2/xz/zip/zstd files, which are not supported.
    """
    raw = open(path, "rb")
    try:
        magic = b""
        while len(magic) < 6 and (piece := raw.read(6 - len(magic))):  # a pipe may give fewer bytes
            magic += piece
        for prefix, kind in _OTHER_MAGIC.items():
            if magic.startswith(prefix):
                raise ValueError(f"{path}: the file is {kind}-compressed; only plain text or gzip is supported")
        if raw.seekable():
            raw.seek(0)
            stream = raw
        else:
            stream = io.BufferedReader(_Prefixed(magic, raw))
        if magic.startswith(_GZIP_MAGIC):
            stream = _GzipStream(stream)
        return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline=newline)
    except BaseException:
        raw.close()
        raise


class LineTooLong(ValueError):
    """A line longer than the ``max_line`` given to :func:`iter_lines`; ``line`` is its number
    and ``start`` its first characters."""

    def __init__(self, message: str, *, line: int, start: str):
        super().__init__(message)
        self.line = line
        self.start = start


def iter_lines(path: str | os.PathLike, max_line: int | None = None,
               newline: str | None = None) -> Iterator[tuple[int, str]]:
    """Yield ``(1-based line number, line without its line ending)`` of a plain or gzip
    text file (``newline`` as in :func:`open_text`). A corrupt or truncated gzip stream
    raises ``ValueError`` naming the file and the last line read. With ``max_line``, lines
    are read at most that many characters at a time and a longer one raises
    :class:`LineTooLong`, so memory stays bounded whatever the file holds."""
    line_no = 0
    with open_text(path, newline) as fh:
        try:
            if max_line is None:
                for line_no, line in enumerate(fh, start=1):
                    yield line_no, line.rstrip("\r\n")
                return
            readline, limit = fh.readline, max_line + 1  # the +1 is the line's own "\n"
            while line := readline(limit):
                line_no += 1
                if len(line) == limit and line[-1] != "\n":
                    raise LineTooLong(f"{path}, line {line_no}: the line is longer than {max_line:,} characters",
                                      line=line_no, start=line[:_MAX_SHOWN])
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
                and chrom.isprintable() and chrom and " " not in chrom and _REPLACED not in line):
            start, end = int(start_text), int(end_text)
            strand = fields[5] if len(fields) >= 6 else "."
            name = fields[3] if len(fields) >= 4 and fields[3] else "."
            if start < end <= MAX_COORDINATE and strand in _STRANDS and len(name) <= MAX_NAME and name.isprintable():
                return Interval(chrom, start, end, name, strand, line_no)
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
    if end > MAX_COORDINATE:
        raise _error(path, line_no, f"coordinate {end} is past any chromosome (the limit is 2^53 = "
                     f"{MAX_COORDINATE:,}; seqzoo.io.bed.MAX_COORDINATE)", line)
    if _REPLACED in line:
        raise _error(path, line_no, f"the line holds bytes that are not UTF-8 text (shown as {_REPLACED})", line)
    name = fields[3] if len(fields) >= 4 and fields[3] else "."
    if len(name) > MAX_NAME:
        raise _error(path, line_no, f"name (column 4) is {len(name):,} characters long; the limit is {MAX_NAME:,} "
                     "(seqzoo.io.bed.MAX_NAME; the BED specification allows 255)", line)
    if control := _CONTROL_RE.search(name):  # e.g. NUL, which HDF5 output would cut the name at
        raise _error(path, line_no, f"name (column 4) holds the control character {control.group()!r}", line)
    strand = fields[5].strip() if len(fields) >= 6 else "."
    if strand not in _STRANDS:
        raise _error(path, line_no, f"strand (column 6) must be '+', '-' or '.', got {strand!r}", line)
    return Interval(chrom=chrom, start=start, end=end, name=name, strand=strand, line=line_no)


def _shown_path(path: str | os.PathLike) -> str:
    """How messages name ``path``: an :class:`InputCopy` by the input it copies."""
    return str(path) if isinstance(path, InputCopy) else str(Path(path))


def _bed_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """``iter_lines`` of a BED, lines bounded by :data:`MAX_LINE` (a longer one is a BEDError)."""
    try:
        yield from iter_lines(path, max_line=MAX_LINE)
    except LineTooLong as err:
        raise _error(_shown_path(path), err.line, f"the line is longer than {MAX_LINE:,} characters "
                     "(seqzoo.io.bed.MAX_LINE); is this a BED file?", err.start) from None


def iter_bed(path: str | os.PathLike) -> Iterator[Interval]:
    """Stream the intervals of a BED file (plain or gzip), in file order.

    See the module docstring for the accepted format.

    Raises:
        BEDError: on the first malformed line (naming file, line number, problem and
            line), or ``"<path>: no intervals found"`` if the file has no intervals.
        FileNotFoundError: if the file does not exist.
    """
    return _iter_bed(path, _bed_lines(path))


def _iter_bed(path: str | os.PathLike, lines: Iterator[tuple[int, str]]) -> Iterator[Interval]:
    """The intervals of ``lines``, the numbered lines of the BED ``path``."""
    path_str = _shown_path(path)
    seen_data_line = False
    n_intervals = 0
    try:
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


class InputCopy(os.PathLike):
    """A temporary copy of an input that can be read only once (a pipe): it opens as the copy
    (``os.fspath``) and is named in messages as the input (``str``)."""

    def __init__(self, name: str, copy: str):
        self.name, self.copy = name, copy

    def __fspath__(self) -> str:
        return self.copy

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"InputCopy({self.name!r}, {self.copy!r})"


def _is_regular_file(path: str | os.PathLike) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:  # missing: the reader says so
        return True


@contextmanager
def rereadable_bed(path: str | os.PathLike) -> Iterator[str | os.PathLike]:
    """``path`` itself when it is a regular file; for a pipe, a device or a socket
    (``--bed <(...)``, ``/dev/stdin``), which can be read only once, an :class:`InputCopy`:
    the BED read once, every line checked as :func:`iter_bed` checks it (so an endless or
    binary stream stops at its first bad line), written to a temporary file that every later
    pass reads, with the same line numbers. The copy is deleted on leaving the block."""
    if isinstance(path, InputCopy) or _is_regular_file(path):
        yield path
        return
    folder = tempfile.mkdtemp(prefix="seqzoo-bed-")
    try:
        copy = os.path.join(folder, "input.bed")
        with open(copy, "w", encoding="utf-8") as out:
            def copied() -> Iterator[tuple[int, str]]:
                for line_no, line in _bed_lines(path):
                    out.write(line + "\n")
                    yield line_no, line

            for _ in _iter_bed(path, copied()):
                pass
        yield InputCopy(str(path), copy)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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

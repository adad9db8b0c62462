"""Random access to a genome FASTA file (via pyfaidx), returning uint8 byte codes.

Sequences are returned as they are in the file (soft-masked lower case is kept;
:func:`seqzoo.encoding.one_hot_dna` treats it like upper case). Parts of a requested
region outside the chromosome are padded with ``N``. Chromosome names are never
renamed silently: a name missing from the FASTA raises :class:`ChromosomeNotFound`,
which says when adding or removing a ``chr`` prefix would match.

**A stale index is never trusted.** pyfaidx rebuilds ``<fasta>.fai`` only when it is older than
the FASTA, so a FASTA replaced by one with an older timestamp (``cp -p``, ``rsync -a``, ``tar``)
would keep the old index and read wrong bases. :func:`index_problem` checks the index against the
file instead (every record's offset, length and line layout, the name on the header line it points
back to, however long that line, the file size; for bgzip the ``.gzi`` block offsets too), reading
a few bytes per record. A stale index is
rebuilt where it can be deleted, else refused with a message naming both files.
"""

from __future__ import annotations

import bisect
import logging
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Iterable

import numpy as np
import pyfaidx

__all__ = ["ChromosomeNotFound", "Genome", "index_problem"]

logger = logging.getLogger(__name__)

_N = ord("N")
_MAX_LISTED = 5


def _shown(name: str, limit: int = 100) -> str:
    """``repr(name)``, cut short with "..." past ``limit`` characters (a BED line may be a megabyte)."""
    return repr(name if len(name) <= limit else name[:limit - 3] + "...")


def _alternative_names(chrom: str) -> list[str]:
    """Spellings of ``chrom`` under the other naming convention (UCSC ``chr1`` vs Ensembl ``1``)."""
    alternatives = [chrom[3:]] if chrom.startswith("chr") and len(chrom) > 3 else ["chr" + chrom]
    if chrom in ("chrM", "chrMT"):
        alternatives.append("MT")
    elif chrom in ("MT", "M"):
        alternatives.append("chrM")
    return alternatives


class ChromosomeNotFound(KeyError):
    """A chromosome requested from a :class:`Genome` is not in its FASTA file.

    The message names the chromosome and the FASTA file and, when the FASTA has the
    same chromosome with (or without) a ``chr`` prefix, both spellings; ``source`` names the
    kind of file the chromosome came from (``"BED"``, ``"VCF"``).
    """

    def __init__(self, chrom: str, fasta_path: str | os.PathLike, available: Iterable[str], source: str = "BED"):
        self.chrom = chrom
        self.fasta_path = str(fasta_path)
        self.available = tuple(available)
        self.source = source
        present = set(self.available)
        self.suggestion = next((alt for alt in _alternative_names(chrom) if alt in present), None)
        super().__init__(self._message())

    def _message(self) -> str:
        chrom = _shown(self.chrom)
        if self.suggestion is not None:
            return (
                f"chromosome {chrom} is not in {self.fasta_path}; the FASTA has {_shown(self.suggestion)} "
                f"— the {self.source} and FASTA use different naming (with and without the 'chr' prefix); "
                f"rename the chromosomes in one of them so that they match"
            )
        listed = ", ".join(_shown(name) for name in self.available[:_MAX_LISTED])
        more = ", ..." if len(self.available) > _MAX_LISTED else ""
        return (
            f"chromosome {chrom} is not in {self.fasta_path} "
            f"(its {len(self.available)} sequences are: {listed}{more})"
        )

    def __str__(self) -> str:  # KeyError would repr-quote the message
        return self.args[0]

    def __reduce__(self):  # keep picklable (e.g. across dataloader worker processes)
        return (type(self), (self.chrom, self.fasta_path, self.available, self.source))


def _check_compression(path: Path) -> None:
    """pyfaidx reads plain FASTA or BGZF ('.gz'/'.bgz'); reject plain gzip with a clear message."""
    with open(path, "rb") as fh:
        header = fh.read(18)
    if not header.startswith(b"\x1f\x8b"):
        return
    # BGZF: gzip with the FEXTRA flag and a 'BC' extra subfield (SAM/BAM spec, section 4.1).
    is_bgzf = len(header) >= 14 and header[3] & 4 and header[12:14] == b"BC"
    if not is_bgzf:
        raise ValueError(
            f"{path}: the FASTA is gzip-compressed; genome access needs an uncompressed FASTA "
            f"or one compressed with bgzip (e.g. 'gunzip {path.name}' or 'zcat in.fa.gz | bgzip > out.fa.gz')"
        )
    if not path.name.lower().endswith((".gz", ".bgz")):
        raise ValueError(f"{path}: the FASTA is bgzip-compressed; its name must end in .gz or .bgz")


_BGZF_MAGIC = b"\x1f\x8b\x08\x04"


class _PlainBytes:
    """Random access to an uncompressed file's bytes."""

    def __init__(self, path: Path):
        self._file = open(path, "rb")
        self.size = os.fstat(self._file.fileno()).st_size

    def read(self, offset: int, n: int) -> bytes:
        self._file.seek(offset)
        return self._file.read(n)

    def close(self) -> None:
        self._file.close()


class _BgzfBytes:
    """Random access to a bgzip file's uncompressed bytes through its ``.gzi`` (htslib layout:
    a count, then (compressed, uncompressed) offsets of every block but the first). Raises
    ValueError when the ``.gzi`` does not describe the file."""

    def __init__(self, path: Path, gzi: Path):
        self._file = open(path, "rb")
        self._csize = os.fstat(self._file.fileno()).st_size
        raw = gzi.read_bytes()
        if len(raw) < 8 or len(raw) != 8 + 16 * struct.unpack("<Q", raw[:8])[0]:
            raise ValueError(f"{gzi.name} is not a .gzi index of {len(raw)} bytes")
        pairs = [struct.unpack("<QQ", raw[i:i + 16]) for i in range(8, len(raw), 16)]
        self._coffsets = [0] + [c for c, _ in pairs]
        self._uoffsets = [0] + [u for _, u in pairs]
        if any(b <= a for a, b in zip(self._coffsets, self._coffsets[1:])) or \
                any(b <= a for a, b in zip(self._uoffsets, self._uoffsets[1:])):
            raise ValueError(f"{gzi.name}: block offsets are not increasing")
        for coffset in self._coffsets:  # every block the index names starts a BGZF block here
            self._block_end(coffset)
        # The blocks after the last one indexed (its own and the empty EOF block) end the file
        # exactly, and give the uncompressed size.
        coffset, self.size = self._coffsets[-1], self._uoffsets[-1]
        while coffset < self._csize:
            data, coffset = self._block(coffset)
            self.size += len(data)
        if coffset != self._csize:
            raise ValueError(f"the last block reaches past the end of {path.name}")
        self._cache: tuple[int, bytes] | None = None

    def _block_end(self, coffset: int) -> int:
        """Where the BGZF block starting at ``coffset`` ends (its header read, not its data)."""
        self._file.seek(coffset)
        header = self._file.read(18)
        if len(header) < 18 or not header.startswith(_BGZF_MAGIC) or header[12:14] != b"BC":
            raise ValueError(f"no BGZF block at byte {coffset}")
        return coffset + struct.unpack("<H", header[16:18])[0] + 1

    def _block(self, coffset: int) -> tuple[bytes, int]:
        """The uncompressed data of the block at ``coffset`` and the next block's offset."""
        end = self._block_end(coffset)
        body = self._file.read(end - coffset - 18)
        try:
            return zlib.decompressobj(-15).decompress(body[:-8]), end
        except zlib.error as err:
            raise ValueError(f"BGZF block at byte {coffset} does not decompress: {err}") from None

    def read(self, offset: int, n: int) -> bytes:
        out = b""
        while n > 0 and offset < self.size:
            i = bisect.bisect_right(self._uoffsets, offset) - 1
            if self._cache is None or self._cache[0] != i:
                data, _ = self._block(self._coffsets[i])
                if i + 1 < len(self._uoffsets) and len(data) != self._uoffsets[i + 1] - self._uoffsets[i]:
                    raise ValueError(f"block {i} holds {len(data)} bytes, not what the .gzi says")
                self._cache = (i, data)
            data = self._cache[1]
            piece = data[offset - self._uoffsets[i]:offset - self._uoffsets[i] + n]
            if not piece:
                break
            out += piece
            offset, n = offset + len(piece), n - len(piece)
        return out

    def close(self) -> None:
        self._file.close()


def _line_start(data, end: int) -> int:
    """Where the line ending at byte ``end`` (its newline) starts: after the newline before it, or
    0. Read backwards in growing blocks, so a header line of any length is found whole."""
    block = 4096
    while end > 0:
        start = max(0, end - block)
        found = data.read(start, end - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end, block = start, min(2 * block, 1 << 20)
    return 0


def _record_problem(data, name: str, length: int, offset: int, line_bases: int, line_width: int,
                    next_name: str | None) -> str | None:
    """Why one .fai record does not describe ``data`` (the FASTA's bytes), or None."""
    if length == 0:
        return None if offset <= data.size else f"{name}: offset {offset} past the end of the file"
    terminator = line_width - line_bases
    if line_bases < 1 or terminator not in (1, 2):
        return f"{name}: impossible line layout ({line_bases} bases in lines of {line_width} bytes)"
    expected = b">" + name.encode()
    header = b""
    if offset > 0 and data.read(offset - 1, 1) == b"\n":
        header = data.read(_line_start(data, offset - 1), len(expected) + 1)  # '>name' and what follows
    if not (header.startswith(expected) and header[len(expected):].isspace()):
        return f"{name}: no header line '>{name}' before byte {offset}"
    if length > line_bases and data.read(offset + line_bases, terminator) not in (b"\n", b"\r\n"):
        return f"{name}: the first sequence line is not {line_bases} bases long"
    full, rest = divmod(length, line_bases)
    end = offset + full * line_width + rest  # past the last base (rest > 0) or past its line's end
    if rest:
        tail = data.read(end, terminator)
        ends = tail in (b"\n", b"\r\n", b"")  # the file may end without a newline
        end += len(tail)
    else:
        ends = data.read(end - terminator, terminator) in (b"\n", b"\r\n")
    if not ends:
        return f"{name}: the sequence does not end after {length} bases"
    after = data.read(end, 64 + len(next_name or "")).lstrip(b"\r\n")
    if next_name is None:
        if after.strip() or data.size > end + 64:
            return f"the file continues after the last indexed sequence, {name}"
    elif after.split(b"\n", 1)[0].split()[:1] != [b">" + next_name.encode()]:
        return f"{name}: not followed by the next indexed sequence, {next_name}"
    return None


def index_problem(fasta: str | os.PathLike, fai: str | os.PathLike,
                  gzi: str | os.PathLike | None = None) -> str | None:
    """Why the ``.fai`` index (and, for a bgzip FASTA, the ``.gzi``) does not describe ``fasta``,
    or None when it does. Reads a few bytes per record, never the whole file."""
    fasta, fai = Path(fasta), Path(fai)
    try:
        records = []
        for number, line in enumerate(fai.read_text().splitlines(), 1):
            fields = line.split("\t")
            if len(fields) < 5:
                return f"line {number} does not have the 5 fields of a .fai line"
            records.append((fields[0], *map(int, fields[1:5])))
    except (ValueError, UnicodeDecodeError) as err:
        return f"not a .fai index ({err})"
    try:
        data = _BgzfBytes(fasta, Path(gzi)) if gzi is not None else _PlainBytes(fasta)
    except ValueError as err:
        return f"{Path(gzi).name} does not match: {err}"
    try:
        for i, record in enumerate(records):
            next_name = records[i + 1][0] if i + 1 < len(records) else None
            problem = _record_problem(data, *record, next_name=next_name)
            if problem:
                return problem
    except ValueError as err:  # a .gzi block that does not match
        return f"{Path(gzi).name} does not match: {err}"
    finally:
        data.close()
    return None


class Genome:
    """A genome FASTA file opened for random access.

    The ``.fai`` index is built next to the FASTA if missing, and rebuilt when it does not
    describe the file (:func:`index_problem`; a stale index that cannot be deleted is refused).
    If that directory is not writable, a missing index is built in a temporary directory instead
    (removed by :meth:`close`).

    Use as a context manager, or call :meth:`close`::

        with Genome("hg38.fa") as genome:
            codes, n_padded = genome.fetch_codes("chr1", 10_000, 11_000)
    """

    def __init__(self, fasta_path: str | os.PathLike):
        self.path = Path(fasta_path)
        self._tmp_index_dir: str | None = None
        if self.path.is_dir():
            raise ValueError(f"{self.path} is a directory, not a FASTA file")
        if self.path.exists() and not self.path.is_file():
            raise ValueError(f"{self.path} is a pipe or a device, not a file: a genome FASTA is read at random "
                             "places through its index, so it must be a file (write the stream to one first)")
        if not self.path.is_file():
            raise FileNotFoundError(f"FASTA file not found: {self.path}")
        _check_compression(self.path)
        self._drop_stale_index()
        try:
            self._fasta = self._open(index_dir=None)
        except OSError:
            # pyfaidx raises IOError when it cannot write <fasta>.fai (read-only directory).
            self._tmp_index_dir = tempfile.mkdtemp(prefix="seqzoo-fai-")
            logger.info("%s: directory not writable, building the FASTA index in %s", self.path, self._tmp_index_dir)
            try:
                self._fasta = self._open(index_dir=self._tmp_index_dir)
            except Exception:
                shutil.rmtree(self._tmp_index_dir, ignore_errors=True)
                raise
        self._sizes = {name: len(record) for name, record in self._fasta.records.items()}

    def _drop_stale_index(self) -> None:
        """Delete an index next to the FASTA that does not describe it, so that it is rebuilt;
        refuse (ValueError naming both files) when it cannot be deleted."""
        fai = self.path.with_name(self.path.name + ".fai")
        gzi = self.path.with_name(self.path.name + ".gzi") if self.path.name.lower().endswith((".gz", ".bgz")) else None
        if not fai.is_file() or (gzi is not None and not gzi.is_file()):
            return  # missing: pyfaidx builds it (a .fai without its .gzi is rebuilt too)
        problem = index_problem(self.path, fai, gzi)
        if problem is None:
            return
        stale = f"{fai}" + (f" and {gzi}" if gzi else "")
        try:
            for index in (fai, gzi):
                if index is not None:
                    index.unlink(missing_ok=True)  # another process may have deleted it first
        except OSError as err:
            raise ValueError(f"{stale} do(es) not describe {self.path} ({problem}): an index of another version of "
                             f"the file; it cannot be deleted to rebuild it ({err}). Delete it, or use a copy of the "
                             "FASTA in a writable folder") from None
        logger.warning("%s did not describe %s (%s): rebuilt", stale, self.path, problem)

    def _open(self, index_dir: str | None) -> pyfaidx.Fasta:
        kwargs = {}
        if index_dir is not None:
            kwargs["indexname"] = os.path.join(index_dir, self.path.name + ".fai")
            if self.path.name.lower().endswith((".gz", ".bgz")):
                kwargs["gzi_indexname"] = os.path.join(index_dir, self.path.name + ".gzi")
        try:
            return pyfaidx.Fasta(
                str(self.path), as_raw=True, sequence_always_upper=False, read_long_names=False, **kwargs
            )
        except pyfaidx.FastaIndexingError as err:
            raise ValueError(f"{self.path}: not a valid FASTA file: {err}") from err
        except UnicodeDecodeError as err:
            raise ValueError(f"{self.path}: not a valid FASTA file (binary content): {err}") from err
        except ValueError as err:  # e.g. duplicate sequence names
            raise ValueError(f"{self.path}: cannot index the FASTA file: {err}") from err

    @property
    def chrom_sizes(self) -> dict[str, int]:
        """Sequence lengths by name, in FASTA order (a copy)."""
        return dict(self._sizes)

    def fetch_codes(self, chrom: str, start: int, end: int) -> tuple[np.ndarray, int]:
        """Return the uint8 ASCII codes of ``chrom:[start, end)`` (0-based, half-open).

        Parts of the region before 0 or past the chromosome end are padded with ``N``.

        Returns:
            ``(codes, n_padded)``: ``codes`` has length ``end - start`` and ``n_padded`` is
            the number of padded positions, so callers can flag windows that needed padding.

        Raises:
            ChromosomeNotFound: if ``chrom`` is not in the FASTA.
            ValueError: if ``end < start``.
        """
        size = self._sizes.get(chrom)
        if size is None:
            raise ChromosomeNotFound(chrom, self.path, self._sizes)
        if end < start:
            raise ValueError(f"end ({end}) is before start ({start}) for {chrom}")
        codes = np.full(end - start, _N, dtype=np.uint8)
        lo, hi = max(start, 0), min(end, size)
        if lo < hi:
            seq = self._fasta[chrom][lo:hi]
            # Non-ASCII bytes become '?', which one_hot_dna rejects with its position.
            codes[lo - start : hi - start] = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
        n_padded = (end - start) - max(hi - lo, 0)
        return codes, n_padded

    def close(self) -> None:
        """Close the FASTA file (and remove a temporary index, if one was built)."""
        fasta = getattr(self, "_fasta", None)
        if fasta is not None:
            fasta.close()
        if self._tmp_index_dir is not None:
            shutil.rmtree(self._tmp_index_dir, ignore_errors=True)
            self._tmp_index_dir = None

    def __enter__(self) -> "Genome":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Genome({str(self.path)!r}, {len(self._sizes)} sequences)"

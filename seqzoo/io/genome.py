"""Random access to a genome FASTA file (via pyfaidx), returning uint8 byte codes.

Sequences are returned as they are in the file (soft-masked lower case is kept;
:func:`seqzoo.encoding.one_hot_dna` treats it like upper case). Parts of a requested
region outside the chromosome are padded with ``N``. Chromosome names are never
renamed silently: a name missing from the FASTA raises :class:`ChromosomeNotFound`,
which says when adding or removing a ``chr`` prefix would match.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
import pyfaidx

__all__ = ["ChromosomeNotFound", "Genome"]

logger = logging.getLogger(__name__)

_N = ord("N")
_MAX_LISTED = 5


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
    same chromosome with (or without) a ``chr`` prefix, both spellings.
    """

    def __init__(self, chrom: str, fasta_path: str | os.PathLike, available: Iterable[str]):
        self.chrom = chrom
        self.fasta_path = str(fasta_path)
        self.available = tuple(available)
        present = set(self.available)
        self.suggestion = next((alt for alt in _alternative_names(chrom) if alt in present), None)
        super().__init__(self._message())

    def _message(self) -> str:
        if self.suggestion is not None:
            return (
                f"chromosome {self.chrom!r} is not in {self.fasta_path}; the FASTA has {self.suggestion!r} "
                f"— the BED and FASTA use different naming (with and without the 'chr' prefix); "
                f"rename the chromosomes in one of them so that they match"
            )
        listed = ", ".join(repr(name) for name in self.available[:_MAX_LISTED])
        more = ", ..." if len(self.available) > _MAX_LISTED else ""
        return (
            f"chromosome {self.chrom!r} is not in {self.fasta_path} "
            f"(its {len(self.available)} sequences are: {listed}{more})"
        )

    def __str__(self) -> str:  # KeyError would repr-quote the message
        return self.args[0]

    def __reduce__(self):  # keep picklable (e.g. across dataloader worker processes)
        return (type(self), (self.chrom, self.fasta_path, self.available))


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


class Genome:
    """A genome FASTA file opened for random access.

    The ``.fai`` index is built next to the FASTA if missing or stale. If that
    directory is not writable, the index is built in a temporary directory instead
    (removed by :meth:`close`).

    Use as a context manager, or call :meth:`close`::

        with Genome("hg38.fa") as genome:
            codes, n_padded = genome.fetch_codes("chr1", 10_000, 11_000)
    """

    def __init__(self, fasta_path: str | os.PathLike):
        self.path = Path(fasta_path)
        self._tmp_index_dir: str | None = None
        if not self.path.is_file():
            raise FileNotFoundError(f"FASTA file not found: {self.path}")
        _check_compression(self.path)
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

"""Annotated VCF output: the input VCF's lines, in order and byte for byte, plus INFO fields.

The writer copies the input VCF as text, so every original field stays exactly as it was
(htslib would re-format QUAL, INFO and sample columns); it inserts one ``##INFO`` line per new
field before ``#CHROM`` and appends the new fields to each record's INFO column. Values come as
rows, one per ALT allele, tied to their record by the record's line number (the ``line`` column),
so a record's alleles are written together as one value per allele (``Number=A``; ``.`` where an
allele has none). A field with no value for any allele of a record is left out of that record.

``.vcf.gz``/``.vcf.bgz`` is bgzip-compressed and indexed with tabix (``.tbi``, by pysam/htslib);
``.vcf`` is plain text. Like the tables, the output is written under a temporary name and renamed
when complete (the index first, so a finished VCF never lacks its index by accident); an input
that is not sorted cannot be indexed, which is reported, and the VCF is still written.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqzoo.io.bed import iter_lines
from seqzoo.io.tables import AtomicOutput, check_output, publish, temporary_file

__all__ = ["VCF_FORMATS", "InfoField", "VCFWriter", "info_id", "is_vcf_output"]

#: VCF outputs by extension (``seqzoo.io.tables.output_format``): plain, or bgzip with a tabix index.
VCF_FORMATS = {".vcf": "vcf", ".vcf.gz": "vcf.gz", ".vcf.bgz": "vcf.gz"}
_VCF_SUFFIXES = tuple(VCF_FORMATS)
_BAD_ID_CHARS = re.compile(r"[^0-9A-Za-z_.]")
# Characters with a meaning in an INFO column, percent-encoded in String values (VCF 4.3, 1.6.1).
_ESCAPES = {"%": "%25", ";": "%3B", "=": "%3D", ",": "%2C", "\t": "%09", "\n": "%0A", "\r": "%0D"}


def is_vcf_output(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a VCF output (``.vcf``, ``.vcf.gz`` or ``.vcf.bgz``)."""
    return str(path).lower().endswith(_VCF_SUFFIXES)


def info_id(*parts: str) -> str:
    """An INFO key from ``parts`` joined by ``_``: characters VCF does not allow in a key
    (anything but letters, digits, ``_`` and ``.``) become ``_``."""
    key = _BAD_ID_CHARS.sub("_", "_".join(parts))
    return key if re.match(r"[A-Za-z_]", key) else f"_{key}"


@dataclass(frozen=True)
class InfoField:
    """One INFO field the writer adds: its key, VCF type and description, and the row column
    (one value per allele) that fills it."""

    id: str
    type: str  # "Float", "Integer" or "String"
    description: str
    column: str
    number: str = "A"

    def header_line(self) -> str:
        description = self.description.replace("\\", "\\\\").replace('"', '\\"')
        return f'##INFO=<ID={self.id},Number={self.number},Type={self.type},Description="{description}">'

    def format(self, value) -> str | None:
        """One allele's value as VCF text, or None when it has none."""
        if self.type == "String":
            return "".join(_ESCAPES.get(c, c) for c in str(value)) if value else None
        if value is None or value is np.ma.masked or (self.type == "Float" and math.isnan(value)):
            return None
        return str(int(value)) if self.type == "Integer" else f"{float(value):.6g}"


class VCFWriter(AtomicOutput):
    """Write ``source``'s lines to ``path`` with ``fields`` added to each record's INFO.

    ``write(chunk)`` takes rows (a dict of column -> array) in the source's record order, one per
    ALT allele, with a ``line`` column holding the record's line number in ``source`` and one
    column per field. ``extra_header`` lines (e.g. the command that made the file) go before
    ``#CHROM``. Every record of ``source`` must receive its rows; ``close()`` checks it.
    """

    def __init__(self, source: str | os.PathLike, path: str | os.PathLike, fields: Sequence[InfoField],
                 extra_header: Sequence[str] = (), *, overwrite: bool = True):
        self.source, self.path, self.fields = Path(source), Path(path), list(fields)
        ids = [f.id for f in self.fields]
        if len(set(ids)) != len(ids):
            raise ValueError(f"INFO keys collide (after replacing characters VCF does not allow): "
                             f"{sorted({i for i in ids if ids.count(i) > 1})}")
        check_output(self.path, inputs=[self.source], overwrite=overwrite, formats=VCF_FORMATS)
        self.compressed = not self.path.name.lower().endswith(".vcf")
        self.overwrite = overwrite
        self.partial = temporary_file(self.path)
        self.index_note = ""  # why the output has no index, when it has none
        self.rows = 0
        self._lines = iter_lines(self.source, newline="\n")  # split as htslib does (and iter_alleles)
        self._pending: list[tuple[int, list]] = []  # the rows of the record being collected
        self._file = self._open()
        try:
            self._write_header(extra_header)
        except BaseException:
            self.abort()
            raise

    def _open(self):
        if self.compressed:
            import pysam

            return pysam.BGZFile(str(self.partial), "wb")
        return open(self.partial, "wb")

    def _write_header(self, extra: Sequence[str]) -> None:
        ours = {f.id for f in self.fields}
        for line_no, text in self._lines:
            if not text.startswith("#"):
                raise ValueError(f"{self.source}, line {line_no}: a record before the '#CHROM' header line")
            if text.startswith("#CHROM"):
                for line in [f.header_line() for f in self.fields] + list(extra):
                    self._put(line)
                self._put(text)
                return
            declared = re.match(r"##INFO=<ID=([^,>]+)", text)
            if declared and declared.group(1) in ours:
                raise ValueError(f"{self.source}, line {line_no}: the VCF already has an INFO field "
                                 f"{declared.group(1)}; remove it first (bcftools annotate -x INFO/{declared.group(1)})")
            self._put(text)
        raise ValueError(f"{self.source}: no '#CHROM' header line")

    def _put(self, text: str) -> None:
        self._file.write((text + "\n").encode())

    def write(self, chunk: dict[str, np.ndarray]) -> None:
        """Add rows (one per allele, in record order)."""
        columns = [chunk[f.column] for f in self.fields]
        for i, line in enumerate(chunk["line"]):
            line = int(line)
            if self._pending and self._pending[-1][0] != line:
                self._flush()
            self._pending.append((line, [column[i] for column in columns]))
        self.rows += len(chunk["line"])

    def _flush(self) -> None:
        line = self._pending[0][0]
        for line_no, text in self._lines:
            if line_no == line:
                break
            if text.strip() and not text.startswith("#"):
                raise RuntimeError(f"{self.source}, line {line_no}: this record received no values")
        else:
            raise RuntimeError(f"{self.source}: values for line {line}, which is not a record of the file")
        record = text.split("\t")
        added = []
        for j, field in enumerate(self.fields):
            values = [field.format(row[j]) for _, row in self._pending]
            if any(v is not None for v in values):
                added.append(f"{field.id}={','.join('.' if v is None else v for v in values)}")
        if added:
            existing = set() if record[7] == "." else {kv.partition("=")[0] for kv in record[7].split(";")}
            clash = existing & {kv.partition("=")[0] for kv in added}
            if clash:
                raise ValueError(f"{self.source}, line {line}: the record already has INFO {sorted(clash)}")
            record[7] = ";".join(([] if record[7] == "." else [record[7]]) + added)
        self._put("\t".join(record))
        self._pending = []

    def close(self) -> Path:
        """Write the last record, check every record was written, index, and rename."""
        try:
            if self._pending:
                self._flush()
            for line_no, text in self._lines:
                if text.strip() and not text.startswith("#"):
                    raise RuntimeError(f"{self.source}, line {line_no}: this record received no values")
            self._file.close()
            index = self._index()
            if index is not None:
                os.replace(index, self.path.with_name(self.path.name + ".tbi"))
            else:
                self.path.with_name(self.path.name + ".tbi").unlink(missing_ok=True)  # a stale one
            publish(self.partial, self.path, self.overwrite)
        except BaseException:
            self.abort()
            raise
        return self.path

    def _index(self) -> Path | None:
        if not self.compressed:
            return None
        import pysam

        try:
            pysam.tabix_index(str(self.partial), preset="vcf", force=True)
        except OSError:  # htslib refuses unsorted records
            self.index_note = (f"{self.path} is not indexed: the input's records are not sorted by position "
                               f"(sort with `bcftools sort`, then index with `tabix -p vcf`)")
            warnings.warn(self.index_note, stacklevel=3)
            return None
        return Path(str(self.partial) + ".tbi")

    def abort(self) -> None:
        """Close and delete what was written."""
        try:
            self._file.close()
        except Exception:  # noqa: BLE001 - already failing; the files go below
            pass
        for leftover in (self.partial, Path(str(self.partial) + ".tbi")):
            leftover.unlink(missing_ok=True)


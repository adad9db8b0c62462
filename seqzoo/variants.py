"""Variant effect prediction: score the alleles of a VCF with a DNA model.

For every alternative allele of every VCF record (multi-allelic records become one row per
allele), the reference and the alternative sequence are built centred on the variant at the
model's input length and predicted together in one batch (optionally averaged with their
reverse complements). An allele ``A`` replacing the reference span ``[p, p + len(REF))``
(0-based) gives the window::

    genome[p - left : p] + A + genome[p + len(REF) : p + len(REF) + right]
    left = (L - len(A)) // 2,   right = L - len(A) - left

so the allele sits in the middle of the window and the window keeps length ``L`` for SNVs,
insertions and deletions alike (the flanks shrink or grow by the indel's length). The
reference window is the same formula with ``A = REF``, i.e. the genome itself.

Scores per target: ``ref`` and ``alt`` (probabilities), ``diff = alt - ref`` and
``logit_diff = logit(alt) - logit(ref)`` (probabilities clipped to ``[1e-7, 1 - 1e-7]``).

A row that cannot be scored keeps its place with a reason in ``note`` and empty scores:
REF differing from the FASTA, a chromosome missing from the FASTA, a window reaching past
a chromosome end, symbolic (``<DEL>``, ``*``, breakends) or missing alleles, alleles with
characters that are not DNA, an allele longer than the window, and records that the VCF
parser (pysam/htslib) cannot read; notes name the VCF line.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
from tqdm import tqdm

from seqzoo.encoding import one_hot_codes
from seqzoo.io.genome import Genome
from seqzoo.io.bed import iter_lines
from seqzoo.runtime import predict_batch, prefetch
from seqzoo.runtime import ZooModel
from seqzoo.io.tables import open_writer
from seqzoo.windows import chromosome_problem, invalid_dna

__all__ = ["SCORES", "VariantAllele", "iter_alleles", "score_variants", "variant_columns", "variant_windows"]

LEADING_COLUMNS = ["chrom", "pos", "id", "ref", "alt", "line", "note"]
SCORES = ("ref", "alt", "diff", "logit_diff")
_SYMBOLIC = re.compile(r"^<.*>$|^\*$|[\[\]]|^\.$")
_EPS = 1e-7


@dataclass
class VariantAllele:
    """One alternative allele of a VCF record: ``pos`` is 1-based as in the VCF."""

    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    line: int
    note: str = ""


def _diagnose(line: str) -> str:
    """Why htslib could not read a VCF data line, in words."""
    fields = line.split("\t")
    if not line.strip():
        return "blank line"
    if len(fields) < 8:
        return f"expected at least 8 tab-separated columns (CHROM POS ID REF ALT QUAL FILTER INFO), found {len(fields)}"
    if not fields[1].isdigit():
        return f"POS {fields[1]!r} is not a positive integer"
    if fields[0] != fields[0].strip() or not fields[0]:
        return f"CHROM {fields[0]!r} is empty or has surrounding spaces"
    return "the VCF parser (htslib) could not read this record"


def iter_alleles(vcf: str | os.PathLike) -> Iterator[VariantAllele]:
    """Yield every alternative allele of ``vcf`` (plain, gzip or bgzip), in file order.

    Records are read by pysam (htslib). Alongside, the file's lines are read as text so that
    every record, and every record htslib rejects, is tied to its line number: a rejected
    record becomes one allele with a ``note`` saying what is wrong, never a silent skip.
    """
    import pysam

    path = Path(vcf)
    if not path.is_file():
        raise FileNotFoundError(f"VCF file not found: {path}")
    pysam.set_verbosity(0)  # htslib's own warnings (e.g. contigs missing from the header)
    with _htslib_readable(path) as readable:
        try:
            reader = pysam.VariantFile(str(readable))
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a readable VCF file (a '#CHROM' header line is required): {err}") from err
        with reader:
            yield from _pair_with_lines(path, reader)


@contextmanager
def _htslib_readable(path: Path) -> Iterator[Path]:
    """``path`` itself, or for a plain-gzip (not bgzip) file, which pysam cannot open, a
    temporary decompressed copy (streamed to disk, removed afterwards)."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    is_gzip = head[:2] == b"\x1f\x8b"
    is_bgzf = is_gzip and len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC"
    if not is_gzip or is_bgzf:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="seqzoo-vcf-") as tmp:
        copy = Path(tmp) / path.name.removesuffix(".gz")
        with gzip.open(path, "rb") as source, open(copy, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        yield copy


def _pair_with_lines(path: Path, reader) -> Iterator[VariantAllele]:
    """Alleles of ``reader``'s records, each tied to its line of ``path``."""
    lines = ((n, text) for n, text in iter_lines(path) if not text.startswith("#"))
    records = iter(reader)
    for line_no, text in lines:
        try:
            record = next(records)
        except StopIteration:  # htslib stopped early: the rest of the file is unreadable
            yield _unreadable(path, line_no, text, "the VCF parser (htslib) stopped before this line")
            continue
        except (OSError, ValueError):
            yield _unreadable(path, line_no, text, _diagnose(text))
            continue
        ident = record.id or "."
        if record.pos < 1:
            yield VariantAllele(record.chrom, record.pos, ident, record.ref or "", ".", line_no,
                                f"{path}, line {line_no}: POS {record.pos} is not a 1-based position")
            continue
        for alt in record.alts or (".",):
            yield VariantAllele(record.chrom, record.pos, ident, record.ref or "", alt, line_no)


def _unreadable(path: Path, line_no: int, text: str, problem: str) -> VariantAllele:
    fields = text.split("\t") + [""] * 5
    pos = int(fields[1]) if fields[1].isdigit() else 0
    return VariantAllele(fields[0], pos, fields[2] or ".", fields[3], fields[4] or ".", line_no,
                         f"{path}, line {line_no}: malformed record: {problem}")


def _allele_codes(allele: str) -> np.ndarray:
    return np.frombuffer(allele.encode("ascii", errors="replace"), dtype=np.uint8)


def variant_windows(genome: Genome, allele: VariantAllele, seq_len: int) -> tuple[np.ndarray, np.ndarray] | str:
    """uint8 codes of the reference and alternative windows of ``allele``, or why there are none."""
    problem = chromosome_problem(genome, allele.chrom)
    if problem is not None:
        return problem
    if allele.alt == ".":
        return "the record has no ALT allele ('.'); nothing to score"
    for kind, value in (("REF", allele.ref), ("ALT", allele.alt)):
        if _SYMBOLIC.search(value):
            return f"{kind} {value!r} is a symbolic or missing allele; only sequence alleles are scored"
        codes = _allele_codes(value)
        if len(codes) == 0 or invalid_dna(codes).any():
            return f"{kind} {value!r} has characters that are not DNA bases or IUPAC codes"
        if len(codes) > seq_len:
            return f"{kind} is {len(codes)} bp, longer than the model's {seq_len} bp window"
    p, r = allele.pos - 1, len(allele.ref)
    size = genome.chrom_sizes[allele.chrom]
    # One genome read covering both windows: the shorter allele has the longer flanks.
    flanks = [((seq_len - len(a)) // 2, seq_len - len(a) - (seq_len - len(a)) // 2) for a in (allele.ref, allele.alt)]
    lo, hi = p - max(left for left, _ in flanks), p + r + max(right for _, right in flanks)
    if lo < 0 or hi > size:
        return (f"too close to an end of {allele.chrom} (length {size}): the {seq_len} bp window "
                f"centred on the variant would reach past it")
    span, _ = genome.fetch_codes(allele.chrom, lo, hi)
    genome_ref = span[p - lo:p + r - lo]
    if genome_ref.tobytes().upper() != allele.ref.upper().encode():
        return (f"REF {allele.ref!r} does not match the FASTA ({genome_ref.tobytes().decode()!r} at "
                f"{allele.chrom}:{allele.pos}); not scored")
    ref, alt = (np.concatenate([span[p - left - lo:p - lo], _allele_codes(a), span[p + r - lo:p + r + right - lo]])
                for a, (left, right) in zip((allele.ref, allele.alt), flanks))
    return ref, alt


def variant_columns(labels: Sequence[str], scores: Sequence[str] = SCORES) -> list[str]:
    """Output columns: the variant's, then ``<score>:<label>`` for each score and label."""
    return LEADING_COLUMNS + [f"{score}:{label}" for score in scores for label in labels]


@dataclass
class _Chunk:
    alleles: list[VariantAllele]
    x: np.ndarray        # (2 k, L, 4): the k scorable alleles' ref windows, then their alt windows
    scored: np.ndarray   # (n,) bool


def _encode(genome: Genome, alleles: list[VariantAllele], seq_len: int, vcf: Path) -> _Chunk:
    refs, alts, scored = [], [], np.zeros(len(alleles), dtype=bool)
    for i, allele in enumerate(alleles):
        if allele.note:
            continue
        windows = variant_windows(genome, allele, seq_len)
        if isinstance(windows, str):
            allele.note = f"{vcf}, line {allele.line}: {windows}"
            continue
        refs.append(windows[0])
        alts.append(windows[1])
        scored[i] = True
    codes = np.stack(refs + alts) if refs else np.zeros((0, seq_len), dtype=np.uint8)
    return _Chunk(alleles, one_hot_codes(codes), scored)


def _rows(model: ZooModel, chunk: _Chunk, labels: list[str], scores: Sequence[str], rc: bool,
          columns: list[int]) -> dict:
    n, k = len(chunk.alleles), int(chunk.scored.sum())
    values = {s: np.full((n, len(labels)), np.nan, dtype=np.float32) for s in SCORES}
    if k:
        preds = predict_batch(model, chunk.x, rc=rc).astype(np.float64)[:, columns]
        ref, alt = preds[:k], preds[k:]
        logit = lambda p: np.log(np.clip(p, _EPS, 1 - _EPS)) - np.log1p(-np.clip(p, _EPS, 1 - _EPS))  # noqa: E731
        for name, value in (("ref", ref), ("alt", alt), ("diff", alt - ref), ("logit_diff", logit(alt) - logit(ref))):
            values[name][chunk.scored] = value
    alleles = chunk.alleles
    rows = {
        "chrom": np.array([a.chrom for a in alleles], dtype=object),
        "pos": np.array([a.pos for a in alleles], dtype=np.int64),
        "id": np.array([a.id for a in alleles], dtype=object),
        "ref": np.array([a.ref for a in alleles], dtype=object),
        "alt": np.array([a.alt for a in alleles], dtype=object),
        "line": np.array([a.line for a in alleles], dtype=np.int64),
        "note": np.array([a.note for a in alleles], dtype=object),
    }
    for score in scores:
        rows.update({f"{score}:{label}": values[score][:, j] for j, label in enumerate(labels)})
    return rows


def score_variants(model: ZooModel, fasta: str | os.PathLike, vcf: str | os.PathLike, output: str | os.PathLike,
                   *, batch_size: int = 128, rc: bool = False, scores: Sequence[str] = SCORES,
                   targets: str | Sequence[str] | None = None, progress: bool = True) -> int:
    """Score every allele of ``vcf`` and stream one row per allele to ``output``
    (TSV, Parquet or HDF5, finished atomically); return the number of rows.

    ``batch_size`` alleles (2 x ``batch_size`` sequences) go through the model at a time.
    """
    unknown = sorted(set(scores) - set(SCORES))
    if unknown or not scores:
        raise ValueError(f"scores must be among {', '.join(SCORES)}; got {list(scores)}")
    if model.spec.modality != "dna":
        raise ValueError(f"{model.name} is not a DNA model (input {model.spec.input_shape})")
    seq_len = model.spec.input_shape[0]
    columns = model.spec.select_columns(targets)  # names or glob patterns; all by default
    labels = [model.columns[i] for i in columns]
    vcf = Path(vcf)

    with Genome(fasta) as genome:
        alleles = iter_alleles(vcf)

        def chunks():
            while chunk := list(islice(alleles, batch_size)):
                yield _encode(genome, chunk, seq_len, vcf)

        with open_writer(output, variant_columns(labels, scores)) as writer, \
                tqdm(unit=" alleles", disable=not progress, smoothing=0.1) as bar:
            for chunk in prefetch(chunks()):
                writer.write(_rows(model, chunk, labels, scores, rc, columns))
                bar.update(len(chunk.alleles))
            return writer.rows

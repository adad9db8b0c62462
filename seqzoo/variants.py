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
parser (pysam/htslib) cannot read (among them a POS that is not a plain ASCII integer or is out
of range, and a ``#`` line after the ``#CHROM`` header line); notes name the VCF and its line.
:class:`VariantCounts` counts the scored alleles and the others by reason.

A chromosome the FASTA has under the other naming (``1`` in the VCF, ``chr1`` in the FASTA) is
refused, not noted: ``ValueError`` naming the VCF line and both spellings, as ``seqzoo predict``
refuses a BED's.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from seqzoo.encoding import one_hot_codes
from seqzoo.io.genome import ChromosomeNotFound, Genome
from seqzoo.io.bed import iter_lines
from seqzoo.io.tables import TABLE_FORMATS, check_output, open_writer
from seqzoo.io.vcf import VCF_FORMATS, InfoField, VCFWriter, info_id, is_vcf_output
from seqzoo.windows import invalid_dna

if TYPE_CHECKING:  # the runtime (keras) is imported when scoring starts, not when the CLI declares options
    from seqzoo.runtime import ZooModel

__all__ = ["SCORES", "NULL_STATS", "NullEffects", "Unscored", "VariantAllele", "VariantCounts", "draw_null",
           "gc_band", "iter_alleles", "null_effects", "score_variants", "variant_columns", "variant_windows"]

LEADING_COLUMNS = ["chrom", "pos", "id", "ref", "alt", "line", "note"]
SCORES = ("ref", "alt", "diff", "logit_diff")
NULL_STATS = ("pvalue", "z")
#: What ``score_variants`` writes, by the output's extension: a table, or the annotated VCF.
VARIANT_FORMATS = {**TABLE_FORMATS, **VCF_FORMATS}
#: GC bands of the null: a null SNV's window has the G+C fraction band of its anchor variant's.
GC_BANDS = 20
#: Null SNVs are drawn within this many bp of a variant, on its chromosome.
NULL_DISTANCE = 10_000
NULL_ATTEMPTS = 200
_ACGT = np.frombuffer(b"ACGT", dtype=np.uint8)
_GC = np.frombuffer(b"GC", dtype=np.uint8)
_SYMBOLIC = re.compile(r"^<.*>$|^\*$|[\[\]]|^\.$")
_EPS = 1e-7
#: The largest POS htslib reads (2^62 - 1); a larger one makes the record unreadable.
MAX_POS = 2**62 - 1
_ASCII_INTEGER = re.compile(r"[0-9]+")  # not str.isdigit(), which takes '3²' and '١٢'

# Why an allele is not scored: the kinds VariantCounts counts, with their plural for the summary.
MALFORMED = "malformed record"
NOT_1_BASED = "POS not 1-based"
NO_CHROMOSOME = "chromosome not in the FASTA"
CHROMOSOME_NAMING = "chromosome named as the FASTA does not"  # refused, never counted
NO_ALT = "no ALT allele"
SYMBOLIC = "symbolic or missing allele"
NOT_DNA = "allele that is not DNA"
TOO_LONG = "allele longer than the window"
AT_END = "window past a chromosome end"
REF_MISMATCH = "REF does not match the FASTA"
_PLURALS = {MALFORMED: "malformed records", SYMBOLIC: "symbolic or missing alleles",
            NOT_DNA: "alleles that are not DNA", TOO_LONG: "alleles longer than the window",
            AT_END: "windows past a chromosome end"}


class Unscored(str):
    """Why an allele has no scores (the text), with ``kind``: one of the reasons
    :class:`VariantCounts` counts (``MALFORMED``, ``REF_MISMATCH``, ...)."""

    kind: str

    def __new__(cls, kind: str, text: str) -> Unscored:
        reason = super().__new__(cls, text)
        reason.kind = kind
        return reason


@dataclass
class VariantCounts:
    """What ``score_variants`` did: ``alleles`` rows written, ``scored`` of them with scores, and
    the others counted by reason (``not_scored``: kind -> count, e.g. ``{"malformed record": 1}``)."""

    alleles: int = 0
    scored: int = 0
    not_scored: dict[str, int] = field(default_factory=dict)

    def add(self, allele: VariantAllele, scored: bool) -> None:
        self.alleles += 1
        if scored:
            self.scored += 1
        else:
            self.not_scored[allele.kind] = self.not_scored.get(allele.kind, 0) + 1

    def summary(self) -> str:
        """One line, e.g. ``"scored 998 of 1,000 alleles; 2 not scored: 1 REF does not match
        the FASTA, 1 malformed record"``."""
        line = f"scored {self.scored:,} of {self.alleles:,} alleles"
        if self.scored == self.alleles:
            return line
        reasons = ", ".join(f"{n:,} {kind if n == 1 else _PLURALS.get(kind, kind)}"
                            for kind, n in sorted(self.not_scored.items(), key=lambda kv: (-kv[1], kv[0])))
        return f"{line}; {self.alleles - self.scored:,} not scored: {reasons}"


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
    readable: bool = True  # False: htslib could not parse the record (the note says why)
    kind: str = ""  # with a note: why, as VariantCounts counts it (MALFORMED, REF_MISMATCH, ...)


def _position(text: str) -> int | None:
    """A VCF POS as htslib reads it: ASCII digits up to ``MAX_POS``; None for anything else."""
    if not _ASCII_INTEGER.fullmatch(text):
        return None
    pos = int(text)
    return pos if pos <= MAX_POS else None


def _header_problem(path: Path) -> str:
    """Why htslib could not read the header of the VCF ``path``, in words."""
    for line_no, text in iter_lines(path, newline="\n"):
        if text.startswith("#CHROM"):
            return f"line {line_no}: the VCF parser (htslib) could not read the header ending at this '#CHROM' line"
        if not text.startswith("##"):
            what = "a record" if not text.startswith("#") else f"a line starting with a single '#' ({text[:40]!r})"
            return (f"line {line_no}: {what} before the '#CHROM' header line (the header's lines start with '##', "
                    "then one '#CHROM' line names the columns)")
    return "no '#CHROM' header line (the line naming the columns, after the '##' lines)"


def _diagnose(line: str) -> str:
    """Why htslib could not read a VCF data line, in words."""
    fields = line.split("\t")
    if not line.strip():
        return "blank line"
    if line.startswith("#"):
        return ("a '#' line after the '#CHROM' header line (header and comment lines belong before '#CHROM'; "
                "htslib reads every later line as a record)")
    if len(fields) < 8:
        return f"expected at least 8 tab-separated columns (CHROM POS ID REF ALT QUAL FILTER INFO), found {len(fields)}"
    if _position(fields[1]) is None:
        if _ASCII_INTEGER.fullmatch(fields[1]):
            return f"POS {fields[1]} is larger than the largest position the VCF parser (htslib) reads ({MAX_POS:,})"
        return f"POS {fields[1]!r} is not a positive integer (ASCII digits 0-9)"
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
    if not path.exists():
        raise FileNotFoundError(f"VCF file not found: {path}")
    _refuse_a_pipe(path)
    pysam.set_verbosity(0)  # htslib's own warnings (e.g. contigs missing from the header)
    with _htslib_readable(path) as readable:
        try:
            reader = pysam.VariantFile(str(readable))
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a readable VCF file: {_header_problem(readable)}") from err
        with reader:
            yield from _pair_with_lines(path, reader)


def _refuse_a_pipe(path: Path) -> None:
    """A VCF is read more than once (htslib, the line check, an annotated copy): a pipe is refused."""
    if path.exists() and not path.is_file():
        raise ValueError(f"{path}: a VCF given as a pipe, a device or a folder cannot be read: seqzoo reads the "
                         "VCF more than once (htslib, the line check, the annotated copy); write it to a file "
                         "first (e.g. bcftools view -Oz -o variants.vcf.gz)")


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


def _body_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The lines of ``path`` after its ``#CHROM`` header line, split as htslib splits them
    (at ``\\n`` only). htslib reads every one of them as a record, ``#`` lines included."""
    lines = iter_lines(path, newline="\n")
    for _, text in lines:
        if text.startswith("#CHROM"):
            break
    yield from lines


def _pair_with_lines(path: Path, reader) -> Iterator[VariantAllele]:
    """Alleles of ``reader``'s records, each tied to its line of ``path``."""
    records = iter(reader)
    for line_no, text in _body_lines(path):
        try:
            record = next(records)
        except StopIteration:  # htslib stopped early: the rest of the file is unreadable
            yield _unreadable(path, line_no, text, "the VCF parser (htslib) stopped before this line")
            continue
        except (OSError, ValueError):
            yield _unreadable(path, line_no, text, _diagnose(text))
            continue
        ident = record.id or "."
        empty = next((name for name, column in zip(("REF", "ALT"), text.split("\t")[3:5]) if not column), None)
        if empty is not None:  # htslib reads an empty column as '.'
            yield VariantAllele(record.chrom, record.pos, ident, record.ref or "", ".", line_no,
                                f"{path}, line {line_no}: malformed record: the {empty} column is empty "
                                f"('.' stands for a missing value)", kind=MALFORMED)
            continue
        if record.pos < 1:
            yield VariantAllele(record.chrom, record.pos, ident, record.ref or "", ".", line_no,
                                f"{path}, line {line_no}: POS {record.pos} is not a 1-based position", kind=NOT_1_BASED)
            continue
        for alt in record.alts or (".",):
            yield VariantAllele(record.chrom, record.pos, ident, record.ref or "", alt, line_no)


def _unreadable(path: Path, line_no: int, text: str, problem: str) -> VariantAllele:
    # a '#' line is no record: its row keeps no columns of it
    fields = ([] if text.startswith("#") else text.split("\t")) + [""] * 5
    return VariantAllele(fields[0], _position(fields[1]) or 0, fields[2] or ".", fields[3], fields[4] or ".", line_no,
                         f"{path}, line {line_no}: malformed record: {problem}", readable=False, kind=MALFORMED)


def _allele_codes(allele: str) -> np.ndarray:
    return np.frombuffer(allele.encode("ascii", errors="replace"), dtype=np.uint8)


def variant_windows(genome: Genome, allele: VariantAllele, seq_len: int) -> tuple[np.ndarray, np.ndarray] | Unscored:
    """uint8 codes of the reference and alternative windows of ``allele``, or why there are none
    (an :class:`Unscored` text; its ``kind`` is ``CHROMOSOME_NAMING`` where the FASTA names the
    chromosome with or without ``chr``, which callers refuse)."""
    if allele.chrom not in genome.chrom_sizes:
        missing = ChromosomeNotFound(allele.chrom, genome.path, genome.chrom_sizes, "VCF")
        return Unscored(NO_CHROMOSOME if missing.suggestion is None else CHROMOSOME_NAMING, str(missing))
    if allele.alt == ".":
        return Unscored(NO_ALT, "the record has no ALT allele ('.'); nothing to score")
    for column, value in (("REF", allele.ref), ("ALT", allele.alt)):
        if _SYMBOLIC.search(value):
            return Unscored(SYMBOLIC, f"{column} {value!r} is a symbolic or missing allele; only sequence alleles "
                                      "are scored")
        codes = _allele_codes(value)
        if len(codes) == 0 or invalid_dna(codes).any():
            return Unscored(NOT_DNA, f"{column} {value!r} has characters that are not DNA bases or IUPAC codes")
        if len(codes) > seq_len:
            return Unscored(TOO_LONG, f"{column} is {len(codes)} bp, longer than the model's {seq_len} bp window")
    p, r = allele.pos - 1, len(allele.ref)
    size = genome.chrom_sizes[allele.chrom]
    # One genome read covering both windows: the shorter allele has the longer flanks.
    flanks = [((seq_len - len(a)) // 2, seq_len - len(a) - (seq_len - len(a)) // 2) for a in (allele.ref, allele.alt)]
    lo, hi = p - max(left for left, _ in flanks), p + r + max(right for _, right in flanks)
    if lo < 0 or hi > size:
        return Unscored(AT_END, f"too close to an end of {allele.chrom} (length {size}): the {seq_len} bp window "
                                f"centred on the variant would reach past it")
    span, _ = genome.fetch_codes(allele.chrom, lo, hi)
    genome_ref = span[p - lo:p + r - lo]
    if genome_ref.tobytes().upper() != allele.ref.upper().encode():
        return Unscored(REF_MISMATCH, f"REF {allele.ref!r} does not match the FASTA ({genome_ref.tobytes().decode()!r} "
                                      f"at {allele.chrom}:{allele.pos}); not scored")
    ref, alt = (np.concatenate([span[p - left - lo:p - lo], _allele_codes(a), span[p + r - lo:p + r + right - lo]])
                for a, (left, right) in zip((allele.ref, allele.alt), flanks))
    return ref, alt


def variant_columns(labels: Sequence[str], scores: Sequence[str] = SCORES, null: bool = False) -> list[str]:
    """Output columns: the variant's, then ``<score>:<label>`` for each score and label, and with a
    null ``null_n``, ``pvalue:<label>`` and ``z:<label>``."""
    columns = LEADING_COLUMNS + [f"{score}:{label}" for score in scores for label in labels]
    if null:
        columns += ["null_n"] + [f"{stat}:{label}" for stat in NULL_STATS for label in labels]
    return columns


# --- windows and effects ---------------------------------------------------------------------------

def gc_band(codes: np.ndarray) -> int:
    """The GC band of a window: its G+C fraction among its A/C/G/T bases, in bands of
    ``1 / GC_BANDS`` (0 .. GC_BANDS - 1)."""
    upper = codes & 0xDF  # ASCII upper case
    acgt = np.isin(upper, _ACGT).sum()
    gc = np.isin(upper, _GC).sum() / acgt if acgt else 0.0
    return min(int(gc * GC_BANDS), GC_BANDS - 1)


@dataclass
class _Chunk:
    alleles: list[VariantAllele]
    x: np.ndarray        # (2 k, L, 4): the k scorable alleles' ref windows, then their alt windows
    scored: np.ndarray   # (n,) bool
    bands: np.ndarray    # (n,) GC band of each scored allele's reference window, -1 if not scored


def _vcf_windows(genome: Genome, allele: VariantAllele, seq_len: int, vcf: Path | None):
    """``variant_windows`` of an allele of ``vcf``; a chromosome the FASTA names with or without
    ``chr`` is refused (``ValueError`` naming the VCF line and both spellings), as ``predict``
    refuses a BED's, rather than leaving every allele unscored."""
    windows = variant_windows(genome, allele, seq_len)
    if isinstance(windows, Unscored) and windows.kind == CHROMOSOME_NAMING:
        raise ValueError(f"{vcf}, line {allele.line}: {windows}")
    return windows


def _encode(genome: Genome, alleles: list[VariantAllele], seq_len: int, vcf: Path | None) -> _Chunk:
    refs, alts = [], []
    scored, bands = np.zeros(len(alleles), dtype=bool), np.full(len(alleles), -1, dtype=np.int64)
    for i, allele in enumerate(alleles):
        if allele.note:
            continue
        windows = _vcf_windows(genome, allele, seq_len, vcf)
        if isinstance(windows, Unscored):
            allele.note, allele.kind = f"{vcf}, line {allele.line}: {windows}", windows.kind
            continue
        refs.append(windows[0])
        alts.append(windows[1])
        scored[i], bands[i] = True, gc_band(windows[0])
    codes = np.stack(refs + alts) if refs else np.zeros((0, seq_len), dtype=np.uint8)
    return _Chunk(alleles, one_hot_codes(codes), scored, bands)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _effects(model: ZooModel, chunk: _Chunk, rc: bool, columns: list[int]) -> dict[str, np.ndarray]:
    """Every score of every allele of ``chunk``, ``(alleles, targets)``; NaN where not scored."""
    from seqzoo.batching import predict_batch

    n, k = len(chunk.alleles), int(chunk.scored.sum())
    values = {s: np.full((n, len(columns)), np.nan, dtype=np.float32) for s in SCORES}
    if k:
        preds = predict_batch(model, chunk.x, rc=rc).astype(np.float64)[:, columns]
        ref, alt = preds[:k], preds[k:]
        for name, value in (("ref", ref), ("alt", alt), ("diff", alt - ref), ("logit_diff", _logit(alt) - _logit(ref))):
            values[name][chunk.scored] = value
    return values


# --- the null: random SNVs near the variants, in the same GC band ---------------------------------

class NullEffects:
    """The null SNVs' ``diff`` of each GC band (``band -> (m, targets)``), kept as what the
    comparisons need: the sorted absolute values, the mean and the standard deviation."""

    def __init__(self, diffs: dict[int, np.ndarray]):
        self.bands = {band: (np.sort(np.abs(d), axis=0), d.mean(axis=0),
                             d.std(axis=0, ddof=1) if len(d) > 1 else np.full(d.shape[1], np.nan))
                      for band, d in diffs.items() if len(d)}

    def compare(self, bands: np.ndarray, diff: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """For alleles in ``bands`` (-1: not scored) with effects ``diff`` ``(n, targets)``: the
        number of null SNVs they are compared with, and their empirical p-values and z-scores."""
        n = np.ma.masked_array(np.zeros(len(bands), dtype=np.int64), mask=bands < 0)
        stats = {s: np.full(diff.shape, np.nan, dtype=np.float32) for s in NULL_STATS}
        for band in np.unique(bands[bands >= 0]):
            if int(band) not in self.bands:
                continue
            sorted_abs, mean, sd = self.bands[int(band)]
            rows, m = bands == band, len(sorted_abs)
            d = diff[rows].astype(np.float64)
            n[rows] = m
            # (1 + #{|null| >= |d|}) / (m + 1): never 0, so at most 1/(m+1) is claimed.
            at_least = np.stack([m - np.searchsorted(sorted_abs[:, t], np.abs(d[:, t]), side="left")
                                 for t in range(d.shape[1])], axis=1)
            stats["pvalue"][rows] = (1 + at_least) / (m + 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                stats["z"][rows] = np.where(sd > 0, (d - mean) / sd, np.nan)
        return n, stats


def _anchors(genome: Genome, vcf: Path, seq_len: int) -> list[tuple[str, int, int]]:
    """``(chrom, pos, GC band)`` of every scorable allele of ``vcf``: where null SNVs are drawn."""
    anchors = []
    for allele in iter_alleles(vcf):
        if allele.note:
            continue
        windows = _vcf_windows(genome, allele, seq_len, vcf)
        if not isinstance(windows, Unscored):
            anchors.append((allele.chrom, allele.pos, gc_band(windows[0])))
    return anchors


def draw_null(genome: Genome, anchors: Sequence[tuple[str, int, int]], n: int, seq_len: int, *,
              seed: int = 0, distance: int | None = None) -> list[VariantAllele]:
    """``n`` random SNVs, seeded: each near (within ``distance`` bp of) an anchor variant picked at
    random, on its chromosome, changing an A/C/G/T base to one of the other three, with a
    scorable window in the anchor's GC band. A draw that finds no such SNV in ``NULL_ATTEMPTS``
    tries is given up (so fewer than ``n`` may come back; the caller reports it)."""
    distance = NULL_DISTANCE if distance is None else distance
    rng = np.random.default_rng(seed)
    drawn: list[VariantAllele] = []
    if not anchors:
        return drawn
    for j in range(n):
        chrom, pos, band = anchors[rng.integers(len(anchors))]
        for _ in range(NULL_ATTEMPTS):
            at = pos + int(rng.integers(1, distance + 1)) * (1 if rng.random() < 0.5 else -1)
            if not 1 <= at <= genome.chrom_sizes[chrom]:
                continue
            base = genome.fetch_codes(chrom, at - 1, at)[0].tobytes().decode().upper()
            if base not in "ACGT":
                continue
            alt = "ACGT".replace(base, "")[rng.integers(3)]
            snv = VariantAllele(chrom, at, f"null_{j}", base, alt, 0)
            windows = variant_windows(genome, snv, seq_len)
            if not isinstance(windows, Unscored) and gc_band(windows[0]) == band:
                drawn.append(snv)
                break
    return drawn


def null_effects(model: ZooModel, genome: Genome, null: Sequence[VariantAllele], *, batch_size: int,
                 rc: bool, columns: list[int]) -> NullEffects:
    """Score the null SNVs and group their ``diff`` by GC band."""
    seq_len = model.spec.input_shape[0]
    diffs, bands = [], []
    for start in range(0, len(null), batch_size):
        chunk = _encode(genome, list(null[start:start + batch_size]), seq_len, None)
        diffs.append(_effects(model, chunk, rc, columns)["diff"][chunk.scored])
        bands.append(chunk.bands[chunk.scored])
    if not diffs:
        return NullEffects({})
    diff, band = np.concatenate(diffs), np.concatenate(bands)
    return NullEffects({int(b): diff[band == b] for b in np.unique(band)})


# --- rows and outputs -----------------------------------------------------------------------------

def _rows(chunk: _Chunk, values: dict[str, np.ndarray], labels: list[str], scores: Sequence[str],
          null: NullEffects | None) -> dict:
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
    if null is not None:
        rows["null_n"], stats = null.compare(chunk.bands, values["diff"])
        for stat in NULL_STATS:
            rows.update({f"{stat}:{label}": stats[stat][:, j] for j, label in enumerate(labels)})
    return rows


_DESCRIPTIONS = {
    "ref": "probability predicted for the reference allele's window",
    "alt": "probability predicted for the alternative allele's window",
    "diff": "alt - ref probability",
    "logit_diff": "logit(alt) - logit(ref) probability",
    "pvalue": "empirical p-value of |diff| against the null SNVs of the variant's GC band: "
              "(1 + #null with |diff| >= |this diff|) / (null_n + 1)",
    "z": "diff as a z-score against the null SNVs of the variant's GC band: (diff - mean) / sd",
}


def _vcf_writer(vcf: Path, output, model: ZooModel, labels: list[str], scores: Sequence[str], rc: bool,
                null: int, command: str | None, overwrite: bool):
    """An annotated-VCF writer: one INFO field per score x target (``<model>_<score>_<target>``)."""
    spec = model.spec
    who = f"{spec.name} {spec.version}".strip()
    strands = "averaged over forward and reverse-complement windows" if rc else "forward windows only (no reverse-complement averaging)"
    fields = [InfoField(info_id(spec.name, score, label), "Float",
                        f"{who}, target {label}: {_DESCRIPTIONS[score]}; {strands}", f"{score}:{label}")
              for score in scores for label in labels]
    if null:
        fields.append(InfoField(info_id(spec.name, "null_n"), "Integer",
                                f"{who}: number of null SNVs (of {null} drawn) in the variant's GC band", "null_n"))
        fields += [InfoField(info_id(spec.name, stat, label), "Float",
                             f"{who}, target {label}: {_DESCRIPTIONS[stat]}; {strands}", f"{stat}:{label}")
                   for stat in NULL_STATS for label in labels]
    fields.append(InfoField(info_id(spec.name, "note"), "String",
                            f"{who}: why the allele has no scores (one value per ALT allele, '.' where scored)",
                            "reason", number="."))
    extra = [f"##seqzoo_variantsCommand={command}"] if command else []
    return VCFWriter(vcf, output, fields, extra, overwrite=overwrite)


def _reason(allele: VariantAllele, vcf: Path) -> str:
    """The allele's note without the ``<vcf>, line <n>: `` prefix (the VCF record is the place)."""
    return allele.note.removeprefix(f"{vcf}, line {allele.line}: ")


def score_variants(model: ZooModel, fasta: str | os.PathLike, vcf: str | os.PathLike, output: str | os.PathLike,
                   *, batch_size: int = 128, rc: bool = False, scores: Sequence[str] = SCORES,
                   targets: str | Sequence[str] | None = None, null: int = 0, seed: int = 0,
                   command: str | None = None, progress: bool = True, overwrite: bool = True) -> VariantCounts:
    """Score every allele of ``vcf`` and stream one row per allele to ``output``; return how many
    alleles were written, how many scored, and the others by reason (:class:`VariantCounts`;
    ``.summary()`` says it in one line).

    ``output`` is a table (TSV, Parquet or HDF5) or, for ``.vcf``/``.vcf.gz``, the input VCF with
    the scores added as INFO fields (see ``seqzoo.io.vcf``); either is finished atomically.
    ``batch_size`` alleles (2 x ``batch_size`` sequences) go through the model at a time.
    ``null`` > 0 first draws and scores that many random SNVs near the variants (``draw_null``,
    seeded by ``seed``) and adds each allele's empirical p-value and z-score of ``diff``
    against those of its GC band. ``command`` is recorded in a VCF output's header. The output
    is checked before any work (never the VCF or FASTA; an existing file only with ``overwrite``).
    A VCF chromosome that the FASTA names with or without ``chr`` raises ``ValueError`` naming
    both spellings, and no output is left.
    """
    from seqzoo.batching import prefetch

    unknown = sorted(set(scores) - set(SCORES))
    if unknown or not scores:
        raise ValueError(f"scores must be among {', '.join(SCORES)}; got {list(scores)}")
    _refuse_a_pipe(Path(vcf))  # before anything is read or written
    check_output(output, inputs=[fasta, vcf], overwrite=overwrite, formats=VARIANT_FORMATS)
    if batch_size < 1 or null < 0:
        raise ValueError(f"batch_size must be at least 1 and null at least 0 (got {batch_size}, {null})")
    if model.spec.modality != "dna":
        raise ValueError(f"{model.name} is not a DNA model (input {model.spec.input_shape})")
    seq_len = model.spec.input_shape[0]
    columns = model.spec.select_columns(targets)  # names or glob patterns; all by default
    labels = [model.columns[i] for i in columns]
    vcf = Path(vcf)
    to_vcf = is_vcf_output(output)

    with Genome(fasta) as genome:
        null_scores = None
        if null:
            drawn = draw_null(genome, _anchors(genome, vcf, seq_len), null, seq_len, seed=seed)
            if len(drawn) < null:
                warnings.warn(f"drew {len(drawn)} of {null} null SNVs: no scorable SNV in the GC band "
                              f"of some variants within {NULL_DISTANCE} bp", stacklevel=2)
            null_scores = null_effects(model, genome, drawn, batch_size=batch_size, rc=rc, columns=columns)
        alleles = iter_alleles(vcf)
        counts = VariantCounts()

        def chunks():
            while chunk := list(islice(alleles, batch_size)):
                yield _encode(genome, chunk, seq_len, vcf)

        writer = (_vcf_writer(vcf, output, model, labels, scores, rc, null, command, overwrite) if to_vcf
                  else open_writer(output, variant_columns(labels, scores, null=bool(null)), overwrite=overwrite))
        with writer, tqdm(unit=" alleles", disable=not progress, smoothing=0.1) as bar:
            for chunk in prefetch(chunks()):
                rows = _rows(chunk, _effects(model, chunk, rc, columns), labels, scores, null_scores)
                if to_vcf:
                    unreadable = next((a for a in chunk.alleles if not a.readable), None)
                    if unreadable is not None:
                        raise ValueError(f"{unreadable.note}; a VCF output copies every record, so the input "
                                         "must be a valid VCF (write a table, e.g. -o out.tsv, to see every "
                                         "record's note)")
                    rows["reason"] = np.array([_reason(a, vcf) for a in chunk.alleles], dtype=object)
                writer.write(rows)
                for allele, scored in zip(chunk.alleles, chunk.scored):
                    counts.add(allele, bool(scored))
                bar.update(len(chunk.alleles))
        return counts

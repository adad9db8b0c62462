"""The one path from intervals to windows to one-hot arrays, shared by every DNA caller.

Every caller that turns genome intervals into model inputs goes through this module:
``seqzoo predict`` (:mod:`seqzoo.predict_dna`, and :mod:`seqzoo.distributed` for Ray),
``seqzoo learned-motifs``, the kipoi dataloader :class:`seqzoo.dataloaders.DNAIntervalDataset`
(through :class:`BEDWindows`) and ``seqzoo explain`` (:func:`seqzoo.interpret.explain_region`).
They apply the same rule to each case:

Window placement
    A window of ``seq_len`` bases is centred on the interval: ``centre = (start + end) // 2``,
    window start ``= centre - seq_len // 2`` (:func:`seqzoo.io.bed.centered_window`). It is never
    shifted or shrunk to fit inside a chromosome.
Past a chromosome end (before 0 or after the last base)
    ``out_of_bounds="pad"`` (the default): the positions outside the chromosome are N and their
    number is the row's ``padded`` count. ``out_of_bounds="refuse"``: the row gets no prediction
    and a note ``"the window chr1:-50-550 reaches past the chromosome (50 positions); refused
    ..."``; the other rows are unaffected, on every path (a refused row never stops a run, the
    kipoi one included: see below).
No real base (every position N or past a chromosome end, e.g. an interval beyond the end)
    Under either ``out_of_bounds``: the row gets no prediction and a note ``"the window
    chr1:5000-5600 holds no base A, C, G or T (600 positions past the chromosome end, the others
    N); not predicted"``. A model would give such a window a plausible number that says nothing.
Unknown chromosome
    An error for the whole input, raised before anything is computed or written (:func:`check_bed`):
    ``"<bed>, line <n>: chromosome '1' is not in <fasta>; the FASTA has 'chr1' ..."``, naming both
    spellings when only a ``chr`` prefix differs (:class:`seqzoo.io.genome.ChromosomeNotFound`).
    :func:`chromosome_problem` / :func:`require_chromosome` are the one check, used everywhere.
A character that is not a base, N or IUPAC code (e.g. ``X``, ``-``, a digit)
    The row gets no prediction and a note naming its window: ``"the window chr1:100-700 holds
    characters that are not DNA bases or IUPAC codes"`` (:func:`invalid_dna` is the one test).
Strand
    ``-`` gives the reverse complement of the window (both one-hot axes flipped); ``+`` and ``.``
    the window as it is in the FASTA.
Lower case, N and IUPAC codes
    As in :mod:`seqzoo.encoding`: lower case (soft-masked) encodes like upper case, N as 0.25 in
    every column, an IUPAC code uniformly over its bases (R = A/G -> 0.5, 0, 0.5, 0).

A row with no prediction keeps its place, gets no values and carries its note, on every path:
``seqzoo predict`` writes NaN predictions and the note in the ``note`` column (a track has no
value there); the kipoi dataloader (:class:`BEDWindows`) gives the row an all-NaN input window
(``seqzoo.encoding``, "No sequence") and the note in its ``note`` metadata, and the zoo's kipoi
model predicts NaN for it, so ``pipeline.predict`` returns NaN on that row and ``kipoi predict
--keep_metadata`` writes the note; ``seqzoo explain``, which draws one region, raises
``ValueError("region <region>: <note>")`` and draws nothing. A kipoi run is never stopped by one
row: pipeline.predict cannot report a row's note, so it keeps the row as NaN instead, and the
dataloader warns (:class:`NoPredictionWarning`: the BED file, the line and the note), so that the
NaN row is never silent.

How windows are read, fast:

1. ``check_bed`` validates every BED line and chromosome before anything is written;
2. batches of intervals are read as uint8 base codes, one genome slice per run of nearby
   intervals on a chromosome rather than one read per interval (``read_windows``);
3. a whole batch is one-hot encoded at once through a 256-entry lookup table.
"""

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from seqzoo.encoding import DNA_VALID_TABLE, one_hot_codes
from seqzoo.io.bed import MAX_COORDINATE, Interval, centered_window, iter_bed, read_bed
from seqzoo.io.genome import ChromosomeNotFound, Genome

__all__ = [
    "BEDWindows", "MAX_GAP", "MAX_SLICE", "NoPredictionWarning", "OUT_OF_BOUNDS", "WindowBatch", "check_bed", "check_intervals",
    "chromosome_problem", "encode_windows", "invalid_dna", "iter_window_batches", "read_windows",
    "require_chromosome",
]

# Nearby windows on a chromosome are read as one genome slice of at most MAX_SLICE bases; a gap
# of more than MAX_GAP bases between windows starts a new read rather than reading the gap.
MAX_SLICE = 1 << 20
MAX_GAP = 1 << 14
OUT_OF_BOUNDS = ("pad", "refuse")


class NoPredictionWarning(UserWarning):
    """A row the kipoi dataloaders give no sequence (a NaN prediction), with the file, the line and
    why: kipoi's ``pipeline.predict`` (and ``kipoi predict`` without ``--keep_metadata``) drop the
    row's note, so the warning is what says it."""


@dataclass
class WindowBatch:
    """A batch of intervals with their encoded windows."""

    intervals: list[Interval]
    x: np.ndarray          # (n, seq_len, 4) float32 one-hot; zeros for refused rows
    padded: np.ndarray     # (n,) positions outside the chromosome
    refused: np.ndarray    # (n,) bool: no prediction for this row
    notes: list[str]       # why a refused row has no prediction ("" for the others)


def chromosome_problem(genome: Genome, chrom: str) -> str | None:
    """``None`` if ``chrom`` is in ``genome``; otherwise why not, naming the FASTA and, when the
    names differ only by a ``chr`` prefix, both spellings (see ``ChromosomeNotFound``)."""
    sizes = genome.chrom_sizes
    if chrom in sizes:
        return None
    return str(ChromosomeNotFound(chrom, genome.path, sizes))


def require_chromosome(genome: Genome, chrom: str, where: str) -> int:
    """The length of ``chrom`` in ``genome``; raises ``ValueError("<where>: <problem>")`` if it
    is not there (``where`` says whose chromosome it is, e.g. ``"regions.bed, line 3"``)."""
    problem = chromosome_problem(genome, chrom)
    if problem is not None:
        raise ValueError(f"{where}: {problem}")
    return genome.chrom_sizes[chrom]


def invalid_dna(codes: np.ndarray) -> np.ndarray:
    """Boolean mask of the uint8 byte codes that are not a DNA base, N or IUPAC code (either
    case); ``invalid_dna(codes).any(axis=-1)`` flags the windows that cannot be encoded."""
    return ~np.take(DNA_VALID_TABLE, codes)


def check_intervals(bed: str | Path, intervals: Iterable[Interval], genome: Genome) -> int:
    """Check that every interval's chromosome is in ``genome``; return the number of intervals.

    Raises ``ValueError("<bed>, line <n>: <problem>")`` for the first unknown chromosome.
    """
    known: set[str] = set()  # each chromosome is checked once, not once per interval
    n = 0
    for interval in intervals:
        if interval.chrom not in known:
            require_chromosome(genome, interval.chrom, f"{bed}, line {interval.line}")
            known.add(interval.chrom)
        n += 1
    return n


def check_bed(bed: str | Path, genome: Genome) -> int:
    """Validate every line of ``bed`` against ``genome``; return the number of intervals."""
    return check_intervals(bed, iter_bed(bed), genome)


def read_windows(genome: Genome, windows: list[tuple[str, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """uint8 codes ``(n, length)`` of equal-length windows, padded with N outside chromosomes.

    Windows on one chromosome that lie close together are read as one genome slice (see
    MAX_SLICE, MAX_GAP); the number of padded positions per window is returned alongside.
    """
    length = windows[0][2] - windows[0][1]
    codes = np.empty((len(windows), length), dtype=np.uint8)
    padded = np.zeros(len(windows), dtype=np.int64)
    sizes = genome.chrom_sizes
    order = sorted(range(len(windows)), key=lambda i: (windows[i][0], windows[i][1]))
    offsets = np.arange(length)
    run: list[int] = []

    def flush():
        chrom, first = windows[run[0]][0], windows[run[0]][1]
        last = windows[run[-1]][2]
        span, _ = genome.fetch_codes(chrom, first, last)
        starts = np.array([windows[i][1] for i in run]) - first
        codes[run] = span[starts[:, None] + offsets]
        for i in run:
            _, start, end = windows[i]
            padded[i] = length - max(0, min(end, sizes[chrom]) - max(start, 0))

    for i in order:
        if run and (windows[i][0] != windows[run[0]][0] or windows[i][1] - windows[run[-1]][2] > MAX_GAP
                    or windows[i][2] - windows[run[0]][1] > MAX_SLICE):
            flush()
            run = []
        run.append(i)
    flush()
    return codes, padded


# Each byte's class, so that one lookup per batch finds both kinds of window that are not
# predicted: 0 = not DNA (invalid_dna), 1 = N or an IUPAC code, 2 = a real base (A, C, G, T,
# either case); a window with no byte of class 2 has no real base.
_BYTE_CLASS = DNA_VALID_TABLE.astype(np.uint8)
_BYTE_CLASS[np.frombuffer(b"ACGTacgt", dtype=np.uint8)] = 2


def _check_out_of_bounds(out_of_bounds: str) -> None:
    if out_of_bounds not in OUT_OF_BOUNDS:
        raise ValueError(f"out_of_bounds must be one of {OUT_OF_BOUNDS}; got {out_of_bounds!r}")


def encode_windows(genome: Genome, intervals: list[Interval], seq_len: int,
                   out_of_bounds: str = "pad") -> WindowBatch:
    """One-hot windows of ``seq_len`` centred on ``intervals``, by the rules of the module docstring.

    The intervals' chromosomes must be in ``genome`` (see :func:`check_bed`).
    """
    _check_out_of_bounds(out_of_bounds)
    windows = [(iv.chrom, *centered_window(iv, seq_len)) for iv in intervals]
    codes, padded = read_windows(genome, windows)
    minus = np.array([iv.strand == "-" for iv in intervals])
    if minus.any():  # reverse complement = flip length and ACGT axes, done on the codes' rows
        codes[minus] = codes[minus, ::-1]
    x = one_hot_codes(codes)
    x[minus] = x[minus, :, ::-1]
    classes = np.take(_BYTE_CLASS, codes)
    bad = classes.min(axis=1) == 0      # the same test as invalid_dna
    no_base = classes.max(axis=1) < 2
    refused = bad | no_base | ((padded > 0) & (out_of_bounds == "refuse"))
    notes = [""] * len(intervals)
    for i in np.flatnonzero(refused):
        chrom, start, end = windows[i]
        if bad[i]:
            notes[i] = f"the window {chrom}:{start}-{end} holds characters that are not DNA bases or IUPAC codes"
        elif no_base[i]:
            notes[i] = (f"the window {chrom}:{start}-{end} holds no base A, C, G or T ({padded[i]} positions past "
                        "the chromosome end, the others N); not predicted")
        else:
            notes[i] = (f"the window {chrom}:{start}-{end} reaches past the chromosome ({padded[i]} positions); "
                        "refused (use out-of-bounds 'pad' to fill them with N)")
    x[refused] = 0
    return WindowBatch(intervals, x, padded, refused, notes)


def iter_window_batches(bed: str | Path | Iterable[Interval], genome: Genome, seq_len: int, batch_size: int,
                        out_of_bounds: str = "pad") -> Iterator[WindowBatch]:
    """Stream a BED file (or any intervals, e.g. :func:`iter_tiles`) as one-hot batches of
    ``batch_size`` intervals."""
    intervals = iter_bed(bed) if isinstance(bed, (str, os.PathLike)) else iter(bed)
    while chunk := list(islice(intervals, batch_size)):
        yield encode_windows(genome, chunk, seq_len, out_of_bounds)


def parse_region(region: str) -> tuple[str, int, int]:
    """``"chr1:START-END"`` (0-based, half-open, as in BED; commas allowed) -> ``(chrom, start, end)``."""
    chrom, _, span = region.rpartition(":")
    start, _, end = span.replace(",", "").partition("-")
    if (not chrom or not start.isdigit() or not end.isdigit() or not start.isascii() or not end.isascii()
            or not int(start) < int(end) <= MAX_COORDINATE):
        raise ValueError(f"region {region!r}: expected CHROM:START-END with 0 <= START < END <= 2^53 "
                         "(BED coordinates)")
    return chrom, int(start), int(end)


def tile_regions(genome: Genome, what: str) -> list[tuple[str, int, int]]:
    """The regions ``--tile`` covers: ``"genome"`` (every sequence of the FASTA, in its order), a
    region ``CHROM:START-END``, or a BED file of regions (sorted, not overlapping, so that tracks
    can be written in order). Regions are clipped to their chromosome; chromosomes are checked."""
    sizes = genome.chrom_sizes
    if what == "genome":
        return [(chrom, 0, size) for chrom, size in sizes.items()]
    if os.path.exists(what) and not os.path.isdir(what):  # a file, or a pipe (<(...)), read once
        regions, source = [(iv.chrom, iv.start, iv.end, iv.line) for iv in iter_bed(what)], what
    else:
        regions, source = [(*parse_region(what), 0)], "--tile"
    order = {chrom: i for i, chrom in enumerate(sizes)}
    out, last = [], None
    for chrom, start, end, line in regions:
        where = f"{source}, line {line}" if line else source
        size = require_chromosome(genome, chrom, where)
        if last is not None and (order[chrom], start) < (order[last[0]], last[2]):
            raise ValueError(f"{where}: {chrom}:{start}-{end} is before the end of the previous region "
                             f"{last[0]}:{last[1]}-{last[2]}; tiled regions must be sorted by the FASTA's "
                             "chromosome order and must not overlap")
        if start >= size:
            raise ValueError(f"{where}: {chrom}:{start}-{end} starts past the end of {chrom} (length {size})")
        last = (chrom, start, min(end, size))
        out.append(last)
    return out


def count_tiles(regions: list[tuple[str, int, int]], step: int) -> int:
    """How many windows :func:`iter_tiles` places."""
    return sum(-(-(end - start) // step) for _, start, end in regions)


def iter_tiles(regions: list[tuple[str, int, int]], step: int, bin_size: int) -> Iterator[Interval]:
    """A ``bin_size`` bin every ``step`` bp from each region's start, as intervals named
    ``chrom:start-end``; the model reads the window centred on each bin, under the rules above
    (a window past a chromosome end is padded or refused, like a BED line's)."""
    if step <= 0 or bin_size <= 0:
        raise ValueError(f"step and bin must be positive; got step {step}, bin {bin_size}")
    for chrom, start, end in regions:
        for b in range(start, end, step):
            yield Interval(chrom, b, b + bin_size, f"{chrom}:{b}-{b + bin_size}")


class BEDWindows:
    """The windows of a BED file one interval at a time, for random access (kipoi's dataloader).

    The same rules as ``seqzoo predict`` (module docstring): an unknown chromosome fails here, at
    construction, naming the BED line; a row that ``seqzoo predict`` leaves without a prediction
    gets, from :meth:`window`, an all-NaN window and the same note.
    """

    def __init__(self, bed: str | Path, genome: Genome | str | Path, seq_len: int, out_of_bounds: str = "pad"):
        _check_out_of_bounds(out_of_bounds)
        if seq_len <= 0:
            raise ValueError(f"seq_len must be positive, got {seq_len}")
        self.bed = bed
        self.seq_len = int(seq_len)
        self.out_of_bounds = out_of_bounds
        # kipoi needs a length and random access, so the intervals are read up front.
        self.intervals: list[Interval] = read_bed(bed)
        self.genome = genome if isinstance(genome, Genome) else Genome(genome)
        check_intervals(bed, self.intervals, self.genome)

    def __len__(self) -> int:
        return len(self.intervals)

    def window(self, i: int) -> tuple[np.ndarray, int, str]:
        """``(one-hot (seq_len, 4) float32, padded positions, note)`` of interval ``i``.

        Where the row has no prediction (a character that is not DNA, no real base, or a window
        past a chromosome end with ``out_of_bounds="refuse"``) the window is all NaN and the note
        is the one ``seqzoo predict`` writes for the row; else the note is "".
        """
        interval = self.intervals[i]
        batch = encode_windows(self.genome, [interval], self.seq_len, self.out_of_bounds)
        if batch.refused[0]:
            return np.full_like(batch.x[0], np.nan), int(batch.padded[0]), batch.notes[0]
        return batch.x[0], int(batch.padded[0]), ""

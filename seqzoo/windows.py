"""The one path from intervals to windows to one-hot arrays, shared by every DNA caller.

1. ``check_bed`` validates every BED line and chromosome before anything is written;
2. batches of intervals are read as uint8 base codes, one genome slice per run of nearby
   intervals on a chromosome rather than one read per interval (``read_windows``);
3. a whole batch is one-hot encoded at once through a 256-entry lookup table.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from seqzoo.encoding import DNA_VALID_TABLE, one_hot_codes
from seqzoo.io.bed import Interval, centered_window, iter_bed
from seqzoo.io.genome import ChromosomeNotFound, Genome

# Nearby windows on a chromosome are read as one genome slice of at most MAX_SLICE bases; a gap
# of more than MAX_GAP bases between windows starts a new read rather than reading the gap.
MAX_SLICE = 1 << 20
MAX_GAP = 1 << 14
OUT_OF_BOUNDS = ("pad", "refuse")


@dataclass
class WindowBatch:
    """A batch of intervals with their encoded windows."""

    intervals: list[Interval]
    x: np.ndarray          # (n, seq_len, 4) float32 one-hot
    padded: np.ndarray     # (n,) positions outside the chromosome
    refused: np.ndarray    # (n,) bool: no prediction for this row
    notes: list[str]


def check_bed(bed: str | Path, genome: Genome) -> int:
    """Validate every line of ``bed`` against ``genome``; return the number of intervals."""
    sizes = genome.chrom_sizes
    n = 0
    for interval in iter_bed(bed):
        if interval.chrom not in sizes:
            raise ValueError(f"{bed}, line {interval.line}: {ChromosomeNotFound(interval.chrom, genome.path, sizes)}")
        n += 1
    return n


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


def encode_windows(genome: Genome, intervals: list[Interval], seq_len: int,
                   out_of_bounds: str = "pad") -> WindowBatch:
    """One-hot windows of ``seq_len`` centred on ``intervals`` (``-`` strand reverse-complemented)."""
    if out_of_bounds not in OUT_OF_BOUNDS:
        raise ValueError(f"out_of_bounds must be one of {OUT_OF_BOUNDS}; got {out_of_bounds!r}")
    windows = [(iv.chrom, *centered_window(iv, seq_len)) for iv in intervals]
    codes, padded = read_windows(genome, windows)
    minus = np.array([iv.strand == "-" for iv in intervals])
    if minus.any():  # reverse complement = flip length and ACGT axes, done on the codes' rows
        codes[minus] = codes[minus, ::-1]
    x = one_hot_codes(codes)
    x[minus] = x[minus, :, ::-1]
    bad = ~np.take(DNA_VALID_TABLE, codes).all(axis=1)  # characters that are not bases or IUPAC codes
    refused = bad | ((padded > 0) & (out_of_bounds == "refuse"))
    notes = [""] * len(intervals)
    for i in np.flatnonzero(refused):
        chrom, start, end = windows[i]
        notes[i] = (f"the window {chrom}:{start}-{end} holds characters that are not DNA bases or IUPAC codes"
                    if bad[i] else
                    f"the window {chrom}:{start}-{end} reaches past the chromosome ({padded[i]} positions); "
                    "refused (use out-of-bounds 'pad' to fill them with N)")
    x[refused] = 0
    return WindowBatch(intervals, x, padded, refused, notes)


def iter_window_batches(bed: str | Path, genome: Genome, seq_len: int, batch_size: int,
                        out_of_bounds: str = "pad") -> Iterator[WindowBatch]:
    """Stream the BED as one-hot batches of ``batch_size`` intervals."""
    intervals = iter_bed(bed)
    while chunk := list(islice(intervals, batch_size)):
        yield encode_windows(genome, chunk, seq_len, out_of_bounds)

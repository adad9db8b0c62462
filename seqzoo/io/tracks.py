"""Genome tracks of predictions: bigWig (pyBigWig) and bedGraph, one file per target, finished atomically.

A track holds one value per interval, in the order given (chromosomes in the order of
``chrom_sizes``, positions increasing, intervals not overlapping: the caller's tiling guarantees
it). NaN values (a window without a prediction) are left out: the track has no value there.
Each file is written as a temporary file of this run (as the tables are, :mod:`seqzoo.io.tables`)
and renamed when every target's file is complete; on an error, or a ``close()`` that fails, every
temporary file is deleted.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from seqzoo.io.tables import AtomicOutput, check_output, publish, temporary_file

__all__ = ["TRACK_FORMATS", "TrackWriter", "track_format", "track_paths"]

TRACK_FORMATS = {".bw": "bigwig", ".bigwig": "bigwig", ".bedgraph": "bedgraph", ".bdg": "bedgraph"}
PLACEHOLDER = "{target}"


def track_format(path: str | os.PathLike) -> str | None:
    """``"bigwig"``, ``"bedgraph"``, or None when the name is not a track's."""
    return TRACK_FORMATS.get(Path(str(path)).suffix.lower())


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-+" else "_" for c in name)


def track_paths(output: str | os.PathLike, targets: list[str]) -> list[Path]:
    """One path per target: ``{target}`` in ``output`` becomes each target's name (characters other
    than letters, digits and ``._-+`` become ``_``); with one target it may be absent."""
    text = str(output)
    if PLACEHOLDER not in text:
        if len(targets) != 1:
            raise ValueError(f"{output}: a track holds one target; for {len(targets)} targets put {PLACEHOLDER} "
                             f"in the output name (e.g. tracks/{PLACEHOLDER}.bw) or choose one with --targets")
        return [Path(text)]
    paths = [Path(text.replace(PLACEHOLDER, _safe(t))) for t in targets]
    if len(set(paths)) != len(paths):
        raise ValueError(f"{output}: two targets give the same file name; choose targets with --targets")
    return paths


class TrackWriter(AtomicOutput):
    """Write intervals' values of several targets, one track file each (module docstring)."""

    def __init__(self, output: str | os.PathLike, targets: list[str], chrom_sizes: dict[str, int], *,
                 overwrite: bool = True, inputs=()):
        """``overwrite=False`` keeps existing track files (FileExistsError); ``inputs`` are the command's
        input files, never overwritten (:func:`seqzoo.io.tables.check_output`)."""
        self.format = track_format(output)
        if self.format is None:
            raise ValueError(f"{output}: not a track name (.bw, .bigwig, .bedgraph, .bdg)")
        self.paths = track_paths(output, targets)
        for path in self.paths:
            check_output(path, inputs=inputs, overwrite=overwrite)
        self.overwrite = overwrite
        self.sizes = dict(chrom_sizes)
        self.partials: list[Path] = []
        self.files: list = []
        try:
            self._open()
        except BaseException:
            self.abort()
            raise

    def _open(self) -> None:
        for path in self.paths:
            partial = temporary_file(path)
            self.partials.append(partial)
            if self.format == "bigwig":
                import pyBigWig

                bw = pyBigWig.open(str(partial), "w")
                bw.addHeader(list(self.sizes.items()))
                self.files.append(bw)
            else:
                self.files.append(open(partial, "w"))

    def write(self, chroms: np.ndarray, starts: np.ndarray, ends: np.ndarray, values: np.ndarray) -> None:
        """Append intervals (in order) with ``values`` of shape ``(n, n_targets)``; an interval is
        clipped at its chromosome's end, and left out when it lies wholly past it (the central
        stretch of a window reaching past the end)."""
        ends = np.minimum(ends, [self.sizes[c] for c in chroms])
        inside = np.asarray(starts) < ends
        for j, f in enumerate(self.files):
            keep = ~np.isnan(values[:, j]) & inside
            c, s, e, v = chroms[keep], starts[keep], ends[keep], values[keep, j].astype(np.float64)
            if not len(c):
                continue
            if self.format == "bigwig":
                f.addEntries([str(x) for x in c], [int(x) for x in s], ends=[int(x) for x in e],
                             values=[float(x) for x in v])
            else:
                f.writelines(f"{a}\t{b}\t{d}\t{x:.6g}\n" for a, b, d, x in zip(c, s, e, v))

    def close(self) -> list[Path]:
        """Finish every track and give it its final name; on any failure every temporary file is
        deleted and the error raised."""
        try:
            while self.files:
                self.files.pop().close()
            for partial, path in zip(self.partials, self.paths):
                publish(partial, path, self.overwrite)
        except BaseException:
            self.abort()
            raise
        return self.paths

    def abort(self) -> None:
        """Drop every unfinished track."""
        while self.files:
            try:
                self.files.pop().close()
            except Exception:  # noqa: BLE001 - deleting is what matters
                pass
        for partial in self.partials:
            partial.unlink(missing_ok=True)

"""Genome tracks of predictions: bigWig (pyBigWig) and bedGraph, one file per target, finished atomically.

A track holds one value per interval, in the order given (chromosomes in the order of
``chrom_sizes``, positions increasing, intervals not overlapping: the caller's tiling guarantees
it). NaN values (a window without a prediction) are left out: the track has no value there.
Each file is written as a temporary file of this run (as the tables are, :mod:`seqzoo.io.tables`)
and renamed when every target's file is complete; on an error, or a ``close()`` that fails, every
temporary file is deleted.

**bigWig in a process of its own.** libBigWig (under pyBigWig) cannot report a failed write: on
a full disk it finishes the file with an error and then aborts the whole process (``double free
or corruption``, exit 134), which no Python code can catch, leaving the temporary file behind.
So the bigWig files are written by a child Python process (:class:`_BigWigProcess`, a
:class:`seqzoo.io.tables.ChildWriter` fed the intervals through a pipe) that reads each finished
file back; when it fails or dies, this process raises ``OSError`` (saying how much space the
folder has left) and deletes every temporary file, as for any other error.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from seqzoo.io.tables import AtomicOutput, ChildWriter, check_output, publish, temporary_file

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


# The child process: reads (paths, chromosome sizes), then (track index, chroms, starts, ends,
# values) messages until None, closes every file and reads it back. It ignores the signals that
# stop a run (the parent deletes the files and kills it), and on a lost parent deletes them itself.
_BIGWIG_CHILD = r"""
import errno, os, pickle, shutil, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
import pyBigWig
stream = sys.stdin.buffer
paths, sizes = pickle.load(stream)
MARGIN = 1 << 16


def room(path, need):
    # libBigWig does not see its writes fail, and on a full disk spins for minutes before it aborts:
    # fail first, when the folder has less than `need` bytes free
    free = shutil.disk_usage(os.path.dirname(path)).free
    if free < need:
        raise OSError(errno.ENOSPC, f"no space left on device: {free} bytes free, {need} needed")


try:
    files = []
    for path in paths:
        bw = pyBigWig.open(path, "w")
        bw.addHeader(sizes)
        files.append(bw)
    bases, last, entries = [0] * len(paths), [None] * len(paths), [0] * len(paths)
    while (message := pickle.load(stream)) is not None:
        j, chroms, starts, ends, values = message
        room(paths[j], MARGIN + 16 * len(starts))  # at most 12 bytes an entry before compression, and headers
        files[j].addEntries(chroms.tolist(), starts.tolist(), ends=ends.tolist(), values=values.tolist())
        bases[j] += int((ends - starts).sum())
        last[j] = (str(chroms[-1]), int(starts[-1]), int(ends[-1]))
        entries[j] += len(starts)
    for path, bw, n in zip(paths, files, entries):  # an upper bound of what closing writes: zoom levels, index
        room(path, MARGIN + 48 * n)
        bw.close()
except BaseException as e:  # a failed write (the parent deletes the files) or a lost parent
    if isinstance(e, EOFError):
        for path in paths:
            try:
                os.unlink(path)
            except OSError:
                pass
    sys.stderr.write(f"{type(e).__name__}: {e}\n")
    sys.stderr.flush()
    os._exit(1)  # not through pyBigWig's own clean-up, which would finish the files
# libBigWig may finish a file it could not write wholly without a word (a full disk): check that it
# ends with the bigWig magic, covers the bases written and gives back its last interval.
for path, n, end in zip(paths, bases, last):
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(-4, os.SEEK_END)
        tail = f.read(4)
    bw = pyBigWig.open(path)
    if (head != b"\x26\xfc\x8f\x88" or tail != head or bw is None or bw.header()["nBasesCovered"] != n
            or (end is not None and not bw.intervals(*end))):
        sys.stderr.write(f"{path} does not read back as the bigWig written (was the disk full?)\n")
        os._exit(1)
    bw.close()
"""


class _BigWigProcess(ChildWriter):
    """bigWig files written by a child process (module docstring)."""

    def __init__(self, paths: list[Path], sizes: dict[str, int], outputs: list[Path]):
        """Write ``paths`` (temporary files) of chromosomes ``sizes``; ``outputs`` name them in errors."""
        super().__init__(_BIGWIG_CHILD, ([str(p) for p in paths], list(sizes.items())), paths, outputs,
                         what="the bigWig writer")

    def add(self, j: int, chroms, starts, ends, values) -> None:
        self.send((j, np.asarray(chroms).astype(str), np.asarray(starts, np.int64), np.asarray(ends, np.int64),
                   np.asarray(values, np.float64)))


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
            self.partials.append(temporary_file(path))
            if self.format == "bedgraph":
                self.files.append(open(self.partials[-1], "w"))
        if self.format == "bigwig":
            self.files.append(_BigWigProcess(self.partials, self.sizes, self.paths))

    def write(self, chroms: np.ndarray, starts: np.ndarray, ends: np.ndarray, values: np.ndarray) -> None:
        """Append intervals (in order) with ``values`` of shape ``(n, n_targets)``; an interval is
        clipped at its chromosome's end, and left out when it lies wholly past it (the central
        stretch of a window reaching past the end)."""
        ends = np.minimum(ends, [self.sizes[c] for c in chroms])
        inside = np.asarray(starts) < ends
        for j in range(len(self.paths)):
            keep = ~np.isnan(values[:, j]) & inside
            c, s, e, v = chroms[keep], starts[keep], ends[keep], values[keep, j].astype(np.float64)
            if not len(c):
                continue
            if self.format == "bigwig":
                self.files[0].add(j, c, s, e, v)
            else:
                self.files[j].writelines(f"{a}\t{b}\t{d}\t{x:.6g}\n" for a, b, d, x in zip(c, s, e, v))

    def close(self) -> list[Path]:
        """Finish every track and give it its final name; on any failure every temporary file is
        deleted and the error raised."""
        try:
            while self.files:
                self.files[-1].close()  # still listed while it finishes, so that abort() stops it
                self.files.pop()
            for partial, path in zip(self.partials, self.paths):
                publish(partial, path, self.overwrite)
        except BaseException:
            self.abort()
            raise
        return self.paths

    def abort(self) -> None:
        """Drop every unfinished track."""
        while self.files:
            f = self.files.pop()
            try:
                f.stop() if isinstance(f, ChildWriter) else f.close()
            except Exception:  # noqa: BLE001 - deleting is what matters
                pass
        for partial in self.partials:
            partial.unlink(missing_ok=True)

"""Prediction of a DNA model on BED intervals of a FASTA genome, streamed to a table.

The data path keeps up with the model so that compute is the only cost: ``seqzoo.windows``
validates the BED and reads one genome slice per run of nearby intervals, encodes whole batches at
once, and a background thread (``batching.prefetch``) prepares the next batch while the model runs on
the current one; rows stream to the output (TSV, Parquet or HDF5), renamed only when complete.

Output: one row per BED line, in input order: ``chrom, start, end, name, strand`` as in the BED,
``padded`` (window positions outside the chromosome, filled with N), ``note`` (empty, or why the
row has no prediction) and one column per target named by the model's labels. The rules for
windows and bad rows are those of :mod:`seqzoo.windows`, shared with the kipoi dataloader.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from seqzoo.io.bed import rereadable_bed
from seqzoo.io.genome import Genome
from seqzoo.io.tables import TABLE_FORMATS, check_output, open_writer
from seqzoo.io.tracks import TrackWriter, track_format
from seqzoo.batching import predict_batch, prefetch, write_behind
from seqzoo.zoo.spec import ModelSpec
from seqzoo.windows import (OUT_OF_BOUNDS, WindowBatch, check_bed, count_tiles, iter_tiles, iter_window_batches,
                            tile_regions)

if TYPE_CHECKING:  # a ZooModel or a seqzoo.numpy_engine.NumpyModel: this module imports no Keras
    from seqzoo.runtime import ZooModel

LEADING_COLUMNS = ["chrom", "start", "end", "name", "strand", "padded", "note"]


def check_batch_size(batch_size) -> int:
    """``batch_size`` if it is an integer of at least 1; a ValueError otherwise (0 would predict nothing
    and -1 fail deep inside the batching)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer of at least 1; got {batch_size!r}")
    return int(batch_size)


def predict_rows(model: ZooModel, batch: WindowBatch, labels: list[str], rc: bool = False,
                 columns: list[int] | None = None) -> dict:
    """Output rows (column name -> values) of one batch: the intervals, then the predictions of the
    model's output ``columns`` (default all), named ``labels``."""
    preds = predict_batch(model, batch.x, rc=rc).astype(np.float32)
    if columns is not None:
        preds = preds[:, columns]
    preds = np.asfortranarray(preds)  # each target's column contiguous: the writers take columns
    preds[batch.refused] = np.nan
    ivs = batch.intervals
    # Coordinates are int64 (the BED reader bounds them by MAX_COORDINATE); a text column's memory is
    # the batch times its longest value, which the reader bounds too (MAX_NAME, MAX_LINE).
    rows = {
        "chrom": np.array([iv.chrom for iv in ivs]),
        "start": np.array([iv.start for iv in ivs], dtype=np.int64),
        "end": np.array([iv.end for iv in ivs], dtype=np.int64),
        "name": np.array([iv.name for iv in ivs]),
        "strand": np.array([iv.strand for iv in ivs]),
        "padded": batch.padded,
        "note": np.array(batch.notes, dtype=object),
    }
    rows.update({label: preds[:, j] for j, label in enumerate(labels)})
    return rows


def target_columns(spec: ModelSpec, targets: str | list[str] | None) -> tuple[list[int], list[str]]:
    """The model's output columns chosen by ``targets`` (``ModelSpec.select_columns``) and their names."""
    columns = spec.select_columns(targets)
    labels = [spec.columns[i] for i in columns]
    clash = sorted(set(labels) & set(LEADING_COLUMNS))
    if clash:
        raise ValueError(f"{spec.name}: target labels {clash} clash with the interval columns")
    return columns, labels


def _stream(model: ZooModel, genome: Genome, intervals, total: int, writer, columns, labels, *, batch_size: int,
            rc: bool, out_of_bounds: str, progress: bool, unit: str) -> None:
    """Predict ``intervals`` batch by batch into ``writer``: the next batch is read while the model
    runs, and the last one written behind it, both on their own threads."""
    seq_len = model.spec.input_shape[0]
    with tqdm(total=total, unit=unit, disable=not progress, smoothing=0.1) as bar, write_behind(writer) as write:
        for batch in prefetch(iter_window_batches(intervals, genome, seq_len, batch_size, out_of_bounds)):
            write(predict_rows(model, batch, labels, rc=rc, columns=columns))
            bar.update(len(batch.intervals))


def predict_bed(model: ZooModel, fasta: str | Path, bed: str | Path, output: str | Path, *,
                batch_size: int = 256, rc: bool = False, out_of_bounds: str = "pad",
                targets: str | list[str] | None = None, progress: bool = True, overwrite: bool = True) -> int:
    """Predict every interval of ``bed`` and write the rows to ``output``; return the row count.
    ``targets`` (names or glob patterns) selects output columns (``ModelSpec.select_columns``).
    The output is checked before any work (``seqzoo.io.tables.check_output``: never an input,
    an existing file only with ``overwrite``) and appears only when complete."""
    check_batch_size(batch_size)
    if out_of_bounds not in OUT_OF_BOUNDS:
        raise ValueError(f"out_of_bounds must be one of {OUT_OF_BOUNDS}; got {out_of_bounds!r}")
    if track_format(output):
        raise ValueError(f"{output}: a track needs tiled windows (--tile); a BED's intervals may overlap")
    inputs = [fasta, bed, *getattr(model, "files", ())]  # the model's files too (ZooModel.files)
    check_output(output, inputs=inputs, overwrite=overwrite, formats=TABLE_FORMATS)
    columns, labels = target_columns(model.spec, targets)
    with Genome(fasta) as genome, rereadable_bed(bed) as bed:  # a pipe is copied once: it is read twice
        total = check_bed(bed, genome)
        with open_rows_output(output, labels, genome.chrom_sizes, total=total, overwrite=overwrite,
                              inputs=inputs) as write:
            _stream(model, genome, bed, total, write, columns, labels, batch_size=batch_size, rc=rc,
                    out_of_bounds=out_of_bounds, progress=progress, unit=" intervals")
    return total


def check_step(step) -> None:
    """``step`` must be None (the default) or an integer of at least 1."""
    if step is not None and (isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 1):
        raise ValueError(f"step must be an integer of at least 1 (bp); got {step!r}")


def tile_plan(genome: Genome, tile: str, step: int | None, bin_size: int) -> tuple[list[tuple[str, int, int]], int, int]:
    """The regions ``--tile`` covers (``tile_regions``; ``iter_tiles`` places their windows), the
    step used (default: the bin) and how many windows that makes."""
    check_step(step)
    step = step or bin_size
    regions = tile_regions(genome, tile)
    return regions, step, count_tiles(regions, step)


@contextmanager
def open_rows_output(output: str | Path, labels: list[str], chrom_sizes: dict[str, int], *, total: int,
                     bin_size: int | None = None, step: int | None = None, overwrite: bool = True,
                     inputs=()) -> Iterator[Callable[[dict], None]]:
    """A function that takes output rows (``predict_rows``) and writes them to ``output``: a table,
    or for tiled windows (``bin_size`` and ``step`` given) a track (``.bw``/``.bigwig``/``.bedgraph``)
    holding each window's value over its bin, or over the bin's central ``step`` bp when windows
    overlap (``step`` < bin), so that track intervals never overlap. The output appears only when
    complete and when all ``total`` rows were written (a run reports only rows it wrote)."""
    written = 0
    if not track_format(output):
        with open_writer(output, LEADING_COLUMNS + labels, overwrite=overwrite) as writer:
            yield writer.write
            _check_count(writer.rows, total, output)
        return
    if bin_size is None or step is None:
        raise ValueError(f"{output}: a track needs tiled windows (--tile); a BED's intervals may overlap")
    trim = (bin_size - step) // 2 if step < bin_size else 0
    cover = min(step, bin_size)
    with TrackWriter(output, labels, chrom_sizes, overwrite=overwrite, inputs=inputs) as tracks:
        def write(rows: dict) -> None:
            nonlocal written
            starts = rows["start"] + trim
            tracks.write(rows["chrom"], starts, starts + cover, np.stack([rows[label] for label in labels], axis=1))
            written += len(starts)

        yield write
        _check_count(written, total, output)


def _check_count(written: int, expected: int, output) -> None:
    """A run reports only rows it wrote: a shortfall aborts the output instead."""
    if written != expected:
        raise RuntimeError(f"{output}: wrote {written} rows of {expected}; the output was not kept")


def predict_tiles(model: ZooModel, fasta: str | Path, tile: str, output: str | Path, *, step: int | None = None,
                  batch_size: int = 256, rc: bool = False, out_of_bounds: str = "pad",
                  targets: str | list[str] | None = None, progress: bool = True, overwrite: bool = True) -> int:
    """Predict windows tiled along ``tile`` (``"genome"``, ``CHROM:START-END`` or a BED of regions):
    one bin of the model's ``prediction_bin`` every ``step`` bp (default: the bin), the model reading
    the window centred on it. ``output`` is a table (one row per window, as ``predict_bed``) or a
    track (``.bw``/``.bigwig``/``.bedgraph``; ``{target}`` in the name for several targets; see
    ``open_rows_output``). Returns the number of windows. Outputs are checked and finished as in
    :func:`predict_bed`."""
    check_batch_size(batch_size)
    if out_of_bounds not in OUT_OF_BOUNDS:
        raise ValueError(f"out_of_bounds must be one of {OUT_OF_BOUNDS}; got {out_of_bounds!r}")
    bin_size = model.spec.prediction_bin
    inputs = [fasta, tile, *getattr(model, "files", ())]  # tile may name a BED of regions
    if not track_format(output):
        check_output(output, inputs=inputs, overwrite=overwrite, formats=TABLE_FORMATS)
    columns, labels = target_columns(model.spec, targets)
    with Genome(fasta) as genome:
        regions, step, total = tile_plan(genome, tile, step, bin_size)
        with open_rows_output(output, labels, genome.chrom_sizes, total=total, bin_size=bin_size, step=step,
                              overwrite=overwrite, inputs=inputs) as write:
            _stream(model, genome, iter_tiles(regions, step, bin_size), total, write, columns, labels, batch_size=batch_size, rc=rc,
                    out_of_bounds=out_of_bounds, progress=progress, unit=" windows")
    return total

"""Prediction of a DNA model on BED intervals of a FASTA genome, streamed to a table.

The data path keeps up with the model so that compute is the only cost: ``seqzoo.windows``
validates the BED and reads one genome slice per run of nearby intervals, encodes whole batches at
once, and a background thread (``runtime.prefetch``) prepares the next batch while the model runs on
the current one; rows stream to the output (TSV, Parquet or HDF5), renamed only when complete.

Output: one row per BED line, in input order: ``chrom, start, end, name, strand`` as in the BED,
``padded`` (window positions outside the chromosome, filled with N), ``note`` (empty, or why the
row has no prediction) and one column per target named by the model's labels. The rules for
windows and bad rows are those of :mod:`seqzoo.windows`, shared with the kipoi dataloader.
"""

import numbers
from pathlib import Path

import numpy as np
from tqdm import tqdm

from seqzoo.io.genome import Genome
from seqzoo.io.tables import TABLE_FORMATS, check_output, open_writer
from seqzoo.io.tracks import TrackWriter, track_format
from seqzoo.runtime import ZooModel, predict_batch, prefetch
from seqzoo.windows import (OUT_OF_BOUNDS, WindowBatch, check_bed, count_tiles, iter_tiles, iter_window_batches,
                            tile_regions)

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
    preds[batch.refused] = np.nan
    ivs = batch.intervals
    rows = {
        "chrom": np.array([iv.chrom for iv in ivs]),
        "start": np.array([iv.start for iv in ivs]),
        "end": np.array([iv.end for iv in ivs]),
        "name": np.array([iv.name for iv in ivs]),
        "strand": np.array([iv.strand for iv in ivs]),
        "padded": batch.padded,
        "note": np.array(batch.notes, dtype=object),
    }
    rows.update({label: preds[:, j] for j, label in enumerate(labels)})
    return rows


def _columns(model: ZooModel, targets) -> tuple[list[int], list[str]]:
    columns = model.spec.select_columns(targets)
    labels = [model.columns[i] for i in columns]
    clash = sorted(set(labels) & set(LEADING_COLUMNS))
    if clash:
        raise ValueError(f"{model.name}: target labels {clash} clash with the interval columns")
    return columns, labels


def _stream(model: ZooModel, genome: Genome, intervals, total: int, writer, columns, labels, *, batch_size: int,
            rc: bool, out_of_bounds: str, progress: bool, unit: str) -> None:
    """Predict ``intervals`` batch by batch (the next batch prepared while the model runs) into ``writer``."""
    seq_len = model.spec.input_shape[0]
    with tqdm(total=total, unit=unit, disable=not progress, smoothing=0.1) as bar:
        for batch in prefetch(iter_window_batches(intervals, genome, seq_len, batch_size, out_of_bounds)):
            writer(predict_rows(model, batch, labels, rc=rc, columns=columns))
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
    check_output(output, inputs=[fasta, bed], overwrite=overwrite, formats=TABLE_FORMATS)
    columns, labels = _columns(model, targets)
    with Genome(fasta) as genome:
        total = check_bed(bed, genome)
        with open_writer(output, LEADING_COLUMNS + labels, overwrite=overwrite) as writer:
            _stream(model, genome, bed, total, writer.write, columns, labels, batch_size=batch_size, rc=rc,
                    out_of_bounds=out_of_bounds, progress=progress, unit=" intervals")
            _check_count(writer.rows, total, output)
    return total


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
    track (``.bw``/``.bigwig``/``.bedgraph``; ``{target}`` in the name for several targets): each
    window's value over its bin, or over the bin's central ``step`` bp when windows overlap
    (``step`` < bin), so that track intervals never overlap. Returns the number of windows.
    Outputs are checked and finished as in :func:`predict_bed`."""
    check_batch_size(batch_size)
    if step is not None and (isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 1):
        raise ValueError(f"step must be an integer of at least 1 (bp); got {step!r}")
    if out_of_bounds not in OUT_OF_BOUNDS:
        raise ValueError(f"out_of_bounds must be one of {OUT_OF_BOUNDS}; got {out_of_bounds!r}")
    bin_size = model.spec.prediction_bin
    step = step or bin_size
    inputs = [fasta, tile]  # tile may name a BED of regions
    if not track_format(output):
        check_output(output, inputs=inputs, overwrite=overwrite, formats=TABLE_FORMATS)
    columns, labels = _columns(model, targets)
    with Genome(fasta) as genome:
        regions = tile_regions(genome, tile)
        total = count_tiles(regions, step)
        if track_format(output):
            trim = max(0, (bin_size - step) // 2) if step < bin_size else 0
            cover = min(step, bin_size)
            with TrackWriter(output, labels, genome.chrom_sizes, overwrite=overwrite, inputs=inputs) as tracks:
                written = 0

                def write(rows: dict) -> None:
                    nonlocal written
                    starts = rows["start"] + trim
                    tracks.write(rows["chrom"], starts, starts + cover,
                                 np.stack([rows[label] for label in labels], axis=1))
                    written += len(starts)

                _stream(model, genome, iter_tiles(regions, step, bin_size), total, write, columns, labels,
                        batch_size=batch_size, rc=rc, out_of_bounds=out_of_bounds, progress=progress, unit=" windows")
                _check_count(written, total, output)
        else:
            with open_writer(output, LEADING_COLUMNS + labels, overwrite=overwrite) as writer:
                _stream(model, genome, iter_tiles(regions, step, bin_size), total, writer.write, columns, labels,
                        batch_size=batch_size, rc=rc, out_of_bounds=out_of_bounds, progress=progress, unit=" windows")
                _check_count(writer.rows, total, output)
    return total

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

from pathlib import Path

import numpy as np
from tqdm import tqdm

from seqzoo.io.genome import Genome
from seqzoo.io.tables import open_writer
from seqzoo.runtime import ZooModel, predict_batch, prefetch
from seqzoo.windows import OUT_OF_BOUNDS, WindowBatch, check_bed, iter_window_batches

LEADING_COLUMNS = ["chrom", "start", "end", "name", "strand", "padded", "note"]


def predict_rows(model: ZooModel, batch: WindowBatch, labels: list[str], rc: bool = False) -> dict:
    """Output rows (column name -> values) of one batch: the intervals, then the predictions."""
    preds = predict_batch(model, batch.x, rc=rc).astype(np.float32)
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


def predict_bed(model: ZooModel, fasta: str | Path, bed: str | Path, output: str | Path, *,
                batch_size: int = 256, rc: bool = False, out_of_bounds: str = "pad",
                progress: bool = True) -> int:
    """Predict every interval of ``bed`` and write the rows to ``output``; return the row count."""
    if out_of_bounds not in OUT_OF_BOUNDS:
        raise ValueError(f"out_of_bounds must be one of {OUT_OF_BOUNDS}; got {out_of_bounds!r}")
    labels = model.columns
    clash = sorted(set(labels) & set(LEADING_COLUMNS))
    if clash:
        raise ValueError(f"{model.name}: target labels {clash} clash with the interval columns")
    seq_len = model.spec.input_shape[0]
    with Genome(fasta) as genome:
        total = check_bed(bed, genome)
        with open_writer(output, LEADING_COLUMNS + labels) as writer, \
                tqdm(total=total, unit=" intervals", disable=not progress, smoothing=0.1) as bar:
            for batch in prefetch(iter_window_batches(bed, genome, seq_len, batch_size, out_of_bounds)):
                writer.write(predict_rows(model, batch, labels, rc=rc))
                bar.update(len(batch.intervals))
    return total

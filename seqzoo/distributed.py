"""The same DNA prediction as ``seqzoo.predict_dna.predict_bed``, on a Ray cluster (``ray.data``).

The driver validates the BED (every line, every chromosome) and cuts it into shards of whole
batches. Ray workers each hold the model and the FASTA (which must be readable at the same path
on every node), read their own windows, and return the rows; the driver writes them in input
order. Shards are multiples of the local engine's batch size, so each batch a worker predicts is
the batch the local engine would predict, and the output is the same, row for row and bit for bit.

    ray start --head                      # or an existing cluster
    seqzoo predict MODEL --engine ray --ray-address auto --fasta G.fa --bed r.bed -o out.parquet

Ray needs attrs >= 22 through jsonschema >= 4.18, while kipoi pins attrs <= 21.4: installing
``seqzoo[ray]`` lets pip pick jsonschema 4.17, which satisfies both (see README).
"""

from itertools import islice
from pathlib import Path

import numpy as np
from tqdm import tqdm

from seqzoo.io.genome import Genome
from seqzoo.io.bed import Interval, iter_bed
from seqzoo.predict_dna import LEADING_COLUMNS, check_batch_size, predict_rows
from seqzoo.windows import OUT_OF_BOUNDS, check_bed, encode_windows
from seqzoo.io.tables import TABLE_FORMATS, check_output, open_writer

INTERVAL_FIELDS = ("chrom", "start", "end", "name", "strand", "line")


class ShardPredictor:
    """A Ray actor: loads the model and opens the FASTA once, then predicts shards."""

    def __init__(self, model: str, weights, precision: str, fasta: str, batch_size: int, rc: bool,
                 out_of_bounds: str):
        from seqzoo.runtime import get_model

        self.model = get_model(model, weights=weights, device="auto", precision=precision)
        self.genome = Genome(fasta)
        self.labels = self.model.columns
        self.batch_size, self.rc, self.out_of_bounds = batch_size, rc, out_of_bounds

    def __call__(self, shard: dict) -> dict:
        intervals = [Interval(*fields) for fields in zip(*(shard[f][0] for f in INTERVAL_FIELDS))]
        parts = []
        for i in range(0, len(intervals), self.batch_size):
            batch = encode_windows(self.genome, intervals[i:i + self.batch_size],
                                   self.model.spec.input_shape[0], self.out_of_bounds)
            parts.append(predict_rows(self.model, batch, self.labels, rc=self.rc))
        rows = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        # One output row per shard: Ray keeps per-row values as arrays.
        return {k: [v] for k, v in rows.items()}


def _shards(bed: str | Path, size: int):
    intervals = iter_bed(bed)
    while chunk := list(islice(intervals, size)):
        yield {f: [getattr(iv, f) for iv in chunk] for f in INTERVAL_FIELDS}


def predict_bed_ray(model: str, fasta: str | Path, bed: str | Path, output: str | Path, *,
                    weights=None, precision: str = "float32", batch_size: int = 256, rc: bool = False,
                    out_of_bounds: str = "pad", batches_per_shard: int = 8, workers: int | None = None,
                    address: str | None = None, progress: bool = True, overwrite: bool = True) -> int:
    """Predict every interval of ``bed`` on Ray and write the rows to ``output`` in input order.

    ``model`` is a zoo model name or a model directory path (resolved on every worker).
    ``address`` is a Ray cluster address (``"auto"`` for a running one); without it and with
    no Ray initialised, a local Ray instance is started. Returns the row count. The output is
    checked and finished as by ``seqzoo.predict_dna.predict_bed``.
    """
    import ray

    from seqzoo.zoo.spec import find_model, load_spec

    check_batch_size(batch_size)
    if out_of_bounds not in OUT_OF_BOUNDS:
        raise ValueError(f"out_of_bounds must be one of {OUT_OF_BOUNDS}; got {out_of_bounds!r}")
    check_output(output, inputs=[fasta, bed], overwrite=overwrite, formats=TABLE_FORMATS)
    model = str(find_model(model))  # a path every worker resolves the same way
    fasta, bed = str(Path(fasta).resolve()), str(Path(bed).resolve())
    with Genome(fasta) as genome:
        total = check_bed(bed, genome)
    labels = load_spec(model).columns
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # rows come back in input order
    context.enable_progress_bars = False
    shards = ray.data.from_items(list(_shards(bed, batch_size * batches_per_shard)))
    n_workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // 2)
    predicted = shards.map_batches(
        ShardPredictor, batch_size=1, concurrency=n_workers,
        fn_constructor_kwargs=dict(model=model, weights=weights, precision=precision, fasta=fasta,
                                   batch_size=batch_size, rc=rc, out_of_bounds=out_of_bounds))
    with open_writer(output, LEADING_COLUMNS + labels, overwrite=overwrite) as writer, \
            tqdm(total=total, unit=" intervals", disable=not progress) as bar:
        for shard in predicted.iter_batches(batch_size=1, batch_format="numpy"):
            rows = {k: np.asarray(v[0]) for k, v in shard.items()}
            writer.write(rows)
            bar.update(len(rows["chrom"]))
        if writer.rows != total:  # report only rows written: a shortfall drops the output
            raise RuntimeError(f"{output}: wrote {writer.rows} rows of {total}; the output was not kept")
    return total


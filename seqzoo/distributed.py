"""The same DNA prediction as ``seqzoo.predict_dna`` (BED intervals or tiled windows), on a Ray
cluster (``ray.data``).

The driver validates the input (every BED line and chromosome, or the tiled regions) and cuts the
intervals into shards of whole batches. Ray workers each hold the model and the FASTA (which must
be readable at the same path on every node), read their own windows, and return the rows of the
chosen targets; the driver writes them in input order, to a table or, for tiles, a track. Shards
are multiples of the local engine's batch size, so each batch a worker predicts is the batch the
local engine would predict, and the output is the same, row for row and bit for bit.

    ray start --head                      # or an existing cluster
    seqzoo predict MODEL --engine ray --ray-address auto --fasta G.fa --bed r.bed -o out.parquet
    seqzoo predict MODEL --engine ray --fasta G.fa --tile genome --targets ABF2 -o abf2.bw

Ray needs attrs >= 22 through jsonschema >= 4.18, while kipoi pins attrs <= 21.4: installing
``seqzoo[ray]`` lets pip pick jsonschema 4.17, which satisfies both (see README).
"""

from itertools import islice
from pathlib import Path

import numpy as np
from tqdm import tqdm

from seqzoo.io.genome import Genome
from seqzoo.io.bed import Interval, iter_bed, rereadable_bed
from seqzoo.io.tables import TABLE_FORMATS, check_output
from seqzoo.io.tracks import track_format
from seqzoo.predict_dna import check_batch_size, open_rows_output, predict_rows, target_columns, tile_plan
from seqzoo.windows import OUT_OF_BOUNDS, check_bed, encode_windows, iter_tiles

INTERVAL_FIELDS = ("chrom", "start", "end", "name", "strand", "line")


class ShardPredictor:
    """A Ray actor: loads the model and opens the FASTA once, then predicts shards."""

    def __init__(self, model: str, weights, precision: str, fasta: str, batch_size: int, rc: bool,
                 out_of_bounds: str, columns: list[int]):
        from seqzoo.runtime import get_model

        self.model = get_model(model, weights=weights, device="auto", precision=precision)
        self.genome = Genome(fasta)
        self.columns = columns
        self.labels = [self.model.columns[i] for i in columns]
        self.batch_size, self.rc, self.out_of_bounds = batch_size, rc, out_of_bounds

    def __call__(self, shard: dict) -> dict:
        if "tile_chrom" in shard:  # a stretch of tiled windows, as sub-regions (see _tile_shards)
            regions = list(zip(shard["tile_chrom"][0], shard["tile_start"][0], shard["tile_end"][0]))
            intervals = list(iter_tiles(regions, int(shard["step"][0]), int(shard["bin"][0])))
        else:
            intervals = [Interval(*fields) for fields in zip(*(shard[f][0] for f in INTERVAL_FIELDS))]
        parts = []
        for i in range(0, len(intervals), self.batch_size):
            batch = encode_windows(self.genome, intervals[i:i + self.batch_size],
                                   self.model.spec.input_shape[0], self.out_of_bounds)
            parts.append(predict_rows(self.model, batch, self.labels, rc=self.rc, columns=self.columns))
        rows = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        # One output row per shard: Ray keeps per-row values as arrays.
        return {k: [v] for k, v in rows.items()}


def _bed_shards(bed: str, size: int):
    intervals = iter_bed(bed)
    while chunk := list(islice(intervals, size)):
        yield {f: [getattr(iv, f) for iv in chunk] for f in INTERVAL_FIELDS}


def _tile_shards(regions: list[tuple[str, int, int]], step: int, bin_size: int, size: int):
    """Shards of ``size`` tiled windows each, as sub-regions that ``iter_tiles`` turns back into
    exactly those windows (a few numbers per shard, however large the genome)."""
    chroms, starts, ends, held = [], [], [], 0
    for chrom, start, end in regions:
        while start < end:
            take = min(size - held, -(-(end - start) // step))  # windows of this region in the shard
            chroms.append(chrom), starts.append(start), ends.append(min(end, start + take * step))
            start, held = start + take * step, held + take
            if held == size:
                yield {"tile_chrom": chroms, "tile_start": starts, "tile_end": ends, "step": step, "bin": bin_size}
                chroms, starts, ends, held = [], [], [], 0
    if held:
        yield {"tile_chrom": chroms, "tile_start": starts, "tile_end": ends, "step": step, "bin": bin_size}


def predict_ray(model: str, fasta: str | Path, output: str | Path, *, bed: str | Path | None = None,
                tile: str | None = None, step: int | None = None, targets: str | list[str] | None = None,
                weights=None, precision: str = "float32", batch_size: int = 256, rc: bool = False,
                out_of_bounds: str = "pad", batches_per_shard: int = 8, workers: int | None = None,
                address: str | None = None, progress: bool = True, overwrite: bool = True) -> int:
    """Predict every interval of ``bed``, or the windows tiled along ``tile`` (as
    ``predict_dna.predict_tiles``: ``step``, tracks), on Ray, and write the rows of ``targets``
    (default all) to ``output`` in input order. Returns the number of rows (windows).

    ``model`` is a zoo model name or a model directory path (resolved on every worker).
    ``address`` is a Ray cluster address (``"auto"`` for a running one); without it and with
    no Ray initialised, a local Ray instance is started. The output is checked and finished as by
    ``seqzoo.predict_dna.predict_bed``.
    """
    import ray

    from seqzoo.zoo.spec import find_model, load_spec

    if (bed is None) == (tile is None):
        raise ValueError("give the intervals as bed= or the regions to tile as tile=, not both")
    if out_of_bounds not in OUT_OF_BOUNDS:
        raise ValueError(f"out_of_bounds must be one of {OUT_OF_BOUNDS}; got {out_of_bounds!r}")
    check_batch_size(batch_size)
    if isinstance(batches_per_shard, bool) or not isinstance(batches_per_shard, int) or batches_per_shard < 1:
        raise ValueError(f"batches_per_shard must be an integer of at least 1; got {batches_per_shard!r}")
    inputs = [fasta, bed if bed is not None else tile]
    if not track_format(output):
        check_output(output, inputs=inputs, overwrite=overwrite, formats=TABLE_FORMATS)
    model = str(find_model(model))  # a path every worker resolves the same way
    spec = load_spec(model)
    columns, labels = target_columns(spec, targets)
    fasta = str(Path(fasta).resolve())
    with Genome(fasta) as genome:
        chrom_sizes = dict(genome.chrom_sizes)
        if bed is not None:  # read here only (the shards carry the intervals); a pipe is copied once
            with rereadable_bed(bed) as copy:
                total, tiling = check_bed(copy, genome), {}
                shards = list(_bed_shards(copy, batch_size * batches_per_shard))
        else:
            regions, step, total = tile_plan(genome, tile, step, spec.prediction_bin)
            tiling = dict(bin_size=spec.prediction_bin, step=step)
            shards = list(_tile_shards(regions, step, spec.prediction_bin, batch_size * batches_per_shard))
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # rows come back in input order
    context.enable_progress_bars = False
    shards = ray.data.from_items(shards)
    n_workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // 2)
    predicted = shards.map_batches(
        ShardPredictor, batch_size=1, concurrency=n_workers,
        fn_constructor_kwargs=dict(model=model, weights=weights, precision=precision, fasta=fasta,
                                   batch_size=batch_size, rc=rc, out_of_bounds=out_of_bounds, columns=columns))
    with open_rows_output(output, labels, chrom_sizes, total=total, overwrite=overwrite, inputs=inputs,
                          **tiling) as write, \
            tqdm(total=total, unit=" windows" if tile else " intervals", disable=not progress) as bar:
        for shard in predicted.iter_batches(batch_size=1, batch_format="numpy"):
            rows = {k: np.asarray(v[0]) for k, v in shard.items()}
            write(rows)
            bar.update(len(rows["chrom"]))
    return total


def predict_bed_ray(model: str, fasta: str | Path, bed: str | Path, output: str | Path, **options) -> int:
    """``predict_ray`` on the intervals of ``bed`` (the name earlier versions had)."""
    return predict_ray(model, fasta, output, bed=bed, **options)

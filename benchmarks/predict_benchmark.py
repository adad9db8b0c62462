"""Benchmark seqzoo's DNA prediction against kipoi and kipoiseq, measured in one run.

    python benchmarks/predict_benchmark.py --fasta GENOME.fa [--intervals 100000] [--rounds 2]

Every contender runs on the same FASTA, the same random BED (sorted, 600 bp windows for the
published-size Basset) and the same model, alternating contenders round by round; the best
round of each is reported. Printed ratios:

0. against kipoi's own directories: ``kipoi predict`` on kipoi model directories made as
   kipoi/models makes Basset and DeepSEA/predict (``type: pytorch``, the published layer lists in
   PyTorch with random weights, kipoiseq's ``SeqIntervalDl``; ``benchmarks/kipoi_directories.py``)
   against ``seqzoo predict`` in float32 and bfloat16: steady rates with start-up taken out,
   ten-interval start-up, and the fraction of the float32 and bfloat16 matmul rates;

1. dataloader: seqzoo's batched window reader + one-hot against kipoiseq's ``SeqIntervalDl``;
2. end to end: ``seqzoo predict`` (``predict_bed``, Parquet output) against the model's bare
   ``predict_on_batch`` on pre-built arrays, and against kipoi's ``model.pipeline.predict`` on
   the same model directory; also with ``--precision bfloat16``; for Basset, then for the
   published-size DeepSEA (``--deepsea-intervals``);
3. model: seqzoo's Keras Basset against kipoi's published PyTorch layout (NCHW Conv2d, random
   weights) on the same arrays;
4. the fraction of the machine's float32 matrix-multiply rate (measured in the same run) that
   each model reaches;
5. peak memory (max RSS of a fresh process) of ``predict_bed`` for growing numbers of intervals;
6. start-up floors: ``import numpy``, ``import keras, tensorflow``, ``seqzoo --help``, and section 0's
   ten-interval runs against them;
7. every DNA model of the zoo, in-process: TSV, Parquet and bigWig outputs against bare
   ``predict_on_batch`` on the same windows;
8. the README's set-up command (``seqzoo predict DeepSEA_Athaliana265`` on its ten example
   intervals; the NumPy engine, no TensorFlow import) against the same command with ``--engine
   keras``, ``kipoi predict`` on kipoi's own DeepSEA directory and ``kipoi predict`` on the zoo's
   DeepSEA_Athaliana265 directory, whole processes, the same FASTA and intervals, alternating;
9. CREsted (``crested.tl.predict`` on the very Keras model ``seqzoo.get_model`` returns) against
   seqzoo's ``predict_bed`` writing TSV and Parquet, in-process, every DNA model of the zoo, in
   CREsted's own environment (``benchmarks/crested_comparison.py``, created on first use);
10. where ``predict_bed``'s time goes, every DNA model of the zoo: each stage run alone, in
   sequence (reading and encoding the windows, the model, making the output rows, writing them as
   TSV and as Parquet), in seconds per 1,000 windows;
11. kipoi on every DNA model of the zoo: ``kipoi predict`` on the zoo's own model directory (kipoi's
   pipeline and writer around seqzoo's model and dataloader) against ``seqzoo predict``, whole
   processes, the same FASTA and BED, TSV output, alternating, best of ``--rounds``.

``--sections 0 6`` runs just the comparison with kipoi's own directories and the start-up.

A GPU machine without tensorflow runs it with ``KERAS_BACKEND=torch`` (or jax); the device is
printed. Figures go into the README's performance section.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def log(*args):
    print(*args, flush=True)


def random_bed(fasta: Path, n: int, path: Path, seed: int = 0, width: int = 200) -> None:
    """``n`` sorted random intervals, away from the chromosome ends."""
    from seqzoo.io.genome import Genome

    with Genome(fasta) as genome:
        sizes = genome.chrom_sizes
    rng = np.random.default_rng(seed)
    chroms = list(sizes)
    weights = np.array([sizes[c] for c in chroms], dtype=float)
    picks = rng.choice(len(chroms), n, p=weights / weights.sum())
    rows = []
    for i, c in enumerate(picks):
        start = int(rng.integers(1000, sizes[chroms[c]] - 1000 - width))
        rows.append((chroms[c], start, start + width, f"r{i}"))
    rows.sort(key=lambda r: (r[0], r[1]))
    path.write_text("".join(f"{c}\t{s}\t{e}\t{name}\t0\t+\n" for c, s, e, name in rows))


def timed(fn, rounds: int) -> float:
    """Best wall time of ``rounds`` calls (callers interleave contenders between calls)."""
    return min(fn() for _ in range(rounds))


def stopwatch(fn):
    """``fn`` made to return its wall time (for :func:`timed`)."""
    def run() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    return run


def zoo_dna_models() -> list[str]:
    """The zoo's DNA models, by name."""
    from seqzoo.zoo.spec import find_model, list_models, load_spec

    return [name for name in list_models() if load_spec(find_model(name)).modality == "dna"]


def windows_for(model, seconds: float, batch_size: int) -> int:
    """As many windows (whole batches, at least one) as ``model``'s bare ``predict_on_batch`` runs in
    about ``seconds``: sizing each model's work alike, so that a call's fixed cost weighs the same
    for fast and slow models."""
    probe = np.zeros((batch_size, *model.spec.input_shape), dtype="float32")
    model.predict_on_batch(probe)  # traced first
    start = time.perf_counter()
    model.predict_on_batch(probe)
    per_window = (time.perf_counter() - start) / batch_size
    return max(batch_size, int(seconds / per_window) // batch_size * batch_size)


def matmul_rate(seconds: float = 3.0, dtype: str = "float32") -> float:
    """GFLOP/s of a large ``dtype`` matrix multiply on the model's backend and device."""
    from keras import ops

    a = ops.cast(np.random.default_rng(0).standard_normal((2048, 2048)).astype("float32"), dtype)
    ops.matmul(a, a)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        c = ops.matmul(a, a)
        count += 1
    np.asarray(c)  # wait for asynchronous backends
    elapsed = time.perf_counter() - start
    return 2 * 2048 ** 3 * count / elapsed / 1e9


def model_flops(model) -> float:
    """Floating-point operations of one forward pass (2 per multiply-add of convs and denses)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv1D):
            length = layer.output.shape[1]
            total += 2 * length * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * int(np.prod(layer.kernel.shape))
    return total


def torch_basset():
    """kipoi's published Basset layout in PyTorch (NCHW Conv2d), random weights."""
    import torch
    from torch import nn

    class Flatten(nn.Module):
        def forward(self, x):
            return x.reshape(x.size(0), -1)

    return nn.Sequential(
        nn.Conv2d(4, 300, (19, 1)), nn.BatchNorm2d(300), nn.ReLU(), nn.MaxPool2d((3, 1)),
        nn.Conv2d(300, 200, (11, 1)), nn.BatchNorm2d(200), nn.ReLU(), nn.MaxPool2d((4, 1)),
        nn.Conv2d(200, 200, (7, 1)), nn.BatchNorm2d(200), nn.ReLU(), nn.MaxPool2d((4, 1)),
        Flatten(), nn.Linear(2000, 1000), nn.BatchNorm1d(1000), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(1000, 1000), nn.BatchNorm1d(1000), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(1000, 164), nn.Sigmoid(),
    ).eval(), torch


def whole_process(command: list[str]) -> float:
    """Wall time of one process running ``command`` (its output is discarded; a failure raises)."""
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def own_directories_comparison(args, work: Path, rates: dict) -> dict:
    """``kipoi predict`` on kipoi directories made as kipoi/models makes them (PyTorch network,
    kipoiseq SeqIntervalDl) against ``seqzoo predict`` (float32 and bfloat16), whole processes on
    the same FASTA and BED, TSV output both, the same batch size, alternating, best of
    ``args.rounds``. Steady rate: ``(N - 10) / (t(N) - t(10))``, start-up taken out on both sides."""
    import json

    import seqzoo
    from kipoi_directories import write_kipoi_directory

    bin_dir = Path(sys.executable).parent
    startup = {}
    for name, n in (("Basset", args.own_basset_intervals), ("DeepSEA", args.own_deepsea_intervals)):
        if not n:
            continue
        kipoi_dir = write_kipoi_directory(name, work / f"kipoi_{name}")
        beds = {}
        for count in (10, n):
            beds[count] = work / f"own_{name}_{count}.bed"
            random_bed(args.fasta, n, beds[count], seed=4)  # the same intervals, the first `count`
            lines = beds[count].read_text().splitlines()[:count]
            beds[count].write_text("".join("\t".join(line.split("\t")[:3]) + "\n" for line in lines))

        def kipoi_run(bed: Path) -> list[str]:
            loader = json.dumps({"intervals_file": str(bed), "fasta_file": str(args.fasta)})
            return [str(bin_dir / "kipoi"), "predict", str(kipoi_dir), "--source", "dir", "--dataloader_args",
                    loader, "--batch_size", str(args.own_batch_size), "-o", str(work / "kipoi_out.tsv")]

        def seqzoo_run(precision: str):
            return lambda bed: [str(bin_dir / "seqzoo"), "predict", name, "--fasta", str(args.fasta), "--bed", str(bed),
                                "-o", str(work / "seqzoo_out.tsv"), "--force", "--quiet", "--precision", precision,
                                "--batch-size", str(args.own_batch_size)]

        contenders = {"kipoi's own": kipoi_run, "seqzoo fp32": seqzoo_run("float32"),
                      "seqzoo bf16": seqzoo_run("bfloat16")}
        times = {(k, c): [] for k in contenders for c in beds}
        for _ in range(args.rounds):
            for key, command in contenders.items():
                for count, bed in beds.items():
                    times[key, count].append(whole_process(command(bed)))
        best = {key: min(v) for key, v in times.items()}
        if any(best[k, n] <= best[k, 10] for k in contenders):
            raise RuntimeError(f"{name}: a {n:,}-interval run was no slower than a ten-interval run; "
                               "use more intervals (--own-*-intervals) on this machine")
        steady = {k: (n - 10) / (best[k, n] - best[k, 10]) for k in contenders}
        model = seqzoo.get_model(name, device="cpu")
        gflop = model_flops(model.keras_model) * (2 if name == "DeepSEA" else 1) / 1e9  # DeepSEA: both strands
        log(f"\n[0] {name}: kipoi's own directory (`kipoi predict`, PyTorch, kipoiseq SeqIntervalDl) against "
            f"`seqzoo predict`, whole processes, TSV, batch {args.own_batch_size}, {n} intervals; {gflop:.2f} GFLOP per interval")
        for k in contenders:
            log(f"    {k:12s} steady {steady[k]:8,.1f} intervals/s   ten-interval run {best[k, 10]:5.2f} s   "
                f"{n} intervals {best[k, n]:6.1f} s")
        kipoi_rate, kipoi_start = steady["kipoi's own"], best["kipoi's own", 10]
        log(f"    steady rate against kipoi's own: fp32 {steady['seqzoo fp32'] / kipoi_rate:.2f}x, "
            f"bf16 {steady['seqzoo bf16'] / kipoi_rate:.2f}x")
        log(f"    of the matmul rate: fp32 {steady['seqzoo fp32'] * gflop / rates['float32']:.0%} "
            f"(ceiling {rates['float32'] / gflop:,.0f}/s), bf16 {steady['seqzoo bf16'] * gflop / rates['bfloat16']:.0%} "
            f"(ceiling {rates['bfloat16'] / gflop:,.0f}/s)")
        aims = {"Basset": (4, 6), "DeepSEA": (1.5, 2.5)}[name]
        log(f"    (aims: fp32 >= {aims[0]}x, bf16 >= {aims[1]}x; >= 85% of the fp32 and 75% of the bf16 matmul rate)")
        log(f"    start-up (ten intervals) seqzoo fp32 / kipoi's own: "
            f"{best['seqzoo fp32', 10] / kipoi_start:.2f} (aim <= 1)")
        startup[name] = best["seqzoo fp32", 10]
    return startup


def startup_comparison(args, ten_interval: dict) -> None:
    """Start-up floors: ``import numpy``, ``import keras, tensorflow``, ``seqzoo --help``, and
    the ten-interval runs against them."""
    python = [sys.executable, "-c"]
    floors = {"import numpy": python + ["import numpy"], "import keras, tensorflow": python + ["import keras, tensorflow"],
              "seqzoo --help": [str(Path(sys.executable).parent / "seqzoo"), "--help"]}
    best = {k: min(whole_process(cmd) for _ in range(max(args.rounds, 3))) for k, cmd in floors.items()}
    log("\n[6] start-up, whole processes (best of 3):")
    for k, v in best.items():
        log(f"    {k:26s} {v:5.2f} s")
    log(f"    seqzoo --help / import numpy: {best['seqzoo --help'] / best['import numpy']:.1f}x (aim <= 3x)")
    for name, t in ten_interval.items():
        log(f"    {name} ten-interval run / import keras, tensorflow: {t / best['import keras, tensorflow']:.2f}x (aim <= 1.2x)")


def zoo_outputs_comparison(args, work: Path) -> None:
    """For every DNA model of the zoo, in-process: ``predict_bed`` to TSV and Parquet and
    ``predict_tiles`` to a bigWig track, each against bare ``predict_on_batch`` on the same windows
    built beforehand (best of ``args.rounds``, alternating)."""
    import seqzoo
    from seqzoo.io.genome import Genome
    from seqzoo.predict_dna import predict_bed, predict_tiles
    from seqzoo.windows import iter_tiles, iter_window_batches

    log(f"\n[7] every DNA model of the zoo, in-process, end to end / bare predict_on_batch (batch {args.batch_size}):")
    for name in zoo_dna_models():
        model = seqzoo.get_model(name, device="auto")
        # the fixed cost of a call: opening the FASTA, checking the BED, closing the output
        n = windows_for(model, args.zoo_seconds, args.batch_size)
        bed = work / f"zoo_{name}.bed"
        random_bed(args.fasta, n, bed, seed=5)
        step = model.spec.prediction_bin or model.spec.input_shape[0]
        with Genome(args.fasta) as genome:
            chrom = next(iter(genome.chrom_sizes))
            region = f"{chrom}:1000000-{1000000 + n * step}"
            tiles = [(chrom, 1000000, 1000000 + n * step)]
            bed_arrays = [b.x for b in iter_window_batches(bed, genome, model.spec.input_shape[0], args.batch_size)]
            tile_arrays = [b.x for b in iter_window_batches(iter_tiles(tiles, step, step), genome,
                                                            model.spec.input_shape[0], args.batch_size)]
        track = work / ("zoo_{target}.bw" if len(model.columns) > 1 else "zoo.bw")
        for x in (bed_arrays[0], bed_arrays[-1], tile_arrays[-1]):  # trace every batch shape first
            model.predict_on_batch(x)

        def bare(arrays):
            def run():
                start = time.perf_counter()
                for x in arrays:
                    model.predict_on_batch(x)
                return time.perf_counter() - start
            return run

        def timed_call(fn, *fn_args, **kwargs):
            def run():
                start = time.perf_counter()
                fn(model, args.fasta, *fn_args, batch_size=args.batch_size, progress=False, **kwargs)
                return time.perf_counter() - start
            return run

        contenders = {"bare (BED windows)": bare(bed_arrays), "TSV": timed_call(predict_bed, bed, work / "zoo.tsv"),
                      "Parquet": timed_call(predict_bed, bed, work / "zoo.parquet"),
                      "bare (tiles)": bare(tile_arrays),
                      "bigWig track": timed_call(predict_tiles, region, track, targets=model.columns[0])}
        times = {k: [] for k in contenders}
        for _ in range(args.rounds):
            for k, fn in contenders.items():
                times[k].append(fn())
        best = {k: min(v) for k, v in times.items()}
        log(f"    {name:22s} {n:6,} windows  bare {n / best['bare (BED windows)']:8,.0f}/s   "
            f"TSV {best['bare (BED windows)'] / best['TSV']:.2f}   Parquet {best['bare (BED windows)'] / best['Parquet']:.2f}   "
            f"bigWig (one target) {best['bare (tiles)'] / best['bigWig track']:.2f}   (aim >= 0.95)")


def time_shares(args, work: Path) -> None:
    """Where ``predict_bed``'s time goes, per DNA model of the zoo: each stage alone, in sequence,
    on the same windows (best of ``args.rounds``), in seconds per 1,000 windows. ``predict_bed``
    runs reading on one thread and writing on another beside the model, so on a machine whose
    cores the model fills, their time is what the model loses."""
    import seqzoo
    from seqzoo.io.genome import Genome
    from seqzoo.io.tables import open_writer
    from seqzoo.predict_dna import LEADING_COLUMNS, predict_rows
    from seqzoo.windows import iter_window_batches

    log(f"\n[10] where predict_bed's time goes, each stage alone, seconds per 1,000 windows (batch {args.batch_size}):")
    for name in zoo_dna_models():
        model = seqzoo.get_model(name, device="auto")
        n = 2048 if model.spec.input_shape[0] <= 600 else 512
        bed = work / f"shares_{name}.bed"
        random_bed(args.fasta, n, bed, seed=6)
        with Genome(args.fasta) as genome:
            def read():
                return list(iter_window_batches(bed, genome, model.spec.input_shape[0], args.batch_size))
            batches = read()
            outputs = [model.predict_on_batch(b.x) for b in batches]

            class Replay:  # predict_rows with the predictions already made: the rows' own cost
                spec = model.spec

                def __init__(self):
                    self.outputs = iter(outputs)

                def predict_on_batch(self, x):
                    return next(self.outputs)

            def rows():
                replay = Replay()
                return [predict_rows(replay, b, list(model.columns)) for b in batches]

            def write(suffix):
                table = rows()

                def run():
                    with open_writer(work / f"shares{suffix}", LEADING_COLUMNS + list(model.columns)) as writer:
                        for chunk in table:
                            writer.write(chunk)
                return run

            stages = {"read+encode": read, "model": lambda: [model.predict_on_batch(b.x) for b in batches],
                      "rows": rows, "TSV": write(".tsv"), "Parquet": write(".parquet")}
            seconds = {k: timed(stopwatch(fn), args.rounds) * 1000 / n for k, fn in stages.items()}
        log(f"    {name:22s} " + "   ".join(f"{k} {v:.3f}" for k, v in seconds.items())
            + f"   (rows+TSV {(seconds['rows'] + seconds['TSV']) / seconds['model']:.0%} of the model, "
              f"rows+Parquet {(seconds['rows'] + seconds['Parquet']) / seconds['model']:.0%}, "
              f"read {seconds['read+encode'] / seconds['model']:.0%})")


README_MODEL = "DeepSEA_Athaliana265"  # the README's set-up command predicts its example intervals


def readme_command_comparison(args, work: Path) -> None:
    """Whole processes on the README's example: ``seqzoo predict`` (its default engine, NumPy for
    ten intervals, and ``--engine keras``) against ``kipoi predict`` on kipoi's own DeepSEA
    directory (PyTorch, kipoiseq) and on the zoo's directory (kipoi running seqzoo's Keras model),
    the same ten intervals and FASTA (copied, so that no index is written into the repository),
    alternating, best of ``max(rounds, 3)``."""
    import json
    import shutil

    from kipoi_directories import write_kipoi_directory
    from seqzoo.zoo.spec import find_model

    bin_dir = Path(sys.executable).parent
    directory = find_model(README_MODEL)
    fasta, bed = work / "readme_genome.fa", work / "readme_intervals.bed"
    shutil.copyfile(directory / "example" / "genome.fa", fasta)
    # kipoiseq's SeqIntervalDl fails on a window reaching past a chromosome end (the example's first
    # interval, chr1:0-200, which seqzoo pads): every contender runs the intervals it can read
    from seqzoo.io.genome import Genome

    with Genome(fasta) as genome:
        sizes = genome.chrom_sizes
    inside = []
    for line in (directory / "example" / "intervals.bed").read_text().splitlines():
        chrom, start, end = line.split("\t")[:3]
        middle = (int(start) + int(end)) // 2
        if middle - 500 >= 0 and middle + 500 <= sizes[chrom]:
            inside.append(line)
    bed.write_text("".join(line + "\n" for line in inside))
    bed3 = work / "readme_intervals3.bed"  # kipoiseq reads columns past the third as labels
    bed3.write_text("".join("\t".join(line.split("\t")[:3]) + "\n" for line in inside))
    kipoi_own = write_kipoi_directory("DeepSEA", work / "kipoi_DeepSEA_readme")
    zoo_copy = work / README_MODEL
    shutil.copytree(directory, zoo_copy, dirs_exist_ok=True)  # kipoi writes beside a directory it runs

    def kipoi_run(model_dir: Path, bed_file: Path) -> list[str]:
        loader = json.dumps({"intervals_file": str(bed_file), "fasta_file": str(fasta)})
        return [str(bin_dir / "kipoi"), "predict", str(model_dir), "--source", "dir", "--dataloader_args", loader,
                "-o", str(work / "readme_kipoi.tsv")]

    seqzoo = [str(bin_dir / "seqzoo"), "predict", README_MODEL, "--fasta", str(fasta), "--bed", str(bed), "-o",
              str(work / "readme_seqzoo.tsv"), "--force"]
    contenders = {"seqzoo predict (default: NumPy engine)": seqzoo,
                  "seqzoo predict --engine keras": seqzoo + ["--engine", "keras"],
                  "kipoi predict, kipoi's own DeepSEA": kipoi_run(kipoi_own, bed3),
                  f"kipoi predict, the zoo's {README_MODEL}": kipoi_run(zoo_copy, bed)}
    times = {k: [] for k in contenders}
    for _ in range(max(args.rounds, 3)):
        for k, command in contenders.items():
            times[k].append(whole_process(command))
    best = {k: min(v) for k, v in times.items()}
    floor = min(whole_process([sys.executable, "-c", "import keras, tensorflow"]) for _ in range(max(args.rounds, 3)))
    first = next(iter(best))
    log(f"\n[8] the README's command (`seqzoo predict {README_MODEL}` on its example intervals: the {len(inside)} "
        f"kipoiseq can read), whole processes, best of {max(args.rounds, 3)}:")
    for k, v in best.items():
        log(f"    {k:48s} {v:5.2f} s   seqzoo default / this: {best[first] / v:.2f}")
    log(f"    `import keras, tensorflow` alone: {floor:.2f} s (aim: seqzoo default <= kipoi's own)")


def kipoi_zoo_comparison(args, work: Path) -> None:
    """``kipoi predict`` on each zoo DNA model's directory against ``seqzoo predict``: whole processes
    (both import TensorFlow), the same FASTA and BED, TSV output at batch ``--own-batch-size``,
    alternating, best of ``args.rounds``; each model on as many intervals as its bare network
    predicts in about ``--zoo-seconds`` x 2."""
    import json
    import shutil

    import seqzoo
    from seqzoo.zoo.spec import find_model

    bin_dir = Path(sys.executable).parent
    log(f"\n[11] kipoi predict on the zoo's own directories against seqzoo predict, whole processes, TSV, "
        f"batch {args.own_batch_size}, best of {args.rounds}:")
    for name in zoo_dna_models():
        n = windows_for(seqzoo.get_model(name, device="cpu"), 2 * args.zoo_seconds, args.own_batch_size)
        bed = work / f"kipoi_zoo_{name}.bed"
        random_bed(args.fasta, n, bed, seed=11)
        directory = work / f"kipoi_zoo_{name}"
        shutil.copytree(find_model(name), directory, dirs_exist_ok=True)  # kipoi writes beside a directory it runs
        loader = json.dumps({"intervals_file": str(bed), "fasta_file": str(args.fasta)})
        contenders = {
            "kipoi": [str(bin_dir / "kipoi"), "predict", str(directory), "--source", "dir", "--dataloader_args", loader,
                      "--batch_size", str(args.own_batch_size), "-o", str(work / "kipoi_zoo.tsv")],
            "seqzoo": [str(bin_dir / "seqzoo"), "predict", name, "--fasta", str(args.fasta), "--bed", str(bed),
                       "--batch-size", str(args.own_batch_size), "--engine", "keras", "-o", str(work / "seqzoo_zoo.tsv"),
                       "--force", "--quiet"]}
        times = {k: [] for k in contenders}
        for _ in range(args.rounds):
            for k, command in contenders.items():
                times[k].append(whole_process(command))
        best = {k: min(v) for k, v in times.items()}
        log(f"    {name:22s} {n:6,} intervals   kipoi {best['kipoi']:6.1f} s   seqzoo {best['seqzoo']:6.1f} s   "
            f"seqzoo {best['kipoi'] / best['seqzoo']:.2f}x kipoi's rate")


# VmHWM (peak resident memory since exec), not ru_maxrss, which a child inherits from the
# forking parent on Linux.
MEMORY_CHILD = """
import sys
import seqzoo
from seqzoo.predict_dna import predict_bed
model = seqzoo.get_model(sys.argv[1], device="cpu")
predict_bed(model, sys.argv[2], sys.argv[3], sys.argv[4], batch_size=256, progress=False)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
"""


def peak_memory_mb(model: str, fasta: Path, bed: Path, out: Path) -> float:
    """Peak resident memory (MB) of a fresh process running ``predict_bed``."""
    result = subprocess.run([sys.executable, "-c", MEMORY_CHILD, model, str(fasta), str(bed), str(out)],
                            capture_output=True, text=True, check=True)
    return int(result.stdout.split()[-1]) / 1024


SECTIONS = {0: "kipoi's own directories", 1: "dataloaders", 2: "end to end", 3: "PyTorch layout",
            4: "matmul fraction", 5: "memory", 6: "start-up", 7: "every zoo model's outputs",
            8: "the README's command", 9: "CREsted", 10: "where the time goes", 11: "kipoi on every zoo model"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fasta", required=True, type=Path, help="uncompressed genome FASTA")
    parser.add_argument("--intervals", type=int, default=100_000)
    parser.add_argument("--model-intervals", type=int, default=None,
                        help="intervals for the model comparisons (default: --intervals)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--deepsea-intervals", type=int, default=1024,
                        help="intervals for the end-to-end comparison on the published-size DeepSEA (0: skip)")
    parser.add_argument("--memory-intervals", type=int, nargs="*", default=[10_000, 100_000],
                        help="interval counts for the peak-memory measurement (flat = no growth)")
    parser.add_argument("--memory-model", default="Basset",
                        help="zoo model for the peak-memory measurement")
    parser.add_argument("--own-basset-intervals", type=int, default=4000,
                        help="[0] intervals for the comparison with kipoi's own Basset directory (0: skip)")
    parser.add_argument("--own-deepsea-intervals", type=int, default=2000,
                        help="[0] intervals for the comparison with kipoi's own DeepSEA directory (0: skip)")
    parser.add_argument("--zoo-seconds", type=float, default=4.0,
                        help="[7] windows per zoo model: as many as its bare predict_on_batch runs in this time")
    parser.add_argument("--own-batch-size", type=int, default=128, help="[0] batch size of both contenders")
    parser.add_argument("--crested-environment", type=Path, default=Path(tempfile.gettempdir()) / "seqzoo-crested-venv",
                        help="[9] the environment with CREsted (created there on first use: crested_comparison.py)")
    parser.add_argument("--sections", nargs="+", type=int, default=list(SECTIONS), choices=list(SECTIONS),
                        help="which sections to run: " + "; ".join(f"{k} {v}" for k, v in SECTIONS.items()))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # kipoi_directories

    import keras
    import kipoi
    from kipoiseq.dataloaders import SeqIntervalDl

    import seqzoo
    from seqzoo.io.genome import Genome
    from seqzoo.predict_dna import predict_bed
    from seqzoo.windows import iter_window_batches

    device = seqzoo.runtime.resolve_device("auto")
    cpu, bf16_units = seqzoo.runtime.cpu_description()
    bf16_units = {True: "yes", False: "no", None: "unknown"}[bf16_units]
    log(f"backend {keras.backend.backend()}, device {device}, {os.cpu_count()} CPUs ({cpu}; bfloat16 units: "
        f"{bf16_units}), seqzoo {seqzoo.__version__}, keras {keras.__version__}")
    work = Path(tempfile.mkdtemp(prefix="seqzoo-bench-"))
    bed = work / "intervals.bed"
    random_bed(args.fasta, args.intervals, bed)
    bed3 = work / "intervals3.bed"  # kipoiseq reads columns past the third as labels
    bed3.write_text("".join("\t".join(line.split("\t")[:3]) + "\n" for line in bed.read_text().splitlines()))
    n_model = args.model_intervals or args.intervals
    model_bed = work / "model_intervals.bed"
    random_bed(args.fasta, n_model, model_bed, seed=1)
    log(f"{args.intervals} intervals for the dataloaders, {n_model} for the models; FASTA {args.fasta}")

    rates = {dtype: matmul_rate(dtype=dtype) for dtype in ("float32", "bfloat16")}
    log(f"matmul (2048^2): float32 {rates['float32']:,.0f} GFLOP/s, bfloat16 {rates['bfloat16']:,.0f} GFLOP/s")
    ten_interval = own_directories_comparison(args, work, rates) if 0 in args.sections else {}

    # 1. dataloaders -------------------------------------------------------------------------
    if 1 in args.sections:
        def seqzoo_loader():
            start = time.perf_counter()
            with Genome(args.fasta) as genome:
                for _ in iter_window_batches(bed, genome, 600, args.batch_size):
                    pass
            return time.perf_counter() - start

        def kipoiseq_loader():
            start = time.perf_counter()
            dl = SeqIntervalDl(str(bed3), str(args.fasta), auto_resize_len=600)
            for _ in dl.batch_iter(batch_size=args.batch_size):
                pass
            return time.perf_counter() - start

        times = {"seqzoo": [], "kipoiseq": []}
        for _ in range(args.rounds):
            times["seqzoo"].append(seqzoo_loader())
            times["kipoiseq"].append(kipoiseq_loader())
        ours, theirs = args.intervals / min(times["seqzoo"]), args.intervals / min(times["kipoiseq"])
        log(f"\n[1] dataloader: seqzoo {ours:,.0f} intervals/s, kipoiseq SeqIntervalDl {theirs:,.0f} "
            f"intervals/s: ratio {ours / theirs:.1f}x (aim >= 20x)")

    # 2. end to end ------------------------------------------------------------------------
    if {2, 3, 4} & set(args.sections):  # 3 and 4 reuse the arrays and rates of 2
        def end_to_end_comparison(name: str, bed: Path, n: int) -> dict:
            """Intervals/s of seqzoo end to end, the bare model and kipoi's pipeline, fp32 and bf16."""
            model = seqzoo.get_model(name, device="auto")
            fast = seqzoo.get_model(name, device="auto", precision="bfloat16")
            seq_len = model.spec.input_shape[0]
            with Genome(args.fasta) as genome:
                arrays = [b.x for b in iter_window_batches(bed, genome, seq_len, args.batch_size)]
            kipoi_model = kipoi.get_model(str(ROOT / "models" / name), source="dir")

            def bare(m):
                def run():
                    start = time.perf_counter()
                    for x in arrays:
                        m.predict_on_batch(x)
                    return time.perf_counter() - start
                return run

            def end_to_end(m):
                def run():
                    start = time.perf_counter()
                    predict_bed(m, args.fasta, bed, work / "out.parquet", batch_size=args.batch_size, progress=False)
                    return time.perf_counter() - start
                return run

            def kipoi_pipeline():
                start = time.perf_counter()
                kipoi_model.pipeline.predict(dict(fasta_file=str(args.fasta), intervals_file=str(bed)),
                                             batch_size=args.batch_size)
                return time.perf_counter() - start

            contenders = {"bare fp32": bare(model), "seqzoo fp32": end_to_end(model), "kipoi pipeline": kipoi_pipeline,
                          "bare bf16": bare(fast), "seqzoo bf16": end_to_end(fast)}
            runs = {k: [] for k in contenders}
            for _ in range(args.rounds):
                for key, fn in contenders.items():
                    runs[key].append(fn())
            rate = {k: n / min(v) for k, v in runs.items()}
            log(f"\n[2] end to end, {name} ({n} intervals, batch {args.batch_size}), intervals/s:")
            for k, v in rate.items():
                log(f"    {k:16s} {v:10,.0f}")
            log(f"    seqzoo / bare predict_on_batch: fp32 {rate['seqzoo fp32'] / rate['bare fp32']:.2f} "
                f"(aim >= 0.9), bf16 {rate['seqzoo bf16'] / rate['bare bf16']:.2f}")
            log(f"    seqzoo / kipoi pipeline.predict: fp32 {rate['seqzoo fp32'] / rate['kipoi pipeline']:.2f}x "
                f"(aim >= 1.2x), bf16 {rate['seqzoo bf16'] / rate['kipoi pipeline']:.2f}x (aim >= 2.5x)")
            return dict(model=model, arrays=arrays, bare=bare, rate=rate)

        basset = end_to_end_comparison("Basset", model_bed, n_model)
        model, arrays, bare, rate = basset["model"], basset["arrays"], basset["bare"], basset["rate"]
        if args.deepsea_intervals:
            deepsea_bed = work / "deepsea_intervals.bed"
            random_bed(args.fasta, args.deepsea_intervals, deepsea_bed, seed=3)
            end_to_end_comparison("DeepSEA", deepsea_bed, args.deepsea_intervals)

        # 3. Keras Basset against kipoi's PyTorch layout -----------------------------------------
        net, torch = torch_basset()
        torch.set_num_threads(os.cpu_count())
        nchw = [torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1)[..., None])) for x in arrays]

        def torch_run():
            start = time.perf_counter()
            with torch.no_grad():
                for x in nchw:
                    net(x)
            return time.perf_counter() - start

        keras_times, torch_times = [], []
        for _ in range(args.rounds):
            keras_times.append(bare(model)())
            torch_times.append(torch_run())
        k_rate, t_rate = n_model / min(keras_times), n_model / min(torch_times)
        log(f"\n[3] Basset, published size: seqzoo Keras {k_rate:,.0f} seq/s, kipoi's PyTorch layout "
            f"{t_rate:,.0f} seq/s: ratio {k_rate / t_rate:.1f}x (aim >= 5x)")

        # 4. fraction of the matrix-multiply rate ------------------------------------------------
        gflops = rates["float32"]
        deepsea = seqzoo.get_model("DeepSEA", device="auto")
        deepsea_x = np.concatenate(arrays)[: 512]
        deepsea_x = np.concatenate([deepsea_x, deepsea_x[:, :400]], axis=1)  # 1000 bp windows
        start = time.perf_counter()
        for i in range(0, len(deepsea_x), args.batch_size):
            deepsea.predict_on_batch(deepsea_x[i:i + args.batch_size])
        deepsea_rate = len(deepsea_x) / (time.perf_counter() - start)
        basset_gflops = rate["bare fp32"] * model_flops(model.keras_model) / 1e9
        deepsea_gflops = deepsea_rate * 2 * model_flops(deepsea.keras_model) / 1e9  # RC averaging: 2 passes
        log(f"\n[4] float32 matmul {gflops:,.0f} GFLOP/s; Basset {basset_gflops:,.0f} GFLOP/s = "
            f"{basset_gflops / gflops:.0%}; DeepSEA {deepsea_rate:,.0f} seq/s, {deepsea_gflops:,.0f} GFLOP/s = "
            f"{deepsea_gflops / gflops:.0%}")

    # 5. peak memory ---------------------------------------------------------------------------
    if 5 in args.sections:
        log(f"\n[5] peak memory of `predict_bed` ({args.memory_model}, Parquet output), fresh process:")
        for n in args.memory_intervals:
            mem_bed = work / f"memory_{n}.bed"
            random_bed(args.fasta, n, mem_bed, seed=2)
            log(f"    {n:>9,} intervals: {peak_memory_mb(args.memory_model, args.fasta, mem_bed, work / 'mem.parquet'):,.0f} MB")

    # 6. start-up --------------------------------------------------------------------------------
    if 6 in args.sections:
        startup_comparison(args, ten_interval)

    # 7. every zoo model's outputs -------------------------------------------------------------
    if 7 in args.sections:
        zoo_outputs_comparison(args, work)

    # 8. the README's command -----------------------------------------------------------------
    if 8 in args.sections:
        readme_command_comparison(args, work)

    # 9. CREsted, in its own environment (its pins clash with this one's pandas) ----------------
    if 9 in args.sections:
        from crested_comparison import crested_python

        python = crested_python(args.crested_environment)
        subprocess.run([str(python), str(Path(__file__).resolve().parent / "crested_comparison.py"), "--fasta",
                        str(args.fasta), "--rounds", str(max(args.rounds, 3)), "--seconds", str(args.zoo_seconds),
                        "--work", str(work / "crested")], check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))

    # 10. where the time goes -----------------------------------------------------------------
    if 10 in args.sections:
        time_shares(args, work)

    # 11. kipoi on every zoo model --------------------------------------------------------------
    if 11 in args.sections:
        kipoi_zoo_comparison(args, work)


if __name__ == "__main__":
    main()

"""seqzoo against CREsted (``crested.tl.predict``) on the very Keras model object ``seqzoo.get_model``
returns, in one process, for every DNA model of the zoo.

    python benchmarks/crested_comparison.py --fasta GENOME.fa [--seconds 4] [--rounds 3]

Both read the same regions of the same FASTA with the same batch size: CREsted from
``chrom:start-end`` strings through its own ``crested.Genome`` into an array in memory, seqzoo
from a BED file into a TSV and a Parquet file (``predict_bed``), alternating round by round, best
round reported, on windows of A, C, G and T alone (:func:`only_acgt_windows`). CREsted writes
nothing; seqzoo writes a file, but a user compares the time to an answer. A third contender is the
model alone, ``predict_on_batch`` on the same windows encoded beforehand: the most that any
pipeline around this network could reach, printed against CREsted as its ceiling.

CREsted pins pandas below 3, which this project's environment has, so it runs in an environment of
its own: :func:`crested_python` creates it (``python -m venv``; a ``.pth`` file puts the project's
environment after its own packages, so TensorFlow, Keras and seqzoo are the project's and only
what CREsted needs beyond them, pandas 2 included, is installed there). ``predict_benchmark.py
--sections 9`` does this and runs this script in it.
"""

import argparse
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CRESTED = "crested==1.11.0"  # the version the figures were taken with


def crested_python(directory: Path) -> Path:
    """The Python of an environment at ``directory`` that has CREsted (created on first use)."""
    python = directory / "bin" / "python"
    if python.is_file() and subprocess.run([str(python), "-c", "import crested.tl"], capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # after the environment's own packages: the project's (TensorFlow, Keras, ...) and its sources
    Path(purelib, "project_environment.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n{ROOT}\n")
    # scanpy: crested.tl imports its modisco module, which needs scanpy, wherever modiscolite is installed
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", CRESTED, "scanpy"], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fasta", required=True, type=Path, help="uncompressed genome FASTA")
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="regions per model: as many as its bare predict_on_batch runs in this time")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--work", type=Path, default=Path("/tmp/seqzoo-crested-bench"))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    import crested
    import keras
    import numpy as np
    import pyfaidx

    import seqzoo
    from predict_benchmark import log, random_bed, windows_for, zoo_dna_models
    from seqzoo.io.genome import Genome
    from seqzoo.predict_dna import predict_bed
    from seqzoo.windows import iter_window_batches

    args.work.mkdir(parents=True, exist_ok=True)
    log(f"[9] against CREsted {crested.__version__} (crested.tl.predict on seqzoo.get_model's Keras model), "
        f"in-process, batch {args.batch_size}, best of {args.rounds}, keras {keras.__version__}")
    genome = crested.Genome(args.fasta)
    fasta = pyfaidx.Fasta(str(args.fasta))
    for name in zoo_dna_models():
        model = seqzoo.get_model(name, device="cpu")
        length = model.spec.input_shape[0]
        n = windows_for(model, args.seconds, args.batch_size)
        bed = args.work / f"{name}.bed"
        random_bed(args.fasta, n, bed, seed=9, width=length)  # windows of the model's length: no resizing
        regions = only_acgt_windows(bed, fasta)

        def crested_run():
            # verbose=0 (passed to keras' predict): without Keras' progress bar, CREsted's fastest
            return crested.tl.predict(regions, model.keras_model, genome=genome, batch_size=args.batch_size,
                                      verbose=0)

        def seqzoo_run(suffix):
            return lambda: predict_bed(model, args.fasta, bed, args.work / f"{name}{suffix}", batch_size=args.batch_size,
                                       progress=False)

        with Genome(args.fasta) as seqzoo_genome:
            arrays = [b.x for b in iter_window_batches(bed, seqzoo_genome, length, args.batch_size)]

        def model_alone():
            for x in arrays:
                model.predict_on_batch(x)

        contenders = {"CREsted": crested_run, "seqzoo TSV": seqzoo_run(".tsv"), "seqzoo Parquet": seqzoo_run(".parquet"),
                      "model alone": model_alone}
        crested_preds = crested_run()  # warm-up, and the agreement below
        model_alone()  # traces the batch shapes seqzoo's contenders meet
        times = {k: [] for k in contenders}
        for _ in range(args.rounds):
            for k, fn in contenders.items():
                start = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - start)
        best = {k: min(v) for k, v in times.items()}
        import pyarrow.parquet as pq

        ours = pq.read_table(args.work / f"{name}.parquet").to_pandas().iloc[:, 7:].to_numpy()
        deviation = float(np.abs(np.asarray(crested_preds).reshape(ours.shape) - ours).max())
        n = len(regions)
        log(f"    {name:22s} {n:6,} regions  CREsted {n / best['CREsted']:7,.0f}/s   seqzoo TSV "
            f"{best['CREsted'] / best['seqzoo TSV']:.2f}x   Parquet {best['CREsted'] / best['seqzoo Parquet']:.2f}x   "
            f"(max |diff| {deviation:.1e}; aim >= 1.2x)   the model alone {best['CREsted'] / best['model alone']:.2f}x")


def only_acgt_windows(bed: Path, fasta) -> list[str]:
    """Keep (and rewrite ``bed`` with) the windows made of A, C, G and T alone, as ``chrom:start-end``.

    CREsted encodes N as zeros, seqzoo (like kipoiseq) as 0.25 each, and seqzoo declines a window of
    N alone with a note: on windows with N the two would neither compute nor answer the same."""
    kept, regions = [], []
    for line in bed.read_text().splitlines():
        chrom, start, end = line.split("\t")[:3]
        if set(str(fasta[chrom][int(start):int(end)]).upper()) <= set("ACGT"):
            kept.append(line)
            regions.append(f"{chrom}:{start}-{end}")
    bed.write_text("".join(row + "\n" for row in kept))
    return regions


if __name__ == "__main__":
    main()

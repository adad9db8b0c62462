"""How far a model's bfloat16 predictions deviate from float32 on real sequences, and which layers
compute in bfloat16 (README, --precision).

DNA models read the windows of ``--bed`` intervals of ``--fasta`` (default: the windows tiling the
model's example genome); protein models the proteins of a labelled ``--proteins`` TSV (every
length; longer ones read whole, as ``seqzoo predict`` reads them). ``--write`` records the largest
deviation as ``bfloat16_deviation`` in the model's ``weights.yaml``, where ``precision="bfloat16"``
reads it to warn when it is above ``seqzoo.runtime.BFLOAT16_BOUND``.

    python research/bfloat16_deviation.py DeepSEA_Athaliana265 --fasta chr1.fa --bed windows.bed [--write]
    python research/bfloat16_deviation.py DeepSEA_Athaliana265 --fasta chr1.fa --spread 4000 [--write]
    python research/bfloat16_deviation.py DeepSol --proteins deepsol_valid.tsv --limit 1000 [--write]
"""
import argparse
import re
import sys
import tempfile

import keras
import numpy as np
import pandas as pd

import seqzoo
from seqzoo.predict_dna import predict_bed, predict_tiles
from seqzoo.zoo.spec import find_model


def layer_policies(model, out):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layer_policies(layer, out)
        else:
            out.append((layer.name, layer.dtype_policy.name))
    return out


def spread_windows(fasta: str, n: int, length: int, path: str) -> str:
    """A BED of ``n`` windows of ``length`` spread evenly over the sequences of ``fasta``
    (in proportion to their lengths)."""
    import pyfaidx

    with pyfaidx.Fasta(fasta) as genome:
        sizes = {name: len(genome[name]) for name in genome.keys()}
    # Windows at even steps of the sequences laid end to end; one that would cross a sequence's
    # end is left out, so there can be slightly fewer than n.
    step, first = sum(sizes.values()) / n, 0
    with open(path, "w") as bed:
        for name, size in sizes.items():
            starts = np.arange(np.ceil(first / step) * step, first + size - length + 1, step) - first
            bed.writelines(f"{name}\t{int(s)}\t{int(s) + length}\n" for s in starts)
            first += size
    return path


def dna_predictions(model, args, path):
    if args.fasta:
        predict_bed(model, args.fasta, args.bed, path, progress=False)
    else:
        predict_tiles(model, find_model(args.model) / "example" / "genome.fa", "genome", path, progress=False)
    return pd.read_parquet(path)


def protein_predictions(model, args, path, fasta):
    from seqzoo.predict_protein import predict_fasta, whole_sequence_predictor

    predict_fasta(model.predict_on_batch, fasta, path, max_len=model.spec.input_shape[0], labels=model.columns,
                  progress=False, predict_long=whole_sequence_predictor(model))
    return pd.read_parquet(path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--fasta", help="genome FASTA (DNA models; with --bed)")
    p.add_argument("--bed", help="intervals of --fasta")
    p.add_argument("--spread", type=int, metavar="N",
                   help="instead of --bed: N windows of 1 kb spread evenly over --fasta")
    p.add_argument("--proteins", help="protein models: a sequence<TAB>label TSV")
    p.add_argument("--limit", type=int, default=0, help="--proteins: the first N rows only")
    p.add_argument("--write", action="store_true", help="record the largest deviation in weights.yaml")
    p.add_argument("--on", help="what the sequences are, after their count, for the weights.yaml comment (e.g. \"windows of chr1\"; default: the paths)")
    args = p.parse_args()
    if args.spread and not args.fasta:
        p.error("--spread needs --fasta")
    if args.fasta and not (args.bed or args.spread):
        p.error("--fasta needs --bed or --spread")
    if args.bed and not args.fasta:
        p.error("--bed needs --fasta")

    m32 = seqzoo.get_model(args.model, device="cpu")
    m16 = seqzoo.get_model(args.model, device="cpu", precision="bfloat16")
    policies = layer_policies(m16.keras_model, [])
    print("layers:", len(policies), "bfloat16:", sum(p == "mixed_bfloat16" for _, p in policies),
          "float32:", [n for n, p in policies if p == "float32"])
    with tempfile.TemporaryDirectory() as tmp:
        if args.spread:
            args.bed = spread_windows(args.fasta, args.spread, 1000, f"{tmp}/spread.bed")
            args.on = args.on or f"windows of 1 kb spread evenly over {args.fasta}"
        if m32.spec.modality == "protein":
            rows = pd.read_csv(args.proteins, sep="\t")
            rows = rows.iloc[: args.limit] if args.limit else rows
            fasta = f"{tmp}/proteins.fa"
            with open(fasta, "w") as f:
                f.writelines(f">p{i}\n{s}\n" for i, s in enumerate(rows["sequence"]))
            a, b = (protein_predictions(m, args, f"{tmp}/{k}.parquet", fasta) for k, m in (("a", m32), ("b", m16)))
            what = f"{len(a)} proteins of {args.proteins}" + (f" (first {args.limit})" if args.limit else "")
        else:
            a, b = (dna_predictions(m, args, f"{tmp}/{k}.parquet") for k, m in (("a", m32), ("b", m16)))
            what = f"{len(a)} windows of {args.bed}" if args.fasta else f"{len(a)} windows tiling the example genome"
    columns = list(m32.columns)
    diff = np.abs(a[columns].to_numpy() - b[columns].to_numpy())
    largest = float(np.nanmax(diff))
    what = f"{len(a):,} {args.on}" if args.on else what
    print(args.model, what, "max |bf16 - fp32|", f"{largest:.2e}", "p99.9", f"{np.nanpercentile(diff, 99.9):.2e}")
    if args.write:
        path = m32.spec.directory / "weights.yaml"
        text = path.read_text()
        line = f"bfloat16_deviation: {largest:.2e}  # max |bfloat16 - float32| on {what}\n"
        text, n = re.subn(r"^bfloat16_deviation:.*\n", line, text, flags=re.M)
        path.write_text(text if n else text.rstrip("\n") + "\n" + line)
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

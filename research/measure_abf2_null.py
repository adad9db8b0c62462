"""How ABF2 motif-breaking SNVs near ABF2 DAP-seq peaks rank against seqzoo's null (README figure).

Takes the ABF2 peaks of the validation block (chr1:20-24 Mb; the models were early-stopped on it,
never trained on it), finds the ABF2 core motif ACGTG (either strand) within 50 bp of each summit
and writes, per motif, the SNV that breaks it (ACGTG -> ACATG: the G of the ACGT core; on the
minus strand the complementary change), and as a control one SNV at a random position of the
same summit's +-50 bp that touches no ACGTG. Both VCFs are scored with ``--null`` and the p-values
and z-scores of the ABF2 target are summarised.

    python research/measure_abf2_null.py --fasta $GENOME --peaks $PEAKS --model DeepSEA_Athaliana265

($GENOME, $PEAKS: docs/data.md.)
"""

import argparse
import gzip
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import seqzoo
from seqzoo.io.genome import Genome
from seqzoo.variants import score_variants

BLOCK = ("chr1", 20_000_000, 24_000_000)
FLANK = 50
HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def summits(peaks: str, tf: str) -> list[int]:
    chrom, lo, hi = BLOCK
    out = []
    with gzip.open(peaks, "rt") as fh:
        for line in fh:
            c, start, end, name = line.split()[:4]
            if name == tf and c == chrom and lo <= int(start) and int(end) <= hi:
                out.append((int(start) + int(end)) // 2)
    return sorted(set(out))


def make_vcfs(genome: Genome, centres: list[int], folder: Path, seed: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    motif, control = {}, {}
    for centre in centres:
        seq = genome.fetch_codes("chr1", centre - FLANK, centre + FLANK)[0].tobytes().decode().upper()
        hits = [(m.start(), "G", "A", 2) for m in re.finditer("(?=ACGTG)", seq)]
        hits += [(m.start(), "C", "T", 2) for m in re.finditer("(?=CACGT)", seq)]  # ACGTG on the minus strand
        for start, ref, alt, offset in hits:
            pos = centre - FLANK + start + offset + 1  # 1-based
            motif[pos] = (ref, alt)
        covered = {start + k for start, *_ in hits for k in range(5)}
        free = [i for i in range(len(seq)) if i not in covered and seq[i] in "ACGT"]
        if hits and free:
            i = int(rng.choice(free))
            ref = seq[i]
            control[centre - FLANK + i + 1] = (ref, "ACGT".replace(ref, "")[rng.integers(3)])
    paths = []
    for name, snvs in (("motif", motif), ("control", control)):
        path = folder / f"abf2_{name}.vcf"
        path.write_text(HEADER + "".join(f"chr1\t{p}\t{name}{p}\t{r}\t{a}\t.\t.\t.\n"
                                         for p, (r, a) in sorted(snvs.items())))
        paths.append(path)
    return paths[0], paths[1]


def summary(table: Path, target: str) -> dict:
    rows = pd.read_csv(table, sep="\t", keep_default_na=False, na_values=["nan", ""])
    rows = rows[rows["note"].isna()]
    p, z, d = rows[f"pvalue:{target}"], rows[f"z:{target}"], rows[f"diff:{target}"]
    return {"SNVs": len(rows), "null per band (median)": int(rows["null_n"].median()),
            "median p": round(float(p.median()), 3), "p <= 0.05": f"{(p <= 0.05).mean():.1%}",
            "p <= 0.01": f"{(p <= 0.01).mean():.1%}", "median z": round(float(z.median()), 2),
            "diff < 0": f"{(d < 0).mean():.1%}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fasta", required=True)
    ap.add_argument("--peaks", required=True)
    ap.add_argument("--model", default="DeepSEA_Athaliana265")
    ap.add_argument("--target", default="ABF2")
    ap.add_argument("--null", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model = seqzoo.get_model(args.model)
    with tempfile.TemporaryDirectory() as tmp, Genome(args.fasta) as genome:
        folder = Path(tmp)
        motif, control = make_vcfs(genome, summits(args.peaks, args.target), folder, args.seed)
        results = {}
        for name, vcf in (("motif-breaking", motif), ("control (same summits, off-motif)", control)):
            out = folder / f"{vcf.stem}.tsv"
            score_variants(model, args.fasta, vcf, out, targets=args.target, scores=["diff"], null=args.null,
                           seed=args.seed, progress=False)
            results[name] = summary(out, args.target)
    print(f"{args.model}, target {args.target}, null {args.null} SNVs (seed {args.seed}), "
          f"ABF2 summits +-{FLANK} bp in {BLOCK[0]}:{BLOCK[1]:,}-{BLOCK[2]:,}")
    print(pd.DataFrame(results).T.to_markdown())


if __name__ == "__main__":
    main()

"""Do DeepSEA_Athaliana265's attributions point at the TFs' motifs? (issue 29, validation block only)

1. **ABF2 motif-breaking SNVs** (the ones ``research/measure_abf2_null.py`` draws: the G of every
   ACGTG, or the C of CACGT, within 50 bp of an ABF2 summit of chr1:20-24 Mb): DeepLIFT/SHAP of the
   ABF2 logit (20 dinucleotide-shuffled references) over the model's 1,000 bp window centred on
   each summit; an SNV counts when the |observed-base contribution| of its position is in the top
   5% of its window (at most 50 of the 1,000 positions above it).
2. **``seqzoo motifs``** for each TF on its positive validation windows (the ``seqzoo dataset
   --design deepsea`` rule: 200 bp bins at multiples of 200 overlapping a summit +- 100 bp, whose
   1,000 bp window lies inside the block), TF-MoDISco on the central 400 bp (``--region 300-700``,
   where the model's motif branch reads), timed; the strongest pattern's best TOMTOM match and
   its q-value are checked against the TF's family.
3. ``--figure PNG``: the ABF2 attribution track over a bound region beside the prediction track
   and the DAP-seq peak, and the discovered motif's logo beside its JASPAR match.

    nice -n 10 python research/measure_attribution_biology.py --fasta TAIR10_chr1.fa.gz \\
        --peaks arabidopsis/dapseq_chr1_peaks.bed.gz --motifs motifs/JASPAR2024_CORE_plants_nonredundant.meme \\
        --out /tmp/bio --figure docs/abf2_attribution.png > /tmp/bio.log 2>&1

(``--fasta``: a writable copy of ``arabidopsis/TAIR10_chr1.fa.gz``, whose index is built on first use.)
To draw only the figure from an earlier run's ``--out`` (its ``motifs_ABF2/`` report), add
``--figure-only``: it runs ``seqzoo predict`` and ``seqzoo attribute`` over the figure's 600 bp alone.
"""

import argparse
import gzip
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BLOCK = ("chr1", 20_000_000, 24_000_000)
FLANK = 50
BIN, WINDOW = 200, 1000
#: what the strongest pattern's best JASPAR match must be, per TF (name pattern, the motif family)
FAMILIES = {
    "ABF2": ("ABF|ABI|AREB|BZIP|GBF|DPBF|EEL|HY5|HYH|BZO2|TGA", "ABF/ABI/bZIP (ACGTG core)"),
    "WRKY33": ("WRKY", "WRKY (W-box TTGAC)"),
    "LHY1": ("LHY|CCA1|RVE", "LHY/CCA1/RVE (evening element AAATATCT)"),
    "CBF3": ("CBF|DREB|ERF|RAP2|DEAR", "AP2/ERF DRE (CCGAC)"),
    "AT1G72010": ("TCP", "TCP (GGNCCCAC)"),
    "BIM2": ("BIM|BEE|BHLH|PIF|MYC|SPT|BZR", "bHLH (CACGTG)"),
    "ERF1": ("ERF|RAP2|DREB|AP2", "AP2/ERF (GCC box)"),
}


def summits(peaks: str, tf: str) -> list[int]:
    """Summits (interval centres) of ``tf``'s peaks inside the validation block."""
    chrom, lo, hi = BLOCK
    out = []
    with gzip.open(peaks, "rt") as fh:
        for line in fh:
            c, start, end, name = line.split()[:4]
            if name == tf and c == chrom and lo <= int(start) and int(end) <= hi:
                out.append((int(start) + int(end)) // 2)
    return sorted(set(out))


def positive_bins(centres: list[int]) -> list[int]:
    """Starts of the 200 bp bins that overlap a summit +- 100 and whose 1,000 bp window is in the block."""
    _, lo, hi = BLOCK
    pad = (WINDOW - BIN) // 2
    bins = {b for c in centres for b in range((c - 100) // BIN * BIN, c + 100, BIN) if b < c + 100 and b + BIN > c - 100}
    return sorted(b for b in bins if b - pad >= lo and b + BIN + pad <= hi)


def motif_breaking_positions(genome, centre: int) -> list[int]:
    """0-based genome positions of research/measure_abf2_null.py's motif-breaking SNVs near ``centre``."""
    seq = genome.fetch_codes("chr1", centre - FLANK, centre + FLANK)[0].tobytes().decode().upper()
    starts = [m.start() for m in re.finditer("(?=ACGTG)", seq)] + [m.start() for m in re.finditer("(?=CACGT)", seq)]
    return sorted({centre - FLANK + s + 2 for s in starts})


def snv_check(args, out: Path) -> dict:
    from seqzoo.attribution import attribute_windows
    from seqzoo.io.genome import Genome
    from seqzoo.runtime import get_model

    centres = summits(args.peaks, "ABF2")
    with Genome(args.fasta) as genome:
        snvs = {c: motif_breaking_positions(genome, c) for c in centres}
    centres = [c for c in centres if snvs[c]]
    bed = out / "abf2_summits.bed"
    bed.write_text("".join(f"chr1\t{c - 100}\t{c + 100}\tsummit{c}\n" for c in centres))
    model = get_model(args.model, device="cpu")
    clock = time.perf_counter()
    summary = attribute_windows(model, args.fasta, out / "abf2_summits.npz", targets=["ABF2"], bed=bed,
                                references=args.references, overwrite=True)
    seconds = time.perf_counter() - clock
    a = np.load(out / "abf2_summits.npz")
    per_base = np.abs(a["attributions"][:, 0].sum(axis=-1))  # (W, L) |observed-base contribution|
    hits, ranks = [], []
    for w, centre in enumerate(centres):
        values = per_base[w]
        for position in snvs[centre]:
            above = int((values > values[position - int(a["window_start"][w])]).sum())
            ranks.append(above)
            hits.append(above < 0.05 * len(values))
    return {"summits": len(centres), "SNVs": len(hits), "top 5%": float(np.mean(hits)),
            "median positions above": float(np.median(ranks)), "max relative delta": summary["max_relative_delta"],
            "flagged": summary["flagged"], "attribution seconds": round(seconds, 1)}


def motifs_check(args, out: Path, tf: str) -> dict:
    centres = summits(args.peaks, tf)
    bins = positive_bins(centres)
    bed = out / f"{tf}_positive_bins.bed"
    bed.write_text("".join(f"chr1\t{b}\t{b + BIN}\t{tf}\n" for b in bins))
    report = out / f"motifs_{tf}"
    command = [sys.executable, "-m", "seqzoo", "motifs", args.model, "--target", tf, "--fasta", args.fasta,
               "--bed", str(bed), "--motifs", args.motifs, "--region", "300-700", "--references",
               str(args.references), "--min-seqlets", str(args.min_seqlets), "--device", "cpu", "--force",
               "-o", str(report)]
    print(" ".join(command), flush=True)
    clock = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - clock
    (out / f"motifs_{tf}.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        return {"TF": tf, "windows": len(bins), "error": done.stderr[-2000:], "seconds": round(seconds)}
    rows = [line.split("\t") for line in (report / "motifs.tsv").read_text().splitlines()]
    table = [dict(zip(rows[0], r)) for r in rows[1:]]
    positive = [r for r in table if r["sign"] == "+"]
    result = {"TF": tf, "windows": len(bins), "patterns": len(table), "seconds": round(seconds)}
    if positive:
        best = positive[0]
        pattern, family = FAMILIES[tf]
        result.update(strongest=best["pattern"], seqlets=int(best["seqlets"]), consensus=best["consensus"],
                      match=best.get("match_1", ""), match_id=best.get("match_id_1", ""),
                      q=float(best.get("q_1") or "nan"), family=family,
                      family_ok=bool(re.search(pattern, best.get("match_1", "").upper()))
                      and float(best.get("q_1") or 1) < 0.05,
                      top3=[(best.get(f"match_{i}"), best.get(f"q_{i}")) for i in (1, 2, 3)])
    return result


def figure(args, out: Path, png: Path) -> None:
    """Prediction and attribution tracks of ABF2 over a bound validation region with its peak,
    beside the strongest ABF2 pattern's CWM logo and its best JASPAR match's logo."""
    import matplotlib

    matplotlib.use("Agg")
    import h5py
    import logomaker
    import matplotlib.pyplot as plt
    import pandas as pd
    import pyBigWig

    from seqzoo.io.meme import read_meme

    centre = 20_606_729 if args.figure_centre is None else args.figure_centre
    start, end = centre - 300, centre + 300
    region = f"chr1:{start}-{end}"
    base = [sys.executable, "-m", "seqzoo"]
    for command in (["predict", args.model, "--fasta", args.fasta, "--tile", region, "--step", "20",
                     "--targets", "ABF2", "--device", "cpu", "--force", "-o", str(out / "fig_pred.bw")],
                    ["attribute", args.model, "--fasta", args.fasta, "--tile", region, "--target", "ABF2",
                     "--references", str(args.references), "--device", "cpu", "--force", "-o",
                     str(out / "fig_attr.bw")]):
        subprocess.run(base + command, check=True)
    positions = np.arange(start, end)
    prediction = np.array(pyBigWig.open(str(out / "fig_pred.bw")).values("chr1", start, end), dtype=float)
    contribution = np.array(pyBigWig.open(str(out / "fig_attr.bw")).values("chr1", start, end), dtype=float)
    peaks = []
    with gzip.open(args.peaks, "rt") as fh:
        for line in fh:
            c, s, e, tf = line.split()[:4]
            if tf == "ABF2" and int(s) < end and int(e) > start:
                peaks.append((int(s), int(e)))
    report = out / "motifs_ABF2"
    rows = [line.split("\t") for line in (report / "motifs.tsv").read_text().splitlines()]
    best = dict(zip(rows[0], rows[1]))
    group, index = best["pattern"].split(".")  # e.g. pos_patterns.pattern_0
    with h5py.File(report / "modisco_results.h5") as fh:
        cwm = fh[group][index]["contrib_scores"][:]
    score = np.abs(cwm).sum(axis=1)  # trimmed as seqzoo motifs matched it (30% of the peak), 2 bp flanks
    keep = np.flatnonzero(score >= 0.3 * score.max())
    cwm = cwm[max(keep[0] - 2, 0):keep[-1] + 3]
    ppm = np.clip(read_meme(args.motifs)[best["match_1"]][1], 1e-3, 1)
    ppm = ppm / ppm.sum(axis=1, keepdims=True)
    bits = ppm * (2 + (ppm * np.log2(ppm)).sum(axis=1, keepdims=True))
    fig = plt.figure(figsize=(11, 6))
    grid = fig.add_gridspec(5, 2, height_ratios=[1, 1.6, 0.35, 0.3, 1.4], hspace=0.45, wspace=0.12)
    ax = fig.add_subplot(grid[0, :])
    ax.plot(positions, prediction, color="tab:blue")
    ax.set_ylabel("P(ABF2)", fontsize=8)
    ax.set_xlim(start, end)
    ax.set_title(f"DeepSEA_Athaliana265, ABF2, {region} (validation block)", fontsize=9)
    ax = fig.add_subplot(grid[1, :])
    ax.bar(positions, np.nan_to_num(contribution), width=1, color=np.where(contribution >= 0, "tab:green", "tab:red"))
    ax.set_ylabel("DeepLIFT/SHAP\n(ABF2 logit)", fontsize=8)
    ax.set_xlim(start, end)
    ax = fig.add_subplot(grid[2, :])
    for s, e in peaks:
        ax.axvspan(s, e, color="tab:orange", alpha=0.6)
    ax.set_xlim(start, end)
    ax.set_yticks([])
    ax.set_ylabel("DAP-seq\npeak", fontsize=8, rotation=0, labelpad=20)
    ax.set_xlabel("chr1 position (TAIR10)", fontsize=8)
    for ax in fig.axes:
        ax.ticklabel_format(axis="x", useOffset=False, style="plain")
        ax.tick_params(axis="x", labelbottom=ax is fig.axes[-1], labelsize=8)
    for column, (matrix, title, label) in enumerate((
            (cwm, f"TF-MoDISco's strongest ABF2 pattern ({best['seqlets']} seqlets)", "contribution"),
            (bits, f"best TOMTOM match: JASPAR {best['match_1']} ({best['match_id_1']}), q = "
                   f"{float(best['q_1']):.1e}", "bits"))):
        ax = fig.add_subplot(grid[4, column])  # row 3: room for the axis label
        logomaker.Logo(pd.DataFrame(matrix, columns=list("ACGT")), ax=ax)
        ax.set_xticks([])
        ax.set_ylabel(label, fontsize=8)
        ax.set_title(title, fontsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.savefig(png, dpi=110, bbox_inches="tight")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fasta", required=True)
    ap.add_argument("--peaks", required=True)
    ap.add_argument("--motifs", required=True)
    ap.add_argument("--model", default="DeepSEA_Athaliana265")
    ap.add_argument("--tfs", default="ABF2,WRKY33,LHY1")
    ap.add_argument("--references", type=int, default=20)
    ap.add_argument("--min-seqlets", type=int, default=30)
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip-snvs", action="store_true")
    ap.add_argument("--figure", help="PNG to draw (after the motifs of ABF2)")
    ap.add_argument("--figure-centre", type=int)
    ap.add_argument("--figure-only", action="store_true",
                    help="draw --figure from the motifs_ABF2/ report an earlier run left in --out; measure nothing")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.figure_only:
        if not args.figure or not (out / "motifs_ABF2" / "motifs.tsv").is_file():
            ap.error("--figure-only needs --figure and an --out that holds an earlier run's motifs_ABF2/motifs.tsv")
        figure(args, out, Path(args.figure))
        return
    results = {}
    if not args.skip_snvs:
        results["snvs"] = snv_check(args, out)
        print(json.dumps(results["snvs"]), flush=True)
    for tf in args.tfs.split(","):
        results[tf] = motifs_check(args, out, tf)
        print(json.dumps(results[tf]), flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    if args.figure:
        figure(args, out, Path(args.figure))


if __name__ == "__main__":
    main()

"""How complete are integrated gradients on a model DeepLIFT refuses? (issue 29: DanQ_Athaliana265)

DanQ_Athaliana265 has a bidirectional LSTM, for which seqzoo has no DeepLIFT rule; integrated
gradients (the logit's gradient averaged along the path from each dinucleotide-shuffled reference)
explain it instead, and their attributions sum to ``logit(x) - mean(logit(refs))`` only up to the
Riemann sum's error, the completeness delta. This measures that delta for ``--steps`` (each a run
with the same references) on ``--windows`` 1,000 bp windows spread evenly over the validation
block chr1:20-24 Mb, and prints its distribution: absolute (logits) and relative (to the mean
``|logit(x) - logit(ref)|``), and how many windows ``seqzoo attribute`` would flag.

    nice -n 10 python research/measure_ig_completeness.py --fasta TAIR10_chr1.fa \\
        --out /tmp/ig_danq.json > /tmp/ig_danq.log 2>&1

One reference per window by default (``seqzoo attribute`` averages 20 paths, whose errors partly
cancel): each window's delta is then one path's, the harder case. ``--fasta``: an uncompressed or
bgzipped FASTA with its index.
"""

import argparse
import json
import time

import numpy as np

BLOCK = ("chr1", 20_000_000, 24_000_000)
WINDOW = 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fasta", required=True)
    ap.add_argument("--model", default="DanQ_Athaliana265")
    ap.add_argument("--target", default="ABF2")
    ap.add_argument("--windows", type=int, default=50)
    ap.add_argument("--references", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=5, help="windows per step of the run (the summary is rewritten)")
    ap.add_argument("--steps", default="32,64")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--out", required=True, help="JSON of the figures")
    args = ap.parse_args()

    import seqzoo
    from seqzoo.attribution import (
        DELTA_FLOOR,
        TOLERANCE,
        attribute,
        dinucleotide_shuffle,
    )
    from seqzoo.io.bed import Interval
    from seqzoo.io.genome import Genome
    from seqzoo.windows import encode_windows

    chrom, lo, hi = BLOCK
    spacing = (hi - lo - WINDOW) // args.windows
    intervals = [Interval(chrom, lo + i * spacing, lo + i * spacing + WINDOW) for i in range(args.windows)]
    with Genome(args.fasta) as genome:
        x = encode_windows(genome, intervals, WINDOW).x
    refs = np.stack([dinucleotide_shuffle(w, args.references, i) for i, w in enumerate(x)])
    model = seqzoo.get_model(args.model, device="cpu")
    networks: dict = {}
    steps_list = [int(s) for s in args.steps.split(",")]
    deltas = {steps: [] for steps in steps_list}  # per window: (|delta|, relative, flagged, |logit difference|)
    results = {"model": args.model, "target": args.target, "references": args.references,
               "block": f"{chrom}:{lo}-{hi}", "spacing": spacing}
    # a chunk of windows at a time, the summary rewritten after each: a long run can be read while it goes
    for first in range(0, len(x), args.chunk):
        chunk = slice(first, first + args.chunk)
        for steps in steps_list:
            clock = time.perf_counter()
            r = attribute(model, x[chunk], [args.target], "integrated_gradients", steps=steps,
                          batch_size=args.batch_size, reference_windows=refs[chunk], networks=networks)
            deltas[steps] += [(abs(float(d)), float(rel), bool(f), abs(float(diff)), time.perf_counter() - clock)
                              for d, rel, f, diff in zip(r.deltas[:, 0], r.relative_deltas[:, 0], r.flagged[:, 0],
                                                         r.logits[:, 0] - r.reference_logits[:, 0])]
        results["windows"] = len(deltas[steps_list[0]])
        for steps in steps_list:
            rows = np.array(deltas[steps])
            absolute, relative = rows[:, 0], rows[:, 1]
            results[f"steps {steps}"] = {
                "seconds": round(float(rows[:, 4].sum()), 1),
                "abs median": float(np.median(absolute)), "abs p90": float(np.quantile(absolute, 0.9)),
                "abs max": float(absolute.max()),
                "rel median": float(np.median(relative)), "rel p90": float(np.quantile(relative, 0.9)),
                "rel max": float(relative.max()),
                "rel < 1e-3": float((relative < TOLERANCE).mean()), "rel < 1e-2": float((relative < 1e-2).mean()),
                "flagged (tolerance and floor)": int(rows[:, 2].sum()),
                "above the floor": int((absolute > DELTA_FLOOR).sum()),
                "median |logit(x) - mean logit(refs)|": float(np.median(rows[:, 3]))}
        print(json.dumps(results), flush=True)
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()

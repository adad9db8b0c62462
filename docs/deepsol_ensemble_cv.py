"""Choose the weights of a cross-validated DeepSol ensemble from out-of-fold predictions (issue 21).

Each run of ``seqzoo train DeepSol --lockbox F --folds K --fold i`` records its predictions on the
fold it held out (``split.held_out_predictions``). For each group of runs (``--group NAME RUN...``,
one run per fold), these out-of-fold predictions cover every validation row outside the lockbox
once. This script pools them, compares each group alone and their weighted averages on a grid,
and prints the figures: the lockbox is never read.

The networks' group is stronger served (the average of all K fold networks) than out of fold
(one network per row), so the weight chosen here slightly undervalues the networks.

Usage:
    python docs/deepsol_ensemble_cv.py --valid deepsol_valid.tsv \\
        --group networks /tmp/runs/net_f{0..4} --group composition /tmp/runs/comp_f{0..4} [--out cv.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from seqzoo.training.metrics import binary_metrics
from seqzoo.training.protein import read_labelled_tsv


def out_of_fold(runs: list[Path], n_rows: int) -> tuple[np.ndarray, list]:
    """Pooled held-out predictions of ``runs`` (NaN where none), and their shared lockbox rows."""
    p = np.full(n_rows, np.nan)
    lockbox = None
    for run in runs:
        info = json.loads((run / "metrics.json").read_text())
        rows, predictions = info["split"]["held_out_rows"], info["split"]["held_out_predictions"]
        if not np.isnan(p[rows]).all():
            raise ValueError(f"{run} held out rows another run of its group held out too")
        p[rows] = [np.nan if v is None else v for v in predictions]
        box = (info.get("lockbox") or {}).get("rows")
        if lockbox is not None and box != lockbox:
            raise ValueError(f"{run} set aside another lockbox")
        lockbox = box
    return p, lockbox


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--valid", required=True)
    p.add_argument("--group", nargs="+", action="append", required=True, metavar=("NAME", "RUN"))
    p.add_argument("--grid", type=float, default=0.1, help="weight step of the second group")
    p.add_argument("--out")
    args = p.parse_args(argv)

    labels = read_labelled_tsv(args.valid).labels
    groups = {}
    for name, *runs in args.group:
        groups[name], lockbox = out_of_fold([Path(r) for r in runs], len(labels))
        if lockbox and not np.isnan(groups[name][lockbox]).all():
            raise ValueError(f"group {name} has predictions on lockbox rows")
    covered = np.all([np.isfinite(v) for v in groups.values()], axis=0)
    print(f"{covered.sum()} validation rows with an out-of-fold prediction from every group", file=sys.stderr)

    def row(name: str, probabilities: np.ndarray) -> dict:
        m = binary_metrics(labels[covered], probabilities[covered])
        log_loss = -np.mean(np.log(np.where(labels[covered] == 1, probabilities[covered], 1 - probabilities[covered])))
        return {"candidate": name, **{k: round(m[k], 4) for k in ("accuracy", "mcc", "auroc", "auprc")},
                "log_loss": round(float(log_loss), 4), "n": m["n"]}

    results = [row(name, v) for name, v in groups.items()]
    if len(groups) == 2:
        (a, pa), (b, pb) = groups.items()
        for w in np.arange(args.grid, 1.0 - 1e-9, args.grid):
            results.append(row(f"{1 - w:.2f} {a} + {w:.2f} {b}", (1 - w) * pa + w * pb))
    for r in results:
        print(f"{r['candidate']:>40}  accuracy {r['accuracy']:.4f}  MCC {r['mcc']:.4f}  AUROC {r['auroc']:.4f}  "
              f"AUPRC {r['auprc']:.4f}  log loss {r['log_loss']:.4f}")
    best = max(results, key=lambda r: r["auroc"])
    print(f"highest out-of-fold AUROC: {best['candidate']}")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "results": results, "best": best}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

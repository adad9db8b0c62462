"""Choose the weights of a cross-validated DeepSol ensemble from out-of-fold predictions (issue 21).

Each run of ``seqzoo train DeepSol --lockbox F --folds K --fold i`` records its predictions on the
fold it held out (``split.held_out_predictions``). For each group of runs (``--group NAME RUN...``,
one run per fold), these out-of-fold predictions cover every validation row outside the lockbox
once. This script pools them, compares each group alone and their weighted averages on a grid,
and prints the figures: the lockbox is never read.

For the best candidate it also measures the calibration lever: Platt scaling (a logistic
regression on the logit of the probability) fitted on the other folds' out-of-fold rows and applied
to each fold in turn, against the uncalibrated probabilities (log loss, accuracy at 0.5 and the
expected calibration error over ten bins).

The networks' group is stronger served (the average of all K fold networks) than out of fold
(one network per row), so the weight chosen here slightly undervalues the networks.

Usage:
    python research/deepsol_ensemble_cv.py --valid deepsol_valid.tsv \\
        --group networks /tmp/runs/net_f{0..4} --group composition /tmp/runs/comp_f{0..4} [--out cv.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from seqzoo.training.metrics import binary_metrics, reliability
from seqzoo.training.protein_batches import fit_logistic
from seqzoo.training.proteins import read_labelled_tsv


def out_of_fold(runs: list[Path], n_rows: int) -> tuple[np.ndarray, list | None, np.ndarray]:
    """Pooled held-out predictions of ``runs`` (NaN where none), their shared lockbox rows, and
    which run held out each row (-1: none). Refuses runs that held out the same row twice or
    set aside different lockboxes."""
    p = np.full(n_rows, np.nan)
    fold = np.full(n_rows, -1)
    lockboxes = []
    for i, run in enumerate(runs):
        info = json.loads((run / "metrics.json").read_text())
        rows, predictions = info["split"]["held_out_rows"], info["split"]["held_out_predictions"]
        if (fold[rows] >= 0).any():
            raise ValueError(f"{run} held out rows another run of its group held out too")
        p[rows] = [np.nan if v is None else v for v in predictions]
        fold[rows] = i
        lockboxes.append((info.get("lockbox") or {}).get("rows"))
    if any(box != lockboxes[0] for box in lockboxes):
        raise ValueError(f"the runs {', '.join(map(str, runs))} set aside different lockboxes")
    return p, lockboxes[0], fold


def calibration_error(y: np.ndarray, p: np.ndarray) -> float:
    """Expected calibration error: the row-weighted mean |observed - predicted| of ten bins."""
    return float(sum(b["n"] * abs(b["observed"] - b["mean_predicted"]) for b in reliability(y, p)) / len(y))


def fit_platt(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of ``sigmoid(slope * logit(p) + intercept)`` minimising the log loss."""
    logit = np.log(np.clip(p, 1e-7, 1 - 1e-7) / np.clip(1 - p, 1e-7, 1))[:, None]
    a, b = fit_logistic(logit, y, np.ones(len(y)), l2=0.0)
    return float(a[0]), b


def apply_platt(p: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    logit = np.log(np.clip(p, 1e-7, 1 - 1e-7) / np.clip(1 - p, 1e-7, 1))
    return 1.0 / (1.0 + np.exp(-(slope * logit + intercept)))


def platt_cross_fitted(y: np.ndarray, p: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Each fold's probabilities recalibrated by a Platt scaling fitted on the other folds."""
    out = np.empty_like(p)
    for f in np.unique(fold):
        out[fold == f] = apply_platt(p[fold == f], *fit_platt(y[fold != f], p[fold != f]))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--valid", required=True)
    p.add_argument("--group", nargs="+", action="append", required=True, metavar=("NAME", "RUN"))
    p.add_argument("--grid", type=float, default=0.1, help="weight step of the second group")
    p.add_argument("--out")
    args = p.parse_args(argv)

    labels = read_labelled_tsv(args.valid).labels
    groups, folds, lockboxes = {}, {}, {}
    for name, *runs in args.group:
        groups[name], lockboxes[name], folds[name] = out_of_fold([Path(r) for r in runs], len(labels))
    if len({json.dumps(box) for box in lockboxes.values()}) != 1:
        raise ValueError(f"the groups {', '.join(lockboxes)} set aside different lockboxes")
    if any(not np.array_equal(f, next(iter(folds.values()))) for f in folds.values()):
        raise ValueError("the groups' runs held out different folds: give each group its runs in fold order")
    covered = np.all([np.isfinite(v) for v in groups.values()], axis=0)
    print(f"{covered.sum()} validation rows with an out-of-fold prediction from every group", file=sys.stderr)

    def row(name: str, probabilities: np.ndarray) -> dict:
        m = binary_metrics(labels[covered], probabilities[covered])
        log_loss = -np.mean(np.log(np.where(labels[covered] == 1, probabilities[covered], 1 - probabilities[covered])))
        return {"candidate": name, **{k: round(m[k], 4) for k in ("accuracy", "mcc", "auroc", "auprc")},
                "log_loss": round(float(log_loss), 4), "n": m["n"]}

    candidates = dict(groups)
    if len(groups) == 2:
        (a, pa), (b, pb) = groups.items()
        for w in np.arange(args.grid, 1.0 - 1e-9, args.grid):
            candidates[f"{1 - w:.2f} {a} + {w:.2f} {b}"] = (1 - w) * pa + w * pb
    results = [row(name, v) for name, v in candidates.items()]
    for r in results:
        print(f"{r['candidate']:>40}  accuracy {r['accuracy']:.4f}  MCC {r['mcc']:.4f}  AUROC {r['auroc']:.4f}  "
              f"AUPRC {r['auprc']:.4f}  log loss {r['log_loss']:.4f}")
    best = max(results, key=lambda r: r["auroc"])
    print(f"highest out-of-fold AUROC: {best['candidate']}")

    y, p_best = labels[covered], candidates[best["candidate"]][covered]
    fold = next(iter(folds.values()))[covered]
    calibrated = platt_cross_fitted(y, p_best, fold)
    calibration = {}
    for name, q in (("uncalibrated", p_best), ("Platt scaling, cross-fitted by fold", calibrated)):
        m = binary_metrics(y, q)
        calibration[name] = {"accuracy": round(m["accuracy"], 4), "mcc": round(m["mcc"], 4),
                             "log_loss": round(float(-np.mean(np.log(np.where(y == 1, q, 1 - q)))), 4),
                             "ece": round(calibration_error(y, q), 4), "reliability": reliability(y, q)}
        print(f"{name:>40}  accuracy {m['accuracy']:.4f}  MCC {m['mcc']:.4f}  "
              f"log loss {calibration[name]['log_loss']:.4f}  ECE {calibration[name]['ece']:.4f}")
    slope, intercept = fit_platt(y, p_best)
    calibration["fitted_on_every_row"] = {"slope": round(slope, 6), "intercept": round(intercept, 6)}
    print(f"Platt scaling of {best['candidate']} on every out-of-fold row: "
          f"seqzoo ensemble ... --calibration {slope:.6f} {intercept:.6f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "results": results, "best": best,
                                              "calibration": calibration}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

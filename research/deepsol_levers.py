"""Cross-validated comparison of DeepSol levers on the composition model (issue 21).

Every figure here comes from cross-validation on the DeepSol validation rows left after the
lockbox (``--lockbox``, ``--lockbox-seed``: the same rule as ``seqzoo train DeepSol --lockbox``);
the lockbox itself is never read. For fold i of ``--folds`` stratified folds, a model is fitted on
the training file plus the other folds and predicts fold i; the out-of-fold predictions of all
folds are pooled into one accuracy, MCC, AUROC and AUPRC.

Levers: residue-pair gaps, the L2 penalty, length reweighting (``training_weights``), and
Biopython ProtParam descriptors (isoelectric point, instability index, GRAVY, aromaticity,
flexibility, secondary-structure fractions, charge at pH 7, mean residue weight) beside the
composition.

Usage:
    python research/deepsol_levers.py --train deepsol_train.tsv --valid deepsol_valid.tsv [--out levers.json]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from seqzoo.architectures.layers import ProteinComposition
from seqzoo.encoding import PROTEIN_ALPHABET
from seqzoo.training.metrics import binary_metrics
from seqzoo.training.protein_batches import fit_logistic, pad_batch
from seqzoo.training.proteins import (LabelledProteins, read_labelled_tsv, stratified_folds, stratified_split,
                                      training_weights)


def composition(data: LabelledProteins, gaps=(0, 1, 2), max_len: int = 1200) -> np.ndarray:
    """ProteinComposition features (the shipped layer), proteins cropped to ``max_len``."""
    layer = ProteinComposition(gaps)
    tokens = [t[:max_len] for t in data.tokens]
    order = np.argsort([len(t) for t in tokens])
    out = np.empty((len(tokens), 20 + 400 * len(gaps) + 1), dtype="float64")
    for i in range(0, len(order), 512):
        rows = order[i : i + 512]
        out[rows] = np.asarray(layer(pad_batch([tokens[r] for r in rows], 1)))
    return out


def protparam(data: LabelledProteins) -> np.ndarray:
    """Biopython ProtParam descriptors per protein (whole sequence)."""
    from Bio.SeqUtils.ProtParam import ProteinAnalysis

    rows = []
    for t in data.tokens:
        a = ProteinAnalysis("".join(PROTEIN_ALPHABET[i - 1] for i in t))
        flex = a.flexibility() if len(t) >= 9 else [1.0]
        rows.append([a.isoelectric_point(), a.instability_index(), a.gravy(), a.aromaticity(),
                     float(np.mean(flex)), *a.secondary_structure_fraction(), a.charge_at_pH(7.0) / len(t),
                     a.molecular_weight() / len(t)])
    return np.asarray(rows, dtype="float64")


def columns(gaps) -> np.ndarray:
    """Feature columns of the gaps-(0, 1, 2) matrix for a subset of gaps (+ log length)."""
    cols = list(range(20)) + [20 + 400 * k + j for k in gaps for j in range(400)] + [20 + 1200]
    return np.array(cols)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", required=True)
    p.add_argument("--valid", required=True)
    p.add_argument("--lockbox", type=float, default=0.3)
    p.add_argument("--lockbox-seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--out")
    args = p.parse_args(argv)

    train, valid = read_labelled_tsv(args.train), read_labelled_tsv(args.valid)
    _, dev_rows = stratified_split(valid.labels, valid.lengths, args.lockbox, args.lockbox_seed)
    dev = valid.subset(dev_rows)  # the lockbox is never read below
    folds = stratified_folds(dev.labels, dev.lengths, args.folds, args.split_seed)
    print(f"{len(train)} training, {len(dev)} validation rows outside the lockbox, {args.folds} folds", file=sys.stderr)

    x_train, x_dev = composition(train), composition(dev)
    p_train, p_dev = protparam(train), protparam(dev)

    def cross_validate(gaps, l2, length_weight, descriptors) -> dict:
        cols = columns(gaps)
        oof = np.empty(len(dev))
        for i, held in enumerate(folds):
            rest = np.setdiff1d(np.arange(len(dev)), held)
            x = np.r_[x_train[:, cols], x_dev[rest][:, cols]]
            if descriptors:
                x = np.c_[x, np.r_[p_train, p_dev[rest]]]
            y = np.r_[train.labels, dev.labels[rest]]
            lengths = np.r_[train.lengths, dev.lengths[rest]]
            w = training_weights(y, lengths, class_weight=True,
                                 target_lengths=dev.lengths[rest] if length_weight else None)
            mean, sd = x.mean(0), x.std(0)
            sd[sd == 0] = 1
            kernel, bias = fit_logistic((x - mean) / sd, y, w, l2)
            xh = x_dev[held][:, cols]
            if descriptors:
                xh = np.c_[xh, p_dev[held]]
            oof[held] = 1 / (1 + np.exp(-(((xh - mean) / sd) @ kernel + bias)))
        m = binary_metrics(dev.labels, oof)
        return {"gaps": list(gaps), "l2": l2, "length_weight": length_weight, "protparam": descriptors,
                **{k: round(m[k], 4) for k in ("accuracy", "mcc", "auroc", "auprc")}}

    results = []
    grid = [((0,), 2e-5, False, False), ((0, 1), 2e-5, False, False), ((0, 1, 2), 2e-5, False, False),
            ((0, 1), 2e-5, True, False), ((0, 1), 2e-5, False, True), ((0, 1), 2e-5, True, True)]
    grid += [((0, 1), l2, True, False) for l2 in (5e-6, 1e-4, 5e-4)]
    for config in grid:
        results.append(cross_validate(*config))
        print(json.dumps(results[-1]), file=sys.stderr)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

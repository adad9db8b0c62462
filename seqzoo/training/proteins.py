"""Labelled proteins for training DeepSol-like models: reading, length bands, splits, folds and
training weights (keras-free; the data half of ``seqzoo train DeepSol``, as ``datasets`` is for DNA)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqzoo.encoding import encode_protein

__all__ = ["LENGTH_BANDS", "LabelledProteins", "band_name", "length_band", "lockbox_rows", "read_labelled_tsv",
           "split_validation", "stratified_folds", "stratified_split", "training_weights", "validation_plan",
           "weight_summary"]


#: Upper ends (residues, inclusive) of the length bands: up to 200, 201-500, 501-1200, over 1200.
#: The lockbox and the folds are stratified by label and band, ``length_weight`` evens the bands
#: out, and the card reports figures per band.
LENGTH_BANDS = (200, 500, 1200)


@dataclass
class LabelledProteins:
    """Proteins as unpadded token arrays with their 0/1 labels, and the TSV rows they came from."""

    tokens: list[np.ndarray]
    labels: np.ndarray
    rows: np.ndarray  # 0-based data-row index in the source file (header excluded)

    def __len__(self) -> int:
        return len(self.tokens)

    def subset(self, index: np.ndarray) -> LabelledProteins:
        """The proteins at ``index``, in that order."""
        index = np.asarray(index, dtype=int)
        return LabelledProteins([self.tokens[i] for i in index], self.labels[index], self.rows[index])

    @staticmethod
    def concatenate(parts: list[LabelledProteins]) -> LabelledProteins:
        """All proteins of ``parts``, in order."""
        return LabelledProteins(
            [t for p in parts for t in p.tokens],
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.rows for p in parts]),
        )

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(t) for t in self.tokens], dtype=int)


def read_labelled_tsv(path: str | Path) -> LabelledProteins:
    """Read a ``sequence<TAB>label`` TSV (with that header) into unpadded tokens.

    Sequences are encoded like :func:`seqzoo.encoding.encode_protein` (upper-cased, one trailing
    ``*`` removed) but not padded or length-limited.

    Raises:
        ValueError: naming the file and line for a wrong header, a label other than 0/1, or a
            sequence that cannot be encoded (empty, non-standard residue).
    """
    path = Path(path)
    tokens: list[np.ndarray] = []
    labels: list[int] = []
    with open(path, newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["sequence", "label"]:
            raise ValueError(f"{path}, line 1: expected the header 'sequence<TAB>label', got {header!r}")
        for line_no, row in enumerate(reader, start=2):
            if len(row) < 2:
                raise ValueError(f"{path}, line {line_no}: expected 2 tab-separated columns, got {len(row)}")
            sequence, label = row[0].strip(), row[1].strip()
            if label not in ("0", "1"):
                raise ValueError(f"{path}, line {line_no}: label must be 0 or 1, got {label!r}")
            sequence = sequence[:-1] if sequence.endswith("*") else sequence  # as encode_protein does
            encoded, reason = encode_protein(sequence, max_len=max(1, len(sequence)))
            if encoded is None:
                raise ValueError(f"{path}, line {line_no}: {reason}")
            tokens.append(encoded)
            labels.append(int(label))
    if not tokens:
        raise ValueError(f"{path}: no data rows")
    return LabelledProteins(tokens, np.array(labels, dtype=int), np.arange(len(tokens)))


def split_validation(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, stratified split of the validation rows into (moved to training, held out).

    Rule: for each label (0 then 1), the row indices with that label are permuted with
    ``numpy.random.default_rng(seed).permutation`` (one generator, used for label 0 first);
    the first ``round(fraction * n_label)`` go to training, the rest are held out. Both
    returned index arrays are sorted.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the fraction of validation rows moved to training must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    moved, held = [], []
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(labels == label))
        k = int(round(fraction * len(rows)))
        moved.append(rows[:k])
        held.append(rows[k:])
    return np.sort(np.concatenate(moved)), np.sort(np.concatenate(held))


def length_band(lengths: np.ndarray) -> np.ndarray:
    """The :data:`LENGTH_BANDS` index (0-3) of each length."""
    return np.searchsorted(LENGTH_BANDS, np.asarray(lengths), side="left")


def band_name(band: int) -> str:
    """``"1-200"``, ``"201-500"``, ``"501-1200"`` or ``">1200"``."""
    edges = (0, *LENGTH_BANDS)
    return f">{edges[-1]}" if band == len(LENGTH_BANDS) else f"{edges[band] + 1}-{edges[band + 1]}"


def _strata(labels: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """Row indices per (label, length band), label 0 first, bands in order (empty ones skipped)."""
    labels, bands = np.asarray(labels), length_band(lengths)
    groups = [np.flatnonzero((labels == label) & (bands == band))
              for label in (0, 1) for band in range(len(LENGTH_BANDS) + 1)]
    return [g for g in groups if len(g)]


def stratified_split(labels: np.ndarray, lengths: np.ndarray, fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split stratified by label and length band: (picked, rest), both sorted.

    Rule: for each (label, band) stratum in :func:`_strata`'s order, its row indices are permuted
    with one ``numpy.random.default_rng(seed)`` generator and the first ``round(fraction * n)``
    are picked. The picked rows thus have the label and length distribution of all rows.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    picked, rest = [], []
    for rows in _strata(labels, lengths):
        rows = rng.permutation(rows)
        k = int(round(fraction * len(rows)))
        picked.append(rows[:k])
        rest.append(rows[k:])
    return np.sort(np.concatenate(picked)), np.sort(np.concatenate(rest))


def stratified_folds(labels: np.ndarray, lengths: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """``k`` seeded folds stratified by label and length band (each sorted).

    Rule: the strata's permuted rows (one ``numpy.random.default_rng(seed)`` generator, strata in
    :func:`_strata`'s order) are dealt in turn to folds 0, 1, ..., k - 1, 0, ..., continuing
    across strata, so fold sizes differ by at most one.
    """
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    rng = np.random.default_rng(seed)
    dealt = np.concatenate([rng.permutation(rows) for rows in _strata(labels, lengths)])
    return [np.sort(dealt[i::k]) for i in range(k)]


def training_weights(labels: np.ndarray, lengths: np.ndarray, *, class_weight: bool,
                     target_lengths: np.ndarray | None = None,
                     base_weight: np.ndarray | None = None) -> np.ndarray:
    """One loss weight per training protein, with mean 1.

    ``base_weight`` (default all 1; e.g. ``valid_weight`` on the validation rows moved into
    training) is the starting point. ``target_lengths`` (for example the validation proteins')
    then reweights the training proteins so that each length band weighs what it weighs among the
    targets (the training copy is biased towards short proteins). ``class_weight`` last gives both
    classes the same total weight, as scikit-learn's "balanced" does on the (reweighted) counts;
    where the classes' mix differs between bands this moves the bands' shares slightly off the
    targets' (:func:`weight_summary` records the shares reached).
    """
    labels = np.asarray(labels)
    weight = np.ones(len(labels)) if base_weight is None else np.asarray(base_weight, dtype=float).copy()
    if target_lengths is not None:
        bands, target = length_band(lengths), length_band(target_lengths)
        total = weight.sum()
        for band in np.unique(bands):
            share = np.mean(target == band)
            if share == 0:
                raise ValueError(f"no target protein is {band_name(band)} residues long: cannot reweight that band")
            weight[bands == band] *= share * total / weight[bands == band].sum()
    if class_weight:
        half = weight.sum() / 2
        for label in (0, 1):
            weight[labels == label] *= half / weight[labels == label].sum()
    return weight / weight.mean()


def weight_summary(labels: np.ndarray, lengths: np.ndarray, weight: np.ndarray,
                   target_lengths: np.ndarray | None = None) -> dict:
    """What the loss weights amount to, for ``metrics.json``: each class's and each length band's
    share of the total weight (and the band's share among ``target_lengths``, when given)."""
    labels, weight = np.asarray(labels), np.asarray(weight, dtype=float)
    bands, total = length_band(lengths), weight.sum()
    summary = {"class_share": {str(c): round(float(weight[labels == c].sum() / total), 4) for c in (0, 1)},
               "band_share": {band_name(b): round(float(weight[bands == b].sum() / total), 4)
                              for b in range(len(LENGTH_BANDS) + 1)}}
    if target_lengths is not None:
        target = length_band(target_lengths)
        summary["target_band_share"] = {band_name(b): round(float(np.mean(target == b)), 4)
                                        for b in range(len(LENGTH_BANDS) + 1)}
    return summary


def validation_plan(valid: LabelledProteins, *, lockbox: float, lockbox_seed: int, split_seed: int,
                    valid_to_train: float, folds: int = 0, fold: int | None = None) -> dict:
    """Which validation rows are the lockbox, which move into training and which are held out
    for selection (see :func:`train_deepsol`'s arguments). Returns ``moved``, ``held_out``
    (sorted row indices), ``fold`` (the fold held out; None without folds), ``rule`` (the rule in
    words) and ``lockbox`` (None, or its fraction, seed, rule and rows)."""
    rows = np.arange(len(valid))
    lockbox_info = None
    if lockbox:
        box, rows = stratified_split(valid.labels, valid.lengths, lockbox, lockbox_seed)
        lockbox_info = {
            "fraction": lockbox, "seed": lockbox_seed, "n": int(len(box)),
            "rule": (f"valid rows (0-based, header excluded) stratified by label and length band "
                     f"{[band_name(b) for b in range(len(LENGTH_BANDS) + 1)]} (label 0 first); within each, "
                     f"permuted with one numpy.random.default_rng({lockbox_seed}) and the first "
                     f"round({lockbox} * n) set aside; never used for training or any choice"),
            "rows": [int(i) for i in box],
        }
    where = "the rows left after the lockbox" if lockbox else "valid rows (0-based, header excluded)"
    if fold is not None and not folds:
        raise ValueError(f"fold {fold} given without a number of folds (--folds K)")
    if folds:
        fold = 0 if fold is None else fold
        if not 0 <= fold < folds:
            raise ValueError(f"fold must be in 0..{folds - 1}, got {fold}")
        parts = stratified_folds(valid.labels[rows], valid.lengths[rows], folds, split_seed)
        held = rows[parts[fold]]
        moved = np.setdiff1d(rows, held)
        rule = (f"{where} cut into {folds} folds stratified by label and length band "
                f"(numpy.random.default_rng({split_seed}), dealt in turn); fold {fold} held out for "
                "early stopping and metrics, the others moved into training")
    else:
        m, h = split_validation(valid.labels[rows], valid_to_train, split_seed)
        moved, held = rows[m], rows[h]
        rule = (f"{where} split per label with numpy.random.default_rng({split_seed}) permutation "
                f"(label 0 first, then 1): the first round({valid_to_train} * n_label) rows of each label "
                "moved into training, the rest held out for early stopping and metrics")
    return {"moved": moved, "held_out": held, "fold": fold if folds else None, "rule": rule, "lockbox": lockbox_info}


def lockbox_rows(info: dict, source: str | os.PathLike) -> np.ndarray:
    """The lockbox rows recorded in a run's or model's ``metrics.json`` content ``info``."""
    box = info.get("lockbox")
    if not box:
        raise ValueError(f"{source}: its metrics.json records no lockbox (train with --lockbox)")
    return np.array(box["rows"], dtype=int)

"""Train the DeepSol architecture on labelled protein sequences (``seqzoo train DeepSol``).

Recipe (described in ``models/DeepSol/README.md``):

* **Data.** Two TSV files with the header ``sequence<TAB>label`` (label 1 = soluble). A seeded,
  stratified part of the validation rows moves into training (:func:`split_validation`); the
  rest is held out and is the only data used for model selection (early stopping) and metrics.
* **Length handling.** Training batches group proteins of similar length (shuffled each epoch)
  and pad them to the batch's longest protein plus at least the largest kernel size, rounded up
  to a multiple of 32. Because every protein keeps at least one all-padding window, global max
  pooling sees the same windows as at prediction time, where every protein is padded to
  ``max_len`` (exactly so for proteins up to ``max_len`` minus the largest kernel size): the
  shorter batches change the speed, not the model. Training proteins longer
  than ``max_len`` are cropped to their first ``max_len`` residues; held-out proteins longer
  than ``max_len`` cannot be predicted by the shipped model and are left out of the metrics
  (their number is recorded).
* **Optimisation.** Adam, binary cross-entropy, "balanced" class weights, the learning rate
  halved when the held-out loss stops improving, early stopping on the held-out loss with the
  best weights restored (and checkpointed), seeded with :func:`keras.utils.set_random_seed`.
* **Composition.** A network built with ``composition=True``, and the companion
  ``protein_composition`` logistic regression, read residue and residue-pair frequencies whose
  standardization statistics are set from all training rows before training; the logistic
  regression is fitted exactly (:func:`fit_logistic`) instead of by ``fit``.
* **Ensembles.** :func:`ensemble_deepsol` (``seqzoo ensemble DeepSol``) averages runs that held
  out the same rows (one ``split_seed``), optionally weighted, and measures the average there.
* **Output.** ``<name>.weights.h5`` (the model at ``max_len``, loadable by ``seqzoo.get_model``),
  ``weights.yaml`` (:class:`~seqzoo.zoo.artifacts.WeightsArtifact`, relative URL) and
  ``metrics.json`` (metrics on the held-out part, the exact command, seed, split rule, history,
  keras version, the target labels).
* **Evaluation and export.** :func:`evaluate_proteins` (``seqzoo evaluate DeepSol``) measures a
  zoo model or a run on any labelled TSV; :func:`export_protein_model_dir` (``seqzoo export``)
  turns runs into a model directory with :func:`seqzoo.packaging.write_model_dir`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from seqzoo.architectures import build, build_ensemble
from seqzoo.encoding import PAD_TOKEN, encode_protein
from seqzoo.packaging import ModelInfo, TargetsInfo, staged_model_dir, write_model_dir
from seqzoo.training.metrics import binary_metrics, bootstrap_intervals, reliability
from seqzoo.training.storage import store_float16
from seqzoo.zoo.artifacts import WeightsArtifact
from seqzoo.zoo.provenance import portable_path

__all__ = [
    "LENGTH_BANDS",
    "LabelledProteins",
    "LengthBucketBatches",
    "band_name",
    "length_band",
    "composition_features",
    "ensemble_deepsol",
    "evaluate_proteins",
    "export_protein_model_dir",
    "fit_logistic",
    "load_protein_run",
    "lockbox_report",
    "lockbox_rows",
    "predict_tokens",
    "read_labelled_tsv",
    "set_composition_statistics",
    "split_validation",
    "stratified_folds",
    "stratified_split",
    "train_deepsol",
    "training_weights",
    "validation_plan",
]

#: Padded batch lengths are rounded up to a multiple of this (fewer distinct shapes to trace).
LENGTH_STEP = 32

#: What early stopping and the learning-rate schedule can watch on the held-out rows. The
#: held-out loss of a class- or length-reweighted model also moves with its calibration, so it
#: can rise while the ranking (AUROC) still improves.
MONITORS = ("loss", "auroc")

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


def _padded_width(longest: int, min_pad: int) -> int:
    """Batch width for a longest protein of ``longest`` residues: + ``min_pad``, rounded up."""
    return LENGTH_STEP * math.ceil((longest + min_pad) / LENGTH_STEP)


def _pad_batch(tokens: list[np.ndarray], min_pad: int, max_len: int | None = None) -> np.ndarray:
    """Pad (at the end) to the longest + ``min_pad``, rounded up to ``LENGTH_STEP``; or to ``max_len``."""
    width = _padded_width(max(len(t) for t in tokens), min_pad) if max_len is None else max_len
    out = np.full((len(tokens), width), PAD_TOKEN, dtype=np.int32)
    for i, t in enumerate(tokens):
        out[i, : len(t)] = t
    return out


class LengthBucketBatches(keras.utils.PyDataset):
    """Batches of proteins of similar length, padded per batch (see the module docstring).

    With ``shuffle=True`` the order changes every epoch (seeded): proteins are shuffled, cut
    into chunks of ``50 * batch_size``, sorted by length within each chunk, batched, and the
    batches shuffled. Yields ``(tokens, labels)``, or ``(tokens, labels, sample_weights)`` when
    ``sample_weight`` (one weight per protein) is given.
    """

    def __init__(self, data: LabelledProteins, batch_size: int, min_pad: int, max_len: int,
                 shuffle: bool, seed: int = 0, sample_weight: np.ndarray | None = None):
        super().__init__()
        self.data, self.batch_size, self.min_pad = data, batch_size, min_pad
        self.shuffle = shuffle
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight, dtype="float32")
        # Cropped to max_len: the shipped model never sees more residues.
        self.tokens = [t[:max_len] for t in data.tokens]
        self.lengths = np.array([len(t) for t in self.tokens])
        self.rng = np.random.default_rng(seed)
        self.batches = self._make_batches()

    def _make_batches(self) -> list[np.ndarray]:
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        else:
            order = self.rng.permutation(len(self.tokens))
            chunk = 50 * self.batch_size
            batches = []
            for start in range(0, len(order), chunk):
                part = order[start : start + chunk]
                part = part[np.argsort(self.lengths[part], kind="stable")]
                batches += [part[i : i + self.batch_size] for i in range(0, len(part), self.batch_size)]
            batches = [batches[i] for i in self.rng.permutation(len(batches))]
        # Keras fixes the input signature from the first two batches: when they have the same
        # width it would refuse every other width. Bring a batch of another width second.
        widths = [_padded_width(int(self.lengths[b].max()), self.min_pad) for b in batches]
        other = next((i for i, w in enumerate(widths) if w != widths[0]), None)
        if len(batches) > 2 and widths[1] == widths[0] and other is not None:
            batches[1], batches[other] = batches[other], batches[1]
        return batches

    def __len__(self) -> int:
        return len(self.batches)

    @property
    def num_batches(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        rows = self.batches[index]
        x = _pad_batch([self.tokens[i] for i in rows], self.min_pad)
        y = self.data.labels[rows].astype("float32")[:, None]
        if self.sample_weight is None:
            return x, y
        return x, y, self.sample_weight[rows]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.batches = self._make_batches()


def predict_tokens(model: keras.Model, tokens: list[np.ndarray], max_len: int,
                     batch_size: int = 64) -> np.ndarray:
    """Probabilities of ``model`` (built at ``max_len``) for unpadded proteins, each padded to
    ``max_len`` exactly as the shipped predictor does. Proteins must be at most ``max_len`` long."""
    out = np.empty(len(tokens), dtype="float32")
    for start in range(0, len(tokens), batch_size):
        batch = _pad_batch(tokens[start : start + batch_size], 0, max_len=max_len)
        out[start : start + len(batch)] = np.asarray(model.predict_on_batch(batch))[:, 0]
    return out


def composition_features(model: keras.Model, data: LabelledProteins, max_len: int,
                         batch_size: int = 256) -> np.ndarray:
    """The output of ``model``'s ``composition`` layer for every protein of ``data``, in order,
    each cropped to its first ``max_len`` residues as in training."""
    features_of = keras.Model(model.input, model.get_layer("composition").output)
    tokens = [t[:max_len] for t in data.tokens]
    return np.concatenate([np.asarray(features_of.predict_on_batch(_pad_batch(tokens[i : i + batch_size], 1)))
                           for i in range(0, len(tokens), batch_size)])


def set_composition_statistics(model: keras.Model, data: LabelledProteins, max_len: int) -> np.ndarray:
    """Standardize ``model``'s composition features (layers ``composition`` and
    ``composition_standardize``, as :func:`~seqzoo.architectures.build_deepsol` with
    ``composition=True`` and :func:`~seqzoo.architectures.build_protein_composition` name them) by
    their mean and standard deviation over ``data`` (proteins cropped to ``max_len``). Returns the
    standardized features."""
    features = composition_features(model, data, max_len)
    mean, scale = features.mean(axis=0), features.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    model.get_layer("composition_standardize").set_statistics(mean, scale)
    return (features - mean) / scale


def fit_logistic(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, l2: float,
                 max_iter: int = 100) -> tuple[np.ndarray, float]:
    """Weights and bias minimising the weighted mean log loss + ``l2 * |weights|^2`` (Newton's
    method; the objective is convex, so this is its exact optimum, not an early-stopped one)."""
    x1 = np.c_[x, np.ones(len(x))]
    s = np.asarray(sample_weight, dtype=float) / np.sum(sample_weight)
    penalty = np.full(x1.shape[1], 2.0 * l2)
    penalty[-1] = 0.0  # the bias is not penalised
    w = np.zeros(x1.shape[1])
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(x1 @ w)))
        gradient = x1.T @ (s * (p - y)) + penalty * w
        hessian = (x1 * (s * p * (1.0 - p))[:, None]).T @ x1 + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-10 * np.eye(len(w)), gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w[:-1], float(w[-1])


def _fit_keras(model: keras.Model, train_batches, held_batches, output_dir: Path, *, epochs: int,
               learning_rate: float, patience: int, verbose, monitor: str = "loss") -> tuple[dict, int]:
    """Keras ``fit`` with Adam, the learning rate halved on a held-out plateau and early stopping
    (best weights restored and checkpointed), all on the held-out ``monitor`` (``loss``, lower is
    better, or ``auroc``, higher is better). Returns the history and the best epoch."""
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {MONITORS}, got {monitor!r}")
    watched, mode = f"val_{monitor}", "min" if monitor == "loss" else "max"
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auroc")],
        jit_compile=False,
    )
    callbacks = [
        keras.callbacks.ModelCheckpoint(output_dir / "checkpoint.weights.h5", monitor=watched, mode=mode,
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.ReduceLROnPlateau(monitor=watched, mode=mode, factor=0.5, patience=1, min_lr=1e-5),
        keras.callbacks.EarlyStopping(monitor=watched, mode=mode, patience=patience, restore_best_weights=True),
    ]
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    history = model.fit(train_batches, validation_data=held_batches, epochs=epochs,
                        callbacks=callbacks, verbose=verbose).history
    scores = np.array(history[watched]) * (1 if mode == "min" else -1)
    return history, int(np.argmin(scores)) + 1


def _held_out_metrics(model, held: LabelledProteins, max_len: int, batch_size: int = 64,
                      predict_long=None) -> tuple[dict, int, np.ndarray]:
    """``binary_metrics`` of ``model`` (anything with ``predict_on_batch``: a keras model, a
    ``ZooModel``) on the proteins of ``held`` it can predict, how many it cannot, and its
    probabilities for the predictable ones. Proteins longer than ``max_len`` are predicted by
    ``predict_long`` (:func:`seqzoo.predict_protein.whole_sequence_predictor`, padded to a multiple
    of ``max_len`` as ``seqzoo predict`` does) when given, else left out."""
    predictable = held.lengths <= max_len if predict_long is None else np.ones(len(held), bool)
    probabilities = np.full(len(held), np.nan, dtype="float32")
    short = np.flatnonzero(held.lengths <= max_len)
    probabilities[short] = predict_tokens(model, [held.tokens[i] for i in short], max_len, batch_size)
    for i in np.flatnonzero(held.lengths > max_len) if predict_long is not None else ():
        width = -(-len(held.tokens[i]) // max_len) * max_len
        probabilities[i] = predict_long(_pad_batch([held.tokens[i]], 0, max_len=width))[0, 0]
    probabilities = probabilities[predictable]
    return binary_metrics(held.labels[predictable], probabilities), int((~predictable).sum()), probabilities


def _write_run(output_dir: Path, weights_path: Path, result: dict, produced_by: str) -> None:
    """Write ``weights.yaml`` (the weights file as an artifact, by relative URL; ``produced_by``
    plus the held-out figures) and ``metrics.json`` (``result``) beside the weights."""
    m = result["held_out_metrics"]
    if m:
        produced_by += (f"; held-out validation: accuracy {m['accuracy']:.3f}, MCC {m['mcc']:.3f}, "
                        f"AUROC {m['auroc']:.3f}, AUPRC {m['auprc']:.3f} (n={m['n']})")
    WeightsArtifact.describe(weights_path, urls=[weights_path.name], produced_by=produced_by).to_yaml(
        output_dir / "weights.yaml")
    (output_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")


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


def _with_gaps(values: np.ndarray, present: np.ndarray) -> list[float | None]:
    """``values`` spread over the True places of ``present``, None elsewhere (for JSON)."""
    it = iter(values.tolist())
    return [round(next(it), 7) if ok else None for ok in present]


def train_deepsol(
    train_tsv: str | Path,
    valid_tsv: str | Path,
    output_dir: str | Path,
    *,
    name: str = "deepsol",
    architecture: str = "deepsol",
    config: dict | None = None,
    epochs: int = 20,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    patience: int = 3,
    valid_to_train: float = 0.5,
    valid_weight: float = 1.0,
    class_weight: bool = True,
    seed: int = 0,
    split_seed: int | None = None,
    lockbox: float = 0.0,
    lockbox_seed: int = 0,
    folds: int = 0,
    fold: int | None = None,
    length_weight: bool = False,
    monitor: str = "loss",
    verbose: int | str = "auto",
    command: str | None = None,
    labels: tuple[str, ...] | list[str] | None = None,
) -> dict:
    """Train DeepSol with Keras ``fit``; write the weights, their artifact and the metrics.

    Args:
        train_tsv, valid_tsv: ``sequence<TAB>label`` files (see :func:`read_labelled_tsv`).
        output_dir: created if needed; receives ``<name>.weights.h5``, ``weights.yaml``,
            ``metrics.json`` and the best checkpoint ``checkpoint.weights.h5``.
        name: base name of the weights file.
        architecture: ``deepsol`` (:func:`~seqzoo.architectures.build_deepsol`) or its
            ensemble companion ``protein_composition``
            (:func:`~seqzoo.architectures.build_protein_composition`).
        config: arguments of the builder (DeepSol: ``max_len``, ``embedding_dim``, ``kernels``,
            ``dense_units``, ``dropout``, ``composition``); empty = the published network. A
            model with composition features has them standardized by their statistics on all
            training rows before training.
        epochs: maximum number of epochs (early stopping usually ends sooner).
        batch_size, learning_rate: Adam's batch size and initial learning rate.
        patience: epochs without a better held-out loss before stopping (the learning rate is
            halved after one such epoch).
        valid_to_train: fraction of the validation rows moved into training
            (:func:`split_validation`); the rest is held out for selection and metrics.
        valid_weight: loss weight of the validation rows moved into training (training rows
            weigh 1); above 1 leans the model towards the validation (and test) distribution.
        class_weight: give both classes the same total loss weight, as scikit-learn's "balanced",
            after valid_weight and length_weight (:func:`training_weights`).
        seed: seeds Keras and NumPy (initial weights, batch order, dropout), and the split
            unless ``split_seed`` is given.
        split_seed: seeds the split of the validation rows (default: ``seed``). Runs that are
            to be combined (:func:`ensemble_deepsol`) must share it, so that they hold out the
            same rows (or, with ``folds``, the same folds).
        lockbox: fraction of the validation rows set aside first (:func:`stratified_split` by
            label and length band, seeded by ``lockbox_seed``) and never read by training or
            selection: their row numbers are recorded, for ``seqzoo evaluate --lockbox`` once
            every choice is made. 0 = no lockbox.
        folds, fold: instead of ``valid_to_train``, cut the remaining validation rows into
            ``folds`` stratified folds (:func:`stratified_folds`, seeded by ``split_seed``), hold
            out fold ``fold`` and move the others into training (one run per fold makes a
            cross-validated ensemble).
        length_weight: reweight the training proteins so that each length band weighs what it
            weighs among the remaining validation proteins (:func:`training_weights`).
        monitor: the held-out figure early stopping, the learning-rate schedule and the best
            weights follow (:data:`MONITORS`).
        verbose: Keras ``fit`` verbosity (1 = progress bar, 2 = one line per epoch).
        command: the command line recorded in ``metrics.json`` (the CLI passes
            :func:`seqzoo.cli.options.command_line`; None when called from Python).
        labels: the target label of the model being trained (e.g. the zoo model's
            ``("soluble",)``), recorded for :func:`export_protein_model_dir`.

    Returns:
        The content of ``metrics.json``.
    """
    started = time.time()
    config = dict(config or {})
    max_len = int(config.pop("max_len", 1200))
    kernels = config.get("kernels")
    min_pad = max(int(k) for k in kernels) if kernels else 15  # largest kernel: one all-padding window
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)

    train = read_labelled_tsv(train_tsv)
    valid = read_labelled_tsv(valid_tsv)
    split_seed = seed if split_seed is None else split_seed
    plan = validation_plan(valid, lockbox=lockbox, lockbox_seed=lockbox_seed, split_seed=split_seed,
                           valid_to_train=valid_to_train, folds=folds, fold=fold)
    moved, held_idx = plan["moved"], plan["held_out"]
    train_all = LabelledProteins.concatenate([train, valid.subset(moved)])
    held = valid.subset(held_idx)
    development = np.concatenate([moved, held_idx])
    target_lengths = valid.lengths[development] if length_weight else None
    sample_weight = training_weights(
        train_all.labels, train_all.lengths, class_weight=class_weight, target_lengths=target_lengths,
        base_weight=np.r_[np.ones(len(train)), np.full(len(moved), float(valid_weight))])

    train_batches = LengthBucketBatches(train_all, batch_size, min_pad, max_len, shuffle=True,
                                        seed=seed, sample_weight=sample_weight)
    held_batches = LengthBucketBatches(held, batch_size, min_pad, max_len, shuffle=False)

    # Variable-length model for training; it shares every weight with the max_len model.
    model = build(architecture, max_len=None, **config)
    if any(layer.name == "composition_standardize" for layer in model.layers):
        features = set_composition_statistics(model, train_all, max_len)
    if architecture == "protein_composition":
        # A logistic regression: fitted exactly rather than by stochastic gradient steps.
        kernel, bias = fit_logistic(features, train_all.labels, sample_weight, config.get("l2", 0.0))
        model.get_layer("output").set_weights([kernel[:, None].astype("float32"), np.array([bias], "float32")])
        history, best_epoch = {}, None
    else:
        history, best_epoch = _fit_keras(model, train_batches, held_batches, output_dir, epochs=epochs,
                                         learning_rate=learning_rate, patience=patience, verbose=verbose,
                                         monitor=monitor)

    # The shipped model: fixed input length max_len, the best weights.
    final = build(architecture, max_len=max_len, **config)
    final.set_weights(model.get_weights())
    weights_path = output_dir / f"{name}.weights.h5"
    final.save_weights(weights_path)

    metrics, not_predictable, held_out_p = _held_out_metrics(final, held, max_len)
    result = {
        "model": "DeepSol",
        "metrics_on": f"held-out part of {Path(valid_tsv).name}",
        "held_out_metrics": metrics,
        "held_out_not_predictable": not_predictable,
        "held_out_not_predictable_reason": f"longer than max_len {max_len}",
        "command": command,
        "seed": seed,
        "split": {
            "seed": split_seed,
            "rule": plan["rule"],
            "valid_to_train_fraction": None if folds else valid_to_train,
            "folds": folds or None,
            "fold": plan["fold"],
            "valid_rows_moved_to_training": int(len(moved)),
            "valid_rows_held_out": int(len(held_idx)),
            "held_out_rows": [int(i) for i in held_idx],
            # In held_out_rows' order; None where the protein is longer than max_len.
            "held_out_predictions": _with_gaps(held_out_p, held.lengths <= max_len),
        },
        "lockbox": plan["lockbox"],
        "data": {
            "train_tsv": portable_path(train_tsv),
            "valid_tsv": portable_path(valid_tsv),
            "train_rows": len(train),
            "valid_rows": len(valid),
            "training_rows_total": len(train_all),
        },
        "recipe": {
            "architecture": architecture,
            "config": {"max_len": max_len, **config},
            "optimizer": ("Newton's method: the exact weighted, L2-penalised logistic regression"
                          if architecture == "protein_composition" else "Adam (Keras fit)"),
            "epochs_max": epochs,
            "epochs_run": len(history.get("val_loss", [])),
            "best_epoch": best_epoch,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "patience": patience,
            "monitor": f"held-out {monitor}",
            "class_weight": bool(class_weight),
            "length_weight": bool(length_weight),
            "loss_weight": weight_summary(train_all.labels, train_all.lengths, sample_weight, target_lengths),
            "valid_weight": valid_weight,
            "length_handling": f"length-bucketed batches padded to longest + {min_pad}, "
                               f"rounded up to {LENGTH_STEP}; training proteins cropped to {max_len}",
        },
        "history": {k: [float(v) for v in vs] for k, vs in history.items()},
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "runtime_s": round(time.time() - started, 1),
        "weights_file": weights_path.name,
        "labels": list(labels) if labels else None,
    }
    _write_run(output_dir, weights_path, result,
               f"{command or 'train_deepsol from Python'} (seqzoo.training.protein, keras {keras.__version__}, seed {seed})")
    return result


def _check_folds_of_one_split(runs: list[Path], infos: list[dict]) -> None:
    """Members that held out different rows must be folds of one cut of the same rows: one
    lockbox, one split seed and number of folds; each run one fold, and every fold's rows the
    same across the runs that hold it out (for example a network and a composition model)."""
    first = infos[0]["split"]
    if not infos[0].get("lockbox") or not first.get("folds"):
        other = next(run for run, info in zip(runs, infos) if info["split"]["held_out_rows"] != first["held_out_rows"])
        raise ValueError(f"{other} held out other validation rows than {runs[0]}, and the runs are not "
                         "folds sharing a lockbox (train the members with the same --split-seed and --valid-to-train, "
                         "or the same --lockbox, --folds and --split-seed)")
    by_fold: dict[int, list[int]] = {}
    for run, info in zip(runs, infos):
        split = info["split"]
        if split.get("folds") != first["folds"] or split.get("seed") != first["seed"]:
            raise ValueError(f"{run} cut {split.get('folds')} folds with split seed {split.get('seed')}; {runs[0]} "
                             f"cut {first['folds']} with split seed {first['seed']}: they are not folds of one split "
                             "(give every member the same --folds and --split-seed)")
        rows = by_fold.setdefault(split["fold"], split["held_out_rows"])
        if rows != split["held_out_rows"]:
            raise ValueError(f"{run} held out other rows as fold {split['fold']} than another run's fold {split['fold']}")


def ensemble_deepsol(run_dirs: list[str | Path], valid_tsv: str | Path, output_dir: str | Path, *,
                     weights: list[float] | None = None, name: str = "deepsol-ensemble",
                     command: str | None = None, labels: tuple[str, ...] | list[str] | None = None,
                     calibration: list[float] | None = None, float16: bool = False) -> dict:
    """Average several :func:`train_deepsol` runs into one model (``build_ensemble``) and
    measure it on the validation rows they all held out.

    The runs must share the held-out rows (the same ``split_seed`` and fraction) and the input
    length; ``valid_tsv`` must be the validation file they were trained with. ``weights`` (one
    per run) make the average weighted and ``calibration`` (``[slope, intercept]``, for example
    fitted on out-of-fold predictions by ``docs/deepsol_ensemble_cv.py``) recalibrates it
    (:func:`~seqzoo.architectures.build_ensemble`). ``float16`` stores the kernels in half
    precision (:func:`~seqzoo.training.storage.store_float16`, checked on random proteins). Writes
    ``<name>.weights.h5`` (member ``i`` is run ``i``), ``weights.yaml`` and ``metrics.json``
    (the ensemble's held-out metrics; each member's metrics, command, recipe and history;
    ``labels``, by default the members' recorded labels).

    Returns:
        The content of ``metrics.json``.
    """
    started = time.time()
    runs = [Path(r) for r in run_dirs]
    infos = [json.loads((run / "metrics.json").read_text()) for run in runs]
    for run, info in zip(runs, infos):
        if "recipe" not in info or not info.get("split"):
            raise ValueError(f"{run} is not a seqzoo train DeepSol run (an ensemble's members are train runs)")
    held_rows = infos[0]["split"]["held_out_rows"]
    max_len = infos[0]["recipe"]["config"]["max_len"]
    lockbox = infos[0].get("lockbox")
    # Members of a cross-validated ensemble held out different folds: there is no row that all
    # of them held out, so the ensemble is measured on their common lockbox, after every choice.
    cross_validated = any(info["split"]["held_out_rows"] != held_rows for info in infos[1:])
    for run, info in zip(runs[1:], infos[1:]):
        if info.get("lockbox") != lockbox:
            raise ValueError(f"{run} and {runs[0]} set aside different lockboxes")
        if info["recipe"]["config"]["max_len"] != max_len:
            raise ValueError(f"{run} has max_len {info['recipe']['config']['max_len']}, {runs[0]} has {max_len}")
    if cross_validated:
        _check_folds_of_one_split(runs, infos)
    valid = read_labelled_tsv(valid_tsv)
    if len(valid) != infos[0]["data"]["valid_rows"]:
        raise ValueError(f"{valid_tsv} has {len(valid)} rows; the runs were trained with "
                         f"{infos[0]['data']['valid_tsv']} ({infos[0]['data']['valid_rows']} rows)")

    members = [{"architecture": info["recipe"].get("architecture", "deepsol"), "config": info["recipe"]["config"]}
               for info in infos]
    config = {"members": members, **({"weights": [float(w) for w in weights]} if weights else {}),
              **({"calibration": [float(c) for c in calibration]} if calibration else {})}
    model = build_ensemble(**config)
    for i, (run, info) in enumerate(zip(runs, infos)):
        model.get_layer(f"member{i}").load_weights(run / info["weights_file"])
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    weights_path = output_dir / f"{name}.weights.h5"
    model.save_weights(weights_path)
    if float16:
        store_float16(weights_path, model, np.random.default_rng(0).integers(1, 21, (64, max_len)).astype("int32"))

    if cross_validated:
        metrics, not_predictable = None, None
        metrics_on = "none: the members held out different folds; measure the lockbox with seqzoo evaluate --lockbox"
    else:
        metrics, not_predictable, _ = _held_out_metrics(model, valid.subset(np.array(held_rows)), max_len)
        metrics_on = f"held-out part of {Path(valid_tsv).name}"
    result = {
        "model": "DeepSol",
        "metrics_on": metrics_on,
        "held_out_metrics": metrics,
        "held_out_not_predictable": not_predictable,
        "command": command,
        "members": [{"run": portable_path(run), "command": info["command"], "seed": info["seed"],
                     "held_out_metrics": info["held_out_metrics"], "recipe": info["recipe"],
                     "history": info["history"], "runtime_s": info["runtime_s"]}
                    for run, info in zip(runs, infos)],
        "split": None if cross_validated else infos[0]["split"],
        "lockbox": lockbox,
        "data": infos[0]["data"],
        "config": config,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "runtime_s": round(time.time() - started, 1),
        "weights_file": weights_path.name,
        "labels": list(labels) if labels else infos[0].get("labels"),
    }
    _write_run(output_dir, weights_path, result,
               f"{command or 'ensemble_deepsol from Python'}: the {'weighted ' if weights else ''}average of {len(runs)} seqzoo train DeepSol "
               f"runs (seeds {', '.join(str(i['seed']) for i in infos)}; keras {keras.__version__})"
               + ("; stored as float16" if float16 else ""))
    return result


def load_protein_run(run_dir: str | os.PathLike, weights: str | os.PathLike | None = None
                     ) -> tuple[dict, str, dict, keras.Model]:
    """The ``metrics.json`` of a :func:`train_deepsol` or :func:`ensemble_deepsol` run
    directory, its architecture and config, and its network with the run's weights loaded (or
    ``weights``)."""
    run = Path(run_dir)
    path = run / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run} is not a seqzoo train or ensemble run: it has no metrics.json")
    info = json.loads(path.read_text())
    if "members" in info:  # an ensemble run
        architecture, config = "ensemble", info["config"]
    elif "recipe" in info:
        architecture, config = info["recipe"]["architecture"], info["recipe"]["config"]
    else:
        raise ValueError(f"{path}: neither a seqzoo train run (no 'recipe') nor an ensemble run (no 'members')")
    network = build(architecture, **config)
    network.load_weights(weights or run / info["weights_file"])
    return info, architecture, config, network


def _max_len(architecture: str, config: dict) -> int:
    """The input length of a protein network of ``architecture`` with ``config``."""
    if architecture == "ensemble":
        return _max_len(config["members"][0]["architecture"], config["members"][0].get("config", {}))
    return int(config.get("max_len", 1200))


def lockbox_rows(info: dict, source: str | os.PathLike) -> np.ndarray:
    """The lockbox rows recorded in a run's or model's ``metrics.json`` content ``info``."""
    box = info.get("lockbox")
    if not box:
        raise ValueError(f"{source}: its metrics.json records no lockbox (train with --lockbox)")
    return np.array(box["rows"], dtype=int)


def lockbox_report(labels: np.ndarray, probabilities: np.ndarray, lengths: np.ndarray,
                   n_boot: int = 2000, seed: int = 0) -> dict:
    """Figures for a model card: ``binary_metrics`` with 95% bootstrap intervals, the same per
    length band (:data:`LENGTH_BANDS`), and the reliability curve."""
    bands = length_band(lengths)
    return {
        "overall": binary_metrics(labels, probabilities),
        "interval_95": bootstrap_intervals(labels, probabilities, n_boot=n_boot, seed=seed),
        "bootstrap": {"resamples": n_boot, "seed": seed, "method": "percentile, rows resampled with replacement"},
        "by_length": {band_name(b): binary_metrics(labels[bands == b], probabilities[bands == b])
                      for b in range(len(LENGTH_BANDS) + 1) if (bands == b).any()},
        "reliability": reliability(labels, probabilities),
    }


def evaluate_proteins(model: str | os.PathLike, tsv: str | os.PathLike, out_path: str | os.PathLike | None = None,
                      *, weights: str | os.PathLike | None = None, held_out: bool = False, lockbox: bool = False,
                      batch_size: int = 64, command: str | None = None) -> dict:
    """``binary_metrics`` of a protein model on a labelled ``sequence<TAB>label`` TSV; writes
    JSON to ``out_path``.

    ``model`` is a zoo model (name or directory) or a :func:`train_deepsol` /
    :func:`ensemble_deepsol` run directory; ``weights`` replaces its weights. ``held_out`` (runs
    only) keeps the validation rows the run held out, so ``tsv`` must be the run's validation
    file: the run's own held-out figures, measured again. ``lockbox`` keeps the lockbox rows
    recorded in the run's or model's ``metrics.json`` instead and adds :func:`lockbox_report`
    (``report``): measure it once, after every choice is made. A zoo model predicts proteins
    longer than its input length as ``seqzoo predict`` does (``whole sequence``); a run leaves
    them out and counts them (``not_predictable``). ``command`` is recorded as
    :func:`train_deepsol` records it.
    """
    started = time.time()
    path = Path(model)
    data = read_labelled_tsv(tsv)
    if held_out and lockbox:
        raise ValueError("--held-out and --lockbox select different rows: give one")
    predict_long = None
    if not (path / "model.yaml").is_file() and (path / "metrics.json").is_file():
        info, architecture, config, predictor = load_protein_run(path, weights)
        max_len = _max_len(architecture, config)
        expected = info.get("data", {}).get("valid_rows")
    else:
        from seqzoo.predict_protein import whole_sequence_predictor
        from seqzoo.runtime import get_model

        if held_out:
            raise ValueError(f"--held-out: {model} is a model, not a seqzoo train or ensemble run directory")
        predictor = get_model(model, weights=weights, device="cpu")
        if predictor.spec.modality != "protein":
            raise ValueError(f"{predictor.spec.name} reads {predictor.spec.modality}, not proteins")
        max_len = predictor.spec.input_shape[0]
        predict_long = whole_sequence_predictor(predictor)
        path = predictor.spec.directory
        metrics_file = path / "metrics.json"
        info = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        expected = info.get("data", {}).get("valid_rows")
    if held_out and not info.get("split"):
        raise ValueError(f"--held-out: {model} holds out no rows of its own (a cross-validated ensemble's members "
                         "held out different folds); measure it with --lockbox")
    if held_out or lockbox:
        rows = np.array(info["split"]["held_out_rows"], dtype=int) if held_out else lockbox_rows(info, path)
        if (expected is not None and len(data) != expected) or (len(rows) and rows.max() >= len(data)):
            raise ValueError(f"{tsv} has {len(data)} rows: not the validation file {path} was trained with"
                             + (f" ({expected} rows)" if expected is not None else ""))
        data = data.subset(rows)
    metrics, not_predictable, probabilities = _held_out_metrics(predictor, data, max_len, batch_size, predict_long)
    result = {"model": str(model), "weights": str(weights) if weights else None,
              "data": portable_path(tsv),
              "rows": "held out by the run" if held_out else "the lockbox" if lockbox else "all",
              "metrics": metrics, "not_predictable": not_predictable,
              "not_predictable_reason": None if predict_long else f"longer than max_len {max_len}",
              "long_proteins": "read whole (seqzoo predict's rule)" if predict_long else "left out",
              "seconds": round(time.time() - started, 1), "command": command}
    if lockbox:
        predicted = data.lengths <= max_len if predict_long is None else np.ones(len(data), bool)
        result["report"] = lockbox_report(data.labels[predicted], probabilities, data.lengths[predicted])
    if out_path:
        Path(out_path).write_text(json.dumps(_null_for_nan(result), indent=1) + "\n")
    return result


def _null_for_nan(value):
    """``value`` with every NaN float replaced by None: JSON has no NaN (a length band or a
    bootstrap resample with one class has no AUROC)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _null_for_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_null_for_nan(v) for v in value]
    return value


def export_protein_model_dir(runs: str | os.PathLike | list, model_dir: str | os.PathLike, info: ModelInfo, *,
                             labels: tuple[str, ...] | list[str] | None = None, targets_name: str | None = None,
                             targets_doc: str | None = None, file_name: str | None = None,
                             example: str | os.PathLike | None = None, overwrite: bool = False) -> WeightsArtifact:
    """Write a model directory (:func:`seqzoo.packaging.write_model_dir`) serving a
    :func:`train_deepsol` or :func:`ensemble_deepsol` run, or the equal-weight ensemble of
    several :func:`train_deepsol` runs (for a weighted average measured on held-out rows, run
    :func:`ensemble_deepsol` first and export its run).

    The weights file is the run's (named ``file_name``, default the run's name), ``weights.yaml``
    keeps the run's provenance, and a single run's ``metrics.json`` is copied beside it (for
    several runs, one listing them and their shared lockbox).
    ``labels`` default to those the runs recorded (``seqzoo train`` records the zoo model's).
    ``example`` (a directory with ``proteins.fa``) is copied to ``example/`` and
    ``test.expect.h5`` written; ``README.md`` is the author's. The directory is written whole
    (:func:`seqzoo.packaging.staged_model_dir`): an existing one that is not empty is refused unless
    ``overwrite``, and then replaced only once the new one is complete.
    """
    paths = [Path(r) for r in (runs if isinstance(runs, (list, tuple)) else [runs])]
    parts = [(path, *load_protein_run(path)) for path in paths]
    max_lens = {_max_len(architecture, config) for _, _, architecture, config, _ in parts}
    if len(max_lens) != 1:
        raise ValueError(f"the runs take different input lengths ({sorted(max_lens)}); an ensemble needs one")
    recorded = {tuple(part[1].get("labels") or ()) for part in parts}
    labels = tuple(labels or (recorded.pop() if len(recorded) == 1 else ()))
    if not labels:
        raise ValueError(f"{', '.join(map(str, paths))}: the runs record no common target labels "
                         "(runs of an older seqzoo, or of different models): give them (--label)")
    with staged_model_dir(model_dir, overwrite=overwrite, sources=paths) as out:
        return _write_protein_model_dir(out, paths, parts, labels, max_lens.pop(), info, targets_name, targets_doc,
                                        file_name, example)


def _write_protein_model_dir(out: Path, paths: list[Path], parts: list, labels: tuple[str, ...], input_length: int,
                             info: ModelInfo, targets_name: str | None, targets_doc: str | None, file_name: str | None,
                             example: str | os.PathLike | None) -> WeightsArtifact:
    """The body of :func:`export_protein_model_dir`, writing into ``out`` (its staged directory)."""
    first_path, first_info, architecture, config, network = parts[0]
    name = file_name or first_info["weights_file"]
    if not name.endswith(".weights.h5"):
        raise ValueError(f"the weights file name must end in .weights.h5, got {name!r}")
    if len(parts) == 1:
        shutil.copyfile(first_path / first_info["weights_file"], out / name)
        shutil.copyfile(first_path / "metrics.json", out / "metrics.json")
    else:
        ensembles = [str(path) for path, _, arch, _, _ in parts if arch == "ensemble"]
        if ensembles:
            raise ValueError(f"{', '.join(ensembles)}: an ensemble run is exported alone; give its members instead")
        architecture = "ensemble"
        config = {"members": [{"architecture": arch, "config": conf} for _, _, arch, conf, _ in parts]}
        network = build_ensemble(**config)
        for i, (_, _, _, _, member) in enumerate(parts):
            network.get_layer(f"member{i}").set_weights(member.get_weights())
        network.save_weights(out / name)
        lockboxes = {json.dumps(info.get("lockbox")) for _, info, _, _, _ in parts}
        if len(lockboxes) != 1:
            raise ValueError(f"{', '.join(map(str, paths))}: the runs set aside different lockboxes")
        # The equal-weight ensemble was never measured: record its members and what they set aside.
        (out / "metrics.json").write_text(json.dumps({
            "model": "DeepSol", "metrics_on": "none: the equal-weight average of the runs below, not measured",
            "held_out_metrics": None, "lockbox": first_info.get("lockbox"), "data": first_info.get("data"),
            "config": config, "labels": list(labels),
            "members": [{"run": portable_path(path), "command": info.get("command"), "seed": info.get("seed"),
                         "held_out_metrics": info.get("held_out_metrics")} for path, info, _, _, _ in parts],
        }, indent=2) + "\n")
    if len(labels) != network.output_shape[-1]:
        raise ValueError(f"{len(labels)} target labels {list(labels)} for a model of {network.output_shape[-1]} outputs")
    produced_by = "; ".join(
        (f"run {path}: " if len(parts) > 1 else "") + WeightsArtifact.from_yaml(path / "weights.yaml").produced_by
        for path, *_ in parts)
    return write_model_dir(out, architecture=architecture, config=config, weights_file=out / name,
                           produced_by=produced_by, modality="protein", input_length=input_length,
                           targets=TargetsInfo(labels, targets_name or TargetsInfo.name,
                                               targets_doc or TargetsInfo.doc), info=info, example=example)

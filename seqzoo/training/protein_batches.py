"""Protein batches: padding by length bucket, prediction of unpadded proteins, and the
composition features' statistics and exact logistic fit."""

from __future__ import annotations

import math

import keras
import numpy as np

from seqzoo.encoding import PAD_TOKEN
from seqzoo.training.proteins import LabelledProteins

__all__ = ["LENGTH_STEP", "LengthBucketBatches", "composition_features", "fit_logistic", "pad_batch",
           "predict_tokens", "set_composition_statistics"]


#: Padded batch lengths are rounded up to a multiple of this (fewer distinct shapes to trace).
LENGTH_STEP = 32


def _padded_width(longest: int, min_pad: int) -> int:
    """Batch width for a longest protein of ``longest`` residues: + ``min_pad``, rounded up."""
    return LENGTH_STEP * math.ceil((longest + min_pad) / LENGTH_STEP)


def pad_batch(tokens: list[np.ndarray], min_pad: int, max_len: int | None = None) -> np.ndarray:
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
        x = pad_batch([self.tokens[i] for i in rows], self.min_pad)
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
        batch = pad_batch(tokens[start : start + batch_size], 0, max_len=max_len)
        out[start : start + len(batch)] = np.asarray(model.predict_on_batch(batch))[:, 0]
    return out


def composition_features(model: keras.Model, data: LabelledProteins, max_len: int,
                         batch_size: int = 256) -> np.ndarray:
    """The output of ``model``'s ``composition`` layer for every protein of ``data``, in order,
    each cropped to its first ``max_len`` residues as in training."""
    features_of = keras.Model(model.input, model.get_layer("composition").output)
    tokens = [t[:max_len] for t in data.tokens]
    return np.concatenate([np.asarray(features_of.predict_on_batch(pad_batch(tokens[i : i + batch_size], 1)))
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

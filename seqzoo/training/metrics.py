"""Binary-classification metrics, in plain NumPy (no scikit-learn needed).

Every function takes ``y_true`` as 0/1 labels and either predicted classes or scores
(probabilities). They match scikit-learn's ``accuracy_score``, ``matthews_corrcoef``,
``roc_auc_score`` and ``average_precision_score`` (the tests check hand-computed values).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "accuracy",
    "auprc",
    "auroc",
    "binary_metrics",
    "confusion_counts",
    "mcc",
]


def _labels(y_true) -> np.ndarray:
    y = np.asarray(y_true).astype(int).ravel()
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return y


def confusion_counts(y_true, y_pred) -> dict[str, int]:
    """Counts of true/false positives/negatives: ``{"tp", "fp", "tn", "fn"}``."""
    y, p = _labels(y_true), _labels(y_pred)
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values but y_pred has {p.size}")
    return {
        "tp": int(np.sum((y == 1) & (p == 1))),
        "fp": int(np.sum((y == 0) & (p == 1))),
        "tn": int(np.sum((y == 0) & (p == 0))),
        "fn": int(np.sum((y == 1) & (p == 0))),
    }


def accuracy(y_true, y_pred) -> float:
    """Fraction of predicted classes equal to the labels."""
    c = confusion_counts(y_true, y_pred)
    return (c["tp"] + c["tn"]) / max(1, sum(c.values()))


def mcc(y_true, y_pred) -> float:
    """Matthews correlation coefficient; 0.0 when a row or column of the confusion matrix is empty."""
    c = confusion_counts(y_true, y_pred)
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    denominator = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denominator == 0 else (tp * tn - fp * fn) / denominator


def auroc(y_true, scores) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random
    negative, ties counting one half (Mann-Whitney U). NaN if one class is absent."""
    y = _labels(y_true)
    s = np.asarray(scores, dtype=float).ravel()
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Mid-ranks of the scores (tied scores share the mean of their ranks).
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(len(s), dtype=float)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)  # ranks are 1-based
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def auprc(y_true, scores) -> float:
    """Area under the precision-recall curve as average precision:
    ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds, highest first (the
    step-wise definition of scikit-learn's ``average_precision_score``). NaN without positives."""
    y = _labels(y_true)
    s = np.asarray(scores, dtype=float).ravel()
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def binary_metrics(y_true, probabilities, threshold: float = 0.5) -> dict:
    """Accuracy, MCC, AUROC, AUPRC and the confusion counts of probabilities against labels.

    A probability ``>= threshold`` is predicted as class 1.
    """
    y = _labels(y_true)
    p = np.asarray(probabilities, dtype=float).ravel()
    predicted = (p >= threshold).astype(int)
    return {
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "threshold": float(threshold),
        "accuracy": accuracy(y, predicted),
        "mcc": mcc(y, predicted),
        "auroc": auroc(y, p),
        "auprc": auprc(y, p),
        "confusion": confusion_counts(y, predicted),
    }

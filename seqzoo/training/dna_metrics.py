"""Per-task ranking metrics for multi-task DNA models: exact AUROC and AUPRC (average precision).

Both are computed exactly from the scores (no thresholds grid):

* AUROC is the Mann-Whitney statistic: the probability that a random positive scores above a
  random negative, ties counting one half.
* AUPRC is average precision, ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score
  thresholds from high to low (tied scores form one threshold), as scikit-learn's
  ``average_precision_score`` computes it.

A task with no positives or no negatives has no AUROC and no AUPRC: its value is NaN and the
summary counts it under ``n_undefined`` instead of averaging it.
"""

from __future__ import annotations

import math

import numpy as np

from seqzoo.training import metrics as binary

__all__ = ["auprc", "auroc", "per_task_metrics", "summarize"]


def _check(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape[0]} and {s.shape[0]}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return y.astype(bool), s


def auroc(y_true, scores) -> float:
    """Area under the ROC curve (ties count 1/2); NaN if only one class is present."""
    y, s = _check(y_true, scores)
    return binary.auroc(y, s)


def auprc(y_true, scores) -> float:
    """Average precision (area under the precision-recall curve, step-wise); NaN without positives
    or without negatives."""
    y, s = _check(y_true, scores)
    return math.nan if y.all() else binary.auprc(y, s)


def summarize(values: dict[str, float], n_worst: int = 10) -> dict:
    """Mean, median, minimum and the ``n_worst`` lowest of per-task values (NaN excluded)."""
    defined = {k: v for k, v in values.items() if not math.isnan(v)}
    arr = np.array(list(defined.values()), dtype=np.float64)
    worst = sorted(defined.items(), key=lambda kv: kv[1])[:n_worst]
    return {
        "mean": float(arr.mean()) if len(arr) else math.nan,
        "median": float(np.median(arr)) if len(arr) else math.nan,
        "min": float(arr.min()) if len(arr) else math.nan,
        "n_tasks": len(arr),
        "n_undefined": len(values) - len(arr),
        "worst": [[k, v] for k, v in worst],
    }


def per_task_metrics(y_true: np.ndarray, scores: np.ndarray, tasks: list[str], n_worst: int = 10) -> dict:
    """AUROC and AUPRC of every task (columns of ``y_true``/``scores``) with their summaries."""
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    if y_true.shape != scores.shape or y_true.ndim != 2 or y_true.shape[1] != len(tasks):
        raise ValueError(f"labels {y_true.shape}, scores {scores.shape} and {len(tasks)} tasks do not match")
    roc = {t: auroc(y_true[:, i], scores[:, i]) for i, t in enumerate(tasks)}
    prc = {t: auprc(y_true[:, i], scores[:, i]) for i, t in enumerate(tasks)}
    positives = {t: int(y_true[:, i].sum()) for i, t in enumerate(tasks)}
    return {
        "n": int(len(y_true)),
        "auroc": summarize(roc, n_worst),
        "auprc": summarize(prc, n_worst),
        "per_task": {t: {"auroc": roc[t], "auprc": prc[t], "positives": positives[t]} for t in tasks},
    }

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


def _rankdata(s: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), ties sharing the mean of their ranks."""
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(len(s), dtype=np.float64)
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(s)]])
    avg = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def auroc(y_true, scores) -> float:
    """Area under the ROC curve (ties count 1/2); NaN if only one class is present."""
    y, s = _check(y_true, scores)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auprc(y_true, scores) -> float:
    """Average precision (area under the precision-recall curve, step-wise); NaN without positives
    or without negatives."""
    y, s = _check(y_true, scores)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        return math.nan
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    # last index of each run of tied scores: one threshold per distinct score
    last = np.concatenate([np.flatnonzero(np.diff(s_sorted)), [len(s) - 1]])
    tp_at, n_at = tp[last], last + 1
    precision = tp_at / n_at
    recall = tp_at / n_pos
    recall_prev = np.concatenate([[0.0], recall[:-1]])
    return float(np.sum((recall - recall_prev) * precision))


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

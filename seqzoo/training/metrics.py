"""Classification metrics in plain NumPy (no scikit-learn needed), for every trainer.

Every function takes ``y_true`` as 0/1 labels and either predicted classes or scores
(probabilities). They match scikit-learn's ``accuracy_score``, ``matthews_corrcoef``,
``roc_auc_score`` and ``average_precision_score`` (the tests check hand-computed values).

AUROC and AUPRC are exact (no thresholds grid): AUROC is the Mann-Whitney statistic (ties count
one half), AUPRC is average precision ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score
thresholds from high to low. One rule for both: scores must be finite, and with only one class
present the value is NaN (``per_task_metrics`` counts such tasks under ``n_undefined``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "accuracy",
    "auprc",
    "auroc",
    "binary_metrics",
    "bootstrap_intervals",
    "bootstrap_task_metrics",
    "confusion_counts",
    "mcc",
    "per_task_metrics",
    "reliability",
    "summarize",
]


def _labels(y_true) -> np.ndarray:
    y = np.asarray(y_true).ravel()
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return y.astype(int)


def _scores(y: np.ndarray, scores) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.shape != y.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape[0]} and {s.shape[0]}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return s


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
    s = _scores(y, scores)
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
    step-wise definition of scikit-learn's ``average_precision_score``). NaN without positives
    or without negatives."""
    y = _labels(y_true)
    s = _scores(y, scores)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
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


def bootstrap_intervals(y_true, probabilities, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                        threshold: float = 0.5) -> dict[str, list[float]]:
    """Percentile bootstrap intervals of accuracy, MCC, AUROC and AUPRC: ``n_boot`` resamples of
    the rows with replacement (``numpy.random.default_rng(seed)``), the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles of each metric over them."""
    y = _labels(y_true)
    p = _scores(y, probabilities)
    if not len(y):
        raise ValueError("bootstrap_intervals: no rows")
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in ("accuracy", "mcc", "auroc", "auprc")}
    for _ in range(n_boot):
        rows = rng.integers(0, len(y), len(y))
        m = binary_metrics(y[rows], p[rows], threshold)
        for k in draws:
            draws[k].append(m[k])
    q = [(1 - level) / 2, (1 + level) / 2]
    return {k: [float(v) for v in np.nanquantile(np.array(vs), q)] for k, vs in draws.items()}


def bootstrap_task_metrics(y_true: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-task AUROC and AUPRC of every bootstrap resample of the rows, all resamples at once.

    ``y_true`` and ``scores`` are ``(n, tasks)``; ``counts`` is ``(resamples, n)``, how often each
    row is drawn in each resample (``rng.multinomial(n, [1/n] * n, size=resamples)``). Returns two
    ``(resamples, tasks)`` arrays, each value exactly :func:`auroc` / :func:`auprc` of the resampled
    rows (NaN where a resample lacks a class). Each task's rows are sorted once; a resample's
    figures are then sums over its positives' tied-score groups weighted by its counts, so the
    cost is one cumulative count of ``(resamples, n)`` per task instead of a sort per resample and task.
    """
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.int32)
    if y.shape != s.shape or y.ndim != 2 or counts.ndim != 2 or counts.shape[1] != len(y):
        raise ValueError(f"labels {y.shape}, scores {s.shape} and counts {counts.shape} do not match")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    roc = np.full((len(counts), y.shape[1]), np.nan)
    prc = np.full_like(roc, np.nan)
    for t in range(y.shape[1]):
        order = np.argsort(-s[:, t], kind="mergesort")  # highest score first
        ranked = s[order, t]
        positives = np.flatnonzero(y[order, t] == 1)  # their places in the ranking
        if not len(positives):
            continue
        # the tied-score group of each positive: its first and last place, and the first and
        # last positive of the group (in ``positives``)
        group_start = np.searchsorted(-ranked, -ranked[positives], side="left")
        group_end = np.searchsorted(-ranked, -ranked[positives], side="right")
        first_positive = np.searchsorted(positives, group_start, side="left")
        last_positive = np.searchsorted(positives, group_end, side="left") - 1
        # rows drawn at or above each place, and positives drawn at or above each positive
        seen = np.cumsum(np.take(counts, order, axis=1), axis=1, dtype=np.int32)  # counts sum to n
        drawn = np.take(counts, order[positives], axis=1).astype(np.float64)
        tp = np.cumsum(drawn, axis=1)
        tp_through = tp[:, last_positive]  # positives drawn down to the end of the group
        tp_before = np.where(first_positive > 0, tp[:, np.maximum(first_positive - 1, 0)], 0.0)
        seen_through = seen[:, group_end - 1].astype(np.float64)
        seen_before = np.where(group_start > 0, seen[:, np.maximum(group_start - 1, 0)], 0).astype(np.float64)
        n_pos, n_all = tp[:, -1], seen[:, -1].astype(np.float64)
        n_neg = n_all - n_pos
        defined = (n_pos > 0) & (n_neg > 0)
        # Mann-Whitney: a positive beats the negatives below its group, and half of its group's
        negatives_in_group = (seen_through - seen_before) - (tp_through - tp_before)
        negatives_below = n_neg[:, None] - (seen_through - tp_through)
        wins = (drawn * (negatives_below + 0.5 * negatives_in_group)).sum(axis=1)
        # average precision: each group is one threshold, its positives the recall step
        precision = np.divide(tp_through, seen_through, out=np.zeros_like(tp_through), where=seen_through > 0)
        roc[defined, t] = wins[defined] / (n_pos[defined] * n_neg[defined])
        prc[defined, t] = (drawn * precision).sum(axis=1)[defined] / n_pos[defined]
    return roc, prc


def reliability(y_true, probabilities, bins: int = 10) -> list[dict]:
    """A reliability curve: for each of ``bins`` equal-width probability bins with rows, its
    range, the number of rows, their mean predicted probability and their observed fraction of
    positives (equal for a calibrated model)."""
    y = _labels(y_true)
    p = _scores(y, probabilities)
    index = np.minimum((p * bins).astype(int), bins - 1)
    return [{"bin": [b / bins, (b + 1) / bins], "n": int((index == b).sum()),
             "mean_predicted": float(p[index == b].mean()), "observed": float(y[index == b].mean())}
            for b in range(bins) if (index == b).any()]


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

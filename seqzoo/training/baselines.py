"""Known-motif baseline for TF-binding windows: score each window by a TF's position weight matrix.

A motif of a MEME file (e.g. JASPAR) becomes a log-odds matrix ``log2((p + 0.01) / 1.04 / 0.25)``
(pseudocount 0.01 per base, uniform background). Each window is scanned on both strands
(one-hot in ACGT order; N scores as the average over bases) and summarised four ways:

``max_central`` / ``max_window``
    the best log-odds score in the central region / in the whole window;
``count_central`` / ``count_window``
    the number of positions (both strands) whose score reaches 85% of the motif's range
    (``min + 0.85 (max - min)``, the usual "relative score" threshold).

The central region is the stretch where a bound summit can lie under the data set's label rule:
the central ``bin_size + 2 flank`` bp (400 bp for the default design). The baseline reported
for a TF is each of these scorings' AUROC/AUPRC against the TF's labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seqzoo.io.meme import read_meme
from seqzoo.suggest import did_you_mean
from seqzoo.training.datasets import GenomeWindowDataset
from seqzoo.training.metrics import auprc, auroc
from seqzoo.zoo.provenance import portable_path

__all__ = ["DEFAULT_ALIASES", "find_motif", "log_odds", "motif_baseline", "scan_scores"]

#: Motif names for data-set TF names that JASPAR names differently (same gene, by AGI):
#: CBF3 = DREB1A (AT4G25480); AT1G72010 = TCP22; LHY1 = LHY (AT1G01060); ERF1 = ERF1B (AT3G23240).
DEFAULT_ALIASES = {"CBF3": "DREB1A", "AT1G72010": "TCP22", "LHY1": "LHY", "ERF1": "ERF1B"}

RELATIVE_THRESHOLD = 0.85
PSEUDOCOUNT = 0.01


def find_motif(motifs: dict, tf: str, aliases: dict[str, str] | None = None) -> tuple[str, str, np.ndarray]:
    """``(motif name, id, probabilities)`` for ``tf``: its alias if given, else its own name
    (case-insensitive)."""
    wanted = (aliases or {}).get(tf, DEFAULT_ALIASES.get(tf, tf))
    by_lower = {name.lower(): name for name in motifs}
    name = by_lower.get(wanted.lower())
    if name is None:
        raise KeyError(f"no motif named {wanted!r} for {tf!r} (give one with --alias {tf}=MOTIF_NAME)")
    return name, motifs[name][0], motifs[name][1]


def log_odds(prob: np.ndarray) -> np.ndarray:
    p = (prob + PSEUDOCOUNT) / (1 + 4 * PSEUDOCOUNT)
    return np.log2(p / 0.25)


def scan_scores(x: np.ndarray, pwm: np.ndarray) -> np.ndarray:
    """Log-odds of every position and strand: ``(n, 2, L - w + 1)`` for one-hot ``x (n, L, 4)``."""
    w, n_pos = len(pwm), x.shape[1] - len(pwm) + 1
    pwm = pwm.astype(np.float32)
    rc = np.ascontiguousarray(pwm[::-1, ::-1])
    forward = np.zeros((len(x), n_pos), dtype=np.float32)
    reverse = np.zeros((len(x), n_pos), dtype=np.float32)
    for k in range(w):  # position k of the motif reads base i + k of the window
        forward += x[:, k:k + n_pos] @ pwm[k]
        reverse += x[:, k:k + n_pos] @ rc[k]
    return np.stack([forward, reverse], axis=1)


def motif_baseline(data_dir, meme, split: str = "valid", tasks: list[str] = (), out_path=None,
                   aliases: dict[str, str] | None = None, chunk: int = 2048, command: str | None = None) -> dict:
    """AUROC/AUPRC of the four motif scorings (module docstring) for each TF in ``tasks``."""
    dataset = GenomeWindowDataset(data_dir, split)
    motifs = read_meme(meme)
    manifest = dataset.manifest
    central = manifest["bin_size"] + 2 * manifest["flank"]
    lo = (dataset.seq_len - central) // 2
    unknown = [t for t in tasks if t not in dataset.tasks]
    if unknown:
        raise LookupError(f"{data_dir}: no task(s) " + ", ".join(f"{u!r}{did_you_mean(u, dataset.tasks)}" for u in unknown))
    chosen = {tf: find_motif(motifs, tf, aliases) for tf in tasks}
    scorings = ("max_central", "count_central", "max_window", "count_window")
    scores = {tf: {s: np.zeros(len(dataset), dtype=np.float32) for s in scorings} for tf in tasks}
    for start in range(0, len(dataset), chunk):
        rows = np.arange(start, min(start + chunk, len(dataset)))
        x = dataset.x(rows)
        for tf, (_, _, prob) in chosen.items():
            pwm = log_odds(prob)
            threshold = pwm.min(axis=1).sum() + RELATIVE_THRESHOLD * (pwm.max(axis=1).sum() - pwm.min(axis=1).sum())
            s = scan_scores(x, pwm)
            # positions whose motif occurrence starts and ends in the central region
            c = s[:, :, lo:lo + central - len(pwm) + 1]
            scores[tf]["max_window"][rows] = s.max(axis=(1, 2))
            scores[tf]["count_window"][rows] = (s >= threshold).sum(axis=(1, 2))
            scores[tf]["max_central"][rows] = c.max(axis=(1, 2))
            scores[tf]["count_central"][rows] = (c >= threshold).sum(axis=(1, 2))
    y = dataset.y()
    per_task = {}
    for tf, (name, motif_id, prob) in chosen.items():
        labels = y[:, dataset.tasks.index(tf)]
        per_task[tf] = {"motif": f"{motif_id} {name}", "width": int(len(prob)), "positives": int(labels.sum()),
                        **{s: {"auroc": auroc(labels, scores[tf][s]), "auprc": auprc(labels, scores[tf][s])}
                           for s in scorings}}
    result = {"data": portable_path(data_dir), "split": split, "n": len(dataset), "meme": portable_path(meme),
              "scorings": list(scorings), "central_bp": central, "relative_threshold": RELATIVE_THRESHOLD,
              "pseudocount": PSEUDOCOUNT, "per_task": per_task,
              "command": command}
    if out_path:
        Path(out_path).write_text(json.dumps(result, indent=1) + "\n")
    return result

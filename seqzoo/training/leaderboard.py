"""Which model to pick for a data set: every model scored on the same windows (``seqzoo leaderboard``).

:func:`leaderboard` evaluates each model (a zoo name, a model directory, or a DNA ``seqzoo train`` run
directory, so a model not yet shipped can be ranked) on one split of a ``seqzoo dataset``
directory, with the same predictions path as ``seqzoo evaluate`` (:func:`seqzoo.training.dna.predict_dataset`,
:func:`seqzoo.training.metrics.per_task_metrics`). For each model it reports

- mean AUROC and mean AUPRC over the tasks (tasks without both classes left out, as
  ``evaluate`` does), with percentile bootstrap intervals: ``n_boot`` resamples of the windows
  with replacement, the same resamples for every model (seeded), each resample's per-task figures
  computed at once (:func:`seqzoo.training.metrics.bootstrap_task_metrics`);
- per-TF wins against the known-motif baseline (``seqzoo motif-baseline``'s JSON): a TF is won
  when the model's AUPRC is above the baseline's best scoring for that TF;
- its parameters, and its prediction rate: windows per second measured while it predicted
  the split (on the CPU, batches of ``batch_size``, float32).

:func:`write_board` writes the board as Markdown and TSV; :func:`readme_table` renders the
README's model table from the zoo (what ``seqzoo list`` lists) and boards' TSV rows, between
the markers :data:`TABLE_START` and :data:`TABLE_END`; :func:`read_readme_table` reads it back.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from seqzoo.training.datasets import GenomeWindowDataset
from seqzoo.training.metrics import bootstrap_task_metrics, per_task_metrics
from seqzoo.zoo.provenance import portable_path

__all__ = ["TABLE_END", "TABLE_START", "TSV_COLUMNS", "default_models", "leaderboard", "read_board",
           "read_readme_table", "readme_table", "write_board"]

#: The README's model table lies between these lines (tests/test_leaderboard.py reads it).
TABLE_START = "<!-- model table -->"
TABLE_END = "<!-- /model table -->"
#: Columns of the board's TSV, one row per model.
TSV_COLUMNS = ("rank", "model", "source", "architecture", "parameters", "mean_auroc", "auroc_low", "auroc_high",
               "mean_auprc", "auprc_low", "auprc_high", "motif_wins", "motif_tfs", "windows_per_second", "windows",
               "split", "data")
#: The columns of the README's model table; the first four are ``seqzoo list``'s.
README_COLUMNS = ("model", "modality", "architecture", "targets", "parameters", "mean AUROC (95% CI)",
                  "mean AUPRC (95% CI)", "windows/s")


def default_models(data_dir: str | os.PathLike) -> list[str]:
    """Every zoo DNA model whose targets are the data set's tasks (same order) and whose input is
    its window length."""
    from seqzoo.training.datasets import read_manifest
    from seqzoo.zoo.spec import find_model, list_models, load_spec

    manifest = read_manifest(data_dir)
    found = []
    for name in list_models():
        spec = load_spec(find_model(name))
        fits = list(spec.labels) == manifest["tasks"] and spec.input_shape[0] == manifest["seq_len"]
        if spec.modality == "dna" and fits:
            found.append(name)
    if not found:
        raise ValueError(f"no zoo model has the {len(manifest['tasks'])} tasks of {data_dir} as its targets: "
                         "name the models to rank (--models)")
    return found


def _baseline_best(baseline: dict, data_dir, split: str) -> dict[str, tuple[str, float]]:
    """TF -> (its motif, the best AUPRC of the baseline's scorings), checked to be of this split."""
    # provenance records the data set as a portable path (seqzoo.zoo.provenance); older files, absolute
    if baseline["data"] not in (portable_path(data_dir), str(Path(data_dir).resolve())) or baseline["split"] != split:
        raise ValueError(f"the motif baseline was computed on {baseline['data']} ({baseline['split']}), not on "
                         f"{Path(data_dir).resolve()} ({split}): rerun seqzoo motif-baseline on the same windows")
    return {tf: (m["motif"], max(m[s]["auprc"] for s in baseline["scorings"]))
            for tf, m in baseline["per_task"].items()}


def _interval(values: np.ndarray, level: float) -> list[float]:
    q = [(1 - level) / 2, (1 + level) / 2]
    return [float(v) for v in np.nanquantile(values, q)]


def leaderboard(models: Sequence[str | os.PathLike], data_dir: str | os.PathLike, split: str = "valid",
                baseline: dict | None = None, n_boot: int = 200, seed: int = 0, level: float = 0.95,
                batch_size: int = 256, log: Callable[[str], None] | None = None) -> dict:
    """Rank ``models`` on ``split`` of ``data_dir`` (module docstring); ``baseline`` is the JSON
    ``seqzoo motif-baseline`` wrote for the same data set and split. Returns the board: the data
    set, the resampling, and ``rows`` (one dict per model, best mean AUPRC first)."""
    from seqzoo.training.dna import load_predictor, predict_dataset

    if not models:
        raise ValueError("leaderboard: no models to rank")
    dataset = GenomeWindowDataset(data_dir, split)
    y = dataset.y()
    best = _baseline_best(baseline, data_dir, split) if baseline else {}
    unknown = sorted(set(best) - set(dataset.tasks))
    if unknown:
        raise ValueError(f"the motif baseline scores TFs that {data_dir} lacks: {', '.join(unknown)}")
    # the same resamples of the windows for every model
    counts = np.random.default_rng(seed).multinomial(len(y), np.full(len(y), 1 / len(y)), size=n_boot)
    rows = []
    for source in models:
        predictor = load_predictor(source)
        predictor.check_fits(source, dataset, data_dir)
        started = time.perf_counter()
        scores = predict_dataset(predictor.predict, dataset, batch_size)
        rate = len(dataset) / (time.perf_counter() - started)
        metrics = per_task_metrics(y, scores, dataset.tasks)
        roc, prc = bootstrap_task_metrics(y, scores, counts)
        with np.errstate(all="ignore"):  # a resample where every task lacks a class: NaN, left out
            roc_means, prc_means = np.nanmean(roc, axis=1), np.nanmean(prc, axis=1)
        per_tf = {tf: metrics["per_task"][tf]["auprc"] for tf in best}
        row = {"model": _shown(source), "source": str(source), "architecture": predictor.architecture,
               "parameters": int(predictor.network.count_params()),
               "mean_auroc": metrics["auroc"]["mean"], "auroc_interval": _interval(roc_means, level),
               "mean_auprc": metrics["auprc"]["mean"], "auprc_interval": _interval(prc_means, level),
               "motif_wins": sum(per_tf[tf] > best[tf][1] for tf in best), "motif_tfs": len(best),
               "per_tf_auprc": per_tf, "windows_per_second": rate}
        rows.append(row)
        if log:
            log(f"{row['model']}: mean AUROC {row['mean_auroc']:.4f}, mean AUPRC {row['mean_auprc']:.4f} "
                f"({rate:.0f} windows/s)")
    rows.sort(key=lambda r: -r["mean_auprc"])
    return {"data": str(Path(data_dir).resolve()), "split": split, "windows": len(dataset), "tasks": dataset.n_tasks,
            "resamples": n_boot, "seed": seed, "level": level,
            "baseline": {tf: {"motif": motif, "auprc": auprc} for tf, (motif, auprc) in best.items()},
            "rows": rows}


def _shown(source) -> str:
    """A model's name on the board: a zoo name as given, a directory by its last part."""
    path = Path(source)
    return path.name if path.is_dir() else str(source)


def _figure(value: float, interval: Sequence[float]) -> str:
    return f"{value:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]"


def board_markdown(board: dict) -> str:
    """The board as Markdown: the table, what it was computed on, and the per-TF AUPRC against
    the motif baseline."""
    pct = f"{board['level']:.0%}"
    lines = [f"# Leaderboard: {board['data']} ({board['split']})", "",
             f"{board['windows']} windows, {board['tasks']} tasks. Mean over tasks with both classes; "
             f"[{pct} interval] from {board['resamples']} bootstrap resamples of the windows (seed {board['seed']}, "
             "the same resamples for every model). Motif wins: TFs whose AUPRC is above the known-motif "
             "baseline's best scoring. Windows/s: CPU, float32.", "",
             f"| rank | model | architecture | parameters | mean AUROC [{pct}] | mean AUPRC [{pct}] | motif wins | "
             "windows/s |", "|---|---|---|---:|---|---|---|---:|"]
    for rank, r in enumerate(board["rows"], start=1):
        wins = f"{r['motif_wins']}/{r['motif_tfs']}" if r["motif_tfs"] else "-"
        lines.append(f"| {rank} | {r['model']} | {r['architecture']} | {r['parameters']:,} | "
                     f"{_figure(r['mean_auroc'], r['auroc_interval'])} | {_figure(r['mean_auprc'], r['auprc_interval'])} | "
                     f"{wins} | {r['windows_per_second']:.0f} |")
    if board["baseline"]:
        models = [r["model"] for r in board["rows"]]
        lines += ["", "## AUPRC per TF against the known-motif baseline", "",
                  "| TF | motif | baseline | " + " | ".join(models) + " |", "|---|---|---:|" + "---:|" * len(models)]
        for tf, b in board["baseline"].items():
            cells = [f"**{r['per_tf_auprc'][tf]:.4f}**" if r["per_tf_auprc"][tf] > b["auprc"]
                     else f"{r['per_tf_auprc'][tf]:.4f}" for r in board["rows"]]
            lines.append(f"| {tf} | {b['motif']} | {b['auprc']:.4f} | " + " | ".join(cells) + " |")
        lines += ["", "Bold: above the baseline."]
    return "\n".join(lines) + "\n"


def write_board(board: dict, path: str | os.PathLike) -> tuple[Path, Path]:
    """Write the board as Markdown to ``path`` and as TSV beside it (``.tsv``); both are written
    under temporary names and renamed when complete. Returns both paths."""
    path = Path(path)
    tsv = path.with_suffix(".tsv")
    lines = ["\t".join(TSV_COLUMNS)]
    for rank, r in enumerate(board["rows"], start=1):
        values = [rank, r["model"], r["source"], r["architecture"], r["parameters"], r["mean_auroc"],
                  *r["auroc_interval"], r["mean_auprc"], *r["auprc_interval"], r["motif_wins"], r["motif_tfs"],
                  round(r["windows_per_second"], 1), board["windows"], board["split"], board["data"]]
        lines.append("\t".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in values))
    for target, text in ((path, board_markdown(board)), (tsv, "\n".join(lines) + "\n")):
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        partial.write_text(text)
        os.replace(partial, target)
    return path, tsv


def read_board(path: str | os.PathLike) -> list[dict]:
    """The rows of a board's TSV (:func:`write_board`), numbers as numbers."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        if tuple(reader.fieldnames or ()) != TSV_COLUMNS:
            raise ValueError(f"{path}: not a seqzoo leaderboard TSV (columns {reader.fieldnames})")
        rows = list(reader)
    for row in rows:
        for key in ("rank", "parameters", "motif_wins", "motif_tfs", "windows"):
            row[key] = int(row[key])
        for key in ("mean_auroc", "auroc_low", "auroc_high", "mean_auprc", "auprc_low", "auprc_high",
                    "windows_per_second"):
            row[key] = float(row[key])
    return rows


def readme_table(boards: Iterable[str | os.PathLike] = ()) -> str:
    """The README's model table between its markers: one row per zoo model (``seqzoo list``'s
    model, modality, architecture and number of targets), with a board's figures where one of
    ``boards`` (TSV files) ranked it (the first board that did)."""
    from seqzoo.zoo.spec import find_model, list_models, load_spec

    ranked: dict[str, dict] = {}
    for board in boards:
        for row in read_board(board):
            ranked.setdefault(row["model"], row)
    lines = [TABLE_START, "| " + " | ".join(README_COLUMNS) + " |", "|---|---|---|---:|---:|---|---|---:|"]
    for name in list_models():
        spec = load_spec(find_model(name))
        r = ranked.get(name)
        figures = (["-"] * 4 if r is None else
                   [f"{r['parameters']:,}", _figure(r["mean_auroc"], (r["auroc_low"], r["auroc_high"])),
                    _figure(r["mean_auprc"], (r["auprc_low"], r["auprc_high"])), f"{r['windows_per_second']:.0f}"])
        lines.append("| " + " | ".join([name, spec.modality, spec.architecture, str(spec.target_shape[-1]), *figures])
                     + " |")
    return "\n".join(lines + [TABLE_END]) + "\n"


def read_readme_table(text: str, where: str = "README.md") -> list[dict[str, str]]:
    """The rows of the model table between the markers in ``text``, by column name."""
    if text.count(TABLE_START) != 1 or text.count(TABLE_END) != 1:
        raise ValueError(f"{where}: the model table must lie between one {TABLE_START!r} line and one {TABLE_END!r} "
                         "line (generate it with `seqzoo leaderboard --readme-table`)")
    inside = text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0]
    lines = [line.strip() for line in inside.strip().splitlines() if line.strip()]
    if len(lines) < 2:
        raise ValueError(f"{where}: no table between the model table markers")
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]

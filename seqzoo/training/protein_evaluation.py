"""Measuring protein models: held-out metrics, training runs loaded back, the lockbox report
and ``seqzoo evaluate DeepSol``."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import keras
import numpy as np

from seqzoo.zoo.provenance import portable_path
from seqzoo.training.metrics import binary_metrics, bootstrap_intervals, reliability
from seqzoo.training.protein_batches import pad_batch, predict_tokens
from seqzoo.training.runs import read_run
from seqzoo.training.proteins import LENGTH_BANDS, LabelledProteins, band_name, length_band, lockbox_rows, read_labelled_tsv

__all__ = ["evaluate_proteins", "held_out_metrics", "load_protein_run", "lockbox_report", "protein_input_length"]


def held_out_metrics(model, held: LabelledProteins, max_len: int, batch_size: int = 64,
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
        probabilities[i] = predict_long(pad_batch([held.tokens[i]], 0, max_len=width))[0, 0]
    probabilities = probabilities[predictable]
    return binary_metrics(held.labels[predictable], probabilities), int((~predictable).sum()), probabilities


def load_protein_run(run_dir: str | os.PathLike, weights: str | os.PathLike | None = None
                     ) -> tuple[dict, str, dict, keras.Model]:
    """The ``metrics.json`` of a ``train_deepsol`` or ``ensemble_deepsol`` run directory, its
    architecture and config, and its network with the run's weights loaded (or ``weights``)."""
    run = read_run(run_dir)
    if run.kind != "protein":
        raise ValueError(f"{run_dir} is a {run.kind} run, not a seqzoo train or ensemble run of a protein model")
    return run.record, run.architecture, run.config, run.network(weights)


def protein_input_length(architecture: str, config: dict) -> int:
    """The input length of a protein network of ``architecture`` with ``config``."""
    if architecture == "ensemble":
        return protein_input_length(config["members"][0]["architecture"], config["members"][0].get("config", {}))
    return int(config.get("max_len", 1200))


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
        max_len = protein_input_length(architecture, config)
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
    metrics, not_predictable, probabilities = held_out_metrics(predictor, data, max_len, batch_size, predict_long)
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

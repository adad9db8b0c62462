"""Train the DeepSol architecture on labelled protein sequences (``seqzoo train DeepSol``).

Recipe (described in ``models/DeepSol/README.md``):

* **Data.** Two TSV files with the header ``sequence<TAB>label`` (label 1 = soluble). A seeded,
  stratified part of the validation rows moves into training; the rest is held out and is the
  only data used for model selection (early stopping) and metrics.
* **Length handling.** Training batches group proteins of similar length and pad them to the
  batch's longest protein plus at least the largest kernel size, rounded up to a multiple of 32,
  so that global max pooling sees the windows it sees at prediction time (padding to
  ``max_len``): the shorter batches change the speed, not the model. Training proteins longer
  than ``max_len`` are cropped; held-out ones cannot be predicted by the shipped model and are
  left out of the metrics (their number is recorded).
* **Optimisation.** Adam, binary cross-entropy, "balanced" class weights, the learning rate
  halved when the held-out loss stops improving, early stopping on the held-out loss with the
  best weights restored (and checkpointed), seeded with :func:`keras.utils.set_random_seed`.
* **Composition.** A network built with ``composition=True``, and the companion
  ``protein_composition`` logistic regression, read residue and residue-pair frequencies whose
  standardization statistics are set from all training rows before training; the logistic
  regression is fitted exactly (:func:`~seqzoo.training.protein_batches.fit_logistic`) instead of by ``fit``.
* **Ensembles.** :func:`ensemble_deepsol` (``seqzoo ensemble DeepSol``) averages runs that held
  out the same rows (one ``split_seed``), optionally weighted, and measures the average there.
* **Output.** ``<name>.weights.h5`` (the model at ``max_len``, loadable by ``seqzoo.get_model``),
  ``weights.yaml`` (:class:`~seqzoo.zoo.artifacts.WeightsArtifact`, relative URL) and
  ``metrics.json`` (held-out metrics, command, seed, split rule, history, versions, labels).

This module trains and ensembles; beside it live the data (:mod:`seqzoo.training.proteins`), the
batches (``protein_batches``), evaluation and the lockbox (``protein_evaluation``: ``seqzoo
evaluate DeepSol``) and export to a model directory (``protein_export``: ``seqzoo export``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import keras
import numpy as np

from seqzoo.architectures import build, build_ensemble
from seqzoo.training.protein_batches import LENGTH_STEP, LengthBucketBatches, fit_logistic, set_composition_statistics
from seqzoo.training.protein_evaluation import held_out_metrics
from seqzoo.training.proteins import LabelledProteins, read_labelled_tsv, training_weights, validation_plan, weight_summary
from seqzoo.training.storage import store_float16
from seqzoo.zoo.artifacts import WeightsArtifact
from seqzoo.zoo.provenance import portable_path

__all__ = ["MONITORS", "ensemble_deepsol", "train_deepsol"]


#: What early stopping and the learning-rate schedule can watch on the held-out rows. The
#: held-out loss of a class- or length-reweighted model also moves with its calibration, so it
#: can rise while the ranking (AUROC) still improves.
MONITORS = ("loss", "auroc")


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

    metrics, not_predictable, held_out_p = held_out_metrics(final, held, max_len)
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
    fitted on out-of-fold predictions by ``research/deepsol_ensemble_cv.py``) recalibrates it
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
        metrics, not_predictable, _ = held_out_metrics(model, valid.subset(np.array(held_rows)), max_len)
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

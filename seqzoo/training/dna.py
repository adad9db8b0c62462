"""Training and evaluating DeepSEA- and Basset-like models on a genome-window data set.

``train_dna`` (``seqzoo train`` of a DNA model) fits a zoo architecture on a data set built by
``seqzoo dataset``: seeded, one-hot batches drawn on the fly (optional random reverse
complement), per-task AUROC/AUPRC on the validation split after every epoch, early stopping on
the mean validation AUROC, and after every epoch a full checkpoint (model and optimizer state,
``checkpoint.keras``) plus ``state.json`` so that ``resume=True`` continues an interrupted run
from the last finished epoch. The best epoch's weights are written as ``<name>.weights.h5`` with
``training.json`` (architecture, sizes, data, recipe, history, command, versions).

``evaluate_dna`` (``seqzoo evaluate`` of a DNA model or run) scores a zoo model or a training output directory on
one split and writes per-task metrics.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple

import numpy as np
import yaml

from seqzoo.training.datasets import GenomeWindowDataset, read_manifest
from seqzoo.training.metrics import per_task_metrics
from seqzoo.training.runs import read_run
from seqzoo.training.storage import store_float16
from seqzoo.zoo.provenance import portable_path

if TYPE_CHECKING:  # keras (and seqzoo.packaging, which needs it) is imported where used
    import keras

    from seqzoo.packaging import ModelInfo

__all__ = ["Predictor", "check_run_output", "check_splits", "dna_architectures", "evaluate_dna", "load_predictor",
           "predict_dataset", "train_dna"]


def dna_architectures() -> tuple[str, ...]:
    """The architectures train_dna trains, any case accepted: the families whose record says
    ``trains="dna"`` (``seqzoo.architectures.registry``; importing it loads no keras)."""
    from seqzoo.architectures.registry import trained_by

    return trained_by("dna")


def _log_to(path: Path, verbose: bool):
    fh = open(path, "a", buffering=1)

    def log(msg: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {msg}"
        fh.write(line + "\n")
        if verbose:
            print(line, file=sys.stderr, flush=True)

    return log, fh


def _window_batches(dataset: GenomeWindowDataset, batch_size: int, seed: int, reverse_complement: bool,
                    steps_per_epoch: int | None, first_epoch: int):
    import keras

    class WindowBatches(keras.utils.PyDataset):
        """Shuffled one-hot batches of a split; a new seeded order (and RC draw) every epoch."""

        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = first_epoch
            self._set_epoch()

        def _set_epoch(self):
            rows = dataset.batch_rows(batch_size, shuffle=True, seed=seed, epoch=self.epoch)
            self.rows = rows[:steps_per_epoch] if steps_per_epoch else rows
            self.rng = np.random.default_rng([seed, self.epoch, 1])
            self.flips = [self.rng.random(len(r)) < 0.5 if reverse_complement else False for r in self.rows]

        def __len__(self):
            return len(self.rows)

        def __getitem__(self, i):
            rows = self.rows[i]
            return dataset.x(rows, self.flips[i]), dataset.y(rows).astype(np.float32)

        def start_epoch(self, epoch):
            """Draw the order (and reverse-complement flips) of 0-based ``epoch``."""
            self.epoch = epoch
            self._set_epoch()

    return WindowBatches()


def _epoch_counter(epochs: int):
    """Keras' per-epoch line, counting to the run's ``epochs``: train_dna calls ``fit`` once per
    epoch (``epochs=epoch, initial_epoch=epoch - 1``), whose own counter would print
    "Epoch 2/2" during the second epoch of a 3-epoch run."""
    import keras

    class EpochCounter(keras.callbacks.ProgbarLogger):
        def set_params(self, params):
            super().set_params({**params, "epochs": epochs})

    return EpochCounter()


def predict_dataset(predict_fn, dataset: GenomeWindowDataset, batch_size: int = 256,
                  reverse_complement_average: bool = False, progress=None) -> np.ndarray:
    """Predictions of ``predict_fn`` (a batch ``(n, L, 4)`` to ``(n, tasks)``) over a whole split,
    in row order; with ``reverse_complement_average`` the mean of both strands."""
    out = np.zeros((len(dataset), dataset.n_tasks), dtype=np.float32)
    for rows in dataset.batch_rows(batch_size):
        x = dataset.x(rows)
        p = np.asarray(predict_fn(x))
        if reverse_complement_average:
            p = (p + np.asarray(predict_fn(np.ascontiguousarray(x[:, ::-1, ::-1])))) / 2
        out[rows] = p
        if progress:
            progress(len(rows))
    return out


def _set_output_bias(model, positive_fraction: np.ndarray) -> None:
    """Start the sigmoid output at each task's base rate (log-odds), which spares the first
    epochs of learning the class balance."""
    layer = model.get_layer("output")
    kernel, bias = layer.get_weights()
    p = np.clip(positive_fraction, 1e-4, 1 - 1e-4)
    layer.set_weights([kernel, np.log(p / (1 - p)).astype(bias.dtype)])


def load_run(run_dir: str | os.PathLike, weights: str | os.PathLike | None = None,
             **config_overrides) -> tuple[dict, keras.Model]:
    """The ``training.json`` of the DNA run ``run_dir`` (``seqzoo train``, ``finetune``) and its
    network, built from the recorded architecture and config (updated by ``config_overrides``)
    with the run's best weights loaded (or ``weights``)."""
    run = read_run(run_dir)
    if run.kind != "dna":
        raise ValueError(f"{run_dir} is a {run.kind} run, not a DNA run (seqzoo train of a DNA model)")
    return run.record, run.network(weights, **config_overrides)


def copy_matching_layers(model, donor, skip: tuple[str, ...] = ()) -> list[str]:
    """Copy into ``model`` the weights of every layer of ``donor`` (a network, or a DNA
    run directory) that has the same name and weight shapes, except the layers named in ``skip``
    (a warm start, e.g. of a larger dense layer on learned convolutions); return the names of the
    copied layers."""
    if not hasattr(donor, "layers"):
        _, donor = load_run(donor)
    donors = {layer.name: layer for layer in donor.layers}
    copied = []
    for layer in model.layers:
        source = donors.get(layer.name)
        if not layer.weights or source is None or layer.name in skip:
            continue
        weights = source.get_weights()
        if [w.shape for w in weights] == [tuple(v.shape) for v in layer.weights]:
            layer.set_weights(weights)
            copied.append(layer.name)
    return copied


def check_splits(manifest: dict, data_dir, train_split: str = "train", valid_split: str = "valid") -> None:
    """Refuse, before training, splits that cannot train or pick a best epoch: a split without
    windows, or a validation split where no task has both positive and negative windows (its
    mean AUROC, which early stopping follows, would be undefined)."""
    if train_split not in manifest["splits"] or valid_split not in manifest["splits"]:
        return  # GenomeWindowDataset names the missing split
    for split, role in ((train_split, "training"), (valid_split, "validation")):
        if manifest["splits"][split]["n_windows"] == 0:
            raise ValueError(f"{data_dir}: the {role} split {split!r} has no windows (split "
                             f"{manifest['split']['spec']}); rebuild the data set (seqzoo dataset) with a {role} "
                             "region that holds windows")
    counts = manifest["splits"][valid_split]
    if not any(0 < p < counts["n_windows"] for p in counts["positives_per_task"]):
        raise ValueError(f"{data_dir}: no task has both positive and negative windows in the validation split "
                         f"{valid_split!r} ({counts['n_windows']} windows, {counts['n_positive_labels']} positive "
                         "labels): its AUROC, which picks the best epoch, is undefined; choose a validation region "
                         "with peaks of the tasks")


def check_run_output(out_dir: str | os.PathLike, data_dir: str | os.PathLike, resume: bool) -> dict | None:
    """Refuse an output directory that cannot take this run: one holding a run (``state.json``)
    unless ``resume``; with ``resume``, one without a checkpoint, or one trained on another data
    set. Returns the state to resume from (None for a new run)."""
    out = Path(out_dir)
    state_path, ckpt_path = out / "state.json", out / "checkpoint.keras"
    if not resume:
        if state_path.exists():
            raise FileExistsError(f"{out} holds a training run (state.json); use --resume or another output directory")
        return None
    if not (state_path.is_file() and ckpt_path.is_file()):
        raise FileNotFoundError(f"--resume: {out} has no checkpoint.keras and state.json to resume from")
    state = json.loads(state_path.read_text())
    if state["data_dir"] != str(Path(data_dir).resolve()):
        raise ValueError(f"--resume: {out} was trained on {state['data_dir']}, not {Path(data_dir).resolve()}")
    return state


def train_dna(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    architecture: str = "deepsea",
    config: dict | None = None,
    name: str | None = None,
    epochs: int = 10,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    patience: int = 3,
    seed: int = 0,
    reverse_complement: bool = True,
    steps_per_epoch: int | None = None,
    valid_split: str = "valid",
    train_split: str = "train",
    resume: bool = False,
    max_minutes: float | None = None,
    lr_decay: float = 1.0,
    init_from: str | os.PathLike | None = None,
    base: str | os.PathLike | None = None,
    freeze_trunk: bool = False,
    verbose: bool = True,
    command: str | None = None,
    member: int | None = None,
) -> dict:
    """Train ``architecture`` with size arguments ``config`` on ``data_dir``; see the module docstring.

    ``steps_per_epoch`` makes an epoch a seeded random subset of the training windows (each
    epoch draws anew), so validation and checkpoints come more often. ``max_minutes`` stops
    cleanly after the epoch that passes the time budget (the run can be resumed later).
    ``lr_decay`` < 1 multiplies the learning rate by it after every epoch that does not improve
    the validation score (the rate is part of the checkpointed optimizer state).
    ``init_from`` (a previous run's directory) starts the layers whose names and shapes match
    from that run's best weights (see :func:`copy_matching_layers`).
    ``base`` fine-tunes a model (a zoo name, ``NAME@VERSION``, a store URI or a directory): its
    architecture and sizes, its trunk's weights, and its output head only when its targets are the
    data set's tasks in the same order (else a new head sized for the tasks); ``freeze_trunk``
    then trains the head alone; ``member`` picks one network of a base that is an ensemble (0-based).
    The lineage (base name, version, store, weights sha256, the data
    set's manifest) is recorded in ``training.json`` and carried into exported model directories.
    ``command`` is the command line recorded in ``training.json`` (the CLI passes
    :func:`seqzoo.cli.options.command_line`; None when called from Python).
    Returns the content of ``training.json``.
    """
    import keras

    from seqzoo.architectures import build

    base_model, lineage = _base_model(base, data_dir, member) if base is not None else (None, None)
    if base_model is not None:
        architecture = base_model.architecture
        config = {k: v for k, v in base_model.config.items() if k not in ("seq_len", "n_tasks")}
    if freeze_trunk and base_model is None:
        raise ValueError("freeze_trunk needs a base model to fine-tune (base=...)")
    arch = architecture.lower()
    if arch not in dna_architectures():
        raise ValueError(f"seqzoo train trains the DNA families {', '.join(dna_architectures())}; got {architecture!r}")
    check_splits(read_manifest(data_dir), data_dir, train_split, valid_split)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state_path, ckpt_path = out / "state.json", out / "checkpoint.keras"
    manifest = read_manifest(data_dir)
    train = GenomeWindowDataset(data_dir, train_split)
    valid = GenomeWindowDataset(data_dir, valid_split)
    log, log_fh = _log_to(out / "train.log", verbose)
    name = name or f"{arch}-{Path(data_dir).name}"
    config = dict(config or {})
    config.update(seq_len=train.seq_len, n_tasks=train.n_tasks)

    resumed = check_run_output(out, data_dir, resume)
    if resume:
        state = resumed
        if state["data_dir"] != str(Path(data_dir).resolve()) or state["architecture"] != arch:
            raise ValueError(f"--resume: {out} was trained on {state['data_dir']} with {state['architecture']}; "
                             f"not {Path(data_dir).resolve()} with {arch}")
        config, name = state["config"], state["name"]
        keras.utils.set_random_seed(seed + 1000 * state["epochs_done"])
        from seqzoo.architectures import layers  # noqa: F401 - registers seqzoo's layers for load_model
        model = keras.models.load_model(ckpt_path, compile=True)
        log(f"resumed from {ckpt_path} after epoch {state['epochs_done']} (best epoch {state['best_epoch']}, "
            f"validation mean AUROC {state['best_score']:.4f})")
    else:
        keras.utils.set_random_seed(seed)
        model = build(arch, **config)
        copied = copy_matching_layers(model, init_from) if init_from else []
        if base_model is not None:
            if base_model.seq_len != train.seq_len:
                raise ValueError(f"{base_model.name} reads {base_model.seq_len} bp windows; the data set "
                                 f"{data_dir} has {train.seq_len} bp windows")
            skip = () if lineage["head"] == "kept" else ("output",)
            copied = copy_matching_layers(model, base_model.network, skip=skip)
            if freeze_trunk:
                for layer in model.layers:
                    layer.trainable = layer.name == "output"
        if "output" not in copied:
            _set_output_bias(model, np.array(manifest["splits"][train_split]["positives_per_task"]) / len(train))
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
        state = {
            "name": name, "architecture": arch, "config": config, "data_dir": str(Path(data_dir).resolve()),
            "epochs_done": 0, "best_epoch": 0, "best_score": -math.inf, "wait": 0, "history": [],
            "recipe": {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                       "patience": patience, "seed": seed, "reverse_complement_augmentation": reverse_complement,
                       "steps_per_epoch": steps_per_epoch, "loss": "binary_crossentropy", "optimizer": "Adam",
                       "early_stopping": f"mean per-task AUROC on {valid_split!r}",
                       "output_bias_init": "log-odds of each task's training positive fraction"},
            "initialized_from": {"run": portable_path(init_from), "layers": copied} if init_from else None,
            "lineage": dict(lineage, layers_copied=copied, frozen_trunk=freeze_trunk) if lineage else None,
            "commands": [],
        }
        log(f"{name}: {arch} {config} ({model.count_params():,} parameters); train {len(train)} windows, "
            f"{valid_split} {len(valid)} windows, {train.n_tasks} tasks")
        if init_from or base_model is not None:
            log(f"layers started from {init_from or base}: {', '.join(copied) or 'none'}"
                + ("; training the output head only" if freeze_trunk else ""))
    state["commands"].append(command)
    best_path = out / "best.weights.h5"
    batches = _window_batches(train, batch_size, seed, reverse_complement, steps_per_epoch, state["epochs_done"])
    started = time.time()
    stop_reason = f"reached {epochs} epochs"
    for epoch in range(state["epochs_done"] + 1, epochs + 1):
        t0 = time.time()
        batches.start_epoch(epoch - 1)
        hist = model.fit(batches, epochs=epoch, initial_epoch=epoch - 1, verbose=2 if verbose else 0,
                         callbacks=[_epoch_counter(epochs)] if verbose else None)
        train_loss = float(hist.history["loss"][-1])
        t1 = time.time()
        preds = predict_dataset(lambda x: model.predict_on_batch(x), valid, batch_size=256)
        metrics = per_task_metrics(valid.y(), preds, valid.tasks)
        score = metrics["auroc"]["mean"]
        entry = {"epoch": epoch, "train_loss": train_loss, "valid_mean_auroc": score,
                 "valid_mean_auprc": metrics["auprc"]["mean"], "valid_median_auroc": metrics["auroc"]["median"],
                 "train_seconds": round(t1 - t0, 1), "valid_seconds": round(time.time() - t1, 1)}
        state["history"].append(entry)
        improved = score > state["best_score"]
        if improved:
            state.update(best_epoch=epoch, best_score=score, wait=0)
            model.save_weights(best_path)
            (out / "valid_metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        else:
            state["wait"] += 1
            if lr_decay != 1.0:
                new_lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) * lr_decay
                model.optimizer.learning_rate.assign(new_lr)
                entry["learning_rate_after"] = new_lr
        state["epochs_done"] = epoch
        model.save(out / "checkpoint.keras.tmp.keras")
        os.replace(out / "checkpoint.keras.tmp.keras", ckpt_path)
        state_path.write_text(json.dumps(state, indent=1) + "\n")
        log(f"epoch {epoch}: loss {train_loss:.4f}; {valid_split} mean AUROC {score:.4f}, mean AUPRC "
            f"{metrics['auprc']['mean']:.4f}{' (best)' if improved else ''}; {entry['train_seconds']:.0f}s train, "
            f"{entry['valid_seconds']:.0f}s validation")
        if state["wait"] >= patience:
            stop_reason = f"early stopping: no improvement for {patience} epochs"
            break
        if max_minutes is not None and (time.time() - started) / 60 > max_minutes:
            stop_reason = f"time budget of {max_minutes} minutes used (resume with --resume)"
            break
    log(stop_reason)
    if not best_path.is_file():  # every epoch's validation score was undefined (NaN): nothing to deliver
        scores = ", ".join(f"{h['valid_mean_auroc']:.4f}" for h in state["history"])
        log_fh.close()
        raise RuntimeError(f"{out}: no epoch was kept as the best: the mean validation AUROC on {valid_split!r} of "
                           f"{data_dir} was undefined in every epoch ({scores}), e.g. predictions that are not "
                           "numbers; no weights were written")
    # The deliverable: the best epoch's weights under a content-independent name, plus provenance.
    final = build(arch, **config)
    final.load_weights(best_path)
    weights_file = f"{name}.weights.h5"
    final.save_weights(out / weights_file)
    best_metrics = json.loads((out / "valid_metrics.json").read_text())
    info = {
        "name": name, "architecture": arch, "config": config, "weights_file": weights_file,
        "parameters": int(final.count_params()), "best_epoch": state["best_epoch"],
        "epochs_done": state["epochs_done"], "stop_reason": stop_reason,
        "valid": {"split": valid_split, "mean_auroc": best_metrics["auroc"]["mean"],
                  "mean_auprc": best_metrics["auprc"]["mean"]},
        # the data set by its portable name (seqzoo.zoo.provenance), and what exporting needs of it
        "data": {"dir": portable_path(state["data_dir"]), "design": manifest["design"], "split": manifest["split"],
                 "command": manifest["command"], "n_train": len(train), "n_valid": len(valid),
                 "tasks": manifest["tasks"], "bin_size": manifest.get("bin_size")},
        "recipe": state["recipe"], "initialized_from": state.get("initialized_from"),
        "lineage": state.get("lineage"),
        "history": state["history"], "commands": state["commands"],
        "versions": {"keras": keras.__version__, "backend": keras.backend.backend(), "numpy": np.__version__},
    }
    (out / "training.json").write_text(json.dumps(info, indent=1) + "\n")
    log(f"best epoch {state['best_epoch']}: {valid_split} mean AUROC {info['valid']['mean_auroc']:.4f}, "
        f"mean AUPRC {info['valid']['mean_auprc']:.4f}; wrote {out / weights_file}")
    log_fh.close()
    return info


@dataclass(frozen=True)
class _Base:
    """The network a fine-tuning starts from: a model's network, or one member of its ensemble."""

    name: str
    architecture: str
    config: dict
    seq_len: int
    network: keras.Model


def ensemble_members(spec) -> str:
    """The members of an ensemble ``spec`` as a sentence ("0: deepsea, 1: deepsea")."""
    return ", ".join(f"{i}: {m['architecture']}" for i, m in enumerate(spec.config.get("members", [])))


def check_base(spec, member: int | None) -> tuple[str, dict]:
    """The architecture and size arguments fine-tuning takes from the model ``spec`` (of its
    ``member``-th network when it is an ensemble); refuses what cannot be fine-tuned, saying what
    to give instead. Needs no keras: ``seqzoo finetune`` checks this before TensorFlow starts."""
    if spec.modality != "dna":
        raise ValueError(f"fine-tuning starts from a DNA network; {spec.name} reads {spec.modality}")
    if spec.architecture == "ensemble":
        members = spec.config.get("members", [])
        if member is None:
            raise ValueError(f"{spec.name} is an ensemble of {len(members)} networks ({ensemble_members(spec)}); "
                             f"fine-tuning starts from one of them: pass --member 0"
                             + (f" (or another of 0-{len(members) - 1}; its card says how each was trained)"
                                if len(members) > 1 else ""))
        if not 0 <= member < len(members):
            raise ValueError(f"--member {member}: {spec.name} has members 0-{len(members) - 1} "
                             f"({ensemble_members(spec)})")
        architecture, config = members[member]["architecture"], dict(members[member].get("config") or {})
    elif member is not None:
        raise ValueError(f"--member is for a base that is an ensemble; {spec.name} is one {spec.architecture} network")
    else:
        architecture, config = spec.architecture, dict(spec.config)
    if architecture not in dna_architectures():
        raise ValueError(f"fine-tuning starts from a single {' or '.join(dna_architectures())} network; "
                         f"{spec.name}{f' member {member}' if member is not None else ''} is {architecture}")
    return architecture, config


def _base_model(base: str | os.PathLike, data_dir: str | os.PathLike, member: int | None = None):
    """The network to fine-tune (a :class:`_Base`, loaded on the CPU) and its lineage record."""
    from seqzoo.runtime import get_model
    from seqzoo.zoo import stores
    from seqzoo.zoo.artifacts import file_sha256

    model = get_model(base, device="cpu")
    architecture, config = check_base(model.spec, member)
    if not model.trained:
        raise ValueError(f"{model.name} has untrained weights: there is nothing to fine-tune from")
    network = model.keras_model if member is None else model.keras_model.get_layer(f"member{member}")
    manifest = read_manifest(data_dir)
    tasks = manifest["tasks"]
    info = yaml.safe_load((model.spec.directory / "model.yaml").read_text()).get("info") or {}
    origin = stores.origin(model.spec.directory)
    manifest_path = Path(data_dir) / "manifest.json"
    lineage = {
        "base_model": model.name, "base_version": str(info.get("version", "")),
        **({"base_member": member} if member is not None else {}),
        "base_store": origin["store"] if origin else None, "base_directory": portable_path(model.spec.directory),
        "base_weights_sha256": file_sha256(model.weights_path),
        "head": "kept" if list(model.labels) == list(tasks) else "new",
        "data_manifest": {"path": portable_path(manifest_path), "sha256": file_sha256(manifest_path),
                          "tasks": tasks, "command": manifest.get("command")},
    }
    name = model.name if member is None else f"{model.name} member {member}"
    return _Base(name, architecture, config, model.spec.input_shape[0], network), lineage


def _run_tasks(info: dict) -> list[str]:
    """The tasks of a DNA run: recorded in its ``training.json`` (runs of an older
    seqzoo: read from its data set)."""
    return info["data"]["tasks"] if "tasks" in info["data"] else read_manifest(info["data"]["dir"])["tasks"]


class Predictor(NamedTuple):
    """A DNA model or training run ready to score a data set (:func:`load_predictor`)."""

    predict: Callable[[np.ndarray], np.ndarray]  # a batch (n, L, 4) -> (n, tasks)
    labels: list[str]
    seq_len: int
    architecture: str
    network: keras.Model

    def check_fits(self, source, dataset: GenomeWindowDataset, data_dir) -> None:
        """Refuse a data set whose tasks (same order) or window length are not the model's."""
        if list(self.labels) != dataset.tasks:
            raise ValueError(f"{source}: its {len(self.labels)} target labels are not the {dataset.n_tasks} tasks of "
                             f"{data_dir} in the same order")
        if self.seq_len != dataset.seq_len:
            raise ValueError(f"{source} takes {self.seq_len} bp windows; {data_dir} has {dataset.seq_len} bp windows")


def load_predictor(model: str | os.PathLike, weights: str | os.PathLike | None = None,
                   precision: str = "float32") -> Predictor:
    """A zoo model (name or directory, in ``precision``; int8 even where prediction refuses it, to
    measure it) or a DNA run directory (its ``training.json``: the run's best weights,
    float32 only) loaded on the CPU, as a :class:`Predictor`."""
    path = Path(model)
    if (path / "training.json").is_file():
        if precision != "float32":
            raise ValueError(f"{model}: a training run is evaluated in float32; export it to evaluate another "
                             "precision")
        info, net = load_run(path, weights)
        return Predictor(lambda x: np.asarray(net.predict_on_batch(x)), _run_tasks(info), info["config"]["seq_len"],
                         info["architecture"], net)
    from seqzoo.runtime import get_model

    zoo_model = get_model(model, weights=weights, device="cpu", precision=precision, validate_int8=True)
    return Predictor(zoo_model.predict_on_batch, list(zoo_model.labels), zoo_model.spec.input_shape[0],
                     zoo_model.spec.architecture, zoo_model.keras_model)


def evaluate_dna(model: str | os.PathLike, data_dir: str | os.PathLike, split: str = "valid",
                 out_path: str | os.PathLike | None = None, weights: str | os.PathLike | None = None,
                 batch_size: int = 256, reverse_complement_average: bool = False,
                 command: str | None = None, precision: str = "float32") -> dict:
    """Per-task AUROC/AUPRC of ``model`` on ``split`` of ``data_dir``, run in ``precision``; writes
    JSON to ``out_path``.

    The model's target labels must be the data set's tasks in the same order, and its input
    length the data set's window length. ``command`` is recorded as :func:`train_dna` records it.
    """
    dataset = GenomeWindowDataset(data_dir, split)
    predictor = load_predictor(model, weights, precision)
    predictor.check_fits(model, dataset, data_dir)
    t0 = time.time()
    preds = predict_dataset(predictor.predict, dataset, batch_size, reverse_complement_average)
    metrics = per_task_metrics(dataset.y(), preds, dataset.tasks)
    result = {"model": portable_path(model) if Path(model).exists() else str(model),
              "weights": portable_path(weights) if weights and Path(weights).exists() else (str(weights) if weights else None),
              "data": portable_path(data_dir),
              "split": split, "reverse_complement_average": reverse_complement_average, "precision": precision,
              "seconds": round(time.time() - t0, 1),
              "command": command, **metrics}
    if out_path:
        Path(out_path).write_text(json.dumps(result, indent=1) + "\n")
    return result


def _export_sources(path: Path, rc_average: bool) -> list[dict]:
    """The networks ``path`` contributes to an export, each a dict with ``architecture``, the
    served ``config``, the loaded ``network``, ``tasks``, ``seq_len`` and ``produced_by``.

    A DNA run directory (``training.json``) gives its best weights; a model directory gives the network
    it serves, or each member of an ensemble it serves (its provenance is its ``weights.yaml``'s),
    so an ensemble can grow by a new run without retraining its members.
    """
    if (path / "training.json").is_file():
        overrides = {"rc_average": True} if rc_average else {}
        info, network = load_run(path, **overrides)
        config = dict(info["config"], **overrides)
        bin_size = info["data"]["bin_size"] if "tasks" in info["data"] else read_manifest(info["data"]["dir"]).get("bin_size")
        return [{"architecture": info["architecture"], "config": config, "network": network,
                 "tasks": _run_tasks(info), "seq_len": info["config"]["seq_len"],
                 "prediction_bin": bin_size,  # both designs label the central bin
                 "weights_file": info["weights_file"], "lineage": [info["lineage"]] if info.get("lineage") else [],
                 "produced_by": f"{info['commands'][-1] or 'train_dna from Python'}; "
                                f"best epoch {info['best_epoch']} of {info['epochs_done']}; validation mean AUROC {info['valid']['mean_auroc']:.4f}, "
                                f"mean AUPRC {info['valid']['mean_auprc']:.4f}; data: {info['data']['command']}; "
                                f"keras {info['versions']['keras']} ({info['versions']['backend']})"}]
    from seqzoo.runtime import get_model

    served = get_model(path, device="cpu")  # its weights as the resolver decides them
    spec, artifact = served.spec, served.weights.artifact
    if not served.trained or artifact is None:
        raise ValueError(f"{path}: a model directory exported as members must serve a trained weights artifact")
    network = served.keras_model
    if spec.architecture == "ensemble":
        members = [(m["architecture"], m["config"], network.get_layer(f"member{i}"))
                   for i, m in enumerate(spec.config["members"])]
    else:
        members = [(spec.architecture, spec.config, network)]
    which = f"the {len(members)} members" if len(members) > 1 else "the network"
    produced_by = (f"{which} of {spec.name} ({artifact.file_name}, sha256 {artifact.sha256[:12]}...): "
                   f"{artifact.produced_by}")
    # the provenance is said once, with the first of the directory's members
    inherited = (yaml.safe_load((path / "model.yaml").read_text()).get("info") or {}).get("lineage") or []
    return [{"architecture": a, "config": c, "network": n, "tasks": list(spec.labels), "seq_len": spec.input_shape[0],
             "prediction_bin": spec.prediction_bin if spec.prediction_bin != spec.input_shape[0] else None,
             "weights_file": artifact.file_name, "produced_by": produced_by if i == 0 else "",
             "lineage": inherited if i == 0 else []}  # said once, like the provenance
            for i, (a, c, n) in enumerate(members)]


def export_model_dir(sources: str | os.PathLike | list, model_dir: str | os.PathLike, info: ModelInfo, *,
                     targets_name: str | None = None, targets_doc: str | None = None,
                     file_name: str | None = None, rc_average: bool = False, float16: bool = False,
                     example: str | os.PathLike | None = None, overwrite: bool = False) -> dict:
    """Write a kipoi/seqzoo model directory (``model.yaml``, ``weights.yaml``, weights file,
    ``target_labels.txt``; :func:`seqzoo.packaging.write_model_dir`) from one ``train_dna`` output
    directory, or from several sources (an ``ensemble`` averaging them; see
    ``seqzoo.architectures.build_ensemble``). A source may also be a model directory, whose
    network or ensemble members join as they are (``rc_average`` applies to run directories
    only). ``info`` says what the model is and what it was trained on (species and data belong
    in ``info.doc``, ``info.trained_on`` and ``info.tags``); the target labels are the data
    set's tasks, ``targets_name`` and ``targets_doc`` name and describe them (default: those
    of :class:`~seqzoo.packaging.TargetsInfo`). ``example`` (a directory with ``genome.fa`` and ``intervals.bed``) is copied
    to ``example/`` and ``test.expect.h5`` written; ``README.md`` is the author's.
    ``float16`` stores the weights in half precision after checking that predictions stay
    within ``seqzoo.training.storage.FLOAT16_TOLERANCE`` of float32. The directory is written whole
    (:func:`seqzoo.packaging.staged_model_dir`): an existing one that is not empty is refused unless
    ``overwrite``, and then replaced only once the new one is complete. Returns the artifact
    description as a dict."""
    import dataclasses

    from seqzoo.architectures import build
    from seqzoo.packaging import TargetsInfo, staged_model_dir, write_model_dir

    paths = [Path(r) for r in (sources if isinstance(sources, (list, tuple)) else [sources])]
    parts = [(path, part) for path in paths for part in _export_sources(path, rc_average)]
    first = parts[0][1]
    tasks, seq_len = first["tasks"], first["seq_len"]
    for path, part in parts:
        if part["tasks"] != tasks or part["seq_len"] != seq_len:
            raise ValueError(f"{path} predicts other tasks or takes another window length than {paths[0]}")
    name = file_name or first["weights_file"]
    if not name.endswith(".weights.h5"):
        raise ValueError(f"the weights file name must end in .weights.h5, got {name!r}")
    if len(parts) == 1:
        architecture, config = first["architecture"], first["config"]
    else:
        architecture = "ensemble"
        config = {"members": [{"architecture": p["architecture"], "config": p["config"]} for _, p in parts]}
    model = build(architecture, **config)
    members = [model] if len(parts) == 1 else [model.get_layer(f"member{i}") for i in range(len(parts))]
    for member, (_, part) in zip(members, parts):
        member.set_weights(part["network"].get_weights())
    with staged_model_dir(model_dir, overwrite=overwrite, sources=paths) as out:
        model.save_weights(out / name)
        if float16:
            store_float16(out / name, model,
                          np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (64, seq_len))])
        produced_by = ("; ".join(part["produced_by"] for _, part in parts if part["produced_by"])
                       + ("; stored as float16" if float16 else ""))
        artifact = write_model_dir(out, architecture=architecture, config=config, weights_file=out / name,
                                   produced_by=produced_by, modality="dna", input_length=seq_len,
                                   targets=TargetsInfo(tuple(tasks), targets_name or TargetsInfo.name,
                                                       targets_doc or TargetsInfo.doc), info=info,
                                   example=example, lineage=[record for _, p in parts for record in p["lineage"]],
                                   prediction_bin=first["prediction_bin"])
    return dataclasses.asdict(artifact)

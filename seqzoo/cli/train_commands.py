"""``seqzoo`` commands that make models: dataset, train, finetune, ensemble, evaluate,
motif-baseline and export.

``train``, ``evaluate`` and ``export`` serve both kinds of model and parse in two steps. Their
first positional (MODEL, MODEL|RUN, the first RUN) tells the kind (:func:`_kind`: a zoo model's
``ModelSpec.modality``, the trainer that made a run directory, or a DNA architecture name); the
rest of the command line is then parsed by that kind's own parser (``KIND_ARGUMENTS``).
``seqzoo train MODEL --help`` prints the kind's arguments, ``seqzoo train --help`` every kind's.

Every command here has a ``check_<command>`` run before TensorFlow is imported: the model, the
inputs (a data set, TSVs, runs), the options (``--config`` is JSON), the outputs (a run directory
or model directory in the way, an existing file without ``--force``), the licence and authors of
an export. Each command ends by printing the next command to run (``next: ...``).
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

from seqzoo.cli import options

KINDS = {"dna": "DNA models", "protein": "protein models"}


def dataset_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fasta", required=True, help="genome FASTA (plain or bgzip)")
    p.add_argument("--peaks", required=True, help="BED: chrom start end task (plain or gzip); the centre is the summit")
    p.add_argument("--design", required=True, choices=["deepsea", "basset"])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--split", default="blocks:train=0-19500000,valid=20000000-24000000",
                   help="blocks:NAME=[CHROM:]START-END[+...],... or chroms:NAME=CHROM[+CHROM],... "
                        "(default: %(default)s)")
    p.add_argument("--tasks", help="task names in output order (first column; e.g. tasks.tsv); default: sorted BED names")
    p.add_argument("--seq-len", type=options.positive_int, help="window length (default: 1000 deepsea, 600 basset)")
    p.add_argument("--bin-size", type=options.positive_int, default=200,
                   help="the central bin of a window whose overlap with a summit labels it")
    p.add_argument("--flank", type=options.non_negative_int, default=100, help="summit +- flank bp counts as bound (default 100)")
    p.add_argument("--max-n-fraction", type=options.fraction, default=0.1,
                   help="drop windows with a larger fraction of N")
    p.add_argument("--negative-ratio", type=options.non_negative_float, default=1.0, help="basset: sampled negatives per peak window")
    p.add_argument("--seed", type=options.non_negative_int, default=0, help="seeds the sampled negatives")
    p.add_argument("--overwrite", action="store_true", help="replace a data set in --out")
    options.add_quiet(p)


def _train_protein_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", required=True, help="training TSV: sequence<TAB>label, with header")
    p.add_argument("--valid", required=True, help="validation TSV, same format")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--name", default="deepsol", help="weights file base name (default: deepsol)")
    from seqzoo.architectures.registry import trained_by

    p.add_argument("--architecture", choices=trained_by("protein"), default="deepsol",
                   help="deepsol, or protein_composition: a logistic regression on residue and "
                        "residue-pair composition, a companion for `seqzoo ensemble`")
    p.add_argument("--config", help="JSON size arguments of the architecture (default: model.yaml's)")
    p.add_argument("--epochs", type=options.positive_int, default=20, help="maximum epochs (early stopping ends sooner)")
    options.add_batch_size(p, 64)
    p.add_argument("--learning-rate", type=options.positive_float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--patience", type=options.non_negative_int, default=3, help="early-stopping patience in epochs")
    p.add_argument("--valid-to-train", type=options.fraction, default=0.5,
                   help="fraction of the validation rows moved into training (stratified, seeded)")
    p.add_argument("--valid-weight", type=options.non_negative_float, default=1.0,
                   help="loss weight of the validation rows moved into training (training rows: 1)")
    p.add_argument("--no-class-weight", action="store_true", help="do not balance the classes' weights")
    p.add_argument("--seed", type=options.non_negative_int, default=0, help="seeds the weights, batch order and the split")
    p.add_argument("--split-seed", type=options.non_negative_int,
                   help="seeds the validation split instead (default: --seed); runs of one ensemble share it")
    p.add_argument("--lockbox", type=options.fraction, default=0.0,
                   help="fraction of the validation rows set aside first (stratified by label and length) and "
                        "never used for training or selection; measure it last with `seqzoo evaluate --lockbox`")
    p.add_argument("--lockbox-seed", type=options.non_negative_int, default=0, help="seeds the lockbox (default 0)")
    p.add_argument("--folds", type=options.non_negative_int, default=0,
                   help="cut the validation rows (after the lockbox) into this many stratified folds instead of "
                        "--valid-to-train; hold out --fold, train on the rest")
    p.add_argument("--fold", type=options.non_negative_int, help="the fold held out (0-based; default 0, with --folds)")
    p.add_argument("--length-weight", action="store_true",
                   help="reweight training proteins so each length band weighs what it does in the validation rows")
    p.add_argument("--monitor", choices=["loss", "auroc"], default="loss",
                   help="the held-out figure early stopping and the learning-rate schedule follow (default loss)")
    p.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    p.add_argument("--force", action="store_true", help="replace a run the output directory holds (metrics.json)")


def _train_dna_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="data set directory (seqzoo dataset)")
    p.add_argument("-o", "--output", required=True, help="output directory (checkpoints, log, weights)")
    p.add_argument("--config", help='JSON size arguments of the builder, e.g. \'{"conv_filters": [64, 128, 192]}\' '
                                    "(default: the builder's for a family's name, model.yaml's for a zoo model)")
    p.add_argument("--name", help="weights file base name")
    p.add_argument("--epochs", type=options.positive_int, default=10, help="maximum epochs (early stopping ends sooner)")
    p.add_argument("--steps-per-epoch", type=options.positive_int, help="batches per epoch (a fresh random subset each epoch)")
    options.add_batch_size(p, 128)
    p.add_argument("--learning-rate", type=options.positive_float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--patience", type=options.non_negative_int, default=3,
                   help="stop after this many epochs without a better validation mean AUROC")
    p.add_argument("--seed", type=options.non_negative_int, default=0, help="seeds the weights and the batch order")
    p.add_argument("--no-rc", action="store_true", help="no reverse-complement augmentation")
    p.add_argument("--max-minutes", type=options.positive_float, help="stop after the epoch that passes this budget")
    p.add_argument("--resume", action="store_true", help="continue from the output directory's checkpoint")
    p.add_argument("--init-from", metavar="RUN",
                   help="start layers whose names and shapes match from a previous run's best weights")
    p.add_argument("--lr-decay", type=options.decay, default=1.0,
                   help="multiply the learning rate by this after an epoch without improvement (default 1: off)")
    options.add_quiet(p)


def finetune_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("base", help="the model to start from: a zoo name, NAME@VERSION, STORE/NAME@VERSION or a directory "
                                "(a single network of a DNA family that seqzoo train trains)")
    _train_dna_arguments(p)
    p.add_argument("--freeze-trunk", action="store_true", help="train the output head only")
    p.add_argument("--member", type=options.non_negative_int,
                   help="a BASE that is an ensemble: the network to start from (0-based; the error for an "
                        "ensemble lists them)")


def _next(*commands: list, alternatives: bool = True) -> None:
    """Print the command(s) to run next (``alternatives``: one of them; else one after the other),
    quoted for a shell; ``...`` and ``<NAME>`` words are the user's to fill in."""
    for i, words in enumerate(commands):
        line = " ".join(w if w == "..." or "<" in w else shlex.quote(w) for w in map(str, words))
        print(f"{'next:' if i == 0 else '  or:' if alternatives else 'then:'} seqzoo {line}", file=sys.stderr)


def _export_next(run) -> list:
    return ["export", run, "models/<NAME>", "--doc", "...", "--trained-on", "...", "--license", "<SPDX>",
            "--authors", "..."]


def _json_config(text: str | None) -> dict | None:
    """``--config``'s JSON object (None when not given); a clear error when it is not one."""
    if text is None:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--config is not JSON ({e}): {text!r}") from None
    if not isinstance(config, dict):
        raise ValueError(f"--config must be a JSON object of size arguments, e.g. '{{\"conv_filters\": [64, 128]}}'; "
                         f"got {text!r}")
    return config


def _check_dna_training(ns) -> None:
    """What ``train`` (DNA) and ``finetune`` check before TensorFlow: the data set, its splits,
    --init-from, --config, and the output directory (a run in the way, or none to resume)."""
    from seqzoo.training.datasets import read_manifest
    from seqzoo.training.dna import check_run_output, check_splits

    options.require_inputs(("data set (--data)", ns.data), ("run (--init-from)", ns.init_from))
    if ns.init_from and not (Path(ns.init_from) / "training.json").is_file():
        raise ValueError(f"--init-from {ns.init_from} is not a `seqzoo train` DNA run (no training.json)")
    check_splits(read_manifest(ns.data), ns.data)
    _json_config(ns.config)
    check_run_output(ns.output, ns.data, ns.resume)


def check_finetune(args) -> None:
    """``finetune``'s checks before TensorFlow: BASE is one DNA network (or --member of an
    ensemble), the data set, the output directory."""
    from seqzoo.training.dna import check_base
    from seqzoo.zoo.spec import find_model, load_spec

    if args.config or args.init_from:
        raise ValueError("finetune takes its architecture, sizes and starting weights from BASE: "
                         "--config and --init-from are for seqzoo train")
    check_base(load_spec(find_model(args.base)), args.member)
    _check_dna_training(args)


def cmd_finetune(args) -> int:
    from seqzoo.training.dna import train_dna

    info = train_dna(args.data, args.output, base=args.base, freeze_trunk=args.freeze_trunk, member=args.member,
                     **_dna_training(args))
    lineage = info["lineage"]
    member = f" member {lineage['base_member']}" if "base_member" in lineage else ""
    print(f"fine-tuned {lineage['base_model']}{member} {lineage['base_version']} (head {lineage['head']}); best epoch "
          f"{info['best_epoch']}: valid mean AUROC {info['valid']['mean_auroc']:.4f}, mean AUPRC "
          f"{info['valid']['mean_auprc']:.4f}; wrote {Path(args.output) / info['weights_file']}")
    _next(_export_next(args.output))
    return 0


def ensemble_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model name or directory (DeepSol)")
    p.add_argument("runs", nargs="+", help="output directories of seqzoo train runs sharing one --split-seed "
                                           "(or one --lockbox, for the folds of a cross-validated ensemble)")
    p.add_argument("--valid", required=True, help="the validation TSV the runs were trained with")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--weights", type=options.non_negative_float, nargs="+",
                   help="one weight per run for a weighted average (default: equal weights)")
    p.add_argument("--calibration", type=float, nargs=2, metavar=("SLOPE", "INTERCEPT"),
                   help="recalibrate the average: sigmoid(SLOPE * logit(p) + INTERCEPT), fitted on out-of-fold "
                        "predictions (research/deepsol_ensemble_cv.py prints them)")
    p.add_argument("--name", default="deepsol-ensemble", help="weights file base name")
    p.add_argument("--float16", action="store_true",
                   help="store the kernels in float16, vectors in float32 (checked: predictions within 1e-3 of float32)")
    p.add_argument("--force", action="store_true", help="replace a run the output directory holds (metrics.json)")


def _evaluate_dna_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="data set directory (seqzoo dataset)")
    p.add_argument("--split", default="valid", help="the data set's split to evaluate")
    p.add_argument("-o", "--output", required=True, help="metrics JSON")
    options.add_force(p)
    options.add_weights(p)
    options.add_rc(p)
    options.add_batch_size(p, 256)
    p.add_argument("--precision", default="float32", choices=options.PRECISIONS,
                   help="run the model in this precision (zoo models; int8 here measures what the model card "
                        "reports, and is run even where prediction refuses it)")


def _evaluate_protein_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="labelled TSV: sequence<TAB>label, with header")
    p.add_argument("--held-out", action="store_true",
                   help="RUN only: just the validation rows the run held out (--data: its validation TSV)")
    p.add_argument("--lockbox", action="store_true",
                   help="just the lockbox rows recorded by the run or model (--data: its validation TSV), with "
                        "bootstrap intervals, figures per length band and the reliability curve; measure it last")
    p.add_argument("-o", "--output", required=True, help="metrics JSON")
    options.add_force(p)
    options.add_weights(p)
    options.add_batch_size(p, 64)


def motif_baseline_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True)
    p.add_argument("--meme", required=True, help="MEME motif file (e.g. JASPAR)")
    p.add_argument("--tf", nargs="+", required=True, help="task names to score")
    p.add_argument("--alias", action="append", default=[], metavar="TF=MOTIF",
                   help="motif name for a TF whose motif is named differently (e.g. CBF3=DREB1A)")
    p.add_argument("--split", default="valid", help="the data set's split to score")
    p.add_argument("-o", "--output", required=True, help="metrics JSON")
    options.add_force(p)


def _export_arguments(p: argparse.ArgumentParser, runs_help: str) -> None:
    """The arguments every kind's export takes: the runs, the directory and its model card."""
    p.add_argument("run", nargs="+", help=runs_help)
    p.add_argument("model_dir", help="the model directory to write, e.g. models/NAME")
    p.add_argument("--doc", required=True, help="model description for model.yaml: what it predicts from what")
    p.add_argument("--trained-on", required=True, help="the training data: species, assay, regions, split")
    p.add_argument("--tags", nargs="+", default=[], metavar="TAG",
                   help="model.yaml tags, e.g. 'transcription factor binding' 'Arabidopsis thaliana'")
    p.add_argument("--cite-as", help="citation, e.g. a DOI URL (default: the architecture's paper)")
    p.add_argument("--authors", nargs="+", metavar="NAME",
                   help="the model's authors (default: those of a model directory among the runs; else required)")
    p.add_argument("--license", metavar="SPDX",
                   help="the model's licence, an SPDX identifier such as MIT or CC-BY-4.0 (default: that of a model "
                        "directory among the runs; else required)")
    p.add_argument("--model-version", default="1.0.0", help="info.version of model.yaml (default 1.0.0)")
    p.add_argument("--targets-name", help="schema.targets.name (default: targets)")
    p.add_argument("--targets-doc", help="schema.targets.doc: what each output is")
    p.add_argument("--file-name", help="weights file name in the model directory (default: the run's)")
    p.add_argument("--example", metavar="DIR",
                   help="example inputs to copy to MODEL_DIR/example; test.expect.h5 is then written")
    p.add_argument("--force", action="store_true",
                   help="replace MODEL_DIR when it exists and is not empty (refused without it): the new directory "
                        "is written beside it and takes its place only when complete; its README.md is kept")


def _export_dna_arguments(p: argparse.ArgumentParser) -> None:
    _export_arguments(p, "seqzoo train output directories of DNA models, or DNA model directories whose "
                         "networks join as they are; several make an ensemble averaging them")
    p.add_argument("--rc-average", action="store_true",
                   help="DeepSEA: the served model averages forward and reverse-complement predictions")
    p.add_argument("--float16", action="store_true",
                   help="store the kernels in float16, vectors in float32 (checked: predictions within 1e-3 of float32)")


def _export_protein_arguments(p: argparse.ArgumentParser) -> None:
    _export_arguments(p, "a seqzoo train or ensemble output directory, or several train runs (their "
                         "equal-weight ensemble)")
    p.add_argument("--label", nargs="+", metavar="LABEL",
                   help="target label(s) (default: those the runs recorded, the trained zoo model's)")


#: (verb, kind) -> the function declaring that kind's arguments (after the first positional).
KIND_ARGUMENTS = {
    ("train", "dna"): _train_dna_arguments,
    ("train", "protein"): _train_protein_arguments,
    ("evaluate", "dna"): _evaluate_dna_arguments,
    ("evaluate", "protein"): _evaluate_protein_arguments,
    ("export", "dna"): _export_dna_arguments,
    ("export", "protein"): _export_protein_arguments,
}

_KIND_DESCRIPTIONS = {
    ("train", "dna"): "DNA models: train a DNA family ({dna}; or a zoo DNA model's architecture and sizes) on a "
                      "`seqzoo dataset` directory; early stopping on the mean validation AUROC.",
    ("train", "protein"): "Protein models (DeepSol): train on labelled sequences; a seeded part of the "
                          "validation rows is held out for early stopping and metrics.",
    ("evaluate", "dna"): "DNA models or `seqzoo train` DNA runs: per-task AUROC/AUPRC on a data set split.",
    ("evaluate", "protein"): "Protein models or train/ensemble runs: accuracy, MCC, AUROC, AUPRC and the "
                             "confusion counts on a labelled TSV.",
    ("export", "dna"): "DNA runs: write a model directory (model.yaml, weights, labels) from `seqzoo train` "
                       "DNA runs.",
    ("export", "protein"): "Protein runs: write a model directory (model.yaml, weights, labels) from "
                           "`seqzoo train`/`ensemble` runs.",
}

_FIRST = {  # verb -> the first positional's name and help
    "train": ("MODEL", "zoo model name or directory, whose model.yaml says DNA or protein (and gives the "
                       "default sizes); a DNA family's name ({dna}, any case) names that architecture"),
    "evaluate": ("MODEL|RUN", "zoo model name or directory, or a run directory (train, finetune, ensemble)"),
    "export": ("RUN", "run directories (train, finetune, ensemble), then MODEL_DIR"),
}


def _dna_families() -> str:
    """The DNA families ``seqzoo train`` trains, for help texts (their records; no keras)."""
    from seqzoo.architectures.registry import trained_by

    return ", ".join(trained_by("dna"))


def _kind(value: str) -> str:
    """The kind of model ("dna" or "protein") ``value`` names: a model directory or zoo model
    (its ``ModelSpec.modality``), a training run (:func:`seqzoo.training.runs.read_run`), or a
    DNA family's name (DeepSEA, DanQ, any case)."""
    from seqzoo.training.dna import dna_architectures
    from seqzoo.training.runs import run_kind
    from seqzoo.zoo.spec import find_model, load_spec

    path = Path(value)
    if (path / "model.yaml").is_file():
        return load_spec(path).modality
    kind = run_kind(path)
    if kind:
        return kind
    if value.lower() in dna_architectures():
        return "dna"
    return load_spec(find_model(value)).modality


def _kind_parser(verb: str, kind: str, first: str) -> argparse.ArgumentParser:
    """The parser of ``kind``'s arguments of ``verb``."""
    p = argparse.ArgumentParser(prog=f"seqzoo {verb}" if verb == "export" else f"seqzoo {verb} {first}",
                                description=_KIND_DESCRIPTIONS[verb, kind].format(dna=_dna_families()),
                                formatter_class=options.DefaultsFormatter)
    KIND_ARGUMENTS[verb, kind](p)
    return p


def _verb_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    """Step one of a dispatching verb: its first positional, and the rest for the kind's parser."""
    name, help_text = _FIRST[verb]
    help_text = help_text.format(dna=_dna_families())
    p.add_argument("first", metavar=name, help=help_text)
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="...",
                   help="the arguments of the model's kind, listed below")
    p.usage = f"seqzoo {verb} {name}{' [RUN ...] MODEL_DIR' if verb == 'export' else ''} [arguments of its kind]"
    p.formatter_class = options.RawDefaultsFormatter
    p.epilog = "\n".join(f"--- {KINDS[kind]} ---\n{_kind_parser(verb, kind, name).format_help()}" for kind in KINDS)


def _parse_kind(args) -> tuple[str, argparse.Namespace]:
    """Step two: the kind of ``args.first`` and the rest parsed by that kind's parser. The
    returned namespace also has ``model`` (train, evaluate), ``argv``, ``command`` and ``kind``."""
    kind = _kind(args.first)
    parser = _kind_parser(args.command, kind, args.first)
    ns = parser.parse_args([args.first, *args.rest] if args.command == "export" else args.rest)
    if args.command == "export":
        for run in ns.run[1:]:
            if _kind(run) != kind:
                raise ValueError(f"{run} is {_kind(run)}, {args.first} is {kind}: export one kind at a time")
    else:
        ns.model = args.first
    ns.argv, ns.command, ns.kind = args.argv, args.command, kind
    return kind, ns


def train_arguments(p: argparse.ArgumentParser) -> None:
    _verb_arguments(p, "train")


def evaluate_arguments(p: argparse.ArgumentParser) -> None:
    _verb_arguments(p, "evaluate")


def export_arguments(p: argparse.ArgumentParser) -> None:
    _verb_arguments(p, "export")


def _deepsol_config(spec, command: str) -> dict:
    """The DeepSol size arguments of ``spec``: its config, or its first DeepSol member's for an
    ensemble of DeepSol and composition networks. Any other protein model has no training
    recipe here."""
    members = spec.config.get("members", []) if spec.architecture == "ensemble" else []
    if members and {m["architecture"] for m in members} <= {"deepsol", "protein_composition"}:
        return dict(next(m.get("config", {}) for m in members if m["architecture"] == "deepsol"))
    if spec.architecture != "deepsol":
        raise ValueError(f"seqzoo {command}: no training recipe for {spec.name} ({spec.architecture}); "
                         "protein models train DeepSol")
    return dict(spec.config)


def _dna_recipe(model: str) -> tuple[str, dict | None]:
    """The architecture ``seqzoo train MODEL`` trains for a DNA ``model`` and its default sizes:
    DeepSEA and Basset (any case) are those architectures at the builder's sizes; another DNA
    zoo model of one of them gives its own sizes (``seq_len`` and ``n_tasks`` come from the data)."""
    from seqzoo.training.dna import dna_architectures
    from seqzoo.zoo.spec import find_model, load_spec

    if not (Path(model) / "model.yaml").is_file() and model.lower() in dna_architectures():
        return model.lower(), None
    spec = load_spec(find_model(model))
    if spec.architecture not in dna_architectures():
        raise ValueError(f"seqzoo train: no training recipe for {spec.name} ({spec.architecture}); DNA models "
                         f"train {', '.join(dna_architectures())} (export several runs to make an ensemble)")
    return spec.architecture, {k: v for k, v in spec.config.items() if k not in ("seq_len", "n_tasks")}


def _check_run_dir(output: str, force: bool) -> None:
    """Refuse an output directory holding a protein run (``metrics.json``) unless ``force``."""
    if (Path(output) / "metrics.json").is_file() and not force:
        raise FileExistsError(f"{output} holds a run (metrics.json); pass --force to replace it, or give "
                              "another output directory")


def _check_train_protein(ns) -> None:
    from seqzoo.zoo.spec import find_model, load_spec

    _deepsol_config(load_spec(find_model(ns.model)), ns.command)
    options.require_inputs(("training TSV (--train)", ns.train), ("validation TSV (--valid)", ns.valid))
    _json_config(ns.config)
    _check_run_dir(ns.output, ns.force)


def _train_protein(args) -> int:
    from seqzoo.training.protein import train_deepsol
    from seqzoo.zoo.spec import find_model, load_spec

    spec = load_spec(find_model(args.model))
    config = _deepsol_config(spec, args.command)
    if args.config:
        config = _json_config(args.config)
    elif args.architecture != "deepsol":  # the model directory's sizes are DeepSol's
        config = {}
    result = train_deepsol(
        args.train, args.valid, args.output, name=args.name, architecture=args.architecture,
        config=config, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, patience=args.patience,
        valid_to_train=args.valid_to_train, valid_weight=args.valid_weight,
        class_weight=not args.no_class_weight, seed=args.seed, split_seed=args.split_seed,
        lockbox=args.lockbox, lockbox_seed=args.lockbox_seed, folds=args.folds, fold=args.fold,
        length_weight=args.length_weight, monitor=args.monitor, verbose=2 if args.quiet else "auto",
        command=options.command_line(args.argv), labels=spec.labels,
    )
    m = result["held_out_metrics"]
    print(f"held-out validation (n={m['n']}): accuracy {m['accuracy']:.4f}  MCC {m['mcc']:.4f}  "
          f"AUROC {m['auroc']:.4f}  AUPRC {m['auprc']:.4f}", file=sys.stderr)
    print(f"wrote {Path(args.output) / result['weights_file']}, weights.yaml and metrics.json", file=sys.stderr)
    _next(_export_next(args.output),
          ["ensemble", args.model, args.output, "<RUN ...>", "--valid", args.valid, "-o", "<ENSEMBLE_RUN>"])
    return 0


def _dna_training(args) -> dict:
    """The training options ``train`` (DNA) and ``finetune`` share, for ``training.dna.train_dna``."""
    return dict(name=args.name, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                patience=args.patience, seed=args.seed, reverse_complement=not args.no_rc,
                steps_per_epoch=args.steps_per_epoch, resume=args.resume, max_minutes=args.max_minutes,
                lr_decay=args.lr_decay, verbose=not args.quiet, command=options.command_line(args.argv))


def _train_dna(args) -> int:
    from seqzoo.training.dna import train_dna

    architecture, config = _dna_recipe(args.model)
    info = train_dna(args.data, args.output, architecture=architecture,
                     config=_json_config(args.config) if args.config else config, init_from=args.init_from,
                     **_dna_training(args))
    print(f"best epoch {info['best_epoch']}: valid mean AUROC {info['valid']['mean_auroc']:.4f}, mean AUPRC "
          f"{info['valid']['mean_auprc']:.4f}; wrote {Path(args.output) / info['weights_file']}")
    if info["epochs_done"] < args.epochs and "time budget" in info["stop_reason"]:
        _next([args.command, args.model, "--data", args.data, "-o", args.output, "--epochs", args.epochs, "--resume"])
    _next(_export_next(args.output), ["evaluate", args.output, "--data", args.data, "-o", "<METRICS.json>"])
    return 0


def _parsed(args) -> tuple[str, argparse.Namespace]:
    """``_parse_kind(args)``, once: the command's check parses, the command reuses it."""
    if getattr(args, "kind_args", None) is None:
        args.kind_args = _parse_kind(args)
    return args.kind_args


def check_train(args) -> None:
    """``train``'s checks before TensorFlow: the model and its recipe, the inputs, --config, the
    output directory."""
    kind, ns = _parsed(args)
    if kind == "dna":
        _dna_recipe(ns.model)
        _check_dna_training(ns)
    else:
        _check_train_protein(ns)


def cmd_train(args) -> int:
    """``seqzoo train MODEL ...``: the trainer of MODEL's kind."""
    kind, ns = _parsed(args)
    return {"dna": _train_dna, "protein": _train_protein}[kind](ns)


def check_ensemble(args) -> None:
    """``ensemble``'s checks before TensorFlow: a DeepSol model, runs, the TSV, the output."""
    from seqzoo.zoo.spec import find_model, load_spec

    _deepsol_config(load_spec(find_model(args.model)), "ensemble")
    options.require_inputs(("validation TSV (--valid)", args.valid), *(("run", run) for run in args.runs))
    for run in args.runs:
        if not (Path(run) / "metrics.json").is_file():
            raise ValueError(f"{run} is not a `seqzoo train` protein run (no metrics.json)")
    if args.weights is not None and len(args.weights) != len(args.runs):
        raise ValueError(f"--weights: {len(args.weights)} weights for {len(args.runs)} runs; give one per run")
    _check_run_dir(args.output, args.force)


def cmd_ensemble(args) -> int:
    from seqzoo.training.protein import ensemble_deepsol
    from seqzoo.zoo.spec import find_model, load_spec

    spec = load_spec(find_model(args.model))
    _deepsol_config(spec, "ensemble")
    result = ensemble_deepsol(args.runs, args.valid, args.output, weights=args.weights, name=args.name,
                              command=options.command_line(args.argv), labels=spec.labels,
                              calibration=args.calibration, float16=args.float16)
    for label, m in [(f"member {i}", r["held_out_metrics"]) for i, r in enumerate(result["members"])] + [
            ("ensemble", result["held_out_metrics"])]:
        if m is None:
            print(f"{label:>9}: {result['metrics_on']}", file=sys.stderr)
            continue
        print(f"{label:>9} held-out validation (n={m['n']}): accuracy {m['accuracy']:.4f}  MCC {m['mcc']:.4f}  "
              f"AUROC {m['auroc']:.4f}  AUPRC {m['auprc']:.4f}", file=sys.stderr)
    print(f"wrote {Path(args.output) / result['weights_file']}, weights.yaml and metrics.json", file=sys.stderr)
    _next(_export_next(args.output))
    return 0


def check_dataset(args) -> None:
    """``dataset``'s checks before any work: the inputs exist, the output holds no data set."""
    options.require_inputs(("FASTA (--fasta)", args.fasta), ("BED (--peaks)", args.peaks),
                           ("task list (--tasks)", args.tasks))
    if (Path(args.out) / "manifest.json").exists() and not args.overwrite:
        raise FileExistsError(f"{args.out} already holds a data set (manifest.json); choose another --out or "
                              "pass --overwrite")


def cmd_dataset(args) -> int:
    from seqzoo.training.datasets import build_dataset

    manifest = build_dataset(
        args.fasta, args.peaks, args.out, design=args.design, split=args.split, tasks=args.tasks,
        seq_len=args.seq_len, bin_size=args.bin_size, flank=args.flank, max_n_fraction=args.max_n_fraction,
        negative_ratio=args.negative_ratio, seed=args.seed, overwrite=args.overwrite, command=options.command_line(args.argv),
        log=None if args.quiet else (lambda msg: print(msg, file=sys.stderr)),
    )
    for name, c in manifest["splits"].items():
        print(f"{name}: {c['n_windows']} windows, {c['positive_fraction']:.4%} positive labels, "
              f"{c['dropped_for_N']} dropped for N")
    print(f"wrote {args.out} ({len(manifest['tasks'])} tasks, {manifest['design']} design)")
    _next(["train", "DeepSEA" if args.design == "deepsea" else "Basset", "--data", args.out, "-o", "<RUN>"])
    return 0


def _refuse_reading(output: str, *sources: str | None, weights: str | None = None, force: bool = False) -> None:
    """Refuse an ``output`` that names a file the command reads, or exists without ``force``
    (``check_output``): ``sources`` are files, directories (a run, a data set: every file at their
    top) or zoo models (``run_files``, on ``weights``)."""
    from seqzoo.io.tables import check_output
    from seqzoo.zoo.spec import find_model, load_spec
    from seqzoo.zoo.weights import run_files

    files: list = []
    for source in filter(None, sources):
        path = Path(source)
        files += [p for p in path.iterdir() if p.is_file()] if path.is_dir() else [path]
        try:
            files += run_files(load_spec(find_model(source)), weights)
        except (LookupError, ValueError, OSError):  # a run directory, a data set, a file: no model
            pass
    check_output(output, inputs=files, overwrite=force)


def _evaluate_dna(args) -> int:
    from seqzoo.training.dna import evaluate_dna

    r = evaluate_dna(args.model, args.data, split=args.split, out_path=args.output, weights=args.weights,
                     batch_size=args.batch_size, reverse_complement_average=args.rc, precision=args.precision,
                     command=options.command_line(args.argv))
    for metric in ("auroc", "auprc"):
        s = r[metric]
        print(f"{args.split} {metric.upper()}: mean {s['mean']:.4f}  median {s['median']:.4f}  min {s['min']:.4f} "
              f"({s['n_tasks']} tasks, {s['n_undefined']} undefined)")
    return 0


def _evaluate_protein(args) -> int:
    from seqzoo.training.protein_evaluation import evaluate_proteins

    r = evaluate_proteins(args.model, args.data, args.output, weights=args.weights, held_out=args.held_out,
                          lockbox=args.lockbox, batch_size=args.batch_size, command=options.command_line(args.argv))
    m = r["metrics"]
    interval = r.get("report", {}).get("interval_95", {})

    def figure(k: str) -> str:
        return f"{m[k]:.4f}" + (f" [{interval[k][0]:.3f}, {interval[k][1]:.3f}]" if k in interval else "")

    print(f"{r['rows']} rows (n={m['n']}, {r['not_predictable']} not predictable): accuracy {figure('accuracy')}  "
          f"MCC {figure('mcc')}  AUROC {figure('auroc')}  AUPRC {figure('auprc')}")
    for band, b in r.get("report", {}).get("by_length", {}).items():
        print(f"  {band:>9} residues (n={b['n']}): accuracy {b['accuracy']:.4f}  MCC {b['mcc']:.4f}  "
              f"AUROC {b['auroc']:.4f}  AUPRC {b['auprc']:.4f}")
    return 0


def _check_split(manifest: dict, data, split: str) -> None:
    from seqzoo.suggest import did_you_mean

    if split not in manifest["splits"]:
        raise LookupError(f"--split: {data} has no split {split!r}{did_you_mean(split, manifest['splits'])} "
                          f"(it has: {', '.join(manifest['splits'])})")


def check_evaluate(args) -> None:
    """``evaluate``'s checks before TensorFlow: the model or run, the data, --weights, the output."""
    from seqzoo.training.datasets import read_manifest

    kind, ns = _parsed(args)
    weights = ns.weights if ns.weights != "published" else None
    options.require_inputs(("data set (--data)" if kind == "dna" else "TSV (--data)", ns.data),
                           ("weights file (--weights)", weights))
    _refuse_reading(ns.output, ns.model, ns.data, weights=ns.weights, force=ns.force)  # before reading anything
    if kind == "dna":
        _check_split(read_manifest(ns.data), ns.data, ns.split)


def cmd_evaluate(args) -> int:
    """``seqzoo evaluate MODEL|RUN ...``: the metrics of its kind."""
    kind, ns = _parsed(args)
    return {"dna": _evaluate_dna, "protein": _evaluate_protein}[kind](ns)


def check_motif_baseline(args) -> None:
    """``motif-baseline``'s checks before any work: the data set, the MEME file, --alias, the output."""
    from seqzoo.training.datasets import read_manifest

    from seqzoo.suggest import did_you_mean

    options.require_inputs(("data set (--data)", args.data), ("MEME file (--meme)", args.meme))
    _refuse_reading(args.output, args.data, args.meme, force=args.force)  # before reading anything
    manifest = read_manifest(args.data)
    _check_split(manifest, args.data, args.split)
    unknown = [tf for tf in args.tf if tf not in manifest["tasks"]]
    if unknown:
        raise LookupError(f"--tf: {args.data} has no task " + ", ".join(
            f"{tf!r}{did_you_mean(tf, manifest['tasks'])}" for tf in unknown))
    for alias in args.alias:
        if "=" not in alias:
            raise ValueError(f"--alias {alias!r}: give TF=MOTIF, e.g. CBF3=DREB1A")


def cmd_motif_baseline(args) -> int:
    from seqzoo.training.baselines import motif_baseline

    r = motif_baseline(args.data, args.meme, split=args.split, tasks=args.tf, out_path=args.output,
                       aliases=dict(a.split("=", 1) for a in args.alias), command=options.command_line(args.argv))
    for tf, m in r["per_task"].items():
        print(f"{tf} ({m['motif']}): " + "  ".join(
            f"{scoring}: AUROC {m[scoring]['auroc']:.4f} AUPRC {m[scoring]['auprc']:.4f}" for scoring in r["scorings"]))
    return 0


def _model_info(args):
    from seqzoo.packaging import ModelInfo

    return ModelInfo(doc=args.doc, trained_on=args.trained_on, cite_as=args.cite_as, tags=tuple(args.tags),
                     authors=tuple(args.authors), license=args.license, version=args.model_version)


def _export(args) -> dict:
    from seqzoo.training.export import export_runs

    options = dict(targets_name=args.targets_name, targets_doc=args.targets_doc, file_name=args.file_name,
                   example=args.example, overwrite=args.force)
    if args.kind == "dna":
        options.update(rc_average=args.rc_average, float16=args.float16)
    else:
        options.update(labels=args.label)
    return export_runs(args.run, args.model_dir, _model_info(args), **options)


def _recorded_authorship(source: str) -> tuple[str | None, list[str]]:
    """The licence and authors a source of an export records: a model directory's model.yaml
    ``info``, or a run's ``training.json``/``metrics.json`` ``license`` and ``authors``."""
    from seqzoo.zoo.trust import load_plain_yaml

    path = Path(source)
    if (path / "model.yaml").is_file():
        info = (load_plain_yaml(path / "model.yaml") or {}).get("info") or {}
        authors = [str(a.get("name", "")) if isinstance(a, dict) else str(a) for a in info.get("authors") or []]
        return (str(info["license"]) if info.get("license") else None), [a for a in authors if a]
    for name in ("training.json", "metrics.json"):
        if (path / name).is_file():
            recorded = json.loads((path / name).read_text())
            return recorded.get("license"), list(recorded.get("authors") or [])
    return None, []


def check_export(args) -> None:
    """``export``'s checks before TensorFlow: the runs (one kind), MODEL_DIR (not in the way
    without --force), --example, and the licence and authors: given, or recorded by a source."""
    options.require_inputs(("run", args.first))
    kind, ns = _parsed(args)
    options.require_inputs(*(("run", run) for run in ns.run), ("example directory (--example)", ns.example))
    target = Path(ns.model_dir)
    if target.is_dir() and any(target.iterdir()) and not ns.force:
        raise FileExistsError(f"{target} exists and is not empty (a model directory: model.yaml, its weights); "
                              "pass --force to replace it")
    recorded = [_recorded_authorship(run) for run in ns.run]
    ns.license = ns.license or next((lic for lic, _ in recorded if lic), None)
    ns.authors = ns.authors or next((authors for _, authors in recorded if authors), None)
    missing = [flag for flag, value in (("--license SPDX (e.g. MIT, Apache-2.0, CC-BY-4.0)", ns.license),
                                        ("--authors NAME [NAME ...]", ns.authors)) if not value]
    if missing:
        raise ValueError(f"say who may use the model and who made it: {' and '.join(missing)}; "
                         f"{', '.join(ns.run)} record{'s' if len(ns.run) == 1 else ''} none, and seqzoo does not "
                         "guess a licence or authors")


def cmd_export(args) -> int:
    """``seqzoo export RUN... MODEL_DIR ...``: the exporter of the runs' kind."""
    kind, ns = _parsed(args)
    if not ns.license or not ns.authors:  # called without main(): the check has not run
        check_export(args)
    a = _export(ns)
    print(f"wrote {ns.model_dir}: {a['file_name']} ({a['size']} bytes, sha256 {a['sha256']})")
    card = ", ".join(f"## {s[0].upper()}{s[1:]}" for s in ("what it predicts", "training data", "evaluation",
                                                             "limitations", "licence"))
    example = (Path(ns.model_dir) / "example").is_dir()
    print(f"{'wrote test.expect.h5; ' if example else 'add example/; '}write {ns.model_dir}/README.md, the model "
          f"card, with the sections {card}", file=sys.stderr)
    _next(["check", ns.model_dir] + ([] if example else ["--write-expect"]),
          ["publish", ns.model_dir, "<STORE>"], alternatives=False)
    return 0

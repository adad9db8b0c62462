"""``seqzoo`` commands that make models: dataset, train, ensemble, train-dna, evaluate-dna,
motif-baseline, export-dna."""

import argparse
import json
import sys
from pathlib import Path

from seqzoo.cli import options

def dataset_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fasta", required=True, help="genome FASTA (plain or bgzip)")
    p.add_argument("--peaks", required=True, help="BED: chrom start end task (plain or gzip); the centre is the summit")
    p.add_argument("--design", required=True, choices=["deepsea", "basset"])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--split", default="blocks:train=0-19500000,valid=20000000-24000000",
                   help="blocks:NAME=[CHROM:]START-END[+...],... or chroms:NAME=CHROM[+CHROM],... "
                        "(default: %(default)s)")
    p.add_argument("--tasks", help="task names in output order (first column; e.g. tasks.tsv); default: sorted BED names")
    p.add_argument("--seq-len", type=int, help="window length (default: 1000 deepsea, 600 basset)")
    p.add_argument("--bin-size", type=int, default=200)
    p.add_argument("--flank", type=int, default=100, help="summit +- flank bp counts as bound (default 100)")
    p.add_argument("--max-n-fraction", type=float, default=0.1)
    p.add_argument("--negative-ratio", type=float, default=1.0, help="basset: sampled negatives per peak window")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    options.add_quiet(p)


def train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model name or directory (its model.yaml gives the default sizes)")
    p.add_argument("--train", required=True, help="training TSV: sequence<TAB>label, with header")
    p.add_argument("--valid", required=True, help="validation TSV, same format")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--name", default="deepsol", help="weights file base name (default: deepsol)")
    p.add_argument("--architecture", choices=["deepsol", "protein_composition"], default="deepsol",
                   help="deepsol, or protein_composition: a logistic regression on residue and "
                        "residue-pair composition, a companion for `seqzoo ensemble`")
    p.add_argument("--config", help="JSON size arguments of the architecture (default: model.yaml's)")
    p.add_argument("--epochs", type=int, default=20, help="maximum epochs (early stopping ends sooner)")
    options.add_batch_size(p, 64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--patience", type=int, default=3, help="early-stopping patience in epochs")
    p.add_argument("--valid-to-train", type=float, default=0.5,
                   help="fraction of the validation rows moved into training (stratified, seeded)")
    p.add_argument("--valid-weight", type=float, default=1.0,
                   help="loss weight of the validation rows moved into training (training rows: 1)")
    p.add_argument("--no-class-weight", action="store_true", help="do not balance the classes' weights")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights, batch order and the split")
    p.add_argument("--split-seed", type=int,
                   help="seeds the validation split instead (default: --seed); runs of one ensemble share it")
    p.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")


def ensemble_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model name or directory (DeepSol)")
    p.add_argument("runs", nargs="+", help="output directories of seqzoo train runs sharing one --split-seed")
    p.add_argument("--valid", required=True, help="the validation TSV the runs were trained with")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--weights", type=float, nargs="+",
                   help="one weight per run for a weighted average (default: equal weights)")
    p.add_argument("--name", default="deepsol-ensemble", help="weights file base name")


def train_dna_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", choices=["DeepSEA", "Basset", "deepsea", "basset"])
    p.add_argument("--data", required=True, help="data set directory (seqzoo dataset)")
    p.add_argument("-o", "--output", required=True, help="output directory (checkpoints, log, weights)")
    p.add_argument("--config", help='JSON size arguments of the builder, e.g. \'{"conv_filters": [64, 128, 192]}\'')
    p.add_argument("--name", help="weights file base name")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps-per-epoch", type=int, help="batches per epoch (a fresh random subset each epoch)")
    options.add_batch_size(p, 128)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-rc", action="store_true", help="no reverse-complement augmentation")
    p.add_argument("--max-minutes", type=float, help="stop after the epoch that passes this budget")
    p.add_argument("--resume", action="store_true", help="continue from the output directory's checkpoint")
    p.add_argument("--init-from", metavar="RUN",
                   help="start layers whose names and shapes match from a previous run's best weights")
    p.add_argument("--lr-decay", type=float, default=1.0,
                   help="multiply the learning rate by this after an epoch without improvement (default 1: off)")
    options.add_quiet(p)


def evaluate_dna_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="zoo model name or directory, or a train-dna output directory")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="valid")
    p.add_argument("-o", "--output", required=True, help="metrics JSON")
    options.add_weights(p)
    options.add_rc(p)
    options.add_batch_size(p, 256)


def motif_baseline_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True)
    p.add_argument("--meme", required=True, help="MEME motif file (e.g. JASPAR)")
    p.add_argument("--tf", nargs="+", required=True, help="task names to score")
    p.add_argument("--alias", action="append", default=[], metavar="TF=MOTIF",
                   help="motif name for a TF whose motif is named differently (e.g. CBF3=DREB1A)")
    p.add_argument("--split", default="valid")
    p.add_argument("-o", "--output", required=True)


def export_dna_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", nargs="+", help="train-dna output directory; several make an ensemble averaging them")
    p.add_argument("model_dir", help="e.g. models/DeepSEA_Athaliana265")
    p.add_argument("--doc", required=True, help="model description for model.yaml")
    p.add_argument("--cite-as", default="https://doi.org/10.1038/nmeth.3547")
    p.add_argument("--trained-on", required=True)
    p.add_argument("--file-name", help="weights file name in the model directory (default: the run's)")
    p.add_argument("--rc-average", action="store_true",
                   help="DeepSEA: the served model averages forward and reverse-complement predictions")
    p.add_argument("--targets-doc", default="Probability that each transcription factor binds the central 200 bp.")
    p.add_argument("--float16", action="store_true",
                   help="store the kernels in float16, vectors in float32 (checked: predictions within 1e-3 of float32)")


def _deepsol_config(spec, command: str) -> dict:
    """The DeepSol size arguments of ``spec``: its config, or its first DeepSol member's for an
    ensemble of DeepSol and composition networks. Any other model has no training recipe here
    (DNA models: train-dna)."""
    members = spec.config.get("members", []) if spec.architecture == "ensemble" else []
    if members and {m["architecture"] for m in members} <= {"deepsol", "protein_composition"}:
        return dict(next(m.get("config", {}) for m in members if m["architecture"] == "deepsol"))
    if spec.architecture != "deepsol":
        raise ValueError(f"seqzoo {command}: no training recipe for {spec.name} ({spec.architecture}); "
                         "only DeepSol here (DNA models: seqzoo train-dna)")
    return dict(spec.config)

def cmd_train(args) -> int:
    from seqzoo.training.protein import train_deepsol
    from seqzoo.zoo.spec import find_model, load_spec

    config = _deepsol_config(load_spec(find_model(args.model)), "train")
    if args.config:
        config = json.loads(args.config)
    elif args.architecture != "deepsol":  # the model directory's sizes are DeepSol's
        config = {}
    result = train_deepsol(
        args.train, args.valid, args.output, name=args.name, architecture=args.architecture,
        config=config, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, patience=args.patience,
        valid_to_train=args.valid_to_train, valid_weight=args.valid_weight,
        class_weight=not args.no_class_weight, seed=args.seed, split_seed=args.split_seed,
        verbose=2 if args.quiet else "auto",
        command=options.command_line(args.argv),
    )
    m = result["held_out_metrics"]
    print(f"held-out validation (n={m['n']}): accuracy {m['accuracy']:.4f}  MCC {m['mcc']:.4f}  "
          f"AUROC {m['auroc']:.4f}  AUPRC {m['auprc']:.4f}", file=sys.stderr)
    print(f"wrote {Path(args.output) / result['weights_file']}, weights.yaml and metrics.json", file=sys.stderr)
    return 0

def cmd_ensemble(args) -> int:
    from seqzoo.training.protein import ensemble_deepsol
    from seqzoo.zoo.spec import find_model, load_spec

    _deepsol_config(load_spec(find_model(args.model)), "ensemble")
    result = ensemble_deepsol(args.runs, args.valid, args.output, weights=args.weights, name=args.name,
                              command=options.command_line(args.argv))
    for label, m in [(f"member {i}", r["held_out_metrics"]) for i, r in enumerate(result["members"])] + [
            ("ensemble", result["held_out_metrics"])]:
        print(f"{label:>9} held-out validation (n={m['n']}): accuracy {m['accuracy']:.4f}  MCC {m['mcc']:.4f}  "
              f"AUROC {m['auroc']:.4f}  AUPRC {m['auprc']:.4f}", file=sys.stderr)
    print(f"wrote {Path(args.output) / result['weights_file']}, weights.yaml and metrics.json", file=sys.stderr)
    return 0


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
    return 0


def cmd_train_dna(args) -> int:
    from seqzoo.training.dna import train_dna

    info = train_dna(
        args.data, args.output, architecture=args.model, config=json.loads(args.config) if args.config else None,
        name=args.name, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        patience=args.patience, seed=args.seed, reverse_complement=not args.no_rc,
        steps_per_epoch=args.steps_per_epoch, resume=args.resume, max_minutes=args.max_minutes, lr_decay=args.lr_decay,
        init_from=args.init_from,
        verbose=not args.quiet, command=options.command_line(args.argv),
    )
    print(f"best epoch {info['best_epoch']}: valid mean AUROC {info['valid']['mean_auroc']:.4f}, mean AUPRC "
          f"{info['valid']['mean_auprc']:.4f}; wrote {Path(args.output) / info['weights_file']}")
    return 0


def cmd_evaluate_dna(args) -> int:
    from seqzoo.training.dna import evaluate_dna

    r = evaluate_dna(args.model, args.data, split=args.split, out_path=args.output, weights=args.weights,
                     batch_size=args.batch_size, reverse_complement_average=args.rc, command=options.command_line(args.argv))
    for metric in ("auroc", "auprc"):
        s = r[metric]
        print(f"{args.split} {metric.upper()}: mean {s['mean']:.4f}  median {s['median']:.4f}  min {s['min']:.4f} "
              f"({s['n_tasks']} tasks, {s['n_undefined']} undefined)")
    return 0


def cmd_motif_baseline(args) -> int:
    from seqzoo.training.baselines import motif_baseline

    r = motif_baseline(args.data, args.meme, split=args.split, tasks=args.tf, out_path=args.output,
                       aliases=dict(a.split("=", 1) for a in args.alias), command=options.command_line(args.argv))
    for tf, m in r["per_task"].items():
        print(f"{tf} ({m['motif']}): " + "  ".join(
            f"{scoring}: AUROC {m[scoring]['auroc']:.4f} AUPRC {m[scoring]['auprc']:.4f}" for scoring in r["scorings"]))
    return 0


def cmd_export_dna(args) -> int:
    from seqzoo.training.dna import export_model_dir

    a = export_model_dir(args.run, args.model_dir, doc=args.doc, cite_as=args.cite_as, trained_on=args.trained_on,
                         targets_doc=args.targets_doc, file_name=args.file_name, rc_average=args.rc_average,
                         float16=args.float16)
    print(f"wrote {args.model_dir}: {a['file_name']} ({a['size']} bytes, sha256 {a['sha256']}); add example/ and "
          f"README.md, then `seqzoo check {args.model_dir} --write-expect`")
    return 0

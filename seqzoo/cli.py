"""The ``seqzoo`` command line: a Keras 3 model zoo for DNA and protein sequences.

list, info, fetch, predict, train, check, kipoi-source here; the DNA data and training commands
(dataset, train-dna, ...) in ``dna_cli``; variants, explain, learned-motifs in ``interpret_cli``.
"""

import argparse
import json
import shlex
import sys
from pathlib import Path


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def cmd_list(args) -> int:
    from seqzoo.artifacts import is_cached
    from seqzoo.published import published_description
    from seqzoo.zoo import find_model, list_models, load_spec

    rows = [["model", "architecture", "input", "targets", "weights"]]
    for name in list_models(args.pattern):
        spec = load_spec(find_model(name))
        if spec.artifact is None:
            state = "published (imported)" if published_description(name).is_file() else "published (not imported)"
        else:
            state = ("cached" if is_cached(spec.artifact) else "not fetched") if spec.artifact.trained else "UNTRAINED"
        rows.append([name, spec.architecture, str(spec.input_shape), str(spec.target_shape[-1]), state])
    print(_table(rows))
    return 0


def cmd_info(args) -> int:
    from seqzoo.artifacts import cached_path, is_cached
    from seqzoo.zoo import find_model, load_spec

    spec = load_spec(find_model(args.model))
    a = spec.artifact
    if a is None:  # model.yaml selects the imported published weights
        from seqzoo.published import published_artifact

        a = published_artifact(spec.name)
    print(f"{spec.name}  ({spec.directory})")
    print(f"  {spec.doc}\n")
    print(f"architecture  {spec.architecture} {spec.config or '(published size)'}")
    print(f"input         {spec.input_shape}")
    print(f"targets       {spec.target_shape[-1]}: {', '.join(spec.labels[:5])}{' ...' if len(spec.labels) > 5 else ''}")
    print(f"model card    {spec.directory / 'README.md'}")
    if not a.trained:
        print(f"weights       UNTRAINED (deterministic, seed {a.untrained_seed}): predictions are meaningless")
    else:
        print(f"weights       {a.file_name}, {a.size} bytes, sha256 {a.sha256}")
        for url in a.urls:
            print(f"  url         {url}")
        print(f"  cache       {cached_path(a)} ({'present, verified' if is_cached(a) else 'not fetched'})")
        print(f"  produced by {a.produced_by}")
    return 0


def cmd_fetch(args) -> int:
    from seqzoo.artifacts import fetch
    from seqzoo.zoo import find_model, load_spec

    status = 0
    for name in args.models:
        spec = load_spec(find_model(name))
        if spec.artifact is None:
            print(f"{name}: uses the published weights imported by `seqzoo import-weights`; nothing to fetch")
            continue
        if not spec.artifact.trained:
            print(f"{name}: untrained weights, nothing to fetch")
            continue
        print(f"{name}: {fetch(spec.artifact, force=args.force)}")
    return status


def cmd_predict(args) -> int:
    from seqzoo.checks import dataloader_class
    from seqzoo.dataloaders import ProteinDataset
    from seqzoo.predict import predict_bed
    from seqzoo.predictor import ZooModel
    from seqzoo.zoo import find_model, load_spec

    spec = load_spec(find_model(args.model))
    if issubclass(dataloader_class(spec), ProteinDataset):
        return _predict_proteins(spec, args)
    if not args.bed:
        raise SystemExit(f"seqzoo predict {spec.name}: --bed is required for a DNA model")
    if args.engine == "ray":
        from seqzoo.distributed import predict_bed_ray

        n = predict_bed_ray(str(spec.directory), args.fasta, args.bed, args.output, precision=args.precision,
                            batch_size=args.batch_size, rc=args.rc, out_of_bounds=args.out_of_bounds,
                            workers=args.workers, address=args.ray_address, progress=not args.quiet)
        print(f"wrote {n} rows x {len(spec.columns)} targets to {args.output}", file=sys.stderr)
        return 0
    model = ZooModel(spec, device=args.device, precision=args.precision)
    n = predict_bed(model, args.fasta, args.bed, args.output, batch_size=args.batch_size, rc=args.rc,
                    out_of_bounds=args.out_of_bounds, progress=not args.quiet)
    if not model.trained:
        print(f"warning: {spec.name} has UNTRAINED weights; these predictions are meaningless", file=sys.stderr)
    print(f"wrote {n} rows x {len(model.columns)} targets to {args.output}", file=sys.stderr)
    return 0


def _predict_proteins(spec, args) -> int:
    """``seqzoo predict`` for a protein model: streamed, TSV or Parquet (seqzoo.protein_predict)."""
    from seqzoo.predictor import ZooModel
    from seqzoo.protein_predict import THRESHOLD, predict_fasta

    if args.bed:
        raise SystemExit(f"seqzoo predict {spec.name}: --bed is for DNA models; {spec.name} takes a protein FASTA")
    model = ZooModel(spec, device=args.device)
    labels = list(spec.labels) or [f"target_{i}" for i in range(spec.target_shape[-1])]
    n = predict_fasta(model.predict_on_batch, args.fasta, args.output, max_len=spec.input_shape[0],
                      labels=labels, batch_size=args.batch_size, progress=not args.quiet)
    if not model.trained:
        print(f"warning: {spec.name} has UNTRAINED weights; these predictions are meaningless", file=sys.stderr)
    print(f"wrote {n} rows to {args.output} (predicted_class: probability >= {THRESHOLD})", file=sys.stderr)
    return 0


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


def cmd_ensemble(args) -> int:
    from seqzoo.training.deepsol import ensemble_deepsol
    from seqzoo.zoo import find_model, load_spec

    _deepsol_config(load_spec(find_model(args.model)), "ensemble")
    result = ensemble_deepsol(args.runs, args.valid, args.output, weights=args.weights, name=args.name,
                              command=shlex.join(["seqzoo", *args.argv]))
    for label, m in [(f"member {i}", r["held_out_metrics"]) for i, r in enumerate(result["members"])] + [
            ("ensemble", result["held_out_metrics"])]:
        print(f"{label:>9} held-out validation (n={m['n']}): accuracy {m['accuracy']:.4f}  MCC {m['mcc']:.4f}  "
              f"AUROC {m['auroc']:.4f}  AUPRC {m['auprc']:.4f}", file=sys.stderr)
    print(f"wrote {Path(args.output) / result['weights_file']}, weights.yaml and metrics.json", file=sys.stderr)
    return 0


def cmd_train(args) -> int:
    from seqzoo.training import train_deepsol
    from seqzoo.zoo import find_model, load_spec

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
        command=shlex.join(["seqzoo", *args.argv]),
    )
    m = result["held_out_metrics"]
    print(f"held-out validation (n={m['n']}): accuracy {m['accuracy']:.4f}  MCC {m['mcc']:.4f}  "
          f"AUROC {m['auroc']:.4f}  AUPRC {m['auprc']:.4f}", file=sys.stderr)
    print(f"wrote {Path(args.output) / result['weights_file']}, weights.yaml and metrics.json", file=sys.stderr)
    return 0


def cmd_check(args) -> int:
    from seqzoo.checks import check_model_dir, write_expect
    from seqzoo.zoo import find_model

    failed = 0
    for name in args.models:
        directory = find_model(name)
        if args.write_expect:
            print(f"{name}: wrote {write_expect(directory)}")
        problems = check_model_dir(directory)
        print(f"{name}: {'OK' if not problems else 'FAILED'}")
        for p in problems:
            print(f"  - {p}")
        failed += bool(problems)
    return 1 if failed else 0


def cmd_kipoi_source(args) -> int:
    from seqzoo.zoo import models_dir

    print(f"# ~/.kipoi/config.yaml: add under model_sources\n  {args.name}:\n    type: local\n    local_path: {models_dir()}")
    print(f"\n# or in Python:\nimport kipoi\nkipoi.config.add_source({args.name!r}, "
          f"kipoi.sources.LocalSource({str(models_dir())!r}))")
    return 0


def cmd_import_weights(args) -> int:
    from seqzoo.published import import_weights

    description = import_weights(args.model, args.checkpoint, verify_source=not args.unverified_source)
    print(f"{args.model}: imported {args.checkpoint} -> {description}")
    print(f"load it with seqzoo.get_model({args.model!r}, weights='published'), or set "
          f"'weights: published' under args in the model directory's model.yaml for kipoi")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``seqzoo`` command."""
    from seqzoo import __version__

    parser = argparse.ArgumentParser(prog="seqzoo", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"seqzoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the zoo's models")
    p.add_argument("pattern", nargs="?", default="")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="model card summary, inputs, targets, weights and cache state")
    p.add_argument("model")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("fetch", help="download and verify models' weights into the cache")
    p.add_argument("models", nargs="+")
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("predict", help="predict on BED intervals of a FASTA genome, or on a protein FASTA")
    p.add_argument("model")
    p.add_argument("--fasta", required=True, help="genome FASTA (DNA models) or protein FASTA (DeepSol)")
    p.add_argument("--bed", help="BED intervals (DNA models)")
    p.add_argument("-o", "--output", required=True,
                   help="output file: .parquet, .h5 (DNA models) or anything else for TSV")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                   help="bfloat16: faster where the hardware has bfloat16 units, within ~1e-3 of float32")
    p.add_argument("--rc", action="store_true", help="average forward and reverse-complement predictions")
    p.add_argument("--out-of-bounds", default="pad", choices=["pad", "refuse"],
                   help="windows past a chromosome end: pad with N (counted in 'padded') or refuse the row")
    p.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="ray: shard the intervals over a Ray cluster (DNA models; pip install 'seqzoo[ray]')")
    p.add_argument("--ray-address", help="address of a running Ray cluster ('auto' finds a local one); "
                                         "default: start Ray on this machine")
    p.add_argument("--workers", type=int, help="Ray workers, each holding the model (default: CPUs / 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("train", help="train a model (DeepSol) on labelled sequences")
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
    p.add_argument("--batch-size", type=int, default=64)
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
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("ensemble", help="average several `seqzoo train` runs (DeepSol) into one model")
    p.add_argument("model", help="model name or directory (DeepSol)")
    p.add_argument("runs", nargs="+", help="output directories of seqzoo train runs sharing one --split-seed")
    p.add_argument("--valid", required=True, help="the validation TSV the runs were trained with")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--weights", type=float, nargs="+",
                   help="one weight per run for a weighted average (default: equal weights)")
    p.add_argument("--name", default="deepsol-ensemble", help="weights file base name")
    p.set_defaults(func=cmd_ensemble)

    p = sub.add_parser("check", help="check model directories the way kipoi test does, and more strictly")
    p.add_argument("models", nargs="+", help="model names or directories")
    p.add_argument("--write-expect", action="store_true", help="(re)write test.expect.h5 from the current weights first")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("import-weights", help="convert kipoi's published PyTorch weights (Basset, DeepSEA)")
    p.add_argument("model", help="Basset or DeepSEA")
    p.add_argument("checkpoint", help="kipoi's .pth file (pretrained_model_reloaded_th.pth, deepsea_predict.pth)")
    p.add_argument("--unverified-source", action="store_true",
                   help="import a checkpoint whose md5 is not kipoi's published one (recorded as unverified)")
    p.set_defaults(func=cmd_import_weights)

    p = sub.add_parser("kipoi-source", help="print how to register the zoo as a kipoi model source")
    p.add_argument("--name", default="seqzoo")
    p.set_defaults(func=cmd_kipoi_source)

    from seqzoo.dna_cli import add_dna_commands  # dataset, train-dna, evaluate-dna, motif-baseline

    add_dna_commands(sub)
    from seqzoo.interpret_cli import add_interpret_commands  # variants, explain, learned-motifs

    add_interpret_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``seqzoo`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded by `seqzoo train` as the exact command
    try:
        return args.func(args)
    except (ValueError, LookupError, OSError, RuntimeError) as e:
        print(f"seqzoo {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""``seqzoo leaderboard``: every model of a data set's tasks on the same windows, and the README's
model table (see :mod:`seqzoo.training.leaderboard`)."""

import argparse
import json
import sys
from pathlib import Path

from seqzoo.cli import options


def leaderboard_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="data set directory (seqzoo dataset)")
    p.add_argument("--split", default="valid", help="the split every model is scored on (default: valid)")
    p.add_argument("--models", nargs="+", metavar="MODEL",
                   help="zoo names, model directories or seqzoo train run directories (default: every zoo DNA model "
                        "whose targets are the data set's tasks)")
    p.add_argument("--motif-baseline", metavar="JSON", help="seqzoo motif-baseline's output on the same data and split")
    p.add_argument("--meme", help="or compute the motif baseline here: a MEME motif file (e.g. JASPAR) ...")
    p.add_argument("--tf", nargs="+", help="... and the TFs to score with it")
    p.add_argument("--alias", action="append", default=[], metavar="TF=MOTIF",
                   help="motif name for a TF whose motif is named differently (with --meme)")
    p.add_argument("-o", "--output", help="the board as Markdown (.md); the TSV is written beside it (.tsv)")
    p.add_argument("--resamples", type=options.positive_int, default=200,
                   help="bootstrap resamples of the windows for the intervals (default 200)")
    p.add_argument("--seed", type=options.non_negative_int, default=0, help="seeds the resamples (default 0)")
    options.add_batch_size(p, 256)
    p.add_argument("--readme-table", nargs="*", metavar="BOARD_TSV",
                   help="instead: print the README's model table (seqzoo list's models, with these boards' figures)")


def check_leaderboard(args) -> None:
    """Before TensorFlow: the data set and split, every model, the baseline's inputs, the output."""
    from seqzoo.io.tables import check_output
    from seqzoo.training.datasets import read_manifest
    from seqzoo.zoo.spec import find_model

    if args.readme_table is not None:
        options.require_inputs(*(("board (--readme-table)", board) for board in args.readme_table))
        if args.output:
            check_output(args.output, inputs=args.readme_table)
        return
    if not args.data or not args.output:
        raise ValueError("give the data set (--data) and the board's file (-o BOARD.md), or --readme-table")
    if Path(args.output).suffix != ".md":
        raise ValueError(f"-o {args.output}: the board is Markdown (.md); its TSV is written beside it")
    splits = read_manifest(args.data)["splits"]
    if args.split not in splits:
        raise ValueError(f"{args.data} has no split {args.split!r} (splits: {', '.join(splits)})")
    for model in args.models or ():
        if not (Path(model) / "training.json").is_file():
            find_model(model)  # a zoo name or a model directory, else a clear error
    if args.motif_baseline and args.meme:
        raise ValueError("give the motif baseline once: --motif-baseline JSON, or --meme with --tf")
    if bool(args.meme) != bool(args.tf):
        raise ValueError("--meme and --tf go together (the motif file and the TFs to score)")
    options.require_inputs(("motif baseline (--motif-baseline)", args.motif_baseline),
                           ("MEME file (--meme)", args.meme))
    bad = [a for a in args.alias if "=" not in a]
    if bad:
        raise ValueError(f"--alias {bad[0]}: give TF=MOTIF")
    inputs = [p for p in Path(args.data).iterdir() if p.is_file()] + [args.motif_baseline, args.meme]
    for output in (args.output, Path(args.output).with_suffix(".tsv")):
        check_output(output, inputs=inputs)


def cmd_leaderboard(args) -> int:
    from seqzoo.training import leaderboard

    if args.readme_table is not None:
        table = leaderboard.readme_table(args.readme_table)
        if args.output:
            Path(args.output).write_text(table)
        else:
            sys.stdout.write(table)
        return 0
    from seqzoo.training.baselines import motif_baseline

    if args.motif_baseline:
        baseline = json.loads(Path(args.motif_baseline).read_text())
    elif args.meme:
        baseline = motif_baseline(args.data, args.meme, split=args.split, tasks=args.tf,
                                  aliases=dict(a.split("=", 1) for a in args.alias))
    else:
        baseline = None
    models = args.models or leaderboard.default_models(args.data)
    board = leaderboard.leaderboard(models, args.data, split=args.split, baseline=baseline, n_boot=args.resamples,
                                    seed=args.seed, batch_size=args.batch_size,
                                    log=lambda message: print(message, file=sys.stderr))
    markdown, tsv = leaderboard.write_board(board, args.output)
    print(f"wrote {markdown} and {tsv} ({len(board['rows'])} models, {board['windows']} {args.split} windows)")
    return 0

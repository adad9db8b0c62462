"""``seqzoo attribute``: DeepLIFT/DeepSHAP, integrated gradients, ISM, saliency or input x gradient of
a DNA model's logits over BED windows or a tiled region, to arrays (.npz, .h5) or per-base tracks (.bw)."""

import argparse
import sys

from seqzoo.cli import options

# seqzoo.attribution.ATTRIBUTION_METHODS, declared here without keras (a test holds them equal)
METHODS = ("deeplift", "ism", "saliency", "input_x_gradient", "integrated_gradients")
REFERENCE_METHODS = ("deeplift", "integrated_gradients")
DELTA_FLOOR = 1e-4  # seqzoo.attribution.DELTA_FLOOR (a test holds them equal)


def attribute_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model")
    p.add_argument("--fasta", required=True, help="genome FASTA")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--bed", help="BED intervals: the model's window centred on each")
    where.add_argument("--tile", metavar="REGION|BED|genome",
                       help="tile windows along CHROM:START-END, a BED of sorted regions, or the whole FASTA, as "
                            "`seqzoo predict --tile` does (see --step)")
    p.add_argument("--step", type=options.positive_int,
                   help="--tile: bp between windows (default: the model's prediction bin)")
    p.add_argument("--target", required=True, metavar="T[,T...]",
                   help="target labels (see seqzoo info) or 0-based column indices, comma-separated")
    p.add_argument("--method", default="deeplift", choices=METHODS,
                   help="deeplift: DeepLIFT rescale rule averaged over dinucleotide-shuffled references "
                        "(DeepSHAP); integrated_gradients: from the same references; ism: every single-base "
                        "substitution; all methods explain the targets' logits")
    p.add_argument("--references", type=options.positive_int, default=20,
                   help="deeplift, integrated_gradients: shuffled references per window (default 20)")
    p.add_argument("--seed", type=options.non_negative_int, default=0,
                   help="deeplift, integrated_gradients: window i's references are drawn with seed SEED + i "
                        "(default 0)")
    p.add_argument("--ig-steps", type=options.positive_int, default=32,
                   help="integrated_gradients: midpoint steps along each reference's path (default 32)")
    p.add_argument("--ism-region", metavar="START-END",
                   help="ism: only substitutions at these 0-based offsets of the window (half-open), e.g. the "
                        "central 200 bp of a 1000 bp window: 400-600")
    p.add_argument("--tolerance", type=options.positive_float, default=1e-3,
                   help="deeplift, integrated_gradients: flag windows whose convergence (completeness) delta "
                        "exceeds this fraction of the mean |logit(x) - logit(reference)| (default 1e-3) and "
                        f"{DELTA_FLOOR:g} logits (a floor for windows whose logit hardly moves)")
    p.add_argument("-o", "--output", required=True,
                   help=".npz or .h5/.hdf5 arrays (windows x targets x length x 4 attributions and hypothetical "
                        "contributions, deltas; see seqzoo.attribution.attribute_windows), or with --tile a "
                        ".bw/.bigwig track of the observed base's contribution per base ({target} in the name "
                        "for several targets)")
    _run_options(p, ".npz/.h5 outputs are")


def _run_options(p: argparse.ArgumentParser, held: str) -> None:
    """The options ``attribute`` and ``motifs`` share: --force, --batch-size, --max-windows (``held``
    names what is held in memory), --out-of-bounds, --weights, --device."""
    options.add_force(p)
    options.add_batch_size(p, 32, "window-reference pairs")
    p.add_argument("--max-windows", type=options.positive_int, default=10_000,
                   help=f"{held} held in memory: refuse more windows than this")
    options.add_out_of_bounds(p)
    options.add_weights(p)
    options.add_device(p)


#: seqzoo.attribution.ATTRIBUTE_FORMATS, declared here without keras (a test holds them equal)
ATTRIBUTE_FORMATS = {".npz": "npz", ".h5": "hdf5", ".hdf5": "hdf5", ".bw": "bigwig", ".bigwig": "bigwig"}


def _targets(args) -> list[str]:
    return [t.strip() for t in args.target.split(",") if t.strip()]


def _region(args, length: int) -> tuple[int, int] | None:
    """--ism-region as (start, end), checked against the window length (seqzoo.attribution.parse_ism_region)."""
    if args.ism_region is None:
        return None
    try:
        start, end = (int(v) for v in args.ism_region.split("-"))
    except ValueError:
        raise ValueError(f"--ism-region {args.ism_region!r}: expected START-END, 0-based offsets in the window") \
            from None
    if not 0 <= start < end <= length:
        raise ValueError(f"--ism-region {args.ism_region!r}: need 0 <= START < END <= {length} (the window's length)")
    return start, end


def check_attribute(args) -> None:
    """``attribute``'s checks before TensorFlow: a DNA model, inputs, targets, output."""
    from seqzoo.cli.predict_commands import _check_outputs, _spec

    spec = _spec(args, modality="dna")
    options.require_inputs(("FASTA (--fasta)", args.fasta), ("BED (--bed)", args.bed))
    if args.step is not None and not args.tile:
        raise ValueError("--step is for --tile")
    if args.ism_region is not None:
        if args.method != "ism":
            raise ValueError("--ism-region is for --method ism")
        _region(args, spec.input_shape[0])
    for target in _targets(args):
        spec.column_index(target)
    _check_outputs(args, [(args.output, ATTRIBUTE_FORMATS)], [args.fasta, args.bed, args.tile])


def cmd_attribute(args) -> int:
    from seqzoo.attribution import attribute_windows
    from seqzoo.cli.predict_commands import _dna_model

    model = _dna_model(args)
    targets = _targets(args)
    summary = attribute_windows(model, args.fasta, args.output, targets=targets, bed=args.bed, tile=args.tile,
                                step=args.step, method=args.method, references=args.references, seed=args.seed,
                                batch_size=args.batch_size, out_of_bounds=args.out_of_bounds,
                                tolerance=args.tolerance, overwrite=args.force, max_windows=args.max_windows,
                                steps=args.ig_steps, ism_region=_region(args, model.spec.input_shape[0]))
    print(f"{args.method}: {summary['windows']} windows x {len(summary['targets'])} targets written to "
          f"{args.output}", file=sys.stderr)
    if args.method == "ism":
        run, saved = summary["forward_passes"], summary["forward_passes_saved"]
        print(f"ism: {run} forward passes, {saved} saved ({saved / max(run + saved, 1):.1%} of the naive "
              "1 + 4 x length per window: identity mutations skipped, positions outside --ism-region)",
              file=sys.stderr)
    if args.method in REFERENCE_METHODS:
        print(f"convergence: largest relative delta {summary['max_relative_delta']:.2e}, largest delta "
              f"{summary['max_delta']:.2e} logits; {summary['flagged']} window-target pairs above the tolerance "
              f"{args.tolerance:g} and the floor {DELTA_FLOOR:g} logits", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------
# seqzoo motifs

def motifs_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model")
    p.add_argument("--target", required=True, help="one target label (see seqzoo info) or 0-based column index")
    p.add_argument("--fasta", required=True, help="genome FASTA")
    p.add_argument("--bed", required=True, help="BED intervals (e.g. a TF's bound windows): the model's window "
                                                "centred on each")
    p.add_argument("--motifs", required=True, metavar="DB.meme",
                   help="motif database in MEME format (e.g. JASPAR) that TOMTOM matches each pattern against")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="report folder: report.md, motifs.tsv, logos/*.png, attributions.npz, modisco_results.h5")
    p.add_argument("--references", type=options.positive_int, default=20,
                   help="DeepLIFT: shuffled references per window (default 20)")
    p.add_argument("--seed", type=options.non_negative_int, default=0,
                   help="window i's references are drawn with seed SEED + i (default 0)")
    p.add_argument("--region", metavar="START-END",
                   help="TF-MoDISco reads only these 0-based offsets of each window (default: all of it)")
    p.add_argument("--max-seqlets", type=options.positive_int, default=2000,
                   help="TF-MoDISco: seqlets per sign at most (default 2000)")
    p.add_argument("--window", type=options.positive_int, default=21,
                   help="TF-MoDISco: sliding window for seqlets, bp (default 21)")
    p.add_argument("--leiden-runs", type=options.positive_int, default=50,
                   help="TF-MoDISco: Leiden clusterings, each seeded (default 50; fewer is faster)")
    p.add_argument("--min-seqlets", type=options.positive_int, default=100,
                   help="TF-MoDISco: a sign (positive, negative) needs more seqlets than this for patterns "
                        "(default 100; lower it for a few dozen windows)")
    p.add_argument("--top", type=options.positive_int, default=3, help="TOMTOM matches reported per pattern")
    _run_options(p, "attributions are")


def _motif_region(args) -> tuple[int, int] | None:
    if args.region is None:
        return None
    try:
        start, end = (int(v) for v in args.region.split("-"))
    except ValueError:
        raise ValueError(f"--region {args.region!r}: expected START-END, 0-based offsets in the window") from None
    return start, end


def check_motifs(args) -> None:
    """``motifs``' checks before TensorFlow: the extra installed, a DNA model, its target, the
    inputs, the MEME file, the report folder, the region."""
    import importlib.util
    from pathlib import Path

    from seqzoo.cli.predict_commands import _spec
    from seqzoo.io.meme import read_meme

    missing = [m for m, package in (("modiscolite", "modisco"), ("memelite", "memelite"))
               if importlib.util.find_spec(m) is None]
    if missing:
        raise RuntimeError(f"`seqzoo motifs` needs the packages of the interpret extra ({', '.join(missing)} "
                           "missing): pip install 'seqzoo[interpret]'")
    spec = _spec(args, modality="dna")
    spec.column_index(args.target.strip())
    options.require_inputs(("FASTA (--fasta)", args.fasta), ("BED (--bed)", args.bed),
                           ("motif database (--motifs)", args.motifs))
    if not read_meme(args.motifs):
        raise ValueError(f"{args.motifs}: no MOTIF in this MEME file")
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"{output}: the report is a folder; this is a file")
    if output.is_dir() and any(output.iterdir()) and not args.force:
        raise ValueError(f"{output}: the folder exists and is not empty (overwrite it with --force)")
    region = _motif_region(args)
    if region is not None and not 0 <= region[0] < region[1] <= spec.input_shape[0]:
        raise ValueError(f"--region {args.region!r}: need 0 <= START < END <= {spec.input_shape[0]} "
                         "(the window's length)")


def cmd_motifs(args) -> int:
    from seqzoo.cli.predict_commands import _dna_model
    from seqzoo.motifs import discover_motifs

    model = _dna_model(args)
    result = discover_motifs(model, args.fasta, args.bed, args.target.strip(), args.motifs, args.output,
                             references=args.references, seed=args.seed, batch_size=args.batch_size,
                             out_of_bounds=args.out_of_bounds, max_windows=args.max_windows,
                             region=_motif_region(args), max_seqlets=args.max_seqlets, window=args.window,
                             leiden_runs=args.leiden_runs, min_seqlets=args.min_seqlets, top=args.top,
                             overwrite=args.force)
    print(f"motifs: {result['windows']} windows, {len(result['patterns'])} patterns; report in "
          f"{args.output}/report.md", file=sys.stderr)
    for row in result["patterns"]:
        best = row["matches"][0] if row["matches"] else None
        match = f"{best['name']} ({best['id']}) q={best['q']:.2g}" if best else "no match"
        print(f"{row['pattern']}\t{row['seqlets']} seqlets\t{row['consensus']}\t{match}")
    return 0

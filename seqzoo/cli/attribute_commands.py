"""``seqzoo attribute``: DeepLIFT/DeepSHAP, ISM, saliency or input x gradient of a DNA model's logits
over BED windows or a tiled region, to arrays (.npz, .h5) or per-base tracks (.bw)."""

import argparse
import sys

from seqzoo.cli import options

METHODS = ("deeplift", "ism", "saliency", "input_x_gradient")  # seqzoo.attribution.ATTRIBUTION_METHODS


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
                        "(DeepSHAP); all methods explain the targets' logits")
    p.add_argument("--references", type=options.positive_int, default=20,
                   help="deeplift: shuffled references per window (default 20)")
    p.add_argument("--seed", type=options.non_negative_int, default=0,
                   help="deeplift: window i's references are drawn with seed SEED + i (default 0)")
    p.add_argument("--tolerance", type=options.positive_float, default=1e-3,
                   help="deeplift: flag windows whose convergence delta exceeds this fraction of the mean "
                        "|logit(x) - logit(reference)| (default 1e-3)")
    p.add_argument("-o", "--output", required=True,
                   help=".npz or .h5/.hdf5 arrays (windows x targets x length x 4 attributions and hypothetical "
                        "contributions, deltas; see seqzoo.attribution.attribute_windows), or with --tile a "
                        ".bw/.bigwig track of the observed base's contribution per base ({target} in the name "
                        "for several targets)")
    options.add_force(p)
    options.add_batch_size(p, 32, "window-reference pairs")
    p.add_argument("--max-windows", type=options.positive_int, default=10_000,
                   help=".npz/.h5 outputs are held in memory: refuse more windows than this")
    options.add_out_of_bounds(p)
    options.add_weights(p)
    options.add_device(p)


#: seqzoo.attribution.ATTRIBUTE_FORMATS, declared here without keras (a test holds them equal)
ATTRIBUTE_FORMATS = {".npz": "npz", ".h5": "hdf5", ".hdf5": "hdf5", ".bw": "bigwig", ".bigwig": "bigwig"}


def _targets(args) -> list[str]:
    return [t.strip() for t in args.target.split(",") if t.strip()]


def check_attribute(args) -> None:
    """``attribute``'s checks before TensorFlow: a DNA model, inputs, targets, output."""
    from seqzoo.cli.predict_commands import _check_outputs, _spec

    spec = _spec(args, modality="dna")
    options.require_inputs(("FASTA (--fasta)", args.fasta), ("BED (--bed)", args.bed))
    if args.step is not None and not args.tile:
        raise ValueError("--step is for --tile")
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
                                tolerance=args.tolerance, overwrite=args.force, max_windows=args.max_windows)
    print(f"{args.method}: {summary['windows']} windows x {len(summary['targets'])} targets written to "
          f"{args.output}", file=sys.stderr)
    if args.method == "deeplift":
        print(f"convergence: largest relative delta {summary['max_relative_delta']:.2e}; "
              f"{summary['flagged']} window-target pairs above the tolerance {args.tolerance:g}", file=sys.stderr)
    return 0

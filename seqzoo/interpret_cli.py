"""``seqzoo`` subcommands for variant effects and interpretation: variants, explain, learned-motifs."""

import sys
from pathlib import Path

import numpy as np


def _dna_model(args):
    from seqzoo.predictor import get_model

    model = get_model(args.model, device=args.device, precision=getattr(args, "precision", "float32"))
    shape = model.spec.input_shape
    if len(shape) != 2 or shape[1] != 4:
        raise ValueError(f"{model.name} is not a DNA model (input {shape})")
    if not model.trained:
        print(f"warning: {model.name} has UNTRAINED weights; its scores are meaningless", file=sys.stderr)
    return model


def cmd_variants(args) -> int:
    from seqzoo.variants import score_variants

    model = _dna_model(args)
    scores = [s.strip() for s in args.scores.split(",") if s.strip()]
    n = score_variants(model, args.fasta, args.vcf, args.output, batch_size=args.batch_size, rc=args.rc,
                       scores=scores, progress=not args.quiet)
    print(f"wrote {n} allele rows x {len(model.columns)} targets ({', '.join(scores)}) to {args.output}",
          file=sys.stderr)
    return 0


def cmd_explain(args) -> int:
    from seqzoo.explain import explain_region
    from seqzoo.plots import explain_figure

    model = _dna_model(args)
    r = explain_region(model, args.fasta, args.region, args.target, method=args.method, ism=not args.no_ism)
    title = (f"{model.name} {r['target']} at {r['chrom']}:{r['start']}-{r['end']} "
             f"(prediction {r['prediction']:.3g}; {args.method.replace('_', ' ')})")
    explain_figure(args.output, r["attribution"], r["ism"], r["start"], title=title,
                   attribution_label=args.method.replace("_", " "))
    if args.arrays:
        np.savez_compressed(args.arrays, attribution=r["attribution"],
                            ism=r["ism"] if r["ism"] is not None else np.zeros((0, 4)),
                            positions=np.arange(r["start"], r["end"]), bases=np.array(list("ACGT")))
    print(f"{r['target']}: prediction {r['prediction']:.4g}; wrote {args.output}"
          + (f" and {args.arrays}" if args.arrays else ""), file=sys.stderr)
    return 0


def cmd_learned_motifs(args) -> int:
    from seqzoo.explain import best_matches, filter_pwms, information_content
    from seqzoo.genome import Genome
    from seqzoo.motifs import read_meme, write_meme
    from seqzoo.predict import check_bed, iter_window_batches
    from seqzoo.writers import open_writer

    model = _dna_model(args)
    with Genome(args.fasta) as genome:
        n = check_bed(args.bed, genome)
        if n > args.max_windows:  # the windows are held in memory (two passes over them)
            raise ValueError(f"{args.bed}: {n} intervals; learned-motifs holds its windows in memory, so give "
                             f"at most --max-windows {args.max_windows} (a sample of regions is enough)")
        batches = list(iter_window_batches(args.bed, genome, model.spec.input_shape[0], 512))
    x = np.concatenate([b.x[~b.refused] for b in batches])
    if len(x) < n:
        print(f"{n - len(x)} windows hold characters that are not DNA and were not used", file=sys.stderr)
    pwms, sites = filter_pwms(model, x, threshold=args.threshold, layer=args.layer)
    names = [f"filter{f}" for f in range(len(pwms))]
    if args.layer == "task_motif_conv":  # filters t*k .. t*k+k-1 are task t's own
        per_task = len(pwms) // len(model.columns)
        names = [f"{model.columns[f // per_task]}/{f % per_task}" for f in range(len(pwms))]
    matches = best_matches(pwms, read_meme(args.meme), top=args.top) if args.meme else [[] for _ in pwms]
    columns = ["filter", "sites", "information_bits"] + [f"{k}_{i}" for i in range(1, args.top + 1)
                                                          for k in ("motif", "motif_id", "similarity")]
    rows = {c: [] for c in columns}
    for name, pwm, n, found in zip(names, pwms, sites, matches):
        rows["filter"].append(name)
        rows["sites"].append(int(n))
        rows["information_bits"].append(float(information_content(pwm).sum()))
        for i in range(args.top):
            name, motif_id, score = found[i] if i < len(found) else ("", "", float("nan"))
            rows[f"motif_{i + 1}"].append(name)
            rows[f"motif_id_{i + 1}"].append(motif_id)
            rows[f"similarity_{i + 1}"].append(score)
    with open_writer(args.output, columns) as writer:
        writer.write({c: np.array(v, dtype=object if isinstance(v[0], str) else None) for c, v in rows.items()})
    if args.meme_out:
        write_meme(args.meme_out, dict(zip(names, pwms)), {name: int(n) for name, n in zip(names, sites)})
    print(f"{len(pwms)} filters from {len(x)} windows; wrote {args.output}"
          + (f" and {args.meme_out}" if args.meme_out else ""), file=sys.stderr)
    return 0


def add_interpret_commands(sub) -> None:
    """Register ``variants``, ``explain`` and ``learned-motifs`` on the ``seqzoo`` parser."""
    from seqzoo.explain import ATTRIBUTION_METHODS
    from seqzoo.variants import SCORES

    p = sub.add_parser("variants", help="score the alleles of a VCF: ref/alt predictions and their differences")
    p.add_argument("model")
    p.add_argument("--fasta", required=True, help="genome FASTA the VCF refers to")
    p.add_argument("--vcf", required=True, help="VCF (plain, gzip or bgzip)")
    p.add_argument("-o", "--output", required=True, help="output: .parquet, .h5, or anything else for TSV")
    p.add_argument("--scores", default=",".join(SCORES), help=f"comma-separated, among {', '.join(SCORES)}")
    p.add_argument("--rc", action="store_true", help="average forward and reverse-complement predictions")
    p.add_argument("--batch-size", type=int, default=128, help="alleles per batch (2x sequences)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_variants)

    p = sub.add_parser("explain", help="attribution logo and in-silico mutagenesis heat map of a region")
    p.add_argument("model")
    p.add_argument("--fasta", required=True)
    p.add_argument("--region", required=True, help="CHROM:START-END, 0-based half-open (BED coordinates), "
                                                    "at most the model's input length")
    p.add_argument("--target", required=True, help="target label (see seqzoo info) or 0-based column index")
    p.add_argument("--method", default="input_x_gradient", choices=ATTRIBUTION_METHODS)
    p.add_argument("--no-ism", action="store_true", help="attributions only (no mutagenesis heat map)")
    p.add_argument("-o", "--output", required=True, help="figure: .png, .svg or .pdf")
    p.add_argument("--arrays", help="also save the attribution and ISM arrays to this .npz")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("learned-motifs", help="convolution filters (by default the first layer's) as PWMs, matched to a motif database")
    p.add_argument("model")
    p.add_argument("--fasta", required=True)
    p.add_argument("--bed", required=True, help="windows whose sequences activate the filters (e.g. validation bins)")
    p.add_argument("--meme", help="motif database in MEME format (e.g. JASPAR) to compare the filters with")
    p.add_argument("--top", type=int, default=1, help="best-matching motifs listed per filter")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="a site activates a filter above this fraction of the filter's maximum")
    p.add_argument("--max-windows", type=int, default=50_000,
                   help="refuse a BED with more intervals (windows are held in memory)")
    p.add_argument("--layer", default="conv1",
                   help="the convolution whose filters to read: conv1 (the first layer), or task_motif_conv "
                        "(a DeepSEA motif branch's per-task filters, named TASK/i)")
    p.add_argument("-o", "--output", required=True, help="table: .parquet or TSV")
    p.add_argument("--meme-out", help="also write the filters' PWMs as a MEME file")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    p.set_defaults(func=cmd_learned_motifs)

"""``seqzoo`` commands that run a loaded model: predict, variants, explain, learned-motifs.

Each command's ``check_<command>`` refuses, before TensorFlow is imported, what needs no network:
an unknown model or target, a missing input, an output that exists or has an unknown extension."""

import argparse
import logging
import sys

import numpy as np

from seqzoo.cli import options

logger = logging.getLogger(__name__)

def predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model")
    p.add_argument("--fasta", required=True, help="genome FASTA (DNA models) or protein FASTA (DeepSol)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--bed", help="BED intervals (DNA models)")
    where.add_argument("--tile", metavar="REGION|BED|genome",
                       help="tile windows along CHROM:START-END, a BED of sorted regions, or every sequence of "
                            "the FASTA (DNA models); see --step")
    p.add_argument("--step", type=options.positive_int, help="--tile: bp between windows (default: the model's prediction bin, "
                                            "see seqzoo info)")
    options.add_targets(p)
    p.add_argument("-o", "--output", required=True,
                   help=f"{options.TABLE_HELP}; with --tile also a track, .bw/.bigwig or .bedgraph, one target "
                        "per file ({target} in the name for several)")
    options.add_force(p)
    options.add_batch_size(p, 128)
    options.add_model_run(p)
    options.add_rc(p)
    options.add_out_of_bounds(p)
    p.add_argument("--allow-nucleotide-like", action="store_true",
                   help="protein models: predict records that read as DNA or RNA (90%% or more A, C, G, T, U, N) "
                        "as proteins; by default they stop the run")
    p.add_argument("--engine", default="local", choices=["local", "numpy", "keras", "ray"],
                   help="local (default): this machine, a NumPy forward pass without TensorFlow for up to "
                        "256 BED intervals where the model allows it (float32, trained weights), else Keras; "
                        "numpy or keras: that one (numpy says why where it cannot run; DNA models); "
                        "ray: shard the intervals over a Ray cluster (DNA models; pip install 'seqzoo[ray]')")
    p.add_argument("--ray-address", help="address of a running Ray cluster ('auto' finds a local one); "
                                         "default: start Ray on this machine")
    p.add_argument("--workers", type=options.positive_int, help="Ray workers, each holding the model (default: CPUs / 2)")
    options.add_quiet(p)


def variants_arguments(p: argparse.ArgumentParser) -> None:
    from seqzoo.variants import SCORES  # declared only when `variants` runs

    options.add_targets(p)
    p.add_argument("model")
    p.add_argument("--fasta", required=True, help="genome FASTA the VCF refers to")
    p.add_argument("--vcf", required=True, help="VCF (plain, gzip or bgzip)")
    p.add_argument("-o", "--output", required=True,
                   help="output: .vcf.gz (bgzip + tabix index) or .vcf, the input's records with the scores "
                        "as INFO fields; or a table, one row per allele: .tsv, .tsv.gz, .csv, .parquet, .h5")
    options.add_force(p)
    p.add_argument("--scores", default=",".join(SCORES), help=f"comma-separated, among {', '.join(SCORES)}")
    p.add_argument("--null", type=options.non_negative_int, default=0, metavar="N",
                   help="also score N random SNVs near the variants (same chromosome, same GC band of the "
                        "window) and add each variant's empirical p-value and z-score of diff against them")
    p.add_argument("--seed", type=options.non_negative_int, default=0, help="--null: random seed (default 0)")
    options.add_rc(p)
    options.add_batch_size(p, 128, "alleles (2 sequences each)")
    options.add_model_run(p)
    options.add_quiet(p)


#: seqzoo.interpret.ATTRIBUTION_METHODS, declared here without keras (a test holds them equal)
EXPLAIN_METHODS = ("input_x_gradient", "saliency")


def explain_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model")
    p.add_argument("--fasta", required=True)
    p.add_argument("--region", required=True, help="CHROM:START-END, 0-based half-open (BED coordinates), "
                                                    "at most the model's input length")
    p.add_argument("--target", required=True, help="target label (see seqzoo info) or 0-based column index")
    p.add_argument("--method", default="input_x_gradient", choices=EXPLAIN_METHODS)
    p.add_argument("--no-ism", action="store_true", help="attributions only (no mutagenesis heat map)")
    p.add_argument("-o", "--output", required=True, help="figure: .png, .svg or .pdf")
    p.add_argument("--arrays", help="also save the attribution and ISM arrays to this .npz")
    options.add_force(p)
    p.add_argument("--strand", default=".", choices=["+", "-", "."],
                   help="-: the model reads the reverse complement (maps stay in genome orientation)")
    options.add_out_of_bounds(p)
    options.add_weights(p)
    options.add_device(p)


def learned_motifs_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model")
    p.add_argument("--fasta", required=True)
    p.add_argument("--bed", required=True, help="windows whose sequences activate the filters (e.g. validation bins)")
    p.add_argument("--meme", help="motif database in MEME format (e.g. JASPAR) to compare the filters with")
    p.add_argument("--top", type=options.positive_int, default=1, help="best-matching motifs listed per filter")
    p.add_argument("--threshold", type=options.fraction, default=0.5,
                   help="a site activates a filter above this fraction of the filter's maximum")
    p.add_argument("--max-windows", type=options.positive_int, default=50_000,
                   help="refuse a BED with more intervals (windows are held in memory)")
    p.add_argument("--layer", default="conv1",
                   help="the convolution whose filters to read: conv1 (the first layer), or task_motif_conv "
                        "(a DeepSEA motif branch's per-task filters, named TASK/i)")
    p.add_argument("-o", "--output", required=True, help=options.TABLE_HELP)
    p.add_argument("--meme-out", help="also write the filters' PWMs as a MEME file")
    options.add_force(p)
    options.add_weights(p)
    options.add_device(p)


FIGURE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def _check_outputs(args, outputs: list[tuple[str | None, dict | None]], inputs: list) -> None:
    """Check every output before the model loads or anything is computed (``check_output``):
    never one of ``inputs`` nor a file of the model (``run_files``: its directory's files, the
    weights it loads), an existing file only with ``--force``, a known extension."""
    from seqzoo.io.tables import check_output
    from seqzoo.zoo.spec import find_model, load_spec
    from seqzoo.zoo.weights import run_files

    inputs = [*inputs, *run_files(load_spec(find_model(args.model)), args.weights)]
    for output, formats in outputs:
        if output is not None:
            check_output(output, inputs=inputs, overwrite=args.force, formats=formats)


def _spec(args, modality: str | None = None):
    """The ``ModelSpec`` of the model a command runs (no keras), of ``modality`` when given."""
    from seqzoo.zoo.spec import find_model, load_spec

    spec = load_spec(find_model(args.model))
    if modality and spec.modality != modality:
        raise ValueError(f"{spec.name} reads {spec.modality}, not {modality}: `seqzoo {args.command}` is for "
                         f"{modality} models")
    return spec


def _load(args, modality: str | None = None):
    """The model a command runs, with the weights, device and precision asked for."""
    from seqzoo.runtime import ZooModel

    return ZooModel(_spec(args, modality), weights=args.weights, device=args.device,
                    precision=getattr(args, "precision", "float32"))


def check_predict(args) -> None:
    """``predict``'s checks before TensorFlow: model, inputs, options of its kind, targets, output."""
    from seqzoo.io.tables import TABLE_FORMATS
    from seqzoo.io.tracks import TRACK_FORMATS

    spec = _spec(args)
    if spec.modality == "protein":  # the model's kind first: a wrong option is the mistake, not a missing file
        if args.bed or args.tile:
            raise ValueError(f"{args.model} is a protein model: it takes a protein FASTA (--fasta), not --bed or --tile")
        if args.rc or args.engine in ("ray", "numpy"):
            raise ValueError(f"{args.model} is a protein model: --rc and --engine ray or numpy are for DNA models")
    options.require_inputs(("FASTA (--fasta)", args.fasta), ("BED (--bed)", args.bed))
    if spec.modality == "protein":
        _check_outputs(args, [(args.output, TABLE_FORMATS)], [args.fasta])
        return
    if not args.bed and not args.tile:
        raise ValueError(f"{spec.name} is a DNA model: give the intervals with --bed, or --tile")
    if args.allow_nucleotide_like:
        raise ValueError(f"{spec.name} is a DNA model: --allow-nucleotide-like is for protein models")
    if args.step is not None and not args.tile:
        raise ValueError("--step is for --tile")
    if args.engine == "ray" and args.weights:
        raise ValueError("--engine ray runs the model directory's own weights; --weights is for the local engine")
    spec.select_columns(args.targets)
    # a track name holding {target} is checked per target when its files open, before any compute;
    # a track with --bed is refused by predict_bed, saying why
    _check_outputs(args, [(args.output, {**TABLE_FORMATS, **TRACK_FORMATS})], [args.fasta, args.bed, args.tile])
    args.model_run = _numpy_model(args, spec)  # after the output checks: it fetches and caches the weights


def cmd_predict(args) -> int:
    spec = _spec(args)
    if spec.modality == "protein":
        return _predict_protein_fasta(args)
    if args.engine == "ray":
        from seqzoo.distributed import predict_ray

        n = predict_ray(str(spec.directory), args.fasta, args.output, bed=args.bed, tile=args.tile, step=args.step,
                        targets=args.targets, precision=args.precision, batch_size=args.batch_size, rc=args.rc,
                        out_of_bounds=args.out_of_bounds, workers=args.workers, address=args.ray_address,
                        progress=not args.quiet, overwrite=args.force)
        targets = len(spec.select_columns(args.targets))
        print(f"wrote {n} {'windows' if args.tile else 'rows'} x {targets} targets to {args.output}", file=sys.stderr)
        return 0
    from seqzoo.predict_dna import predict_bed, predict_tiles

    model = getattr(args, "model_run", None) or _load(args)  # the NumPy engine's, chosen by check_predict
    common = dict(batch_size=args.batch_size, rc=args.rc, out_of_bounds=args.out_of_bounds, targets=args.targets,
                  progress=not args.quiet, overwrite=args.force)
    if args.tile:
        n = predict_tiles(model, args.fasta, args.tile, args.output, step=args.step, **common)
    else:
        n = predict_bed(model, args.fasta, args.bed, args.output, **common)
    targets = len(model.spec.select_columns(args.targets))
    print(f"wrote {n} {'windows' if args.tile else 'rows'} x {targets} targets to {args.output}", file=sys.stderr)
    return 0


def _numpy_model(args, spec):
    """The NumPy engine's model (``seqzoo.numpy_engine``: no TensorFlow import) when ``predict``
    runs it: with ``--engine numpy`` (an error saying why where it cannot), or with ``local`` for a
    BED of at most ``SMALL_JOB`` intervals where it can. None: Keras runs the model."""
    from seqzoo.numpy_engine import SMALL_JOB, Unsupported, numpy_model

    if args.engine == "numpy" or (args.engine == "local" and args.bed and _at_most(args.bed, SMALL_JOB)):
        try:
            return numpy_model(spec, args.weights, args.precision, device=args.device)
        except Unsupported as e:
            if args.engine == "numpy":
                raise ValueError(f"--engine numpy cannot run {spec.name}: {e}; use --engine keras") from None
            logger.info("%s runs on Keras, not NumPy: %s", spec.name, e)
    return None


def _at_most(bed: str, n: int) -> bool:
    """Whether the BED file ``bed`` (plain or gzip; a pipe counts as large) has at most ``n`` data
    lines. Reads at most ``n + 1`` of them; the BED reader checks every line later."""
    import gzip
    import os
    import stat

    try:
        if not stat.S_ISREG(os.stat(bed).st_mode):
            return False
    except OSError:  # "-" (standard input) and the like: the BED reader says what is wrong
        return False
    with open(bed, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    count = 0
    with (gzip.open(bed, "rb") if gzipped else open(bed, "rb")) as f:
        for line in f:
            if line.strip() and not line.startswith((b"#", b"track", b"browser")):
                count += 1
                if count > n:
                    return False
    return True


def _predict_protein_fasta(args) -> int:
    """``seqzoo predict`` for a protein model (seqzoo.predict_protein), checked by ``check_predict``."""
    from seqzoo.predict_protein import THRESHOLD, predict_fasta, whole_sequence_predictor

    model = _load(args)
    n = predict_fasta(model.predict_on_batch, args.fasta, args.output, max_len=model.spec.input_shape[0],
                      labels=model.columns, batch_size=args.batch_size, progress=not args.quiet,
                      overwrite=args.force, predict_long=whole_sequence_predictor(model),
                      allow_nucleotide_like=args.allow_nucleotide_like)
    print(f"wrote {n} rows to {args.output} (predicted_class: probability >= {THRESHOLD})", file=sys.stderr)
    return 0


def _dna_model(args):
    return _load(args, modality="dna")


def _scores(args) -> list[str]:
    return [s.strip() for s in args.scores.split(",") if s.strip()]


def check_variants(args) -> None:
    """``variants``' checks before TensorFlow: a DNA model, inputs, scores, targets, output."""
    from seqzoo.suggest import did_you_mean
    from seqzoo.variants import SCORES, VARIANT_FORMATS

    spec = _spec(args, modality="dna")
    options.require_inputs(("FASTA (--fasta)", args.fasta), ("VCF (--vcf)", args.vcf))
    for score in _scores(args):
        if score not in SCORES:
            raise ValueError(f"--scores: no score named {score!r}{did_you_mean(score, SCORES)} "
                             f"(scores: {', '.join(SCORES)})")
    spec.select_columns(args.targets)
    _check_outputs(args, [(args.output, VARIANT_FORMATS)], [args.fasta, args.vcf])


def cmd_variants(args) -> int:
    from seqzoo.variants import score_variants

    model = _dna_model(args)
    scores = _scores(args)
    counts = score_variants(model, args.fasta, args.vcf, args.output, batch_size=args.batch_size, rc=args.rc,
                            scores=scores, targets=args.targets, null=args.null, seed=args.seed,
                            command=options.command_line(args.argv), progress=not args.quiet, overwrite=args.force)
    print(f"wrote {counts.alleles} allele rows x {len(model.spec.select_columns(args.targets))} targets "
          f"({', '.join(scores)}) to {args.output}", file=sys.stderr)
    where = "" if counts.scored == counts.alleles else f" (each allele's note in {args.output} says why)"
    print(counts.summary() + where, file=sys.stderr)
    return 0


def check_explain(args) -> None:
    """``explain``'s checks before TensorFlow: a DNA model, the FASTA, the target, the outputs."""
    spec = _spec(args, modality="dna")
    options.require_inputs(("FASTA (--fasta)", args.fasta))
    spec.column_index(args.target)
    _check_outputs(args, [(args.output, FIGURE_FORMATS), (args.arrays, None)], [args.fasta])


def cmd_explain(args) -> int:
    from seqzoo.interpret import explain_region
    from seqzoo.plots import explain_figure

    model = _dna_model(args)
    r = explain_region(model, args.fasta, args.region, args.target, method=args.method, ism=not args.no_ism,
                       strand=args.strand, out_of_bounds=args.out_of_bounds)
    title = (f"{model.name} {r['target']} at {r['chrom']}:{r['start']}-{r['end']} "
             f"(prediction {r['prediction']:.3g}; {args.method.replace('_', ' ')})")
    explain_figure(args.output, r["attribution"], r["ism"], r["start"], title=title,
                   attribution_label=args.method.replace("_", " "))
    if args.arrays:
        np.savez_compressed(args.arrays, attribution=r["attribution"],
                            ism=r["ism"] if r["ism"] is not None else np.zeros((0, 4)),
                            positions=np.arange(r["start"], r["end"]), bases=np.array(list("ACGT")))
    if r["padded"]:
        print(f"the {len(r['attribution'])} bp region's window reaches past the chromosome: {r['padded']} "
              "positions padded with N", file=sys.stderr)
    print(f"{r['target']}: prediction {r['prediction']:.4g}; wrote {args.output}"
          + (f" and {args.arrays}" if args.arrays else ""), file=sys.stderr)
    return 0


def check_learned_motifs(args) -> None:
    """``learned-motifs``' checks before TensorFlow: a DNA model, inputs, outputs."""
    from seqzoo.io.tables import TABLE_FORMATS

    _spec(args, modality="dna")
    options.require_inputs(("FASTA (--fasta)", args.fasta), ("BED (--bed)", args.bed), ("MEME file (--meme)", args.meme))
    _check_outputs(args, [(args.output, TABLE_FORMATS), (args.meme_out, None)], [args.fasta, args.bed, args.meme])


def cmd_learned_motifs(args) -> int:
    from seqzoo.interpret import best_matches, filter_pwms, information_content
    from seqzoo.io.bed import rereadable_bed
    from seqzoo.io.genome import Genome
    from seqzoo.io.meme import read_meme, write_meme
    from seqzoo.windows import check_bed, iter_window_batches
    from seqzoo.io.tables import open_writer

    model = _dna_model(args)
    with Genome(args.fasta) as genome, rereadable_bed(args.bed) as bed:  # read twice: a pipe is copied
        n = check_bed(bed, genome)
        if n > args.max_windows:  # the windows are held in memory (two passes over them)
            raise ValueError(f"{args.bed}: {n} intervals; learned-motifs holds its windows in memory, so give "
                             f"at most --max-windows {args.max_windows} (a sample of regions is enough)")
        batches = list(iter_window_batches(bed, genome, model.spec.input_shape[0], 512))
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
    with open_writer(args.output, columns, overwrite=args.force) as writer:
        writer.write({c: np.array(v, dtype=object if isinstance(v[0], str) else None) for c, v in rows.items()})
    if args.meme_out:
        write_meme(args.meme_out, dict(zip(names, pwms)), {name: int(n) for name, n in zip(names, sites)})
    print(f"{len(pwms)} filters from {len(x)} windows; wrote {args.output}"
          + (f" and {args.meme_out}" if args.meme_out else ""), file=sys.stderr)
    return 0

"""Variant effects: scores equal direct predictions of edited sequences built here by string
editing; every allele keeps a row, in VCF order, with a reason where it cannot be scored."""

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyfaidx
import pysam
import pytest

import seqzoo
from seqzoo.encoding import one_hot_dna
from seqzoo.variants import SCORES, iter_alleles, score_variants, variant_columns
from seqzoo.zoo.spec import find_model

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def example(model):
    """A model's example genome (a real excerpt) and its sequence as one string."""
    fasta = find_model(model.name) / "example" / "genome.fa"
    with pyfaidx.Fasta(str(fasta)) as f:
        name = next(iter(f.keys()))
        return fasta, name, str(f[name][:])


def edited_window(sequence: str, pos: int, ref: str, allele: str, length: int) -> str:
    """The window of ``length`` centred on ``allele`` put in place of ``ref`` at 1-based ``pos``."""
    p = pos - 1
    assert sequence[p:p + len(ref)].upper() == ref.upper()
    edited = sequence[:p] + allele + sequence[p + len(ref):]
    left = (length - len(allele)) // 2
    return edited[p - left:p - left + length]


def write_vcf(path, rows, compress=False):
    text = HEADER + "".join("\t".join(map(str, r)) + ("\t.\t.\t." if len(r) == 5 else "") + "\n" for r in rows)
    if compress:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def seqzoo_process(*args, cwd) -> subprocess.CompletedProcess:
    """``python -m seqzoo ARGS`` as a real process, running the seqzoo under test."""
    root = str(Path(seqzoo.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "seqzoo", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def read(path):
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["nan"], dtype={"id": str})


def test_scores_are_predictions_of_the_edited_sequences(dna_model, tmp_path):
    length = dna_model.spec.input_shape[0]
    fasta, chrom, seq = example(dna_model)
    mid = len(seq) // 2
    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    snv = (chrom, mid, "snv", seq[mid - 1], other[seq[mid - 1].upper()])
    multi = (chrom, mid + 40, "multi", seq[mid + 39], ",".join(b for b in "ACGT" if b != seq[mid + 39].upper()))
    deletion = (chrom, mid + 100, "del", seq[mid + 99:mid + 106], seq[mid + 99])
    insertion = (chrom, mid - 70, "ins", seq[mid - 71], seq[mid - 71] + "GATTACA")
    vcf = write_vcf(tmp_path / "v.vcf", [snv, multi, deletion, insertion])
    counts = score_variants(dna_model, fasta, vcf, tmp_path / "out.tsv", progress=False, batch_size=3)
    out = read(tmp_path / "out.tsv")
    assert counts.alleles == counts.scored == len(out) == 6  # the multi-allelic record gives three rows
    assert counts.summary() == "scored 6 of 6 alleles"
    assert list(out["id"]) == ["snv", "multi", "multi", "multi", "del", "ins"]
    assert list(out["line"]) == [3, 4, 4, 4, 5, 6]
    assert (out["note"] == "").all()

    alleles = [(r[1], r[3], alt) for r in (snv, multi, deletion, insertion) for alt in r[4].split(",")]
    ref_x = one_hot_dna("".join(edited_window(seq, p, ref, ref, length) for p, ref, _ in alleles)).reshape(-1, length, 4)
    alt_x = one_hot_dna("".join(edited_window(seq, p, ref, alt, length) for p, ref, alt in alleles)).reshape(-1, length, 4)
    ref_p, alt_p = dna_model.predict_on_batch(ref_x), dna_model.predict_on_batch(alt_x)
    labels = dna_model.columns
    got = {s: out[[f"{s}:{label}" for label in labels]].to_numpy() for s in SCORES}
    np.testing.assert_allclose(got["ref"], ref_p, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got["alt"], alt_p, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got["diff"], alt_p - ref_p, rtol=1e-3, atol=1e-6)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    # a float32 probability within 1e-5 of 1 leaves 1 - p with few digits: its logit, computed here
    # from the probability, is no reference there (seen on DanQ_Athaliana265)
    conditioned = (np.minimum(ref_p, 1 - ref_p) > 1e-5) & (np.minimum(alt_p, 1 - alt_p) > 1e-5)
    np.testing.assert_allclose(got["logit_diff"][conditioned], (logit(alt_p) - logit(ref_p))[conditioned],
                               rtol=1e-3, atol=1e-4)


def test_reverse_complement_average(tmp_path):
    model = seqzoo.get_model("Basset_Athaliana265", device="cpu")
    length = model.spec.input_shape[0]
    fasta, chrom, seq = example(model)
    pos = 5000
    alt = "A" if seq[pos - 1].upper() != "A" else "G"
    vcf = write_vcf(tmp_path / "v.vcf", [(chrom, pos, "x", seq[pos - 1], alt)])
    score_variants(model, fasta, vcf, tmp_path / "out.tsv", rc=True, scores=["alt"], progress=False)
    out = read(tmp_path / "out.tsv")
    assert list(out.columns) == variant_columns(model.columns, ["alt"])
    x = one_hot_dna(edited_window(seq, pos, seq[pos - 1], alt, length))[None]
    expected = (model.predict_on_batch(x) + model.predict_on_batch(x[:, ::-1, ::-1].copy())) / 2
    np.testing.assert_allclose(out[[f"alt:{c}" for c in model.columns]].to_numpy(), expected, rtol=1e-4, atol=1e-6)


def test_every_problem_keeps_its_row_with_a_reason(tmp_path):
    model = seqzoo.get_model("DeepSEA_Athaliana265", device="cpu")
    fasta, chrom, seq = example(model)
    good = (chrom, 15000, "good", seq[14999], "A" if seq[14999].upper() != "A" else "C")
    wrong_ref = "G" if seq[9999].upper() != "G" else "T"
    lines = [
        good,
        (chrom, 10000, "refmismatch", wrong_ref, "A"),
        ("chrUn", 12000, "nochrom", "A", "C"),               # not in the FASTA under any name
        (chrom, 20, "edge", seq[19], "A"),                   # window would start before 0
        (chrom, 16000, "symbolic", seq[15999], "<DEL>"),
        (chrom, 16100, "star", seq[16099], "*"),
        (chrom, 16200, "nonDNA", seq[16199], "Z"),
        (chrom, 16300, "noalt", seq[16299], "."),
        (chrom, "abc", "badpos", "A", "G"),
        (chrom, 16400, "short"),
        good,
    ]
    text = HEADER + "".join("\t".join(map(str, r)) + ("\t.\t.\t." if len(r) == 5 else "") + "\n" for r in lines)
    vcf = tmp_path / "bad.vcf"
    vcf.write_text(text)
    counts = score_variants(model, fasta, vcf, tmp_path / "out.tsv", progress=False)
    out = read(tmp_path / "out.tsv")
    assert counts.alleles == len(lines) == len(out)
    assert list(out["line"]) == list(range(3, 3 + len(lines)))
    notes = dict(zip(out["id"], out["note"]))
    assert notes["good"] == ""
    assert "does not match the FASTA" in notes["refmismatch"] and f"line 4" in notes["refmismatch"]
    assert "chromosome 'chrUn' is not in" in notes["nochrom"] and "'chr1'" in notes["nochrom"]
    assert "too close to" in notes["edge"]
    for name in ("symbolic", "star"):
        assert "symbolic or missing allele" in notes[name], notes[name]
    assert "no ALT allele" in notes["noalt"]
    assert "not DNA" in notes["nonDNA"]
    assert "line 11" in notes["badpos"] and "POS 'abc'" in notes["badpos"]
    assert "line 12" in notes["short"] and "8 tab-separated columns" in notes["short"]
    scored = out["note"] == ""
    values = out[[c for c in out.columns if c.startswith("diff:")]].to_numpy()
    assert np.isfinite(values[scored]).all() and np.isnan(values[~scored]).all()
    # the record after the malformed ones is scored like the first (to float32 rounding: the two
    # sit at other places in their batches, and the CPU kernels may sum in another order). The
    # values are differences of probabilities, so their rounding error is absolute, ~1e-7 of a
    # probability (seen: 3e-8 on an AVX2 CPU), not relative to a small difference.
    np.testing.assert_allclose(values[0], values[-1], rtol=1e-5, atol=1e-6)
    assert counts.scored == 2 and counts.not_scored == {
        "REF does not match the FASTA": 1, "chromosome not in the FASTA": 1, "window past a chromosome end": 1,
        "symbolic or missing allele": 2, "allele that is not DNA": 1, "no ALT allele": 1, "malformed record": 2}
    assert counts.summary() == (
        "scored 2 of 11 alleles; 9 not scored: 2 malformed records, 2 symbolic or missing alleles, "
        "1 REF does not match the FASTA, 1 allele that is not DNA, 1 chromosome not in the FASTA, "
        "1 no ALT allele, 1 window past a chromosome end")


def test_gzipped_vcf_and_output_formats_agree(tmp_path):
    model = seqzoo.get_model("DeepSEA_Athaliana265", device="cpu")
    fasta, chrom, seq = example(model)
    rows = [(chrom, p, f"v{p}", seq[p - 1], "T" if seq[p - 1].upper() != "T" else "G") for p in (3000, 13000, 21000)]
    plain = write_vcf(tmp_path / "v.vcf", rows)
    packed = write_vcf(tmp_path / "v.vcf.gz", rows, compress=True)  # plain gzip, as many tools write
    bgzipped = tmp_path / "v.bgz.vcf.gz"
    pysam.tabix_compress(str(plain), str(bgzipped))
    score_variants(model, fasta, plain, tmp_path / "a.tsv", progress=False)
    score_variants(model, fasta, packed, tmp_path / "b.parquet", progress=False)
    score_variants(model, fasta, bgzipped, tmp_path / "c.tsv", progress=False)
    a, b = read(tmp_path / "a.tsv"), read(tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(a, read(tmp_path / "c.tsv"))
    assert list(a.columns) == list(b.columns)
    numeric = [c for c in a.columns if ":" in c]
    np.testing.assert_allclose(a[numeric].to_numpy(), b[numeric].to_numpy(), rtol=1e-5)  # TSV keeps 6 digits
    assert list(a["id"]) == list(b["id"])


def test_unreadable_inputs_leave_no_output(tmp_path):
    model = seqzoo.get_model("DeepSEA_Athaliana265", device="cpu")
    fasta, _, _ = example(model)
    not_vcf = tmp_path / "x.vcf"
    not_vcf.write_text("chr1\t10\t20\n")
    with pytest.raises(ValueError, match="not a readable VCF"):
        score_variants(model, fasta, not_vcf, tmp_path / "out.tsv", progress=False)
    with pytest.raises(FileNotFoundError):
        score_variants(model, fasta, tmp_path / "missing.vcf", tmp_path / "out.tsv", progress=False)
    with pytest.raises(ValueError, match="scores must be among"):
        score_variants(model, fasta, not_vcf, tmp_path / "out.tsv", scores=["delta"], progress=False)
    assert not list(tmp_path.glob("out.tsv*"))


def test_protein_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a DNA model"):
        score_variants(seqzoo.get_model("DeepSol", device="cpu"), "x.fa", "x.vcf", tmp_path / "o.tsv")


def test_a_chromosome_the_fasta_names_with_chr_is_refused_naming_both_spellings(tmp_path):
    model = seqzoo.get_model("Basset_Athaliana265", device="cpu")
    fasta, chrom, seq = example(model)
    assert chrom == "chr1"
    snv = lambda c, p: (c, p, f"v{p}", seq[p - 1], "A" if seq[p - 1].upper() != "A" else "C")  # noqa: E731
    ensembl = write_vcf(tmp_path / "ensembl.vcf", [snv("1", 5000), snv("1", 6000)])
    result = seqzoo_process("variants", model.name, "--fasta", fasta, "--vcf", ensembl, "-o", tmp_path / "out.tsv",
                            "--quiet", cwd=tmp_path)
    assert result.returncode != 0
    assert (f"ensembl.vcf, line 3: chromosome '1' is not in {fasta}; the FASTA has 'chr1' — the VCF and FASTA "
            "use different naming") in result.stderr, result.stderr[-2000:]
    assert "BED" not in result.stderr
    # one such record among good ones refuses the run too (as `predict` refuses a BED), with --null as well
    mixed = write_vcf(tmp_path / "mixed.vcf", [snv("chr1", 5000), snv("1", 6000), snv("chr1", 7000)])
    for null in (0, 5):
        with pytest.raises(ValueError, match=r"mixed\.vcf, line 4: chromosome '1' .* the FASTA has 'chr1'"):
            score_variants(model, fasta, mixed, tmp_path / "out.tsv", null=null, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ensembl.vcf", "mixed.vcf"]  # no output left


def test_variants_command_ends_with_how_many_alleles_were_scored_and_why_not(tmp_path):
    model = seqzoo.get_model("Basset_Athaliana265", device="cpu")
    fasta, chrom, seq = example(model)
    good = (chrom, 5000, "good", seq[4999], "A" if seq[4999].upper() != "A" else "C")
    wrong = "G" if seq[5999].upper() != "G" else "T"
    vcf = write_vcf(tmp_path / "v.vcf", [good, (chrom, 6000, "badref", wrong, "A"), (chrom, "x", "badpos", "A", "C"),
                                         (chrom, 7000, "sym", seq[6999], f"{good[4]},<DEL>")])
    out = tmp_path / "out.tsv"
    result = seqzoo_process("variants", model.name, "--fasta", fasta, "--vcf", vcf, "-o", out, "--quiet",
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.splitlines()[-1] == (
        "scored 2 of 5 alleles; 3 not scored: 1 REF does not match the FASTA, 1 malformed record, "
        f"1 symbolic or missing allele (each allele's note in {out} says why)")
    assert len(read(out)) == 5


def test_a_vcf_given_as_a_pipe_is_refused_saying_why(tmp_path):
    """A VCF is read more than once (htslib, the line check, the annotated copy): `--vcf <(...)` is
    refused with the reason, not told the file is missing, and nothing is written."""
    fasta = find_model("Basset_Athaliana265") / "example" / "genome.fa"
    vcf = write_vcf(tmp_path / "v.vcf", [("chr1", 5000, "v", "A", "C")])
    result = subprocess.run(["bash", "-c", f"{sys.executable} -m seqzoo variants Basset_Athaliana265 --fasta {fasta} "
                             f"--vcf <(cat {vcf}) -o {tmp_path / 'out.tsv'} --quiet"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert re.search(r"error: /dev/fd/\d+: a VCF given as a pipe, a device or a folder cannot be read: seqzoo "
                     r"reads the VCF more than once", result.stderr), result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.vcf"]


def test_a_comment_line_in_the_body_is_noted_and_the_next_record_scored(tmp_path):
    model = seqzoo.get_model("Basset_Athaliana265", device="cpu")
    fasta, chrom, seq = example(model)
    snv = lambda p: "\t".join([chrom, str(p), f"v{p}", seq[p - 1], "A" if seq[p - 1].upper() != "A" else "C",  # noqa: E731
                               ".", ".", "."]) + "\n"
    vcf = tmp_path / "v.vcf"
    vcf.write_text(HEADER + snv(5000) + "# a comment someone added\n" + snv(6000) + "#\n" + snv(7000))
    counts = score_variants(model, fasta, vcf, tmp_path / "out.tsv", progress=False)
    out = read(tmp_path / "out.tsv")
    assert list(out["id"]) == ["v5000", ".", "v6000", ".", "v7000"]
    assert list(out["line"]) == [3, 4, 5, 6, 7]
    assert list(out["note"] == "") == [True, False, True, False, True]  # every record scored
    for line in (4, 6):
        note = out.loc[out["line"] == line, "note"].item()
        assert note.startswith(f"{vcf}, line {line}: malformed record: a '#' line after the '#CHROM' header line")
    assert counts.summary() == "scored 3 of 5 alleles; 2 not scored: 2 malformed records"
    # an annotated VCF copies every line, so it refuses the stray line, naming it
    with pytest.raises(ValueError, match=r"v\.vcf, line 4: malformed record: a '#' line"):
        score_variants(model, fasta, vcf, tmp_path / "out.vcf.gz", progress=False)


@pytest.mark.parametrize("pos, problem", [
    ("99999999999999999999", "POS 99999999999999999999 is larger than the largest position the VCF parser"),
    ("4611686018427387904", "POS 4611686018427387904 is larger than the largest position"),  # 2^62
    ("3²", "POS '3²' is not a positive integer"),
    ("١٢", "POS '١٢' is not a positive integer"),  # Arabic-Indic digits: int() reads 12
    ("-5", "POS '-5' is not a positive integer"),
    ("12.5", "POS '12.5' is not a positive integer"),
])
def test_a_position_that_is_no_integer_or_out_of_range_is_noted_on_its_line(tmp_path, pos, problem):
    model = seqzoo.get_model("Basset_Athaliana265", device="cpu")
    fasta, chrom, seq = example(model)
    good = (chrom, 5000, "good", seq[4999], "A" if seq[4999].upper() != "A" else "C")
    vcf = write_vcf(tmp_path / "v.vcf", [(chrom, pos, "bad", "A", "C"), good])
    counts = score_variants(model, fasta, vcf, tmp_path / "out.tsv", progress=False)
    out = read(tmp_path / "out.tsv")
    assert list(out["id"]) == ["bad", "good"] and list(out["pos"]) == [0, 5000]
    assert out["note"][0].startswith(f"{vcf}, line 3: malformed record: {problem}")
    assert out["note"][1] == ""
    assert (counts.scored, counts.not_scored) == (1, {"malformed record": 1})


def test_records_htslib_reads_but_that_cannot_be_scored_are_noted(tmp_path):
    """POS 0, an empty REF or ALT column (htslib reads '.'), a lone carriage return inside a
    line (htslib splits lines at \\n only), CRLF line ends and lower-case alleles."""
    model = seqzoo.get_model("Basset_Athaliana265", device="cpu")
    fasta, chrom, seq = example(model)
    b = lambda p: seq[p - 1]  # noqa: E731
    other = lambda p: "A" if b(p).upper() != "A" else "C"  # noqa: E731
    rows = [
        f"{chrom}\t0\tzero\tN\tA\t.\t.\t.",
        f"{chrom}\t5000\tnoalt\t{b(5000)}\t\t.\t.\t.",
        f"{chrom}\t5100\tnoref\t\tA\t.\t.\t.",
        f"{chrom}\t5200\tcr\t{b(5200)}\t{other(5200)}\t.\t.\tNOTE=a\rb",
        f"{chrom}\t5300\tlower\t{b(5300).lower()}\t{other(5300).lower()}\t.\t.\t.",
        f"{chrom}\t5400\tdeletion\t<DEL>\tA\t.\t.\t.",
    ]
    vcf = tmp_path / "v.vcf"
    vcf.write_bytes((HEADER + "\n".join(rows) + "\n").replace("\n", "\r\n").encode())
    counts = score_variants(model, fasta, vcf, tmp_path / "out.tsv", progress=False)
    out = read(tmp_path / "out.tsv")
    notes = dict(zip(out["id"], out["note"]))
    assert list(out["line"]) == [3, 4, 5, 6, 7, 8]
    assert notes["zero"] == f"{vcf}, line 3: POS 0 is not a 1-based position"
    assert notes["noalt"].endswith("line 4: malformed record: the ALT column is empty ('.' stands for a missing value)")
    assert notes["noref"].endswith("line 5: malformed record: the REF column is empty ('.' stands for a missing value)")
    assert notes["cr"] == notes["lower"] == ""
    assert "symbolic or missing allele" in notes["deletion"]
    assert counts.summary() == ("scored 2 of 6 alleles; 4 not scored: 2 malformed records, 1 POS not 1-based, "
                                "1 symbolic or missing allele")


@pytest.mark.parametrize("text, problem", [
    ("chr1\t100\ta\tA\tC\t.\t.\t.\n", "line 1: a record before the '#CHROM' header line"),
    ("##fileformat=VCFv4.2\n# made by hand\n" + HEADER.split("\n")[1] + "\n",
     "line 2: a line starting with a single '#' ('# made by hand') before the '#CHROM' header line"),
    ("##fileformat=VCFv4.2\n", "no '#CHROM' header line"),
])
def test_a_vcf_without_a_readable_header_is_refused_naming_the_line(tmp_path, text, problem):
    vcf = tmp_path / "v.vcf"
    vcf.write_text(text)
    with pytest.raises(ValueError, match="^" + re.escape(f"{vcf}: not a readable VCF file: {problem}")):
        list(iter_alleles(vcf))

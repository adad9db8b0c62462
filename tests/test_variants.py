"""Variant effects: scores equal direct predictions of edited sequences built here by string
editing; every allele keeps a row, in VCF order, with a reason where it cannot be scored."""

import gzip

import numpy as np
import pandas as pd
import pyfaidx
import pysam
import pytest

import seqzoo
from seqzoo.encoding import one_hot_dna
from seqzoo.variants import SCORES, score_variants, variant_columns
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
    np.testing.assert_allclose(got["logit_diff"], logit(alt_p) - logit(ref_p), rtol=1e-3, atol=1e-4)


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

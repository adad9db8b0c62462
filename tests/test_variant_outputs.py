"""Annotated VCF output and effects against a null, read back with pysam (htslib): records kept
in order and byte for byte, INFO values equal to the table output's, the index answering region
queries; null p-values and z-scores recomputed here from the null SNVs' own predictions."""

import warnings

import numpy as np
import pandas as pd
import pysam
import pytest

import seqzoo
from seqzoo.cli import main
from seqzoo.encoding import one_hot_dna
from seqzoo.io.genome import Genome
from seqzoo.variants import _anchors, draw_null, gc_band, score_variants
from test_variants import edited_window, example

MODEL = "Basset_Athaliana265"  # the smaller trained model: 600 bp windows
OTHER = {"A": "C", "C": "G", "G": "T", "T": "A"}
HEADER = ("##fileformat=VCFv4.2\n"
          "##contig=<ID=chr1,length=30427671>\n"
          '##INFO=<ID=DP,Number=1,Type=Integer,Description="depth">\n'
          '##INFO=<ID=XX,Number=0,Type=Flag,Description="a flag">\n'
          '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n")


@pytest.fixture(scope="module")
def model():
    return seqzoo.get_model(MODEL, device="cpu")


@pytest.fixture(scope="module")
def case(model, tmp_path_factory):
    """A VCF of the example genome: SNVs, a multi-allelic record, an indel, a REF mismatch and a
    symbolic ALT beside a scorable one, with INFO, QUAL, FILTER and a sample column."""
    fasta, chrom, seq = example(model)
    b = lambda p: seq[p - 1]  # noqa: E731  (the FASTA's base at 1-based p)
    records = [
        (chrom, 4000, "snv1", b(4000), OTHER[b(4000).upper()], "50", "PASS", "DP=10;XX", "GT", "0/1"),
        (chrom, 9000, "multi", b(9000), ",".join(x for x in "ACGT" if x != b(9000).upper()), ".", ".", ".", "GT", "1/2"),
        (chrom, 11000, "del", seq[10999:11004], b(11000), "12.5", "q10", "DP=3", "GT", "0/1"),
        (chrom, 12000, "badref", "N" if b(12000).upper() != "N" else "A", "A", ".", ".", "DP=7", "GT", "./."),
        (chrom, 15000, "sym", b(15000), f"{OTHER[b(15000).upper()]},<DEL>", ".", ".", ".", "GT", "0/2"),
        (chrom, 20000, "snv2", b(20000), OTHER[b(20000).upper()], ".", ".", "XX", "GT", "1/1"),
    ]
    folder = tmp_path_factory.mktemp("vcf")
    vcf = folder / "in.vcf"
    vcf.write_text(HEADER + "".join("\t".join(map(str, r)) + "\n" for r in records))
    return fasta, vcf, folder


def _data_lines(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


def test_annotated_vcf_keeps_every_record_and_adds_the_table_scores(model, case):
    fasta, vcf, folder = case
    out, table = folder / "out.vcf.gz", folder / "out.tsv"
    options = dict(targets="ABF2*,WRKY33*", scores=["diff", "logit_diff"], progress=False, batch_size=3)
    score_variants(model, fasta, vcf, out, **options)  # batch 3: a record's alleles span two batches
    score_variants(model, fasta, vcf, table, **options)
    rows = pd.read_csv(table, sep="\t", keep_default_na=False, na_values=["nan"])

    with pysam.VariantFile(str(out)) as reader:
        header = str(reader.header)
        records = list(reader)
    # the records, in order, every original column unchanged; INFO keeps its original part first
    original = _data_lines(vcf.read_text())
    written = _data_lines(pysam.BGZFile(str(out)).read().decode())
    assert len(written) == len(original) == len(records)
    for before, after in zip(original, written):
        assert after[:7] + after[8:] == before[:7] + before[8:]
        assert after[7] == before[7] or after[7].startswith("" if before[7] == "." else before[7] + ";")

    labels = [c.removeprefix("diff:") for c in rows.columns if c.startswith("diff:")]
    assert labels == ["ABF2", "WRKY33"]
    for score in ("diff", "logit_diff"):
        for label in labels:
            key = f"{MODEL}_{score}_{label}"
            assert f"##INFO=<ID={key},Number=A,Type=Float" in header
            assert f"{MODEL} {model.spec.version}, target {label}" in header
            for record in records:
                expected = rows.loc[rows["id"] == record.id, f"{score}:{label}"].to_numpy()
                got = np.array([np.nan if v is None else v for v in record.info.get(key, (None,) * len(expected))],
                               dtype=float)
                assert len(got) == len(record.alts)  # Number=A: one value per ALT allele
                np.testing.assert_allclose(got, expected, rtol=1e-5, equal_nan=True)
    assert "##seqzoo_variantsCommand" not in header  # only the command line records one
    by_id = {r.id: r for r in records}
    note = f"{MODEL}_note"
    assert "does not match the FASTA" in by_id["badref"].info[note][0]
    assert f"{MODEL}_diff_ABF2" not in by_id["badref"].info
    assert by_id["badref"].info["DP"] == 7
    assert by_id["sym"].info[note][0] == "." and "symbolic" in by_id["sym"].info[note][1]
    assert note not in by_id["snv1"].info and by_id["snv1"].info["XX"] is True
    assert by_id["del"].qual == 12.5 and list(by_id["del"].filter) == ["q10"]
    assert by_id["multi"].samples["s1"]["GT"] == (1, 2)

    # the tabix index answers a region query
    with pysam.VariantFile(str(out)) as reader:
        assert [r.id for r in reader.fetch("chr1", 8000, 12500)] == ["multi", "del", "badref"]


def test_plain_and_unsorted_vcf_outputs(model, case, tmp_path):
    fasta, vcf, _ = case
    score_variants(model, fasta, vcf, tmp_path / "out.vcf", targets="ABF2", scores=["diff"], progress=False)
    assert not (tmp_path / "out.vcf.tbi").exists()
    assert len(list(pysam.VariantFile(str(tmp_path / "out.vcf")))) == 6

    lines = vcf.read_text().splitlines(keepends=True)
    head = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if not line.startswith("#")]
    unsorted = tmp_path / "unsorted.vcf"
    unsorted.write_text("".join(head + body[::-1]))
    with pytest.warns(UserWarning, match="not indexed: the input's records are not sorted"):
        score_variants(model, fasta, unsorted, tmp_path / "u.vcf.gz", targets="ABF2", scores=["diff"], progress=False)
    assert not (tmp_path / "u.vcf.gz.tbi").exists()
    assert [r.id for r in pysam.VariantFile(str(tmp_path / "u.vcf.gz"))] == ["snv2", "sym", "badref", "del", "multi", "snv1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.vcf", "u.vcf.gz", "unsorted.vcf"]


def test_vcf_output_refuses_malformed_records_and_existing_keys(model, case, tmp_path):
    fasta, vcf, _ = case
    broken = tmp_path / "broken.vcf"
    broken.write_text(vcf.read_text() + "chr1\tabc\t.\tA\tG\t.\t.\t.\tGT\t0/1\n")
    with pytest.raises(ValueError, match=r"line 13: malformed record.*must be a valid VCF"):
        score_variants(model, fasta, broken, tmp_path / "o.vcf.gz", targets="ABF2", progress=False)
    annotated = tmp_path / "a.vcf"
    score_variants(model, fasta, vcf, annotated, targets="ABF2", scores=["diff"], progress=False)
    with pytest.raises(ValueError, match=f"already has an INFO field {MODEL}_diff_ABF2"):
        score_variants(model, fasta, annotated, tmp_path / "o.vcf.gz", targets="ABF2", scores=["diff"], progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.vcf", "broken.vcf"]  # nothing partial left


def test_null_snvs_are_near_in_band_and_seeded(model, case):
    fasta, vcf, _ = case
    seq_len = model.spec.input_shape[0]
    with Genome(fasta) as genome:
        anchors = _anchors(genome, vcf, seq_len)
        assert [a[1] for a in anchors] == [4000, 9000, 9000, 9000, 11000, 15000, 20000]
        null = draw_null(genome, anchors, 40, seq_len, seed=1)
        assert len(null) == 40
        assert [(s.pos, s.alt) for s in draw_null(genome, anchors, 40, seq_len, seed=1)] == [(s.pos, s.alt) for s in null]
        assert [(s.pos, s.alt) for s in draw_null(genome, anchors, 40, seq_len, seed=2)] != [(s.pos, s.alt) for s in null]
    _, _, seq = example(model)
    band = lambda pos, ref: gc_band(np.frombuffer(edited_window(seq, pos, ref, ref, seq_len).encode(), np.uint8))  # noqa: E731
    assert [a[2] for a in anchors] == [band(a[1], r) for a, r in zip(anchors, [seq[3999]] + [seq[8999]] * 3 + [seq[10999:11004], seq[14999], seq[19999]])]
    for snv in null:
        assert snv.chrom == "chr1" and snv.ref != snv.alt and len(snv.alt) == 1
        assert seq[snv.pos - 1].upper() == snv.ref
        near = [a for a in anchors if 0 < abs(snv.pos - a[1]) <= 10_000]
        assert band(snv.pos, snv.ref) in {a[2] for a in near}  # near an anchor of its GC band


def test_null_pvalues_and_zscores(model, case, tmp_path):
    fasta, vcf, _ = case
    seq_len = model.spec.input_shape[0]
    score_variants(model, fasta, vcf, tmp_path / "out.tsv", targets="ABF2,WRKY33", scores=["diff"], null=60,
                   seed=3, progress=False)
    out = pd.read_csv(tmp_path / "out.tsv", sep="\t", keep_default_na=False, na_values=["nan", ""])

    # the same null, drawn again and scored here from edited sequences
    _, chrom, seq = example(model)
    columns = model.spec.select_columns("ABF2,WRKY33")
    with Genome(fasta) as genome:
        null = draw_null(genome, _anchors(genome, vcf, seq_len), 60, seq_len, seed=3)
    windows = [(edited_window(seq, s.pos, s.ref, s.ref, seq_len), edited_window(seq, s.pos, s.ref, s.alt, seq_len))
               for s in null]
    ref = model.predict_on_batch(np.stack([one_hot_dna(r) for r, _ in windows]))[:, columns]
    alt = model.predict_on_batch(np.stack([one_hot_dna(a) for _, a in windows]))[:, columns]
    null_diff = alt - ref
    null_band = np.array([gc_band(np.frombuffer(r.encode(), np.uint8)) for r, _ in windows])

    scored = out["note"].isna()  # an empty note: scored
    assert out.loc[~scored, ["null_n", "pvalue:ABF2", "z:WRKY33"]].isna().all().all()
    for _, row in out[scored].iterrows():
        window = edited_window(seq, row["pos"], row["ref"], row["ref"], seq_len)
        in_band = null_diff[null_band == gc_band(np.frombuffer(window.encode(), np.uint8))]
        assert row["null_n"] == len(in_band) > 1
        for j, label in enumerate(["ABF2", "WRKY33"]):
            d = row[f"diff:{label}"]
            # (1 + #{|null| >= |d|}) / (m + 1), bracketed for float32 rounding of ties: the run
            # computed these predictions in other batches (the TSV keeps 6 digits)
            m, magnitudes = len(in_band), np.abs(in_band[:, j])
            low = (1 + np.sum(magnitudes >= abs(d) * (1 + 1e-5) + 1e-7)) / (m + 1)
            high = (1 + np.sum(magnitudes >= abs(d) * (1 - 1e-5) - 1e-7)) / (m + 1)
            assert low - 1e-6 <= row[f"pvalue:{label}"] <= high + 1e-6
            z = (d - in_band[:, j].mean()) / in_band[:, j].std(ddof=1)
            assert row[f"z:{label}"] == pytest.approx(z, rel=1e-3, abs=1e-3)


def test_variants_command_writes_an_indexed_vcf_with_the_null(case, tmp_path, capsys):
    fasta, vcf, _ = case
    out = tmp_path / "cli.vcf.gz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every null draw succeeds here
        assert main(["variants", MODEL, "--fasta", str(fasta), "--vcf", str(vcf), "-o", str(out),
                     "--targets", "ABF2", "--scores", "diff", "--null", "30", "--seed", "5", "--quiet"]) == 0
    with pysam.VariantFile(str(out)) as reader:
        assert f"##seqzoo_variantsCommand=seqzoo variants {MODEL}" in str(reader.header)
        first = next(reader.fetch("chr1", 3990, 4010))
        assert first.id == "snv1"
        assert 0 < first.info[f"{MODEL}_pvalue_ABF2"][0] <= 1 and first.info[f"{MODEL}_null_n"][0] > 1
    assert "wrote 9 allele rows" in capsys.readouterr().err

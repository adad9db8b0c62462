"""The zoo's dataloaders on real FASTA and BED files: windows, strands, padding, bad input."""

import numpy as np
import pytest

pytest.importorskip("kipoi")  # the dataloaders are kipoi Datasets
pytestmark = pytest.mark.kipoi

from seqzoo.dataloaders import DNAIntervalDataset, ProteinDataset  # noqa: E402
from seqzoo.encoding import one_hot_dna, reverse_complement_one_hot  # noqa: E402

CHROM = "ACGTTGCAAC" * 10  # 100 bp


@pytest.fixture
def genome(tmp_path):
    path = tmp_path / "genome.fa"
    path.write_text(">chr1\n" + "\n".join(CHROM[i:i + 50] for i in range(0, 100, 50)) + "\n")
    return path


def bed(tmp_path, text):
    path = tmp_path / "regions.bed"
    path.write_text(text)
    return path


def test_window_is_centred_and_minus_strand_is_reverse_complemented(tmp_path, genome):
    regions = bed(tmp_path, "chr1\t40\t50\tfwd\t0\t+\nchr1\t40\t50\trev\t0\t-\n")
    data = DNAIntervalDataset(regions, genome, seq_len=20)
    forward, reverse = data[0], data[1]
    np.testing.assert_array_equal(forward["inputs"], one_hot_dna(CHROM[35:55]))
    np.testing.assert_array_equal(reverse["inputs"], reverse_complement_one_hot(one_hot_dna(CHROM[35:55])))
    assert forward["metadata"]["padded"] == 0
    ranges = reverse["metadata"]["ranges"]
    assert (ranges.chr, ranges.start, ranges.end, ranges.id, ranges.strand) == ("chr1", 40, 50, "rev", "-")


def test_window_past_the_chromosome_end_is_padded_with_n_and_flagged(tmp_path, genome):
    regions = bed(tmp_path, "chr1\t0\t4\tstart\nchr1\t96\t100\tend\n")
    data = DNAIntervalDataset(regions, genome, seq_len=10)
    start, end = data[0], data[1]
    assert start["metadata"]["padded"] == 3 and end["metadata"]["padded"] == 3
    np.testing.assert_array_equal(start["inputs"][:3], np.full((3, 4), 0.25, "float32"))
    np.testing.assert_array_equal(start["inputs"][3:], one_hot_dna(CHROM[:7]))


def test_refuse_keeps_that_row_with_no_input_and_the_note(tmp_path, genome):
    regions = bed(tmp_path, "chr1\t40\t50\nchr1\t96\t100\n")
    data = DNAIntervalDataset(regions, genome, seq_len=10, out_of_bounds="refuse")
    np.testing.assert_array_equal(data[0]["inputs"], one_hot_dna(CHROM[40:50]))
    assert data[0]["metadata"]["note"] == ""
    assert np.isnan(data[1]["inputs"]).all() and data[1]["inputs"].shape == (10, 4)
    assert data[1]["metadata"]["note"].startswith("the window chr1:93-103 reaches past the chromosome (3 positions)")
    assert data.load_all(batch_size=2)["inputs"].shape == (2, 10, 4)  # the run goes on


def test_a_window_with_a_character_that_is_not_dna_has_no_input_and_a_note(tmp_path):
    fasta = tmp_path / "x.fa"
    fasta.write_text(">chr1\n" + CHROM[:60] + "X" + CHROM[61:] + "\n")
    data = DNAIntervalDataset(bed(tmp_path, "chr1\t0\t10\nchr1\t55\t65\n"), fasta, seq_len=10)
    assert data[0]["metadata"]["padded"] == 0
    assert np.isnan(data[1]["inputs"]).all()
    assert data[1]["metadata"]["note"] == "the window chr1:55-65 holds characters that are not DNA bases or IUPAC codes"


def test_missing_chromosome_names_both_spellings_and_the_line(tmp_path, genome):
    regions = bed(tmp_path, "chr1\t40\t50\n1\t40\t50\n")
    with pytest.raises(ValueError, match=r"regions.bed, line 2: chromosome '1' is not in .*genome.fa; the FASTA has 'chr1'"):
        DNAIntervalDataset(regions, genome, seq_len=10)


def test_batches_have_the_schema_shape(tmp_path, genome):
    regions = bed(tmp_path, "".join(f"chr1\t{i}\t{i + 10}\n" for i in range(0, 90, 10)))
    data = DNAIntervalDataset(regions, genome, seq_len=24)
    batch = data.load_all(batch_size=4)
    assert batch["inputs"].shape == (9, 24, 4)
    assert list(batch["metadata"]["ranges"]["start"]) == list(range(0, 90, 10))


def test_protein_records_that_cannot_be_predicted_keep_their_row(tmp_path):
    fasta = tmp_path / "proteins.fa"
    fasta.write_text(">ok\nMKV\n>lower\nmkv*\n>empty\n>odd\nMKXV\n>long\n" + "A" * 11 + "\n")
    data = ProteinDataset(fasta, max_len=10)
    rows = [data[i]["metadata"] for i in range(len(data))]
    assert [r["id"] for r in rows] == ["ok", "lower", "empty", "odd", "long"]
    assert [r["valid"] for r in rows] == [1, 1, 0, 0, 0]
    assert rows[2]["reason"] == "empty sequence"
    assert "non-standard residue 'X' at position 3" in rows[3]["reason"]
    assert "exceeds" in rows[4]["reason"]
    np.testing.assert_array_equal(data[0]["inputs"], data[1]["inputs"])  # case and trailing '*'
    assert (data[3]["inputs"] == -1).all()  # marked as no sequence, not an all-padding protein


def test_protein_duplicate_ids_and_non_fasta_are_errors(tmp_path):
    dup = tmp_path / "dup.fa"
    dup.write_text(">a\nMKV\n>a\nMKV\n")
    with pytest.raises(ValueError, match="duplicate id 'a'"):
        ProteinDataset(dup)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n>a\nMKV\n")
    with pytest.raises(ValueError, match=r"notes.txt, line 1"):
        ProteinDataset(text)


def test_kipoi_pipeline_gives_no_value_where_seqzoo_predict_gives_none(tmp_path, kipoi_home, monkeypatch):
    """Through the real kipoi: every protein the CLI marks valid = 0 is NaN, the others the CLI's numbers."""
    import kipoi
    import pandas as pd

    from seqzoo.cli import main
    from seqzoo.zoo.spec import find_model

    monkeypatch.setenv("HOME", str(kipoi_home))
    records = {"ok": "MKVLAAGIVGLLLAQSEW", "empty": "", "x": "MKXVLA", "u": "MKUVLA", "stop_only": "*",
               "internal_stop": "MK*VLA", "non_ascii": "MKVéLA", "long": "A" * 1201,
               "lower_stop": "mkvlaagivglllaqsew*"}
    fasta = tmp_path / "proteins.fa"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()), encoding="utf-8")
    out = tmp_path / "cli.tsv"
    assert main(["predict", "DeepSol", "--fasta", str(fasta), "-o", str(out), "--quiet"]) == 0
    cli = pd.read_csv(out, sep="\t", keep_default_na=False, na_values=["nan", ""])
    # the CLI reads the 1,201-residue protein whole (rule "whole sequence"); kipoi's dataloader has
    # the model's fixed input length, so there it stays marked (NaN)
    assert list(cli["valid"]) == [1, 0, 0, 0, 0, 0, 0, 1, 1]
    assert list(cli["rule"].fillna("")) == ["padded", "", "", "", "", "", "", "whole sequence", "padded"]
    model = kipoi.get_model(str(find_model("DeepSol")), source="dir")
    preds = model.pipeline.predict({"fasta_file": str(fasta)}, batch_size=4)
    assert preds.shape == (len(records), 1)
    fits = (cli["valid"] == 1) & (cli["rule"] == "padded")
    np.testing.assert_array_equal(np.isnan(preds[:, 0]), ~fits.to_numpy())
    valid = fits.to_numpy()
    np.testing.assert_allclose(preds[valid, 0], cli.loc[valid, "soluble"].to_numpy(float), atol=1e-6)

"""Streaming protein prediction (seqzoo.predict_protein and `seqzoo predict DeepSol`)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqzoo.cli import main
from seqzoo.encoding import encode_protein
from seqzoo.predict_protein import THRESHOLD, nucleotide_like, output_columns, predict_fasta

MAX_LEN = 40


def fake_predict(tokens: np.ndarray) -> np.ndarray:
    """A deterministic stand-in for a model: the fraction of residues that are A (token 1)."""
    assert tokens.dtype == np.int32 and tokens.shape[1] == MAX_LEN
    length = (tokens > 0).sum(axis=1)
    return ((tokens == 1).sum(axis=1) / length)[:, None].astype("float32")


RECORDS = [  # (header, sequence lines, expected valid, expected reason prefix)
    ("good1 some description", "MAAAKVLAAG", 1, ""),
    ("lower", "maaakvlaag", 1, ""),
    ("stop", "MAAAKVLAAG*", 1, ""),
    ("X_residue", "MKXVA", 0, "non-standard residue 'X' at position 3"),
    ("B_residue", "BMKV", 0, "non-standard residue 'B' at position 1"),
    ("Z_residue", "MKVZ", 0, "non-standard residue 'Z' at position 4"),
    ("U_selenocysteine", "MKUV", 0, "non-standard residue 'U' at position 3"),
    ("O_pyrrolysine", "MKOV", 0, "non-standard residue 'O' at position 3"),
    ("internal_stop", "MK*V", 0, "non-standard residue '*' at position 3"),
    ("digit", "MK1V", 0, "non-standard residue '1' at position 3"),
    ("empty", "", 0, "empty sequence"),
    ("only_stop", "*", 0, "empty sequence"),
    ("too_long", "A" * (MAX_LEN + 1), 0, f"length {MAX_LEN + 1} exceeds the model's maximum of {MAX_LEN}"),
    ("wrapped", "MAAA\nKVLA\n\nAG", 1, ""),
    ("good2", "KKKKA", 1, ""),
]


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "proteins.fa"
    path.write_text("".join(f">{h}\n{s}\n" for h, s, _, _ in RECORDS))
    return path


def read(path) -> pd.DataFrame:
    if str(path).endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t", keep_default_na=False,
                       na_values={"soluble": ["nan"], "predicted_class": [""]})


@pytest.mark.parametrize("suffix", [".tsv", ".parquet"])
def test_one_row_per_record_in_input_order_with_reasons(fasta, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    n = predict_fasta(fake_predict, fasta, out, max_len=MAX_LEN, batch_size=2, chunk_size=3, progress=False)
    table = read(out)
    assert n == len(RECORDS) == len(table)
    assert list(table.columns) == output_columns(["soluble"])
    assert list(table["id"]) == [h.split()[0] for h, _, _, _ in RECORDS]
    assert list(table["valid"]) == [v for _, _, v, _ in RECORDS]
    for (_, _, valid, reason), (_, row) in zip(RECORDS, table.iterrows()):
        assert row["reason"] == reason
        assert np.isnan(row["soluble"]) == (not valid)
        assert np.isnan(row["predicted_class"]) == (not valid)
        if valid:
            assert row["predicted_class"] == int(row["soluble"] >= THRESHOLD)
    # Lower case, a trailing stop and line wrapping do not change the prediction.
    probs = dict(zip(table["id"], table["soluble"]))
    assert probs["good1"] == probs["lower"] == probs["stop"] == probs["wrapped"] == pytest.approx(0.5)
    assert probs["good2"] == pytest.approx(0.2)
    assert list(table["length"])[:3] == [10, 10, 11]  # the length as read, before the stop is removed
    assert not list(tmp_path.glob("*.partial"))


def test_tsv_and_parquet_hold_the_same_content(fasta, tmp_path):
    predict_fasta(fake_predict, fasta, tmp_path / "a.tsv", max_len=MAX_LEN, chunk_size=4, progress=False)
    predict_fasta(fake_predict, fasta, tmp_path / "a.parquet", max_len=MAX_LEN, chunk_size=4, progress=False)
    tsv, parquet = read(tmp_path / "a.tsv"), read(tmp_path / "a.parquet")
    assert list(tsv.columns) == list(parquet.columns)
    for column in ("id", "length", "valid", "reason"):
        assert list(tsv[column]) == list(parquet[column])
    np.testing.assert_allclose(tsv["soluble"], parquet["soluble"], rtol=1e-6)  # TSV keeps 6 digits
    np.testing.assert_array_equal(tsv["predicted_class"], parquet["predicted_class"])


def test_streams_chunk_by_chunk(tmp_path):
    fasta = tmp_path / "many.fa"
    fasta.write_text("".join(f">p{i}\nMAKV{'A' * (i % 7)}\n" for i in range(20)))
    out = tmp_path / "out.tsv"
    seen = []

    def predict(tokens):
        (partial,) = tmp_path.glob(".out.tsv.*.partial")  # this run's own temporary file
        seen.append((len(tokens), partial.stat().st_size))
        return fake_predict(tokens)

    predict_fasta(predict, fasta, out, max_len=MAX_LEN, batch_size=2, chunk_size=4, progress=False)
    assert max(n for n, _ in seen) <= 2
    sizes = [size for _, size in seen]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]  # rows are written before the end
    assert list(read(out)["id"]) == [f"p{i}" for i in range(20)]


@pytest.mark.parametrize("suffix", [".tsv", ".parquet"])
def test_duplicate_id_further_down_fails_and_leaves_nothing(tmp_path, suffix):
    fasta = tmp_path / "dup.fa"
    fasta.write_text("".join(f">p{i}\nMAKV\n" for i in range(10)) + ">p3\nMKV\n")
    out = tmp_path / f"out{suffix}"
    with pytest.raises(ValueError, match=r"dup.fa, line 21: duplicate id 'p3' \(first seen at line 7"):
        predict_fasta(fake_predict, fasta, out, max_len=MAX_LEN, chunk_size=2, progress=False)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_not_fasta_fails_naming_file_and_line(tmp_path):
    text = tmp_path / "table.tsv"
    text.write_text("\nsequence\tlabel\nMKV\t1\n")
    out = tmp_path / "out.tsv"
    with pytest.raises(ValueError, match=r"table.tsv, line 2: text before the first '>' header; the file is not FASTA"):
        predict_fasta(fake_predict, text, out, max_len=MAX_LEN, progress=False)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_a_failing_model_leaves_no_output(fasta, tmp_path):
    calls = []

    def broken(tokens):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("out of memory")
        return fake_predict(tokens)

    out = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError, match="out of memory"):
        predict_fasta(broken, fasta, out, max_len=MAX_LEN, batch_size=1, chunk_size=2, progress=False)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_an_existing_output_survives_a_failed_run(tmp_path):
    fasta = tmp_path / "bad.fa"
    fasta.write_text(">a\nMKV\n>a\nMKV\n")
    out = tmp_path / "out.tsv"
    out.write_text("previous results\n")
    with pytest.raises(ValueError, match="duplicate id"):
        predict_fasta(fake_predict, fasta, out, max_len=MAX_LEN, progress=False)
    assert out.read_text() == "previous results\n"


def test_cli_parquet_matches_tsv_with_the_shipped_model(tmp_path, capsys):
    fasta = tmp_path / "p.fa"
    fasta.write_text(">good\nMKVLAAGIVALLLAAGCSS\n>bad\nMKXV\n>empty\n>lower\nmkvlaagivalllaagcss\n")
    for name in ("p.tsv", "p.parquet"):
        assert main(["predict", "DeepSol", "--fasta", str(fasta), "-o", str(tmp_path / name), "--quiet"]) == 0
    tsv, parquet = read(tmp_path / "p.tsv"), read(tmp_path / "p.parquet")
    assert list(parquet["id"]) == ["good", "bad", "empty", "lower"]
    assert list(parquet["valid"]) == list(tsv["valid"]) == [1, 0, 0, 1]
    np.testing.assert_allclose(tsv["soluble"], parquet["soluble"], rtol=1e-5)
    assert parquet.loc[0, "soluble"] == parquet.loc[3, "soluble"]
    tokens, _ = encode_protein("MKVLAAGIVALLLAAGCSS", 1200)
    import seqzoo

    direct = seqzoo.get_model("DeepSol", device="cpu").predict_on_batch(tokens[None])[0, 0]
    assert parquet.loc[0, "soluble"] == pytest.approx(direct, rel=1e-6)
    assert "wrote 4 rows" in capsys.readouterr().err


def test_cli_refuses_a_bed_for_a_protein_model(tmp_path, capsys):
    fasta = tmp_path / "p.fa"
    fasta.write_text(">a\nMKV\n")
    assert main(["predict", "DeepSol", "--fasta", str(fasta), "--bed", "x.bed", "-o", str(tmp_path / "o.tsv")]) == 2
    assert "DeepSol is a protein model" in capsys.readouterr().err
    assert not (tmp_path / "o.tsv").exists()


# --- HDF5 and the other formats, through the one writer module ------------------------------

def read_h5(path) -> dict:
    import h5py

    with h5py.File(path, "r") as f:
        assert list(f.attrs["columns"]) == output_columns(["soluble"])
        table = {name: f[name][:] for name in f.attrs["columns"]}
        table["missing_value"] = f["predicted_class"].attrs["missing_value"]
    for name in ("id", "reason"):
        table[name] = [v.decode() for v in table[name]]
    return table


def test_hdf5_holds_the_tsv_content_with_minus_one_for_no_class(fasta, tmp_path):
    from seqzoo.io.tables import HDF5_MISSING_INT

    predict_fasta(fake_predict, fasta, tmp_path / "a.tsv", max_len=MAX_LEN, chunk_size=4, progress=False)
    predict_fasta(fake_predict, fasta, tmp_path / "a.h5", max_len=MAX_LEN, chunk_size=4, progress=False)
    tsv, h5 = read(tmp_path / "a.tsv"), read_h5(tmp_path / "a.h5")
    for column in ("id", "length", "valid", "reason"):
        assert list(tsv[column]) == list(h5[column])
    np.testing.assert_allclose(tsv["soluble"], h5["soluble"], rtol=1e-6)  # NaN where not valid, in both
    valid = h5["valid"] == 1
    assert not valid.all() and h5["missing_value"] == HDF5_MISSING_INT == -1
    np.testing.assert_array_equal(h5["predicted_class"][valid], tsv["predicted_class"][valid])
    assert (h5["predicted_class"][~valid] == -1).all() and tsv["predicted_class"][~valid].isna().all()


def test_hdf5_refuses_a_real_value_equal_to_the_missing_marker(tmp_path):
    from seqzoo.io.tables import open_writer

    column = np.ma.MaskedArray(np.array([1, -1, 0], dtype=np.int8), mask=[False, False, True])
    with pytest.raises(ValueError, match="'c' holds the value -1, which marks a missing value"):
        with open_writer(tmp_path / "x.h5", ["c"]) as writer:
            writer.write({"c": column})
    assert not list(tmp_path.iterdir())  # the partial file is gone
    with open_writer(tmp_path / "x.tsv", ["n", "c"]) as writer:  # TSV has no marker: -1 is a value there
        writer.write({"n": np.arange(3), "c": column})
    assert (tmp_path / "x.tsv").read_text() == "n\tc\n0\t1\n1\t-1\n2\t\n"


def test_cli_h5_output_is_real_hdf5_with_the_tsv_values(tmp_path):
    from seqzoo.zoo.spec import find_model

    example = find_model("DeepSol") / "example" / "proteins.fa"
    for name in ("out.tsv", "out.h5"):
        assert main(["predict", "DeepSol", "--fasta", str(example), "-o", str(tmp_path / name), "--quiet"]) == 0
    tsv, h5 = read(tmp_path / "out.tsv"), read_h5(tmp_path / "out.h5")
    assert len(tsv) == 10 and list(h5["id"]) == list(tsv["id"])
    np.testing.assert_allclose(h5["soluble"], tsv["soluble"], rtol=1e-5)
    np.testing.assert_array_equal(h5["predicted_class"], tsv["predicted_class"])
    # an extension that names no format is refused before anything runs (it used to write TSV)
    assert main(["predict", "DeepSol", "--fasta", str(example), "-o", str(tmp_path / "out.dat"), "--quiet"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "out.tsv"]


def test_long_real_proteins_are_read_whole_by_the_same_weights(tmp_path):
    """Validation proteins over 1,200 residues get a prediction (rule "whole sequence") equal to the
    trained network's, rebuilt here at the longer length with the same weights; shorter ones are
    unchanged."""
    import keras

    import seqzoo
    from seqzoo.architectures.registry import build
    from seqzoo.encoding import encode_protein
    from seqzoo.predict_protein import whole_sequence_predictor

    from seqzoo.io.proteins import iter_fasta

    fasta = Path(__file__).parent / "data" / "deepsol_valid_excerpt.fa"  # 2 short, 3 over 1,200 residues
    proteins = [record.sequence for record in iter_fasta(fasta)]
    assert [len(p) > 1200 for p in proteins] == [False, False, True, True, True]
    model = seqzoo.get_model("DeepSol", device="cpu")
    out = tmp_path / "out.tsv"
    predict_fasta(model.predict_on_batch, fasta, out, max_len=1200, progress=False,
                  predict_long=whole_sequence_predictor(model))
    rows = pd.read_csv(out, sep="\t", keep_default_na=False)
    assert list(rows["rule"]) == ["padded"] * 2 + ["whole sequence"] * 3 and (rows["valid"] == 1).all()
    for i, sequence in enumerate(proteins):
        length = -(-len(sequence) // 1200) * 1200
        config = {**model.spec.config, "members": [{**m, "config": {**m["config"], "max_len": length}}
                                                   for m in model.spec.config["members"]]}
        network = build("ensemble", **config)
        network.set_weights(model.keras_model.get_weights())
        tokens, _ = encode_protein(sequence, length)
        expected = float(network.predict_on_batch(tokens[None])[0, 0])
        assert rows.loc[i, "soluble"] == pytest.approx(expected, abs=1e-6)
        if length == 1200:  # the rebuilt network is the model itself
            assert expected == pytest.approx(float(model.predict_on_batch(tokens[None])[0, 0]), abs=1e-6)
    keras.backend.clear_session()


# --- DNA given to a protein model ------------------------------------------------------------

@pytest.mark.parametrize("sequence, dna", [
    ("ACGTACGTNNACGT", True),
    ("acgtacgtnnACGTTTGA", True),             # soft-masked genome
    ("ACGTRYACGTACGTACGTAC", True),           # a few IUPAC codes (10%)
    ("ACGUACGUAGCU", True),                   # RNA
    ("ACGTACGTACGTACGTACGT*", True),
    ("MKVLAAGIVALLLAAGCSS", False),           # a protein: 8 of 19 letters are A, C, G or T
    ("A" * 1201, False),                      # poly-alanine: a homopolymer could be either
    ("GAGAGAGAGA", False),                    # two letters only
    ("ACGTACGTAMKVLW", False),                # 64%
    ("", False),
    ("*", False),
])
def test_nucleotide_like(sequence, dna):
    assert nucleotide_like(sequence) is dna


def test_cli_refuses_a_dna_fasta_for_a_protein_model_unless_allowed(tmp_path, capsys):
    genome = tmp_path / "genome.fa"
    genome.write_text(">chr1 first chromosome\nACGTACGTAC\nacgtnnnnGG\n>chr2\nTTGACCA\n")
    out = tmp_path / "p.tsv"
    assert main(["predict", "DeepSol", "--fasta", str(genome), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert (f"{genome}, line 1: record 'chr1' reads as DNA or RNA, not a protein (at least 90% of its 20 letters "
            "are A, C, G, T, U or N)") in err and "--allow-nucleotide-like" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["genome.fa"]
    assert main(["predict", "DeepSol", "--fasta", str(genome), "-o", str(out), "--quiet",
                 "--allow-nucleotide-like"]) == 0
    assert list(read(out)["id"]) == ["chr1", "chr2"] and list(read(out)["valid"]) == [1, 1]
    bed = tmp_path / "a.bed"
    bed.write_text("chr1\t1\t5\n")
    assert main(["predict", "Basset", "--fasta", str(genome), "--bed", str(bed), "-o", str(tmp_path / "d.tsv"),
                 "--allow-nucleotide-like"]) == 2
    assert "Basset is a DNA model: --allow-nucleotide-like is for protein models" in capsys.readouterr().err


def test_a_dna_record_further_down_stops_the_run_and_leaves_nothing(tmp_path):
    fasta = tmp_path / "mixed.fa"
    fasta.write_text("".join(f">p{i}\nMKVLAAGIVALLLAAGCSS\n" for i in range(10)) + ">transcript\nATGGCCAAGTTGA\n")
    out = tmp_path / "p.tsv"
    with pytest.raises(ValueError, match=r"mixed.fa, line 21: record 'transcript' reads as DNA or RNA"):
        predict_fasta(fake_predict, fasta, out, max_len=MAX_LEN, chunk_size=3, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mixed.fa"]
    assert predict_fasta(fake_predict, fasta, out, max_len=MAX_LEN, chunk_size=3, progress=False,
                         allow_nucleotide_like=True) == 11


def test_a_protein_fasta_given_as_a_pipe_is_read_whole(fasta, tmp_path):
    """A protein FASTA is read once, in order, so a pipe (``<(...)``, named /dev/fd/N) gives the rows
    the file gives."""
    import os
    import threading

    predict_fasta(fake_predict, fasta, tmp_path / "file.tsv", max_len=MAX_LEN, progress=False)
    read_end, write_end = os.pipe()

    def writer():
        with open(write_end, "wb") as out:
            out.write(fasta.read_bytes())

    threading.Thread(target=writer, daemon=True).start()
    try:
        n = predict_fasta(fake_predict, f"/dev/fd/{read_end}", tmp_path / "pipe.tsv", max_len=MAX_LEN, progress=False)
    finally:
        os.close(read_end)
    assert n == len(RECORDS)
    assert (tmp_path / "pipe.tsv").read_text() == (tmp_path / "file.tsv").read_text()

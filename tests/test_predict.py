"""seqzoo's streaming DNA prediction: same numbers as the kipoi path, every row in input order,
bad rows reported, outputs in three formats, nothing left behind on failure."""

import time

import h5py
import numpy as np
import pandas as pd
import pytest

import seqzoo
from seqzoo.runtime import cpu_description
from seqzoo.encoding import one_hot_dna
from seqzoo.io.genome import Genome
from seqzoo.predict_dna import LEADING_COLUMNS, predict_bed
from seqzoo.batching import prefetch, write_behind
from seqzoo.windows import read_windows
from seqzoo.zoo.spec import find_model

EXAMPLE = find_model("Basset") / "example"


@pytest.fixture(scope="module")
def basset(device):
    """Basset on each device of the ``device`` fixture."""
    return seqzoo.get_model("Basset", device=device)


@pytest.fixture
def genome(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "two.fa"
    chroms = {"chr1": "".join(rng.choice(list("ACGT"), 3000)), "chr2": "".join(rng.choice(list("ACGTacgtN"), 2000))}
    path.write_text("".join(f">{c}\n" + "\n".join(s[i:i + 60] for i in range(0, len(s), 60)) + "\n"
                            for c, s in chroms.items()))
    return path, chroms


def read(path):
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".h5":
        with h5py.File(path) as f:
            columns = list(f.attrs["columns"])
            return pd.DataFrame({c: [v.decode() if isinstance(v, bytes) else v for v in f[c][:]] for c in columns})[columns]
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["nan"])


def test_matches_the_reference_predictions(basset, tmp_path):
    out = tmp_path / "p.tsv"
    assert predict_bed(basset, EXAMPLE / "genome.fa", EXAMPLE / "intervals.bed", out, batch_size=4, progress=False) == 10
    table = read(out)
    with h5py.File(find_model("Basset") / "test.expect.h5") as f:
        expected = f["preds"][:]
    np.testing.assert_allclose(table[list(basset.columns)].to_numpy(), expected, atol=1e-6)
    assert list(table.columns) == LEADING_COLUMNS + list(basset.columns)


@pytest.mark.parametrize("suffix", [".parquet", ".h5"])
def test_formats_hold_the_same_rows(basset, tmp_path, suffix):
    args = (basset, EXAMPLE / "genome.fa", EXAMPLE / "intervals.bed")
    predict_bed(*args, tmp_path / "p.tsv", progress=False)
    predict_bed(*args, tmp_path / f"p{suffix}", progress=False)
    tsv, other = read(tmp_path / "p.tsv"), read(tmp_path / f"p{suffix}")
    assert list(other.columns) == list(tsv.columns)
    for column in LEADING_COLUMNS:
        assert [str(v) for v in other[column]] == [str(v) for v in tsv[column]]
    np.testing.assert_allclose(other[list(basset.columns)].to_numpy(), tsv[list(basset.columns)].to_numpy(), atol=1e-6)


def test_rows_keep_input_order_across_chromosomes_and_strands(basset, genome, tmp_path):
    fasta, chroms = genome
    bed = tmp_path / "mixed.bed"
    rows = [("chr2", 900, 1000, "a", "+"), ("chr1", 100, 200, "b", "-"), ("chr2", 10, 20, "c", "+"),
            ("chr1", 2500, 2600, "d", "+"), ("chr1", 100, 200, "e", "+")]
    bed.write_text("".join(f"{c}\t{s}\t{e}\t{n}\t0\t{st}\n" for c, s, e, n, st in rows))
    out = tmp_path / "mixed.tsv"
    predict_bed(basset, fasta, bed, out, batch_size=2, progress=False)
    table = read(out)
    assert list(table["name"]) == ["a", "b", "c", "d", "e"]
    assert list(table["padded"]) == [0, 150, 285, 0, 150]
    # by hand: centred 600 bp windows, N padding, reverse complement for '-'
    def window(chrom, start, end, strand):
        centre = (start + end) // 2
        s, e = centre - 300, centre + 300
        seq = "N" * max(0, -s) + chroms[chrom][max(s, 0):min(e, len(chroms[chrom]))] + "N" * max(0, e - len(chroms[chrom]))
        x = one_hot_dna(seq)
        return x[::-1, ::-1] if strand == "-" else x
    x = np.stack([window(c, s, e, st) for c, s, e, _, st in rows])
    np.testing.assert_allclose(table[list(basset.columns)].to_numpy(), basset.predict_on_batch(x), atol=1e-6)


def test_read_windows_equals_one_read_per_window(genome):
    fasta, chroms = genome
    rng = np.random.default_rng(1)
    windows = []
    for _ in range(200):
        chrom = rng.choice(["chr1", "chr2"])
        start = int(rng.integers(-100, len(chroms[chrom])))
        windows.append((str(chrom), start, start + 64))
    with Genome(fasta) as g:
        codes, padded = read_windows(g, windows)
        for i, (chrom, start, end) in enumerate(windows):
            one, n_pad = g.fetch_codes(chrom, start, end)
            assert np.array_equal(codes[i], one) and padded[i] == n_pad


def test_refused_rows_have_a_reason_and_no_values(basset, genome, tmp_path):
    fasta, _ = genome
    bed = tmp_path / "edge.bed"
    bed.write_text("chr1\t1000\t1100\tinside\nchr1\t0\t50\tedge\n")
    out = tmp_path / "edge.tsv"
    predict_bed(basset, fasta, bed, out, out_of_bounds="refuse", progress=False)
    table = read(out)
    assert table.loc[0, "note"] == "" and not table.loc[0, basset.columns[0]] != table.loc[0, basset.columns[0]]
    assert "reaches past the chromosome" in table.loc[1, "note"]
    assert table.loc[1, list(basset.columns)].isna().all()


def test_rc_averages_both_strands(basset, tmp_path):
    args = (basset, EXAMPLE / "genome.fa", EXAMPLE / "intervals.bed")
    predict_bed(*args, tmp_path / "f.tsv", progress=False)
    predict_bed(*args, tmp_path / "rc.tsv", rc=True, progress=False)
    bed = pd.read_csv(EXAMPLE / "intervals.bed", sep="\t", header=None)
    flipped = tmp_path / "flipped.bed"
    bed[5] = bed[5].map({"+": "-", "-": "+"})
    bed.to_csv(flipped, sep="\t", header=False, index=False)
    predict_bed(basset, EXAMPLE / "genome.fa", flipped, tmp_path / "r.tsv", progress=False)
    cols = list(basset.columns)
    expected = (read(tmp_path / "f.tsv")[cols].to_numpy() + read(tmp_path / "r.tsv")[cols].to_numpy()) / 2
    np.testing.assert_allclose(read(tmp_path / "rc.tsv")[cols].to_numpy(), expected, atol=2e-6)


def test_bfloat16_is_within_1e_3_of_float32(basset, device, tmp_path):
    fast = seqzoo.get_model("Basset", device=device, precision="bfloat16")
    args = (EXAMPLE / "genome.fa", EXAMPLE / "intervals.bed")
    predict_bed(basset, *args, tmp_path / "fp32.tsv", progress=False)
    predict_bed(fast, *args, tmp_path / "bf16.tsv", progress=False)
    cols = list(basset.columns)
    diff = np.abs(read(tmp_path / "fp32.tsv")[cols].to_numpy() - read(tmp_path / "bf16.tsv")[cols].to_numpy())
    assert 0 < diff.max() <= 1e-3


@pytest.mark.parametrize("flags, native", [("fpu avx2 fma", False), ("avx2 avx512f avx512_bf16", True),
                                           ("avx2 amx_tile amx_bf16", True)])
def test_cpu_bfloat16_units_are_read_from_cpuinfo(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n"
                       f"processor\t: 1\nmodel name\t: Some CPU\nflags\t\t: {flags}\n")
    assert cpu_description(cpuinfo) == ("Some CPU", native)
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert cpu_description(arm)[1] is None


def test_repeated_labels_get_unique_columns():
    columns = seqzoo.get_model("DeepSEA", device="cpu").columns
    assert len(set(columns)) == len(columns) == 919
    assert "GM12878_CTCF_None#" in " ".join(columns)


@pytest.mark.parametrize("text, message", [
    ("chr1\t10\t20\nchr1\tx\t20\n", r"bad.bed, line 2"),
    ("1\t10\t20\n", r"bad.bed, line 1: chromosome '1' is not in .*; the FASTA has 'chr1'"),
    ("# nothing\n", r"no intervals"),
])
def test_bad_bed_is_refused_before_anything_is_written(basset, genome, tmp_path, text, message):
    fasta, _ = genome
    bed = tmp_path / "bad.bed"
    bed.write_text(text)
    out = tmp_path / "out.tsv"
    with pytest.raises(ValueError, match=message):
        predict_bed(basset, fasta, bed, out, progress=False)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_a_failure_midway_leaves_no_output(genome, device, tmp_path):
    fasta, _ = genome
    model = seqzoo.get_model("Basset", device=device)
    calls = []
    real = model.predict_on_batch

    def failing(x):  # the second batch fails, as an interrupted run would
        calls.append(len(x))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(x)

    model.predict_on_batch = failing
    bed = tmp_path / "many.bed"
    bed.write_text("".join(f"chr1\t{i}\t{i + 10}\n" for i in range(0, 2000, 100)))
    out = tmp_path / "many.parquet"
    with pytest.raises(KeyboardInterrupt):
        predict_bed(model, fasta, bed, out, batch_size=4, progress=False)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_prefetch_reraises_and_stops():
    def broken():
        yield 1
        raise RuntimeError("reader failed")

    seen = []
    with pytest.raises(RuntimeError, match="reader failed"):
        for item in prefetch(broken()):
            seen.append(item)
    assert seen == [1]


def test_write_behind_keeps_order_and_hands_errors_to_the_caller():
    written = []
    with write_behind(written.append, depth=2) as write:
        for i in range(50):
            write(i)
    assert written == list(range(50))  # the thread has written everything when the block ends

    def failing(item):
        if item == 3:
            raise OSError("disk full")
        written.append(item)

    written.clear()
    with pytest.raises(OSError, match="disk full"):
        with write_behind(failing) as write:
            for i in range(100):  # never blocks: the thread drains after the failure
                write(i)
    assert written == [0, 1, 2]

    # An error of the caller's: what is queued is dropped, the error is the caller's.
    written.clear()
    with pytest.raises(KeyError):
        with write_behind(lambda item: (time.sleep(0.01), written.append(item))) as write:
            for i in range(5):
                write(i)
            raise KeyError("prediction failed")
    assert written == sorted(written) and len(written) < 5


def test_parquet_rows_are_grouped_not_one_row_group_per_chunk(tmp_path):
    # pyarrow keeps each row group's metadata in memory until close: one group per small chunk
    # made memory grow with the number of rows.
    import pyarrow.parquet as pq

    from seqzoo.io.tables import ParquetWriter

    columns = ["name"] + [f"t{i}" for i in range(50)]
    rng = np.random.default_rng(0)
    chunks = [{"name": np.array([f"r{k}_{j}" for j in range(100)], dtype=object),
               **{c: rng.random(100).astype(np.float32) for c in columns[1:]}} for k in range(300)]
    with ParquetWriter(tmp_path / "x.parquet", columns) as writer:
        for chunk in chunks:
            writer.write(chunk)
        assert not (tmp_path / "x.parquet").exists()  # still .partial
    meta = pq.ParquetFile(tmp_path / "x.parquet").metadata
    assert meta.num_rows == 30_000 and meta.num_row_groups <= 2
    frame = pd.read_parquet(tmp_path / "x.parquet")
    np.testing.assert_array_equal(frame["t7"].to_numpy(), np.concatenate([c["t7"] for c in chunks]))
    assert list(frame["name"][:2]) == ["r0_0", "r0_1"]

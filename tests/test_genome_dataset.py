"""seqzoo.training.datasets: the DeepSEA/Basset window builder and its streaming reader."""

import gzip
import json

import numpy as np
import pytest

from seqzoo.training.datasets import GenomeWindowDataset, SplitError, build_dataset, parse_split
from seqzoo.encoding import reverse_complement_one_hot
from seqzoo.io.bed import BEDError

TASKS = ["TF_A", "TF_B", "TF_C"]
# (chrom, summit, task): each peak is written as a 500 bp window centred on the summit.
SUMMITS = [("chr1", 5050, "TF_A"), ("chr1", 5070, "TF_B"), ("chr1", 12345, "TF_A"),
           ("chr1", 15999, "TF_C"), ("chr2", 3000, "TF_B")]
N_RUN = (8000, 8200)  # 200 N on chr1


def _write_fasta(path, seqs):
    with open(path, "w") as f:
        for name, seq in seqs.items():
            f.write(f">{name}\n")
            for i in range(0, len(seq), 60):
                f.write(seq[i:i + 60] + "\n")


@pytest.fixture
def genome(tmp_path):
    rng = np.random.default_rng(1)
    chr1 = np.array(list("ACGTacgt"))[rng.integers(0, 8, 20000)]
    chr1[N_RUN[0]:N_RUN[1]] = "N"
    chr2 = np.array(list("ACGT"))[rng.integers(0, 4, 6000)]
    seqs = {"chr1": "".join(chr1), "chr2": "".join(chr2)}
    fasta = tmp_path / "g.fa"
    _write_fasta(fasta, seqs)
    peaks = tmp_path / "peaks.bed.gz"
    with gzip.open(peaks, "wt") as f:
        for chrom, s, task in SUMMITS:
            f.write(f"{chrom}\t{s - 250}\t{s + 250}\t{task}\n")
    tasks = tmp_path / "tasks.tsv"
    tasks.write_text("tf\tagi\n" + "".join(f"{t}\tX\n" for t in TASKS))
    return {"fasta": fasta, "peaks": peaks, "tasks": tasks, "seqs": seqs, "dir": tmp_path}


def _build(genome, **kw):
    kw.setdefault("split", "blocks:train=0-9000,valid=10000-end")
    kw.setdefault("design", "deepsea")
    return build_dataset(genome["fasta"], genome["peaks"], genome["dir"] / "ds", tasks=genome["tasks"],
                         command="test", **kw)


def _expected_label(chrom, bin_start, task, bin_size=200, flank=100):
    return any(c == chrom and t == task and bin_start < s + flank and s - flank < bin_start + bin_size
               for c, s, t in SUMMITS)


def test_deepsea_labels_windows_and_manifest(genome):
    manifest = _build(genome)
    assert manifest["tasks"] == TASKS and manifest["design"] == "deepsea" and manifest["seq_len"] == 1000
    assert manifest["split"] == {"kind": "blocks", "spec": "blocks:train=0-9000,valid=10000-end"}
    assert manifest["command"] == "test"
    on_disk = json.loads((genome["dir"] / "ds" / "manifest.json").read_text())
    assert on_disk["splits"]["valid"]["n_windows"] == manifest["splits"]["valid"]["n_windows"]
    for split in ("train", "valid"):
        ds = GenomeWindowDataset(genome["dir"] / "ds", split)
        assert ds.seqs.dtype == np.uint8 and ds.seqs.shape == (len(ds), 1000)
        assert ds.labels_packed.dtype == np.uint8 and ds.labels_packed.shape == (len(ds), 1)  # 3 tasks -> 1 byte
        y = ds.y()
        for (chrom, start, end), row, codes in zip(ds.intervals(), y, ds.seqs):
            bin_start = start + 400
            assert bin_start % 200 == 0
            assert [int(_expected_label(chrom, bin_start, t)) for t in TASKS] == list(row)
            assert bytes(codes).decode() == genome["seqs"][chrom][start:end]  # the FASTA's own bytes
        assert y.sum() == manifest["splits"][split]["n_positive_labels"]
        assert list(y.sum(axis=0)) == manifest["splits"][split]["positives_per_task"]
    # the summit at 5050 (+-100 = 4950..5150) makes exactly the bins 4800 and 5000 positive for TF_A
    train = GenomeWindowDataset(genome["dir"] / "ds", "train")
    bins = {(c, s + 400): row for (c, s, _), row in zip(train.intervals(), train.y())}
    assert bins[("chr1", 4800)][0] == 1 and bins[("chr1", 5000)][0] == 1
    assert bins[("chr1", 4600)][0] == 0 and bins[("chr1", 5200)][0] == 0


def test_windows_stay_inside_their_block_with_the_gap_empty(genome):
    _build(genome)
    train = GenomeWindowDataset(genome["dir"] / "ds", "train")
    valid = GenomeWindowDataset(genome["dir"] / "ds", "valid")
    assert all(0 <= s and e <= 9000 for _, s, e in train.intervals())
    assert all(10000 <= s and e <= 20000 for c, s, e in valid.intervals() if c == "chr1")
    assert all(e <= 6000 for c, s, e in valid.intervals() if c == "chr2")  # 'end' is each chromosome's end
    # every bin whose window fits in the block is there (chr1 train: bins 400..7600 minus N-filtered)
    starts = {s for c, s, _ in train.intervals() if c == "chr1"}
    assert min(starts) == 0 and max(starts) + 1000 <= 9000


def test_windows_with_more_than_10_percent_n_are_dropped(genome):
    manifest = _build(genome)
    train = GenomeWindowDataset(genome["dir"] / "ds", "train")
    kept = {s for c, s, _ in train.intervals() if c == "chr1"}
    n_dropped = 0
    for start in range(0, 9000 - 1000 + 1, 200):
        n = max(0, min(start + 1000, N_RUN[1]) - max(start, N_RUN[0]))
        assert (start in kept) == (n <= 100), start
        n_dropped += n > 100
    assert manifest["splits"]["train"]["dropped_for_N"] == n_dropped > 0


def test_reverse_complement_augmentation_and_streaming(genome):
    _build(genome)
    ds = GenomeWindowDataset(genome["dir"] / "ds", "train")
    rows = np.arange(5)
    x = ds.x(rows)
    assert x.dtype == np.float32 and x.shape == (5, 1000, 4)
    np.testing.assert_array_equal(ds.x(rows, reverse_complement=True), reverse_complement_one_hot(x))
    flip = np.array([True, False, True, False, False])
    mixed = ds.x(rows, reverse_complement=flip)
    np.testing.assert_array_equal(mixed[~flip], x[~flip])
    np.testing.assert_array_equal(mixed[flip], reverse_complement_one_hot(x[flip]))
    plain = list(ds.batches(4, shuffle=True, seed=3))
    augmented = list(ds.batches(4, shuffle=True, seed=3, reverse_complement=True))
    again = list(ds.batches(4, shuffle=True, seed=3, reverse_complement=True))
    assert sum(len(b[0]) for b in plain) == len(ds)
    for (xp, yp), (xa, ya), (xb, _) in zip(plain, augmented, again):
        np.testing.assert_array_equal(yp, ya)  # labels do not change with the strand
        np.testing.assert_array_equal(xa, xb)  # seeded
        same = (xa == xp).all(axis=(1, 2))
        np.testing.assert_array_equal(xa[~same], reverse_complement_one_hot(xp[~same]))
    assert not all((xa == xp).all() for (xp, _), (xa, _) in zip(plain, augmented))


def test_basset_design_peak_windows_and_seeded_negatives(genome):
    manifest = _build(genome, design="basset", negative_ratio=2.0, seed=5)
    assert manifest["seq_len"] == 600
    ds = GenomeWindowDataset(genome["dir"] / "ds", "train")
    y = ds.y()
    centres = [s + 300 for _, s, _ in ds.intervals()]
    # 5050 and 5070 are one cluster (within 200 bp) centred at 5060, bound by TF_A and TF_B
    i = centres.index(5060)
    assert list(y[i]) == [1, 1, 0]
    n_peak_windows = int((y.sum(axis=1) > 0).sum())
    assert n_peak_windows == 2  # chr1 5060 and chr2 3000
    assert (y.sum(axis=1) == 0).sum() == 2 * n_peak_windows  # two negatives per peak window
    assert all(0 <= s and e <= 9000 for _, s, e in ds.intervals())
    first = np.asarray(ds.coords).copy()
    _build(genome, design="basset", negative_ratio=2.0, seed=5, overwrite=True)
    np.testing.assert_array_equal(np.asarray(GenomeWindowDataset(genome["dir"] / "ds", "train").coords), first)


@pytest.mark.parametrize("line, match", [
    ("chr1\t100\t600\n", r"peaks\.bed, line 2: column 4 must name the task"),
    ("1\t100\t600\tTF_A\n", r"peaks\.bed, line 2: chromosome '1' is not in .*'chr1'"),
    ("chr1\t100\t600\tTF_Z\n", r"peaks\.bed, line 2: task 'TF_Z' is not in the task list"),
    ("chr1\t19900\t20400\tTF_A\n", r"peaks\.bed, line 2: interval end 20400 is past the end of chr1"),
    ("chr1 100 600 TF_A\n", r"peaks\.bed, line 2: columns are separated by spaces"),
])
def test_bad_peaks_name_file_and_line(genome, line, match):
    bad = genome["dir"] / "peaks.bed"
    bad.write_text("chr1\t4800\t5300\tTF_A\n" + line)
    with pytest.raises(BEDError, match=match):
        build_dataset(genome["fasta"], bad, genome["dir"] / "bad", tasks=genome["tasks"])


def test_bad_fasta_and_existing_output_are_clear_errors(genome):
    bad = genome["dir"] / "bad.fa"
    _write_fasta(bad, {"chr1": "ACGT" * 300 + "ACGJ" + "ACGT" * 300})
    peaks = genome["dir"] / "p.bed"
    peaks.write_text("chr1\t100\t600\tTF_A\n")
    with pytest.raises(ValueError, match=r"bad\.fa: invalid DNA character 'J' in chr1 at position 1204"):
        build_dataset(bad, peaks, genome["dir"] / "x", split="blocks:train=0-2000")
    _build(genome)
    with pytest.raises(FileExistsError, match="already holds a data set"):
        _build(genome)


@pytest.mark.parametrize("spec, match", [
    ("train=0-100", "expected 'blocks:"),
    ("blocks:train=0-100,valid=50-200", "overlaps"),
    ("blocks:train=0-100,valid=chr1:50-200", "overlaps"),
    ("blocks:train=100-50", "empty or reversed"),
    ("blocks:train=0-1x", "not a 0-based position"),
    ("blocks:train=0-10,train=20-30", "given twice"),
    ("chroms:train=chr1,valid=chr1", "in both"),
])
def test_bad_split_specifications(spec, match):
    with pytest.raises(SplitError, match=match):
        parse_split(spec)


def test_split_specifications_parse():
    s = parse_split("blocks:train=chr1:0-19_500_000+chr2:0-end,valid=chr1:20000000-24000000")
    assert s.regions["train"] == [("chr1", 0, 19500000), ("chr2", 0, None)]
    assert s.blocks_on("chr2", 1000) == [("train", 0, 1000)]
    assert parse_split("chroms:train=chr1+chr2,valid=chr3").blocks_on("chr3", 50) == [("valid", 0, 50)]


def test_chromosome_split(genome):
    manifest = _build(genome, split="chroms:train=chr1,valid=chr2")
    assert manifest["splits"]["valid"]["n_windows"] == 26  # bins 400, 600, ..., 5400
    with pytest.raises(SplitError, match="chromosome 'chr3' is not in"):
        _build(genome, split="chroms:train=chr3", overwrite=True)

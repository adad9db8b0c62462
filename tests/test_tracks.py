"""Tiled prediction (`seqzoo predict --tile`), tracks (bigWig, bedGraph) and `--targets`, on a real
genome excerpt, read back with pyBigWig."""

import numpy as np
import pandas as pd
import pyBigWig
import pytest

from seqzoo.cli import main
from seqzoo.runtime import get_model
from seqzoo.windows import count_tiles, iter_tiles
from seqzoo.zoo.spec import find_model, load_spec

MODEL = "Basset_Athaliana265"  # 600 bp windows about their central 200 bp (prediction_bin)
FASTA = find_model(MODEL) / "example" / "genome.fa"  # chr1, 30,000 bp


def predict(*args) -> None:
    assert main(["predict", MODEL, "--fasta", str(FASTA), "--quiet", *args]) == 0


def table(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["nan"])


def test_the_bin_is_declared_once_and_is_the_default_step(tmp_path):
    assert load_spec(find_model(MODEL)).prediction_bin == 200
    assert load_spec(find_model("Basset")).prediction_bin == 600  # no narrower bin: the input length
    predict("--tile", "chr1:1000-2000", "-o", str(tmp_path / "t.tsv"))
    rows = table(tmp_path / "t.tsv")
    assert list(rows["start"]) == [1000, 1200, 1400, 1600, 1800] and set(rows["end"] - rows["start"]) == {200}


def test_a_bigwig_holds_the_tsv_values_over_each_bin(tmp_path):
    # Parquet keeps float32 exactly, as bigWig stores it (TSV rounds to 6 digits)
    predict("--tile", "chr1:0-3000", "--targets", "ABF2,WRKY33", "-o", str(tmp_path / "t.parquet"))
    predict("--tile", "chr1:0-3000", "--targets", "ABF2,WRKY33", "-o", str(tmp_path / "{target}.bw"))
    rows = pd.read_parquet(tmp_path / "t.parquet")
    assert rows["padded"].iloc[0] > 0  # the first window reaches before position 0: padded, as with --bed
    for target in ("ABF2", "WRKY33"):
        with pyBigWig.open(str(tmp_path / f"{target}.bw")) as bw:
            assert bw.chroms() == {"chr1": 30000}
            got = [bw.values("chr1", s + 100, s + 101)[0] for s in rows["start"]]  # each window's centre
            np.testing.assert_array_equal(np.float32(got), rows[target].to_numpy())
            entries = bw.intervals("chr1")
            assert [(a, b) for a, b, _ in entries] == list(zip(rows["start"], rows["end"]))
    assert not list(tmp_path.glob("*.partial"))


def test_overlapping_windows_give_a_bedgraph_of_their_central_steps(tmp_path):
    predict("--tile", "chr1:5000-6000", "--step", "50", "--targets", "ABF2", "-o", str(tmp_path / "t.tsv"))
    predict("--tile", "chr1:5000-6000", "--step", "50", "--targets", "ABF2", "-o", str(tmp_path / "abf2.bedgraph"))
    rows = table(tmp_path / "t.tsv")
    graph = pd.read_csv(tmp_path / "abf2.bedgraph", sep="\t", header=None, names=["chrom", "start", "end", "value"])
    assert len(rows) == len(graph) == 20
    np.testing.assert_array_equal(graph["start"], rows["start"] + 75)  # the central 50 of each 200 bp bin
    np.testing.assert_array_equal(graph["end"] - graph["start"], 50)
    assert (graph["start"].iloc[1:].to_numpy() == graph["end"].iloc[:-1].to_numpy()).all()  # no overlap, no gap
    np.testing.assert_allclose(graph["value"], rows["ABF2"], rtol=1e-5)


def test_refused_windows_leave_the_track_empty_there(tmp_path):
    predict("--tile", "chr1:29000-30000", "--targets", "ABF2", "--out-of-bounds", "refuse", "-o", str(tmp_path / "a.bw"))
    predict("--tile", "chr1:29000-30000", "--targets", "ABF2", "--out-of-bounds", "refuse", "-o", str(tmp_path / "a.tsv"))
    rows = table(tmp_path / "a.tsv")
    refused = rows["ABF2"].isna()
    assert refused.any() and not refused.all()
    with pyBigWig.open(str(tmp_path / "a.bw")) as bw:
        starts = [a for a, _, _ in bw.intervals("chr1")]
    assert starts == list(rows.loc[~refused, "start"])


def test_the_whole_genome_tiles_every_sequence(tmp_path):
    predict("--tile", "genome", "--step", "1000", "--targets", "ABF2", "-o", str(tmp_path / "g.tsv"))
    rows = table(tmp_path / "g.tsv")
    assert len(rows) == count_tiles([("chr1", 0, 30000)], 1000) == 30
    assert rows["end"].iloc[-1] == 29200  # the last bin starts at 29,000
    ivs = list(iter_tiles([("chr1", 0, 30000)], 1000, 200))
    assert [iv.start for iv in ivs] == list(rows["start"])


def test_several_targets_need_the_placeholder_and_names_must_exist(tmp_path, capsys):
    assert main(["predict", MODEL, "--fasta", str(FASTA), "--tile", "chr1:0-1000", "--targets", "ABF2,WRKY33",
                 "-o", str(tmp_path / "x.bw"), "--quiet"]) == 2
    assert "{target}" in capsys.readouterr().err and not list(tmp_path.iterdir())
    assert main(["predict", MODEL, "--fasta", str(FASTA), "--tile", "chr1:0-1000", "--targets", "ABF3x",
                 "-o", str(tmp_path / "x.tsv"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no target named 'ABF3x'" in err and "ABF2" in err  # the nearest names
    assert main(["predict", MODEL, "--fasta", str(FASTA), "--bed", str(FASTA.parent / "intervals.bed"),
                 "-o", str(tmp_path / "x.bw"), "--quiet"]) == 2
    assert "needs tiled windows" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --tile and --bed exclude each other
        main(["predict", MODEL, "--fasta", str(FASTA), "--tile", "genome", "--bed", "x.bed", "-o", "x.tsv"])


def test_targets_select_columns_of_predict_and_variants(tmp_path):
    predict("--bed", str(FASTA.parent / "intervals.bed"), "-o", str(tmp_path / "all.tsv"))
    predict("--bed", str(FASTA.parent / "intervals.bed"), "--targets", "WRKY*", "-o", str(tmp_path / "w.tsv"))
    full, some = table(tmp_path / "all.tsv"), table(tmp_path / "w.tsv")
    wrky = [c for c in full.columns if c.startswith("WRKY")]
    assert list(some.columns[7:]) == wrky and len(wrky) > 5
    np.testing.assert_allclose(some[wrky].to_numpy(), full[wrky].to_numpy())
    vcf = tmp_path / "v.vcf"
    model = get_model(MODEL, device="cpu")
    import pyfaidx

    with pyfaidx.Fasta(str(FASTA)) as f:
        ref = str(f["chr1"][4999:5000]).upper()
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"chr1\t5000\tv1\t{ref}\t{'A' if ref != 'A' else 'C'}\t.\t.\t.\n")
    for name, extra in (("all", []), ("abf2", ["--targets", "ABF2"])):
        assert main(["variants", MODEL, "--fasta", str(FASTA), "--vcf", str(vcf), "--scores", "diff", "--quiet",
                     "-o", str(tmp_path / f"v_{name}.tsv"), *extra]) == 0
    v_all, v_abf2 = table(tmp_path / "v_all.tsv"), table(tmp_path / "v_abf2.tsv")
    assert [c for c in v_abf2.columns if ":" in c] == ["diff:ABF2"]
    assert v_abf2["diff:ABF2"].iloc[0] == pytest.approx(v_all["diff:ABF2"].iloc[0], abs=1e-6)
    assert len(model.columns) == len([c for c in v_all.columns if c.startswith("diff:")])


def test_track_figure_draws_tracks_and_peaks(tmp_path):
    from seqzoo.plots import track_figure

    predict("--tile", "chr1:2000-8000", "--targets", "ABF2,WRKY33", "-o", str(tmp_path / "{target}.bw"))
    out = tmp_path / "fig.png"
    track_figure(out, {t: tmp_path / f"{t}.bw" for t in ("ABF2", "WRKY33")}, "chr1:2000-8000",
                 peaks=[(2737, 3237, "WRKY peak")], title="test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


# --------------------------------------------------------------------------- a full disk (issue 26, item 10)

@pytest.fixture
def full_disk(tmp_path):
    """A real, small file system (tmpfs of ``size``), mounted for the test and unmounted after it;
    the test is skipped where mounting is not permitted (not root, a container without the right)."""
    import subprocess

    mounted = []

    def mount(size: str):
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs to fill (mount said: {done.stderr.strip() or done.returncode})")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _run(*args):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "seqzoo", "predict", MODEL, "--fasta", str(FASTA), "--quiet", *args],
                          capture_output=True, text=True, env=dict(os.environ), timeout=600)


def test_outputs_that_do_not_fit_on_a_full_disk_fail_cleanly_and_leave_nothing(full_disk, capsys):
    import os

    disk = full_disk("32k")
    # 6,000 windows: a bigWig libBigWig would truncate without a word (or abort on), and tables that cannot fit
    tiles = ("--tile", "genome", "--step", "5", "--targets", "ABF2")
    done = _run(*tiles, "-o", str(disk / "x.bw"))  # a real process: its exit code and what it prints
    assert done.returncode == 2, (done.returncode, done.stderr)  # never 134/139 (abort, crash) nor 0
    assert "no space left on device" in done.stderr.lower(), done.stderr
    assert os.listdir(disk) == []  # no output, no hidden temporary file
    # the other formats through the same main() in this process (a process each cost a TensorFlow start-up)
    for name in ("x.bedgraph", "x.tsv", "x.parquet", "x.h5"):
        assert main(["predict", MODEL, "--fasta", str(FASTA), "--quiet", *tiles, "-o", str(disk / name)]) == 2, name
        err = capsys.readouterr().err
        assert "no space left on device" in err.lower(), (name, err)
        assert os.listdir(disk) == [], name
    roomy = full_disk("1m")
    for name in ("x.bw", "x.h5"):  # what fits is written as before
        predict("--tile", "genome", "--step", "50", "--targets", "ABF2", "-o", str(roomy / name))
    bw = pyBigWig.open(str(roomy / "x.bw"))
    assert bw.header()["nBasesCovered"] > 0 and len(bw.intervals("chr1")) == 599
    bw.close()


def test_a_bigwig_too_big_for_the_disk_is_refused_before_libbigwig_spins_and_leaves_nothing(full_disk):
    import errno
    import os
    import time

    from seqzoo.io.tracks import TrackWriter

    disk = full_disk("64k")
    n = 50_000  # libBigWig spins for minutes finishing this file on a full disk, then aborts (double free)
    starts = np.arange(n) * 100
    began = time.monotonic()
    with pytest.raises(OSError) as error:
        with TrackWriter(disk / "y.bw", ["a"], {"chr1": 10_000_000}) as writer:
            writer.write(np.array(["chr1"] * n, dtype=object), starts, starts + 100,
                         np.random.default_rng(0).random((n, 1)))
    assert time.monotonic() - began < 30
    assert error.value.errno == errno.ENOSPC and "y.bw" in str(error.value) and "nothing was kept" in str(error.value)
    assert os.listdir(disk) == []


def test_a_writer_process_that_aborts_is_an_error_here_not_an_abort(tmp_path):
    from seqzoo.io.tables import ChildWriter

    partial = tmp_path / ".x.bw.partial"
    partial.write_bytes(b"half")
    writer = ChildWriter("import os, pickle, sys; pickle.load(sys.stdin.buffer); pickle.load(sys.stdin.buffer); "
                         "os.abort()", "first", [partial], [tmp_path / "x.bw"], what="the bigWig writer")
    with pytest.raises(OSError, match="the bigWig writer died of SIGABRT"):
        writer.send("more")
        writer.close()

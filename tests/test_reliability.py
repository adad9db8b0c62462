"""What a run leaves behind (issue 19): concurrent runs, signals, failed writes, outputs that would
replace an input or an existing file, output formats by extension, numeric options. Real files and
real ``python -m seqzoo`` processes; the README's "Reliability" section names these tests."""

import errno
import gzip
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from seqzoo.cli import build_parser, main
from seqzoo.io.tables import TABLE_FORMATS, TSVWriter, check_output, open_writer, output_format
from seqzoo.zoo.spec import find_model

MODEL = "Basset_Athaliana265"  # small, trained, committed weights: no download
EXAMPLE = find_model(MODEL) / "example"
GENOME_LENGTH = 30_000  # the example genome's chr1


@pytest.fixture
def inputs(tmp_path):
    """A private copy of the example genome and BED (so that a test may try to overwrite them)."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    shutil.copy(EXAMPLE / "genome.fa", folder / "genome.fa")
    shutil.copy(EXAMPLE / "intervals.bed", folder / "intervals.bed")
    return folder / "genome.fa", folder / "intervals.bed"


def _bed(path, n: int, prefix: str):
    """``n`` intervals of 600 bp on chr1, named ``prefix0``, ``prefix1``, ..."""
    starts = np.random.default_rng(len(prefix) + n).integers(0, GENOME_LENGTH - 600, n)
    path.write_text("".join(f"chr1\t{s}\t{s + 600}\t{prefix}{i}\n" for i, s in enumerate(starts)))
    return path


def _default_signals() -> None:
    # A shell starting the tests in the background (`pytest &`) makes its children ignore SIGINT,
    # and Python then installs no Ctrl-C handler; the run under test must get the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _seqzoo(*args, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "seqzoo", *map(str, args)], cwd=cwd, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals)


def _wait(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


# --------------------------------------------------------------------------- concurrent runs (item 4)

def test_two_concurrent_runs_with_the_same_output_leave_one_complete_run(inputs, tmp_path):
    fasta, _ = inputs
    beds = {"a": _bed(tmp_path / "a.bed", 600, "a"), "b": _bed(tmp_path / "b.bed", 1500, "b")}
    out = tmp_path / "out" / "same.tsv"
    procs = {k: _seqzoo("predict", MODEL, "--fasta", fasta, "--bed", bed, "-o", out, "--force", "--batch-size", 16,
                        "--quiet", cwd=tmp_path) for k, bed in beds.items()}
    results = {k: _wait(p) for k, p in procs.items()}
    for k, (rc, err) in results.items():
        assert rc == 0, err
        assert f"wrote {600 if k == 'a' else 1500} rows" in err  # each run wrote, whole, what it reports
    names = list(pd.read_csv(out, sep="\t")["name"])
    assert names in ([f"a{i}" for i in range(600)], [f"b{i}" for i in range(1500)])  # one run's rows, never a mix
    assert os.listdir(out.parent) == ["same.tsv"]  # neither run left a temporary file


def test_without_force_a_run_does_not_replace_an_output_another_run_finished(tmp_path):
    out = tmp_path / "t.tsv"
    first, second = (TSVWriter(out, ["x"], overwrite=False) for _ in range(2))
    assert first.partial != second.partial  # each run has its own temporary file
    first.write({"x": np.array([1, 2])})
    second.write({"x": np.array([3])})
    first.close()
    with pytest.raises(FileExistsError, match="appeared while this run was writing"):
        second.close()
    assert out.read_text() == "x\n1\n2\n"
    assert os.listdir(tmp_path) == ["t.tsv"]


# --------------------------------------------------------------------------- signals and failed writes (item 9)

@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_run_leaves_no_file(inputs, tmp_path, signum):
    fasta, _ = inputs
    bed = _bed(tmp_path / "many.bed", 50_000, "r")
    folder = tmp_path / "out"
    folder.mkdir()
    proc = _seqzoo("predict", MODEL, "--fasta", fasta, "--bed", bed, "-o", folder / "p.parquet", "--batch-size", 8,
                   "--quiet", cwd=tmp_path)
    deadline = time.time() + 120
    while not os.listdir(folder) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)  # until the run has started writing its temporary file
    assert os.listdir(folder), "the run did not start writing"
    time.sleep(0.5)
    proc.send_signal(signum)
    rc, err = _wait(proc, timeout=60)
    assert rc == 128 + signum, err
    assert f"stopped by {signal.Signals(signum).name}" in err
    assert os.listdir(folder) == []


class _Failing:
    """A file whose close() fails after closing the real file: a full disk, or Ctrl-C, at the end."""

    def __init__(self, inner, error):
        self.inner, self.error = inner, error

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def close(self):
        self.inner.close()
        raise self.error


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
@pytest.mark.parametrize("suffix", [".tsv", ".parquet"])
def test_a_failing_final_write_leaves_no_file(tmp_path, monkeypatch, suffix, error):
    import pyarrow.parquet as pq

    out = tmp_path / f"x{suffix}"
    if suffix == ".parquet":
        real_close = pq.ParquetWriter.close

        def close(self):
            real_close(self)
            raise error

        monkeypatch.setattr(pq.ParquetWriter, "close", close)
    with pytest.raises(type(error)):
        with open_writer(out, ["x"]) as writer:
            writer.write({"x": np.arange(3)})
            if suffix == ".tsv":
                writer._file = _Failing(writer._file, error)
    assert os.listdir(tmp_path) == []


def test_an_output_that_is_a_directory_is_refused_before_the_model_loads(inputs, tmp_path, monkeypatch, capsys):
    import seqzoo.cli.predict_commands as commands

    fasta, bed = inputs
    monkeypatch.setattr(commands, "_load", lambda *a, **k: pytest.fail("the model was loaded"))
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["predict", MODEL, "--fasta", str(fasta), "--bed", str(bed), "-o", str(folder), "--quiet"]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert os.listdir(folder) == []


# --------------------------------------------------------------------------- inputs, existing files, formats (item 10)

def test_an_output_naming_an_input_is_refused_even_with_force(inputs, tmp_path, capsys):
    fasta, bed = inputs
    before = {p: p.read_bytes() for p in (fasta, bed)}
    link = tmp_path / "link.tsv"
    link.symlink_to(bed)
    for output in (bed, fasta, link):
        assert main(["predict", MODEL, "--fasta", str(fasta), "--bed", str(bed), "-o", str(output), "--force",
                     "--quiet"]) == 2
        assert "is this command's input" in capsys.readouterr().err
    proteins = tmp_path / "p.fa"
    proteins.write_text(">a\nMKV\n")
    assert main(["predict", "DeepSol", "--fasta", str(proteins), "-o", str(proteins), "--quiet"]) == 2
    assert proteins.read_text() == ">a\nMKV\n"
    assert {p: p.read_bytes() for p in (fasta, bed)} == before


def test_an_existing_output_is_replaced_only_with_force(inputs, tmp_path, capsys):
    fasta, bed = inputs
    out = tmp_path / "out.tsv"
    out.write_text("an older result\n")
    args = ["predict", MODEL, "--fasta", str(fasta), "--bed", str(bed), "-o", str(out), "--quiet"]
    assert main(args) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "an older result\n"
    assert main(args + ["--force"]) == 0
    assert len(pd.read_csv(out, sep="\t")) == 10


def test_output_formats_follow_the_extension(inputs, tmp_path, capsys):
    fasta, bed = inputs
    for name in ("out.tsv", "out.tsv.gz", "out.csv", "out.csv.gz"):
        assert main(["predict", MODEL, "--fasta", str(fasta), "--bed", str(bed), "-o", str(tmp_path / name),
                     "--quiet"]) == 0
    tsv = pd.read_csv(tmp_path / "out.tsv", sep="\t")
    with gzip.open(tmp_path / "out.tsv.gz", "rt") as f:  # really gzip
        pd.testing.assert_frame_equal(pd.read_csv(f, sep="\t"), tsv)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out.csv"), tsv)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out.csv.gz", compression="gzip"), tsv)
    assert main(["predict", MODEL, "--fasta", str(fasta), "--bed", str(bed), "-o", str(tmp_path / "out.xls"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown output extension" in err and ".tsv.gz, .csv" in err and ".parquet" in err
    assert not (tmp_path / "out.xls").exists()


def test_output_format_takes_a_command_s_own_formats(tmp_path):
    with_vcf = {**TABLE_FORMATS, ".vcf": "vcf", ".vcf.gz": "vcf.gz"}  # how a VCF writer plugs in
    assert output_format("x.vcf.gz", with_vcf) == "vcf.gz" and output_format("x.tsv.gz", with_vcf) == "tsv.gz"
    with pytest.raises(ValueError, match="supported: .tsv"):
        output_format("x.vcf", TABLE_FORMATS)
    with pytest.raises(ValueError, match="unknown output extension"):
        check_output(tmp_path / "x.vcf", formats=TABLE_FORMATS)
    assert output_format("X.TSV") == "tsv"


# --------------------------------------------------------------------------- numeric options (item 7)

def test_batch_size_zero_is_refused_and_writes_nothing(inputs, tmp_path):
    fasta, bed = inputs
    rc, err = _wait(_seqzoo("predict", MODEL, "--fasta", fasta, "--bed", bed, "-o", tmp_path / "o.tsv",
                            "--batch-size", 0, "--quiet", cwd=tmp_path))
    assert rc == 2 and "argument --batch-size: 0 is not a positive integer" in err
    assert not (tmp_path / "o.tsv").exists() and "wrote" not in err


@pytest.mark.parametrize("argv, message", [
    (["predict", "M", "--fasta", "f", "-o", "o", "--batch-size", "-1"], "--batch-size: -1 is not a positive integer"),
    (["predict", "M", "--fasta", "f", "-o", "o", "--batch-size", "x"], "--batch-size: 'x' is not an integer"),
    (["predict", "M", "--fasta", "f", "-o", "o", "--step", "0"], "--step: 0 is not a positive integer"),
    (["predict", "M", "--fasta", "f", "-o", "o", "--workers", "0"], "--workers: 0 is not a positive integer"),
    (["variants", "M", "--fasta", "f", "--vcf", "v", "-o", "o", "--batch-size", "0"], "--batch-size: 0"),
    (["learned-motifs", "M", "--fasta", "f", "--bed", "b", "-o", "o", "--top", "0"], "--top: 0"),
    (["learned-motifs", "M", "--fasta", "f", "--bed", "b", "-o", "o", "--threshold", "1.5"],
     "--threshold: 1.5 is not a number from 0 to 1"),
    (["learned-motifs", "M", "--fasta", "f", "--bed", "b", "-o", "o", "--max-windows", "0"], "--max-windows: 0"),
    (["dataset", "--fasta", "f", "--peaks", "p", "--design", "basset", "--out", "d", "--seed", "-1"],
     "--seed: -1 is not a non-negative integer"),
    (["dataset", "--fasta", "f", "--peaks", "p", "--design", "basset", "--out", "d", "--max-n-fraction", "nan"],
     "--max-n-fraction: nan is not a number from 0 to 1"),
    (["dataset", "--fasta", "f", "--peaks", "p", "--design", "basset", "--out", "d", "--bin-size", "0"],
     "--bin-size: 0"),
    (["dataset", "--fasta", "f", "--peaks", "p", "--design", "basset", "--out", "d", "--flank", "-5"], "--flank: -5"),
])
def test_numeric_options_are_checked_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser(argv[0]).parse_args(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("rest, message", [
    (["--epochs", "0"], "--epochs: 0 is not a positive integer"),
    (["--learning-rate", "0"], "--learning-rate: 0 is not a positive number"),
    (["--valid-to-train", "1.5"], "--valid-to-train: 1.5 is not a number from 0 to 1"),
    (["--batch-size", "0"], "--batch-size: 0"),
])
def test_training_options_are_checked_by_the_parser(rest, message, tmp_path, capsys):
    argv = ["train", "DeepSol", "--train", "t.tsv", "--valid", "v.tsv", "-o", str(tmp_path / "run"), *rest]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_python_functions_refuse_a_batch_size_below_one(inputs, tmp_path):
    from seqzoo.predict_dna import predict_bed
    from seqzoo.predict_protein import predict_fasta
    from seqzoo.runtime import get_model

    proteins = tmp_path / "p.fa"
    proteins.write_text(">a\nMKV\n")
    with pytest.raises(ValueError, match="batch_size must be an integer of at least 1; got 0"):
        predict_fasta(lambda x: np.zeros((len(x), 1)), proteins, tmp_path / "p.tsv", max_len=10, batch_size=0)
    fasta, bed = inputs
    model = get_model(MODEL, device="cpu")
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="batch_size must be an integer of at least 1"):
            predict_bed(model, fasta, bed, tmp_path / "o.tsv", batch_size=bad, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["inputs", "p.fa"]


@pytest.fixture
def model_copy(tmp_path):
    """A private copy of the model directory (its files may be named as outputs) and of its weights."""
    directory = tmp_path / "model"
    shutil.copytree(find_model(MODEL), directory, ignore=shutil.ignore_patterns("example"))
    weights = tmp_path / "mine.weights.h5"
    shutil.copy(next(directory.glob("*.weights.h5")), weights)
    return directory, weights


def test_an_output_naming_a_file_of_the_model_is_refused_even_with_force(inputs, model_copy, tmp_path, monkeypatch,
                                                                         capsys):
    import seqzoo.cli.predict_commands as commands
    from seqzoo.zoo.artifacts import cached_path
    from seqzoo.zoo.spec import load_spec

    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(commands, "_load", lambda *a, **k: pytest.fail("the model was loaded"))
    fasta, bed = inputs
    directory, weights = model_copy
    before = {p: p.read_bytes() for p in [weights, *directory.iterdir()]}
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr1\t1000\t.\tA\tG\t.\t.\t.\n")
    weights_file = next(directory.glob("*.weights.h5")).name
    cached = cached_path(load_spec(directory).artifact)  # where the run copies the weights (not there yet)
    predict = ["predict", str(directory), "--fasta", str(fasta), "--bed", str(bed), "--force", "--quiet"]
    runs = [
        (["predict", MODEL, "--fasta", str(fasta), "--bed", str(bed), "--weights", str(weights), "-o", str(weights),
          "--force", "--quiet"], weights),
        (["variants", MODEL, "--fasta", str(fasta), "--vcf", str(vcf), "--weights", str(weights), "-o", str(weights),
          "--force", "--quiet"], weights),
        *[(predict + ["-o", str(directory / name)], directory / name)
          for name in ("model.yaml", "weights.yaml", "target_labels.txt", weights_file, "test.expect.h5")],
        (predict + ["-o", str(cached)], cached),
        (["learned-motifs", str(directory), "--fasta", str(fasta), "--bed", str(bed), "-o", str(tmp_path / "m.tsv"),
          "--meme-out", str(directory / weights_file), "--force"], directory / weights_file),
    ]
    for argv, named in runs:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"is this command's input {named}" in err and "never overwritten, even with --force" in err, err
    assert {p: p.read_bytes() for p in before} == before
    assert not cached.exists() and not (tmp_path / "m.tsv").exists()


def test_an_output_naming_an_input_s_index_is_refused_even_before_it_exists(inputs, tmp_path, capsys):
    fasta, bed = inputs
    index = fasta.with_name(fasta.name + ".fai")
    assert not index.exists()  # the run would create it, then the output would replace it
    for command in (["learned-motifs", MODEL, "--fasta", str(fasta), "--bed", str(bed), "-o", str(tmp_path / "m.tsv"),
                     "--meme-out", str(index), "--force"],
                    ["explain", MODEL, "--fasta", str(fasta), "--region", "chr1:0-600", "--target", "0",
                     "-o", str(tmp_path / "e.png"), "--arrays", str(index), "--force"]):
        assert main(command) == 2
        assert f"is the index of this command's input {fasta}" in capsys.readouterr().err
    assert not index.exists() and not (tmp_path / "m.tsv").exists() and not (tmp_path / "e.png").exists()


def test_python_predict_bed_refuses_an_output_naming_the_model_s_weights(inputs, tmp_path):
    from seqzoo.predict_dna import predict_bed
    from seqzoo.runtime import get_model

    fasta, bed = inputs
    weights = tmp_path / "mine.weights.h5"
    shutil.copy(next(find_model(MODEL).glob("*.weights.h5")), weights)
    model = get_model(MODEL, weights=weights, device="cpu")
    with pytest.raises(ValueError, match="is this command's input"):
        predict_bed(model, fasta, bed, weights, progress=False)
    get_model(MODEL, weights=weights, device="cpu")  # still the weights


def test_evaluate_and_motif_baseline_refuse_a_metrics_file_naming_what_they_read(model_copy, tmp_path, capsys):
    directory, _ = model_copy
    data = tmp_path / "ds"
    data.mkdir()
    (data / "manifest.json").write_text("{}\n")
    meme = tmp_path / "m.meme"
    meme.write_text("MEME version 4\n")
    before = {p: p.read_bytes() for p in [*directory.iterdir(), data / "manifest.json", meme]}
    for argv in (["evaluate", str(directory), "--data", str(data), "-o", str(directory / "weights.yaml")],
                 ["motif-baseline", "--data", str(data), "--meme", str(meme), "--tf", "A", "-o",
                  str(data / "manifest.json")],
                 ["motif-baseline", "--data", str(data), "--meme", str(meme), "--tf", "A", "-o", str(meme)]):
        assert main(argv) == 2
        assert "is this command's input" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before

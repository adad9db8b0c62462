"""One interval -> window -> one-hot path: the rules of seqzoo.windows, checked by hand, and the
same rows, padded counts and verdicts from `seqzoo predict` (predict_dna), the kipoi dataloader
(DNAIntervalDataset, also through kipoi itself) and `seqzoo explain` (explain_region)."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import seqzoo
from seqzoo.cli import main
from seqzoo.encoding import one_hot_dna, reverse_complement_one_hot
from seqzoo.interpret import attributions, explain_region
from seqzoo.io.genome import Genome
from seqzoo.predict_dna import predict_bed
from seqzoo.windows import (NoPredictionWarning, chromosome_problem, invalid_dna, iter_window_batches, parse_region,
                            require_chromosome)
from seqzoo.zoo.spec import find_model, load_spec

REPO = Path(__file__).resolve().parents[1]
SEQ_LEN = 600  # Basset's input, so that every caller below uses the same windows
IUPAC = "RYKMSWBDHV"


def _chromosomes() -> dict[str, str]:
    """chr1 (2,000 bp): lower case at 300-360, N run at 400-450, IUPAC codes at 500-510, an 'X' at
    1200; chr2 (500 bp, shorter than a window): lower-case random bases."""
    rng = np.random.default_rng(0)
    chr1 = list("".join(rng.choice(list("ACGT"), 2000)))
    chr1[300:360] = "".join(chr1[300:360]).lower()
    chr1[400:450] = "N" * 50
    chr1[500:510] = IUPAC
    chr1[1200] = "X"
    return {"chr1": "".join(chr1), "chr2": "".join(rng.choice(list("acgt"), 500))}


CHROMS = _chromosomes()

# BED line, chrom, start, end, name, strand; after two lines that are skipped, so that line numbers
# and row numbers differ.
ROWS = [
    (3, "chr1", 400, 500, "lower_N_iupac", "+"),         # window 150-750
    (4, "chr1", 400, 500, "lower_N_iupac_minus", "-"),
    (5, "chr1", 0, 100, "start_edge", "."),               # window -250-350: 250 padded
    (6, "chr1", 1950, 2000, "end_edge", "+"),             # window 1675-2275: 275 padded
    (7, "chr1", 1150, 1250, "invalid", "+"),              # window 900-1500 holds the 'X'
    (8, "chr2", 200, 300, "both_ends_minus", "-"),        # window -50-550: 50 + 50 padded
    (9, "chr1", 800, 900, "plain", "+"),                  # window 550-1150
    (10, "chr1", 5000, 5100, "beyond_end", "+"),          # window 4750-5350: no real base, 600 padded
]
BAD_CHARACTER = {"invalid": "the window chr1:900-1500 holds characters that are not DNA bases or IUPAC codes"}
PAST_END = {
    "start_edge": "the window chr1:-250-350 reaches past the chromosome (250 positions); "
                  "refused (use out-of-bounds 'pad' to fill them with N)",
    "end_edge": "the window chr1:1675-2275 reaches past the chromosome (275 positions); "
                "refused (use out-of-bounds 'pad' to fill them with N)",
    "both_ends_minus": "the window chr2:-50-550 reaches past the chromosome (100 positions); "
                       "refused (use out-of-bounds 'pad' to fill them with N)",
}


NO_BASE = {"beyond_end": "the window chr1:4750-5350 holds no base A, C, G or T (600 positions past the "
                         "chromosome end, the others N); not predicted"}


def expected_notes(out_of_bounds: str) -> list[str]:
    """The note of every row under the rules (empty: the row is encoded)."""
    return [BAD_CHARACTER.get(name) or NO_BASE.get(name) or (PAST_END.get(name, "") if out_of_bounds == "refuse" else "")
            for *_, name, _ in ROWS]


def by_hand(chrom: str, start: int, end: int, strand: str) -> tuple[np.ndarray, int]:
    """The rules written out: the centred window, N outside the chromosome, '-' reverse complemented."""
    seq = CHROMS[chrom]
    lo = (start + end) // 2 - SEQ_LEN // 2
    window = "".join(seq[p] if 0 <= p < len(seq) else "N" for p in range(lo, lo + SEQ_LEN))
    x = one_hot_dna(window)
    return (reverse_complement_one_hot(x) if strand == "-" else x), sum(not 0 <= p < len(seq) for p in range(lo, lo + SEQ_LEN))


@pytest.fixture
def files(tmp_path):
    fasta = tmp_path / "genome.fa"
    fasta.write_text("".join(f">{c}\n" + "\n".join(s[i:i + 70] for i in range(0, len(s), 70)) + "\n"
                             for c, s in CHROMS.items()))
    bed = tmp_path / "edges.bed"
    bed.write_text("# window edge cases\ntrack name=edges\n"
                   + "".join(f"{c}\t{s}\t{e}\t{n}\t0\t{st}\n" for _, c, s, e, n, st in ROWS))
    return fasta, bed


@pytest.fixture(scope="module")
def dataloaders(kipoi_home):
    """seqzoo.dataloaders, imported (with kipoi) under a HOME of its own: kipoi writes ~/.kipoi."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(kipoi_home))
        yield importlib.import_module("seqzoo.dataloaders")


@pytest.fixture(scope="module")
def basset():
    return seqzoo.get_model("Basset", device="cpu")


def windows_of(bed, fasta, out_of_bounds, batch_size=3):
    """Rows of seqzoo predict's window path, over batches that cut the BED in three."""
    with Genome(fasta) as genome:
        batches = list(iter_window_batches(bed, genome, SEQ_LEN, batch_size, out_of_bounds))
    return (np.concatenate([b.x for b in batches]), np.concatenate([b.padded for b in batches]),
            np.concatenate([b.refused for b in batches]), [n for b in batches for n in b.notes])


def read_tsv(path):
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["nan"])


def test_basset_reads_the_windows_these_tests_build():
    assert load_spec(find_model("Basset")).input_shape == (SEQ_LEN, 4)


@pytest.mark.parametrize("out_of_bounds", ["pad", "refuse"])
def test_the_window_path_follows_the_rules_by_hand(files, out_of_bounds):
    fasta, bed = files
    x, padded, refused, notes = windows_of(bed, fasta, out_of_bounds)
    assert notes == expected_notes(out_of_bounds)
    assert list(refused) == [bool(n) for n in notes]
    for i, (_, chrom, start, end, name, strand) in enumerate(ROWS):
        if name == "invalid":
            assert not x[i].any()
            continue
        want, n_padded = by_hand(chrom, start, end, strand)
        assert padded[i] == n_padded, name
        np.testing.assert_array_equal(x[i], 0 if refused[i] else want, err_msg=name)
    # the encodings themselves: lower case as upper case, N uniform, IUPAC over its bases, '-' complemented
    np.testing.assert_array_equal(x[0][300 - 150:360 - 150], one_hot_dna(CHROMS["chr1"][300:360].upper()))
    np.testing.assert_array_equal(x[0][400 - 150], [0.25] * 4)
    np.testing.assert_array_equal(x[0][500 - 150], [0.5, 0, 0.5, 0])              # R = A/G
    np.testing.assert_array_equal(x[1][SEQ_LEN - 1 - (500 - 150)], [0, 0.5, 0, 0.5])  # its complement Y = C/T
    assert padded[2] == 250 and padded[3] == 275 and padded[5] == 100


@pytest.mark.parametrize("out_of_bounds", ["pad", "refuse"])
@pytest.mark.kipoi
def test_dataloader_and_predict_give_the_same_rows_and_verdicts(files, dataloaders, basset, tmp_path, out_of_bounds):
    fasta, bed = files
    out = tmp_path / "p.tsv"
    assert predict_bed(basset, fasta, bed, out, batch_size=3, out_of_bounds=out_of_bounds, progress=False) == len(ROWS)
    table = read_tsv(out)
    x, padded, _, _ = windows_of(bed, fasta, out_of_bounds)
    data = dataloaders.DNAIntervalDataset(bed, fasta, seq_len=SEQ_LEN, out_of_bounds=out_of_bounds)
    assert len(data) == len(ROWS)
    assert list(table["note"]) == expected_notes(out_of_bounds)
    columns = list(basset.columns)
    for i, (line, *_, name, _) in enumerate(ROWS):
        note = table.loc[i, "note"]
        item = data[i]
        assert item["metadata"]["note"] == note, name
        if note:  # predict: no values and the note; the dataloader: no input (all NaN) and that note
            assert table.loc[i, columns].isna().all(), name
            assert np.isnan(item["inputs"]).all(), name
            continue
        np.testing.assert_array_equal(item["inputs"], x[i], err_msg=name)
        assert item["metadata"]["padded"] == padded[i] == table.loc[i, "padded"], name
        ranges = item["metadata"]["ranges"]
        assert (ranges.chr, ranges.start, ranges.end, ranges.id, ranges.strand) == ROWS[i][1:]
        np.testing.assert_allclose(table.loc[i, columns].to_numpy(float),
                                   basset.predict_on_batch(item["inputs"][None])[0], atol=1e-6, err_msg=name)


@pytest.mark.kipoi
def test_the_dataloader_through_kipoi_applies_the_same_rules(files, dataloaders, kipoi_home, monkeypatch):
    import kipoi

    monkeypatch.setenv("HOME", str(kipoi_home))
    fasta, bed = files
    factory = kipoi.get_dataloader_factory(str(REPO / "dataloaders" / "DNAIntervals"), source="dir")
    data = factory(intervals_file=str(bed), fasta_file=str(fasta), seq_len=SEQ_LEN, out_of_bounds="refuse")
    x, padded, _, notes = windows_of(bed, fasta, "refuse")
    np.testing.assert_array_equal(data[1]["inputs"], x[1])
    for i in (2, 4, 7):  # past an end, not DNA, no real base: no input and predict's note
        assert np.isnan(data[i]["inputs"]).all() and data[i]["metadata"]["note"] == notes[i] != ""


@pytest.mark.parametrize("out_of_bounds", ["pad", "refuse"])
@pytest.mark.kipoi
def test_kipoi_pipeline_keeps_every_row_and_gives_no_value_where_the_cli_gives_none(files, tmp_path, kipoi_home,
                                                                                       monkeypatch, out_of_bounds):
    """The same verdicts from `seqzoo predict` and kipoi's pipeline.predict (the real kipoi): one
    rule for a row without a prediction, refused or with no real base; the kipoi run goes on."""
    import kipoi

    monkeypatch.setenv("HOME", str(kipoi_home))
    fasta, bed = files
    out = tmp_path / "cli.tsv"
    assert main(["predict", "Basset", "--fasta", str(fasta), "--bed", str(bed), "-o", str(out),
                 "--out-of-bounds", out_of_bounds, "--quiet"]) == 0
    table = read_tsv(out)
    assert list(table["note"]) == expected_notes(out_of_bounds)
    model = kipoi.get_model(str(REPO / "models" / "Basset"), source="dir")
    with pytest.warns(NoPredictionWarning) as warned:  # a NaN row is never silent: file, line, why
        preds = model.pipeline.predict({"intervals_file": str(bed), "fasta_file": str(fasta),
                                        "out_of_bounds": out_of_bounds}, batch_size=3)
    assert [str(w.message) for w in warned if w.category is NoPredictionWarning] == [
        f"{bed}, line {line}: {note}; its prediction is NaN"
        for (line, *_), note in zip(ROWS, expected_notes(out_of_bounds)) if note]
    assert preds.shape == (len(ROWS), len(table.columns) - 7)
    no_value = table["note"].to_numpy() != ""
    np.testing.assert_array_equal(np.isnan(preds).all(axis=1), no_value)
    assert not np.isnan(preds[~no_value]).any()
    columns = list(table.columns[7:])
    np.testing.assert_allclose(preds[~no_value], table.loc[~no_value, columns].to_numpy(float), atol=1e-5)


@pytest.mark.kipoi
def test_kipoi_predict_says_which_rows_get_no_prediction(files, tmp_path, kipoi_home):
    import json
    import os
    import subprocess

    fasta, bed = files
    kipoi = Path(sys.executable).with_name("kipoi")
    done = subprocess.run([str(kipoi), "predict", str(REPO / "models" / "Basset"), "--source", "dir",
                           "--dataloader_args", json.dumps({"intervals_file": str(bed), "fasta_file": str(fasta)}),
                           "-o", str(tmp_path / "out.tsv")], cwd=tmp_path, capture_output=True, text=True,
                          env=dict(os.environ, HOME=str(kipoi_home)), timeout=300)
    assert done.returncode == 0, done.stderr
    for (line, *_), note in zip(ROWS, expected_notes("pad")):
        assert (f"NoPredictionWarning: {bed}, line {line}: {note}; its prediction is NaN" in done.stderr) == bool(note)


@pytest.mark.kipoi
def test_an_unknown_chromosome_fails_every_caller_before_anything_is_written(files, dataloaders, basset, tmp_path):
    fasta, _ = files
    bed = tmp_path / "bad.bed"
    bed.write_text("chr1\t100\t200\n# a comment\n1\t100\t200\n")
    want = f"{bed}, line 3: chromosome '1' is not in {fasta}; the FASTA has 'chr1'"
    with pytest.raises(ValueError) as from_loader:
        dataloaders.DNAIntervalDataset(bed, fasta, seq_len=SEQ_LEN)
    out = tmp_path / "p.tsv"
    with pytest.raises(ValueError) as from_predict:
        predict_bed(basset, fasta, bed, out, progress=False)
    assert str(from_loader.value) == str(from_predict.value)
    assert str(from_predict.value).startswith(want)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))
    with pytest.raises(ValueError, match=r"region 1:100-200: chromosome '1' is not in .*genome.fa; the FASTA has 'chr1'"):
        explain_region(basset, fasta, "1:100-200", 0, ism=False)


def test_the_shared_checks(files):
    fasta, _ = files
    with Genome(fasta) as genome:
        assert chromosome_problem(genome, "chr2") is None
        assert "the FASTA has 'chr2'" in chromosome_problem(genome, "2")
        assert "its 2 sequences are: 'chr1', 'chr2'" in chromosome_problem(genome, "chrUn")
        assert require_chromosome(genome, "chr1", "here") == 2000
        with pytest.raises(ValueError, match=r"^somewhere: chromosome 'chr3' is not in"):
            require_chromosome(genome, "chr3", "somewhere")
    codes = np.frombuffer(b"ACGTNacgtn" + IUPAC.encode() + IUPAC.lower().encode() + b"X-*1 ", dtype=np.uint8)
    assert list(np.flatnonzero(invalid_dna(codes))) == list(range(30, 35))


def test_explain_pads_and_says_so_or_refuses(files, basset):
    fasta, _ = files
    r = explain_region(basset, fasta, "chr1:0-100", 0, ism=False)
    assert r["padded"] == 250 and r["window_start"] == -250 and r["attribution"].shape == (100, 4)
    want, _ = by_hand("chr1", 0, 100, ".")
    assert r["prediction"] == pytest.approx(float(basset.predict_on_batch(want[None])[0, 0]), abs=1e-6)
    assert explain_region(basset, fasta, "chr1:800-900", 0, ism=False)["padded"] == 0
    with pytest.raises(ValueError, match=r"region chr1:0-100: the window chr1:-250-350 reaches past the chromosome "
                                         r"\(250 positions\)"):
        explain_region(basset, fasta, "chr1:0-100", 0, ism=False, out_of_bounds="refuse")
    with pytest.raises(ValueError, match="region chr1:1150-1250: the window chr1:900-1500 holds characters that are not"):
        explain_region(basset, fasta, "chr1:1150-1250", 0, ism=False)
    with pytest.raises(ValueError, match="strand must be"):
        explain_region(basset, fasta, "chr1:800-900", 0, strand="x")


@pytest.mark.parametrize("out_of_bounds", ["pad", "refuse"])
def test_explain_draws_nothing_for_a_window_with_no_real_base(files, basset, tmp_path, capsys, out_of_bounds):
    fasta, _ = files
    with pytest.raises(ValueError, match=f"region chr1:5000-5100: {NO_BASE['beyond_end']}".replace("(", r"\(")
                       .replace(")", r"\)")):
        explain_region(basset, fasta, "chr1:5000-5100", 0, ism=False,
                       out_of_bounds=out_of_bounds)
    figure = tmp_path / "fig.png"
    assert main(["explain", "Basset", "--fasta", str(fasta), "--region", "chr1:5000-5100", "--target", "0",
                 "--no-ism", "--out-of-bounds", out_of_bounds, "-o", str(figure)]) == 2
    assert "holds no base A, C, G or T" in capsys.readouterr().err and not figure.exists()


def test_explain_on_the_minus_strand_sees_the_reverse_complement_and_maps_back_to_the_genome(files, basset):
    fasta, _ = files
    start, end = 440, 443  # window 141-741; on the reverse complement the region is at 298-301, not 299-302
    r = explain_region(basset, fasta, f"chr1:{start}-{end}", 0, method="saliency", strand="-")
    forward, _ = by_hand("chr1", start, end, "+")
    reverse = reverse_complement_one_hot(forward)
    assert r["strand"] == "-" and r["padded"] == 0
    assert r["prediction"] == pytest.approx(float(basset.predict_on_batch(reverse[None])[0, 0]), abs=1e-6)
    lo, hi = start - r["window_start"], end - r["window_start"]
    # saliency of the reverse complement, turned back to genome orientation
    genome_saliency = reverse_complement_one_hot(attributions(basset, reverse[None], 0, method="saliency"))[0]
    np.testing.assert_allclose(r["attribution"], genome_saliency[lo:hi], rtol=1e-5, atol=1e-9)
    # ISM entry [i, b]: base b (of the + strand) at genome position start + i, predicted on the - strand
    reference = basset.predict_on_batch(reverse[None])[0, 0]
    mutants = []
    for i in range(end - start):
        for b in range(4):
            mutant = forward.copy()
            mutant[lo + i] = np.eye(4)[b]
            mutants.append(reverse_complement_one_hot(mutant))
    direct = (basset.predict_on_batch(np.stack(mutants))[:, 0] - reference).reshape(end - start, 4)
    direct[forward[lo:hi] == 1] = 0
    np.testing.assert_allclose(r["ism"], direct, atol=2e-6)


# --------------------------------------------------------------------------- coordinates and pipes

FAR = 1 << 53  # MAX_COORDINATE: the largest coordinate a BED may hold


@pytest.mark.kipoi
def test_coordinates_stay_integers_on_every_path(files, dataloaders, basset, tmp_path):
    """A row far past a chromosome (up to 2^53) is a noted row whose coordinates, and every other
    row's, stay int64 in TSV, Parquet, HDF5 and kipoi's batches; past 2^53 the BED is refused by
    every caller, naming the line."""
    import h5py

    fasta, _ = files
    bed = tmp_path / "far.bed"
    bed.write_text(f"chr1\t800\t900\tplain\nchr1\t1234567\t1234767\tfar\nchr1\t{FAR - 100}\t{FAR}\tfarthest\n")
    starts, ends = [800, 1234567, FAR - 100], [900, 1234767, FAR]
    for suffix in (".tsv", ".parquet", ".h5"):
        predict_bed(basset, fasta, bed, tmp_path / f"p{suffix}", progress=False)
    lines = (tmp_path / "p.tsv").read_text().splitlines()
    assert [line.split("\t")[1:3] for line in lines[1:]] == [[str(s), str(e)] for s, e in zip(starts, ends)]
    assert "holds no base A, C, G or T" in lines[3]
    table = pd.read_parquet(tmp_path / "p.parquet")
    assert table["start"].dtype == table["end"].dtype == np.int64 and list(table["end"]) == ends
    with h5py.File(tmp_path / "p.h5") as h5:
        assert h5["start"].dtype == h5["end"].dtype == np.int64 and list(h5["start"][:]) == starts
    data = dataloaders.DNAIntervalDataset(bed, fasta, seq_len=SEQ_LEN)
    batch = next(data.batch_iter(batch_size=3))
    ranges = batch["metadata"]["ranges"]
    assert ranges["start"].dtype == ranges["end"].dtype == np.int64 and list(ranges["end"]) == ends

    bed.write_text("chr1\t800\t900\nchr1\t1000\t9223372036854775808\n")  # 2^63: no int64 holds it
    want = f"{bed}, line 2: coordinate 9223372036854775808 is past any chromosome (the limit is 2^53"
    for call in (lambda: predict_bed(basset, fasta, bed, tmp_path / "q.tsv", progress=False),
                 lambda: dataloaders.DNAIntervalDataset(bed, fasta, seq_len=SEQ_LEN)):
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value).startswith(want)
    assert not (tmp_path / "q.tsv").exists()


def test_a_bed_given_as_a_pipe_is_read_once_and_predicted_whole(files, tmp_path):
    """`--bed <(...)` and `--bed /dev/stdin` (real processes, real pipes) give the rows a file gives;
    a bad line in a pipe is named by the pipe's name and line; a FASTA pipe is refused, saying why."""
    fasta, bed = files
    seqzoo_cli = f"{sys.executable} -m seqzoo predict Basset --fasta {fasta} --quiet"

    def run(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300)

    assert main(["predict", "Basset", "--fasta", str(fasta), "--bed", str(bed), "-o", str(tmp_path / "file.tsv"),
                 "--quiet"]) == 0
    piped = run(f"{seqzoo_cli} --bed <(gzip -c {bed}) -o {tmp_path / 'substituted.tsv'} && "
                f"cat {bed} | {seqzoo_cli} --bed /dev/stdin -o {tmp_path / 'stdin.tsv'}")
    assert piped.returncode == 0, piped.stderr
    want = read_tsv(tmp_path / "file.tsv")
    for name in ("substituted.tsv", "stdin.tsv"):
        pd.testing.assert_frame_equal(read_tsv(tmp_path / name), want)

    bad = run(f"{seqzoo_cli} --bed <(printf 'chr1\\t1\\t2\\nchr9\\t1\\t2\\n') -o {tmp_path / 'bad.tsv'}")
    assert bad.returncode != 0 and re.search(r"error: /dev/fd/\d+, line 2: chromosome 'chr9' is not in", bad.stderr)
    fasta_pipe = run(f"{sys.executable} -m seqzoo predict Basset --fasta <(cat {fasta}) --bed {bed} "
                     f"-o {tmp_path / 'nothing.tsv'} --quiet")
    assert fasta_pipe.returncode != 0 and "is a pipe or a device, not a file: a genome FASTA" in fasta_pipe.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edges.bed", "file.tsv", "genome.fa", "genome.fa.fai",
                                                          "stdin.tsv", "substituted.tsv"]


def test_a_region_holds_integers_up_to_2_53():
    assert parse_region("chr1:1,000-2,000") == ("chr1", 1000, 2000)
    assert parse_region(f"chr1:{FAR - 1}-{FAR}") == ("chr1", FAR - 1, FAR)
    for region in (f"chr1:0-{FAR + 1}", "chr1:1-9223372036854775808", "chr1:\u0661-\u0662"):
        with pytest.raises(ValueError, match=r"expected CHROM:START-END with 0 <= START < END <= 2\^53"):
            parse_region(region)

import gzip
import os
import pickle
import re
import subprocess

import numpy as np
import pytest

from seqzoo.encoding import one_hot_dna
from seqzoo.io.genome import ChromosomeNotFound, Genome, index_problem

# chr1: 25 bases wrapped at 10; chr2: soft-masked (lower case) stretch.
CHR1 = "ACGTACGTACGGGGCCCCTTTTAAN"
CHR2 = "ACGTacgtNNACGT"
FASTA = f">chr1 first chromosome\n{CHR1[:10]}\n{CHR1[10:20]}\n{CHR1[20:]}\n>chr2\n{CHR2}\n"


def decode(codes):
    return codes.tobytes().decode()


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "genome.fa"
    path.write_text(FASTA)
    return path


def test_chrom_sizes_and_fetch(fasta):
    with Genome(fasta) as genome:
        assert genome.chrom_sizes == {"chr1": 25, "chr2": 14}
        codes, n_padded = genome.fetch_codes("chr1", 8, 22)
        assert codes.dtype == np.uint8
        assert decode(codes) == CHR1[8:22]
        assert n_padded == 0
    assert (fasta.parent / "genome.fa.fai").exists()  # index built next to the FASTA


def test_soft_masking_is_kept(fasta):
    with Genome(fasta) as genome:
        codes, _ = genome.fetch_codes("chr2", 2, 10)
        assert decode(codes) == "GTacgtNN"
        # lower case encodes like upper case
        np.testing.assert_array_equal(one_hot_dna(codes), one_hot_dna("GTACGTNN"))


def test_padding_at_chromosome_start(fasta):
    with Genome(fasta) as genome:
        codes, n_padded = genome.fetch_codes("chr1", -3, 4)
        assert decode(codes) == "NNN" + CHR1[:4]
        assert n_padded == 3
        np.testing.assert_array_equal(one_hot_dna(codes)[:3], np.full((3, 4), 0.25, dtype=np.float32))


def test_padding_at_chromosome_end(fasta):
    with Genome(fasta) as genome:
        codes, n_padded = genome.fetch_codes("chr1", 20, 30)
        assert decode(codes) == CHR1[20:] + "NNNNN"
        assert n_padded == 5


def test_padding_at_both_ends(fasta):
    with Genome(fasta) as genome:
        codes, n_padded = genome.fetch_codes("chr2", -2, 17)
        assert decode(codes) == "NN" + CHR2 + "NNN"
        assert len(codes) == 19
        assert n_padded == 5


def test_region_entirely_outside(fasta):
    with Genome(fasta) as genome:
        codes, n_padded = genome.fetch_codes("chr2", 100, 110)
        assert decode(codes) == "N" * 10 and n_padded == 10
        codes, n_padded = genome.fetch_codes("chr2", -10, -4)
        assert decode(codes) == "N" * 6 and n_padded == 6
        codes, n_padded = genome.fetch_codes("chr2", 3, 3)
        assert len(codes) == 0 and n_padded == 0


def test_end_before_start(fasta):
    with Genome(fasta) as genome:
        with pytest.raises(ValueError, match=r"end \(2\) is before start \(5\)"):
            genome.fetch_codes("chr1", 5, 2)


def test_missing_chrom_suggests_adding_chr_prefix(fasta):
    with Genome(fasta) as genome:
        with pytest.raises(ChromosomeNotFound) as info:
            genome.fetch_codes("1", 0, 10)
    err = info.value
    assert isinstance(err, KeyError)
    assert str(err) == (
        f"chromosome '1' is not in {fasta}; the FASTA has 'chr1' — the BED and FASTA use different naming "
        "(with and without the 'chr' prefix); rename the chromosomes in one of them so that they match"
    )
    assert err.chrom == "1" and err.suggestion == "chr1"


def test_missing_chrom_suggests_removing_chr_prefix(tmp_path):
    path = tmp_path / "ensembl.fa"
    path.write_text(">1\nACGT\n>MT\nAC\n")
    with Genome(path) as genome:
        with pytest.raises(ChromosomeNotFound, match=r"^chromosome 'chr1' is not in .*ensembl\.fa; the FASTA has '1' "):
            genome.fetch_codes("chr1", 0, 2)
        with pytest.raises(ChromosomeNotFound, match=r"chromosome 'chrM' is not in .*; the FASTA has 'MT'"):
            genome.fetch_codes("chrM", 0, 2)
        # nothing was renamed silently
        assert genome.chrom_sizes == {"1": 4, "MT": 2}


def test_missing_chrom_without_suggestion_lists_sequences(fasta):
    with Genome(fasta) as genome:
        with pytest.raises(ChromosomeNotFound) as info:
            genome.fetch_codes("chr7", 0, 1)
    assert str(info.value) == f"chromosome 'chr7' is not in {fasta} (its 2 sequences are: 'chr1', 'chr2')"
    assert info.value.suggestion is None


def test_chromosome_not_found_pickles(fasta):
    err = ChromosomeNotFound("1", fasta, ["chr1", "chr2"])
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is ChromosomeNotFound and str(copy) == str(err)


def test_crlf_fasta(tmp_path):
    path = tmp_path / "crlf.fa"
    path.write_bytes(b">c1 desc\r\nACGTACGTAC\r\nGGGG\r\n>c2\r\nTTTT\r\n")
    with Genome(path) as genome:
        assert genome.chrom_sizes == {"c1": 14, "c2": 4}
        assert decode(genome.fetch_codes("c1", 5, 16)[0]) == "CGTACGGGGNN"


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"hello world\nthis is not fasta\n", "not a valid FASTA file"),
        (b"", "not a valid FASTA file"),
        (b"\xff\xfe\x00binary\n", "not a valid FASTA file"),
        (b">c1\nACGT\nAC\nACGT\n", "not a valid FASTA file"),  # inconsistent line lengths
        (b">c1\nACGT\n>c1\nAA\n", 'Duplicate key "c1"'),
    ],
)
def test_bad_fasta_names_the_file(tmp_path, content, problem):
    path = tmp_path / "bad.fa"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        Genome(path)
    assert str(info.value).startswith(f"{path}: ")
    assert problem in str(info.value)


def test_plain_gzip_fasta_is_rejected_with_advice(tmp_path):
    path = tmp_path / "genome.fa.gz"
    path.write_bytes(gzip.compress(FASTA.encode()))
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: the FASTA is gzip-compressed.*bgzip"):
        Genome(path)


def test_missing_fasta(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.fa"):
        Genome(tmp_path / "nope.fa")


def test_index_built_in_temp_dir_when_fai_cannot_be_written(fasta):
    # A directory squatting on the .fai path, older than the FASTA, makes pyfaidx try to
    # rebuild the (stale) index and fail to write it, even when running as root.
    fai = fasta.parent / "genome.fa.fai"
    fai.mkdir()
    os.utime(fai, (0, 0))
    genome = Genome(fasta)
    try:
        tmp_dir = genome._tmp_index_dir
        assert tmp_dir is not None and os.path.isfile(os.path.join(tmp_dir, "genome.fa.fai"))
        assert decode(genome.fetch_codes("chr1", 0, 4)[0]) == "ACGT"
    finally:
        genome.close()
    assert not os.path.exists(tmp_dir)  # the temporary index is removed on close


def test_read_only_directory(tmp_path):
    ro_dir = tmp_path / "ro"
    ro_dir.mkdir()
    (ro_dir / "genome.fa").write_text(FASTA)
    ro_dir.chmod(0o555)
    try:
        try:  # root (with CAP_DAC_OVERRIDE) can still write here; then this case cannot be tested
            (ro_dir / "probe").write_text("")
        except PermissionError:
            pass
        else:
            pytest.skip("the directory stays writable for this user (root)")
        with Genome(ro_dir / "genome.fa") as genome:
            assert decode(genome.fetch_codes("chr2", 0, 4)[0]) == "ACGT"
        assert sorted(os.listdir(ro_dir)) == ["genome.fa"]
    finally:
        ro_dir.chmod(0o755)


# --------------------------------------------------------------------------- stale and bgzip indexes

# Another version of the genome: other lengths, other bases, another line width.
NEW_CHR1 = "TTTTGGGGCCCCAAAATTTTGGGGCCCCAAA"
NEW_FASTA = f">chr1\n{NEW_CHR1[:8]}\n{NEW_CHR1[8:16]}\n{NEW_CHR1[16:24]}\n{NEW_CHR1[24:]}\n>chr2\nGGGGAAAA\n"


def _replace_like_cp_p(target, text, tmp_path):
    """Replace ``target`` the way ``cp -p`` does: new content, the source's (older) timestamp, so
    that an index written before looks newer than the FASTA."""
    source = tmp_path / "elsewhere" / target.name
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(text if isinstance(text, bytes) else text.encode())
    os.utime(source, (1_000_000_000, 1_000_000_000))  # 2001: older than any index written now
    subprocess.run(["cp", "-p", str(source), str(target)], check=True)


def test_index_replaced_with_older_fasta_is_rebuilt(fasta, tmp_path, caplog):
    with Genome(fasta) as genome:
        assert decode(genome.fetch_codes("chr1", 0, 8)[0]) == CHR1[:8]
    fai = fasta.parent / "genome.fa.fai"
    _replace_like_cp_p(fasta, NEW_FASTA, tmp_path)
    assert os.path.getmtime(fai) > os.path.getmtime(fasta)  # what pyfaidx's own check trusts
    with Genome(fasta) as genome:
        assert genome.chrom_sizes == {"chr1": len(NEW_CHR1), "chr2": 8}
        assert decode(genome.fetch_codes("chr1", 0, len(NEW_CHR1))[0]) == NEW_CHR1
        assert decode(genome.fetch_codes("chr2", 0, 8)[0]) == "GGGGAAAA"
    assert "did not describe" in caplog.text and "rebuilt" in caplog.text
    assert index_problem(fasta, fai) is None  # the rebuilt index is the right one


def test_stale_index_that_cannot_be_deleted_is_refused(fasta, tmp_path, monkeypatch):
    Genome(fasta).close()
    _replace_like_cp_p(fasta, NEW_FASTA, tmp_path)

    def read_only(self, missing_ok=False):  # a folder we may read but not write (we run as root)
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(fasta), "unlink", read_only)
    with pytest.raises(ValueError) as err:
        Genome(fasta)
    assert f"{fasta}.fai" in str(err.value) and f"describe {fasta}" in str(err.value)


@pytest.mark.parametrize("change, problem", [
    (lambda t: t.replace(CHR1[:10] + "\n", CHR1[:9] + "\n" + CHR1[9]), "first sequence line"),
    (lambda t: t.replace(">chr1 first chromosome", ">chrX"), "no header line '>chr1'"),
    (lambda t: t.replace(CHR2, CHR2 + "A"), "does not end after 14 bases"),
    (lambda t: t + ">chr3\nACGT\n", "continues after the last indexed sequence"),
    (lambda t: t.replace(">chr2", ">chr1b\nAC\n>chr2"), "not followed by the next indexed sequence, chr2"),
])
def test_index_problem_finds_each_layout_change(fasta, change, problem):
    Genome(fasta).close()
    fai = fasta.parent / "genome.fa.fai"
    assert index_problem(fasta, fai) is None
    fasta.write_text(change(FASTA))
    assert problem in index_problem(fasta, fai)


def _bgzip(path, text):
    import pysam

    plain = path.with_suffix("")
    plain.write_text(text)
    pysam.tabix_compress(str(plain), str(path), force=True)
    plain.unlink()
    return path


def test_bgzip_fasta_is_read(tmp_path):
    # pyfaidx needs Biopython for BGZF (an install requirement since it crashed without it).
    path = _bgzip(tmp_path / "genome.fa.gz", FASTA)
    with Genome(path) as genome:
        assert genome.chrom_sizes == {"chr1": 25, "chr2": 14}
        assert decode(genome.fetch_codes("chr1", 8, 22)[0]) == CHR1[8:22]
        assert decode(genome.fetch_codes("chr2", 0, 14)[0]) == CHR2
    assert index_problem(path, f"{path}.fai", f"{path}.gzi") is None


def test_bgzip_fasta_replaced_with_older_one_is_reindexed(tmp_path):
    path = _bgzip(tmp_path / "genome.fa.gz", FASTA)
    Genome(path).close()
    new = _bgzip(tmp_path / "new.fa.gz", NEW_FASTA * 1)
    _replace_like_cp_p(path, new.read_bytes(), tmp_path)
    assert index_problem(path, f"{path}.fai", f"{path}.gzi") is not None
    with Genome(path) as genome:
        assert decode(genome.fetch_codes("chr1", 0, len(NEW_CHR1))[0]) == NEW_CHR1


def test_a_stale_index_is_caught_behind_a_header_longer_than_4_kb(tmp_path):
    # Two genomes of the same size and layout whose first header (over 4 KB) names another
    # chromosome: the index of one checked against the other must read that whole header line.
    description = "d" * 5000
    old = f">chrA {description}\n{CHR1[:10]}\n{CHR1[10:20]}\n{CHR1[20:]}\n>chr2\n{CHR2}\n"
    new = old.replace(">chrA", ">chrB").replace(CHR1[:10], CHR1[:10][::-1])
    fasta = tmp_path / "genome.fa"
    fasta.write_text(old)
    Genome(fasta).close()
    fai = tmp_path / "genome.fa.fai"
    assert index_problem(fasta, fai) is None  # the long header of the right file passes
    _replace_like_cp_p(fasta, new, tmp_path)
    assert os.path.getsize(fasta) == len(old) and os.path.getmtime(fai) > os.path.getmtime(fasta)
    offset = len(f">chrA {description}\n")
    assert index_problem(fasta, fai) == f"chrA: no header line '>chrA' before byte {offset}"
    with Genome(fasta) as genome:
        assert genome.chrom_sizes == {"chrB": 25, "chr2": 14}
        assert decode(genome.fetch_codes("chrB", 0, 10)[0]) == CHR1[:10][::-1]


@pytest.mark.parametrize("header, other", [
    (">chr1", ">chr9"),
    (">chr1 " + "x" * 10_000, ">chr9 " + "x" * 10_000),
    (">chr1\t" + "y" * 70_000, ">chr1_" + "y" * 70_000),  # a longer name that begins with chr1
])
def test_a_header_of_any_length_is_checked_whole(tmp_path, header, other):
    fasta = tmp_path / "genome.fa"
    fasta.write_text(f"{header}\nACGT\n>chr2\nACGT\n")
    Genome(fasta).close()
    fai = tmp_path / "genome.fa.fai"
    assert index_problem(fasta, fai) is None
    fasta.write_text(f"{other}\nACGT\n>chr2\nACGT\n")  # the same size and layout, another name
    assert index_problem(fasta, fai).startswith("chr1: no header line '>chr1' before byte")


def test_a_pipe_is_refused_as_a_genome_and_says_why(tmp_path):
    fifo = tmp_path / "genome.fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is a pipe or a device, not a file: a genome FASTA is read at random"):
        Genome(fifo)
    with pytest.raises(ValueError, match="is a directory, not a FASTA file"):
        Genome(tmp_path)


def test_a_missing_chromosome_of_a_megabyte_is_named_in_a_short_message(fasta):
    with Genome(fasta) as genome, pytest.raises(ChromosomeNotFound) as err:
        genome.fetch_codes("chr1" + "0" * 1_000_000, 0, 10)
    assert str(err.value).startswith(f"chromosome 'chr1{'0' * 93}...' is not in {fasta} (its 2 sequences are")
    assert len(str(err.value)) < 300

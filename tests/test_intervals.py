import gzip
import re

import pytest

from seqzoo.io.bed import BEDError, Interval, centered_window, iter_bed, read_bed


def write(path, text, *, gz=False, newline="\n"):
    data = text.replace("\n", newline).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_minimal_and_optional_columns(tmp_path):
    bed = write(
        tmp_path / "a.bed",
        "chr1\t10\t20\n"
        "chr1\t30\t40\tpeak2\n"
        "chr2\t5\t15\tpeak3\t900\t-\n"
        "chrX\t0\t1\tpeak4\t0\t+\textra\tcolumns\n",
    )
    assert read_bed(bed) == [
        Interval("chr1", 10, 20, ".", ".", 1),
        Interval("chr1", 30, 40, "peak2", ".", 2),
        Interval("chr2", 5, 15, "peak3", "-", 3),
        Interval("chrX", 0, 1, "peak4", "+", 4),
    ]
    assert len(read_bed(bed)[0]) == 10


def test_skips_comments_track_browser_blank_and_header(tmp_path):
    bed = write(
        tmp_path / "a.bed",
        "# a comment\n"
        "track name=peaks\n"
        "browser position chr1:1-100\n"
        "\n"
        "chrom\tstart\tend\tname\n"
        "chr1\t10\t20\n"
        "   \n"
        "# another comment\n"
        "chr1\t30\t40\n",
    )
    intervals = read_bed(bed)
    assert [(i.start, i.line) for i in intervals] == [(10, 6), (30, 9)]


def test_header_with_chr_start(tmp_path):
    bed = write(tmp_path / "a.bed", "chr\tstart\tend\nchr1\t1\t2\n")
    assert read_bed(bed) == [Interval("chr1", 1, 2, line=2)]


def test_header_not_first_is_an_error(tmp_path):
    bed = write(tmp_path / "late.bed", "chr1\t1\t2\nchrom\tstart\tend\n")
    with pytest.raises(BEDError) as info:
        read_bed(bed)
    message = str(info.value)
    assert message.startswith(f"{bed}, line 2: header line")
    assert "'chrom\\tstart\\tend'" in message
    assert info.value.line == 2


def test_gzip_detected_by_magic_bytes_any_extension(tmp_path):
    text = "chr1\t10\t20\tx\nchr2\t1\t5\ty\n"
    plain = read_bed(write(tmp_path / "plain.bed", text))
    assert read_bed(write(tmp_path / "a.bed.gz", text, gz=True)) == plain
    assert read_bed(write(tmp_path / "misnamed.bed", text, gz=True)) == plain


def test_crlf_line_endings(tmp_path):
    bed = write(tmp_path / "crlf.bed", "chr1\t10\t20\tpeak\t0\t+\nchr1\t30\t40\n", newline="\r\n")
    assert read_bed(bed) == [Interval("chr1", 10, 20, "peak", "+", 1), Interval("chr1", 30, 40, line=2)]


def test_crlf_gzip_errors_still_give_line(tmp_path):
    bed = write(tmp_path / "crlf.bed.gz", "chr1\t10\t20\r\nchr1\t50\t40\r\n", gz=True)
    with pytest.raises(BEDError, match=r"line 2: start \(50\) must be less than end \(40\)"):
        read_bed(bed)


def test_iter_bed_streams(tmp_path):
    bed = write(tmp_path / "a.bed", "chr1\t1\t2\nchr1\t5\tbad\n")
    it = iter_bed(bed)
    assert next(it) == Interval("chr1", 1, 2, line=1)  # first interval arrives before the bad line is read
    with pytest.raises(BEDError, match="line 2"):
        next(it)


@pytest.mark.parametrize(
    "line, problem",
    [
        ("chr1\t100", "expected at least 3 tab-separated columns (chrom, start, end), found 2"),
        ("chr1", "expected at least 3 tab-separated columns (chrom, start, end), found 1"),
        ("chr1 100 200", "columns are separated by spaces; BED columns must be separated by tabs"),
        ("chr1  100  200  name", "columns are separated by spaces; BED columns must be separated by tabs"),
        ("chr1\tabc\t200", "start (column 2) is not an integer: 'abc'"),
        ("chr1\t100\t2.5e3", "end (column 3) is not an integer: '2.5e3'"),
        ("chr1\t-5\t200", "negative coordinate (start=-5, end=200)"),
        ("chr1\t200\t100", "start (200) must be less than end (100)"),
        ("chr1\t100\t100", "start (100) must be less than end (100)"),
        ("chr1\t1\t2\tname\t0\tx", "strand (column 6) must be '+', '-' or '.', got 'x'"),
        ("chr1\t1\t2\tname\t0\t", "strand (column 6) must be '+', '-' or '.', got ''"),
        ("\t1\t2", "empty chromosome name (column 1)"),
    ],
)
def test_errors_name_file_line_and_problem(tmp_path, line, problem):
    bed = write(tmp_path / "bad.bed", f"# comment\nchr1\t1\t2\n{line}\nchr1\t3\t4\n")
    with pytest.raises(BEDError) as info:
        read_bed(bed)
    message = str(info.value)
    assert message.startswith(f"{bed}, line 3: {problem}: ")
    assert repr(line) in message
    assert info.value.path == str(bed) and info.value.line == 3


def test_long_line_is_truncated_in_message(tmp_path):
    long_name = "n" * 500
    bed = write(tmp_path / "long.bed", f"chr1\t9\t3\t{long_name}\n")
    with pytest.raises(BEDError) as info:
        read_bed(bed)
    message = str(info.value)
    assert "line 1: start (9) must be less than end (3)" in message
    assert "..." in message and len(message) < len(str(bed)) + 200


@pytest.mark.parametrize("text", ["", "# only a comment\n", "track name=x\n\n", "chrom\tstart\tend\n"])
def test_empty_bed(tmp_path, text):
    bed = write(tmp_path / "empty.bed", text)
    with pytest.raises(BEDError, match=rf"^{re.escape(str(bed))}: no intervals found$"):
        read_bed(bed)


def test_empty_gzip_bed(tmp_path):
    bed = write(tmp_path / "empty.bed.gz", "", gz=True)
    with pytest.raises(BEDError, match="no intervals found"):
        read_bed(bed)


def test_corrupt_gzip_names_file(tmp_path):
    bed = tmp_path / "corrupt.bed.gz"
    bed.write_bytes(gzip.compress(b"chr1\t1\t2\n" * 1000)[:60])  # truncated stream
    with pytest.raises(BEDError, match=rf"^{re.escape(str(bed))}: could not read the file"):
        read_bed(bed)


def test_other_compression_is_rejected(tmp_path):
    bed = tmp_path / "a.bed.bz2"
    bed.write_bytes(b"BZh91AY&SY")
    with pytest.raises(BEDError, match=rf"{re.escape(str(bed))}: the file is bzip2-compressed"):
        read_bed(bed)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_bed(tmp_path / "nope.bed")


@pytest.mark.parametrize(
    "start, end, length, expected",
    [
        (100, 200, 50, (125, 175)),  # centre 150
        (100, 201, 50, (125, 175)),  # centre (100+201)//2 = 150
        (100, 200, 51, (125, 176)),
        (10, 20, 100, (-35, 65)),  # may start before 0; the genome pads
        (0, 1, 1, (0, 1)),
    ],
)
def test_centered_window(start, end, length, expected):
    window = centered_window(Interval("chr1", start, end), length)
    assert window == expected
    assert window[1] - window[0] == length


def test_centered_window_rejects_non_positive_length():
    with pytest.raises(ValueError, match="positive"):
        centered_window(Interval("chr1", 0, 10), 0)

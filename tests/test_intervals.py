import gzip
import os
import re
import threading
import tracemalloc

import pytest

from seqzoo.io.bed import (MAX_COORDINATE, MAX_LINE, MAX_NAME, BEDError, InputCopy, Interval, centered_window,
                           iter_bed, read_bed, rereadable_bed)


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
        ("chr1\t1000\t9223372036854775808", "coordinate 9223372036854775808 is past any chromosome (the limit is "
                                             "2^53 = 9,007,199,254,740,992; seqzoo.io.bed.MAX_COORDINATE)"),
        (f"chr1\t{MAX_COORDINATE}\t{MAX_COORDINATE + 1}", f"coordinate {MAX_COORDINATE + 1} is past any chromosome "
                                                           "(the limit is 2^53 = 9,007,199,254,740,992; "
                                                           "seqzoo.io.bed.MAX_COORDINATE)"),
        ("chr1\t1\t2\tcaf\ufffd", "the line holds bytes that are not UTF-8 text (shown as \ufffd)"),
        ("chr1\t1\t2\tr1\x00", "name (column 4) holds the control character '\\x00'"),
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


def test_coordinates_up_to_2_53_and_names_up_to_1024_characters_are_read(tmp_path):
    name = "n" * MAX_NAME
    bed = write(tmp_path / "edge.bed", f"chr1\t{MAX_COORDINATE - 1}\t{MAX_COORDINATE}\t{name}\n")
    assert read_bed(bed) == [Interval("chr1", MAX_COORDINATE - 1, MAX_COORDINATE, name, ".", 1)]
    bed = write(tmp_path / "long_name.bed", f"chr1\t1\t2\tok\nchr1\t1\t2\t{name}n\n")
    with pytest.raises(BEDError, match=rf"^{re.escape(str(bed))}, line 2: name \(column 4\) is 1,025 characters "
                                       r"long; the limit is 1,024 \(seqzoo.io.bed.MAX_NAME; the BED specification "
                                       r"allows 255\): 'chr1\\t1\\t2\\tnnn"):
        read_bed(bed)


def test_names_in_any_script_are_read_as_they_are(tmp_path):
    names = ["café", "基因", "peak\u00a01", "α-helix"]
    bed = write(tmp_path / "names.bed", "".join(f"chr1\t1\t2\t{n}\n" for n in names))
    assert [iv.name for iv in read_bed(bed)] == names


def test_a_byte_that_is_not_utf8_is_an_error_not_a_changed_name(tmp_path):
    bed = tmp_path / "latin1.bed"
    bed.write_bytes(b"chr1\t1\t2\tok\nchr1\t3\t4\tcaf\xe9\n")
    with pytest.raises(BEDError, match=rf"^{re.escape(str(bed))}, line 2: the line holds bytes that are not UTF-8"):
        read_bed(bed)


@pytest.mark.parametrize("gz", [False, True])
def test_a_line_longer_than_max_line_is_refused_without_reading_it_whole(tmp_path, gz):
    # 64 MiB without a line break (a binary file, /dev/zero): refused at line 2, memory stays small.
    bed = tmp_path / "huge.bed"
    data = b"chr1\t1\t2\n" + b"\0" * (64 << 20)
    bed.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
    del data
    tracemalloc.start()
    try:
        with pytest.raises(BEDError) as info:
            read_bed(bed)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value).startswith(f"{bed}, line 2: the line is longer than 1,048,576 characters "
                                      "(seqzoo.io.bed.MAX_LINE); is this a BED file?: ")
    assert info.value.line == 2 and peak < 16 * MAX_LINE


def test_a_line_of_exactly_max_line_characters_is_read(tmp_path):
    name = "n" * MAX_NAME
    line = f"chr1\t1\t2\t{name}\t0\t+\t" + "x" * (MAX_LINE - len(f"chr1\t1\t2\t{name}\t0\t+\t"))
    assert len(line) == MAX_LINE
    bed = write(tmp_path / "wide.bed", f"{line}\n{line}", newline="\r\n")
    assert read_bed(bed) == [Interval("chr1", 1, 2, name, "+", 1), Interval("chr1", 1, 2, name, "+", 2)]
    bed = write(tmp_path / "wider.bed", f"{line}x\n")
    with pytest.raises(BEDError, match="line 1: the line is longer than 1,048,576 characters"):
        read_bed(bed)


@pytest.fixture
def pipe():
    """A function that gives bytes through a real pipe, named ``/dev/fd/N`` as bash names a process
    substitution ``<(...)``: opening that name again reads on where the last reader stopped."""
    opened = []

    def make(data: bytes) -> str:
        read_end, write_end = os.pipe()
        opened.append(read_end)

        def writer():
            with open(write_end, "wb") as out:
                out.write(data)

        threading.Thread(target=writer, daemon=True).start()
        return f"/dev/fd/{read_end}"

    yield make
    for fd in opened:
        os.close(fd)


@pytest.mark.parametrize("gz", [False, True])
def test_a_pipe_is_read_whole_in_one_pass(pipe, gz):
    text = "track name=x\nchr1\t1\t2\tr1\nchr2\t3\t4\tr2\n"
    path = pipe(gzip.compress(text.encode()) if gz else text.encode())
    assert read_bed(path) == [Interval("chr1", 1, 2, "r1", line=2), Interval("chr2", 3, 4, "r2", line=3)]


def test_rereadable_bed_copies_a_pipe_once_and_every_pass_sees_the_same_lines(pipe, tmp_path):
    path = pipe(gzip.compress(b"# comment\nchr1\t1\t2\r\nchr2\t3\t4\tr2\t0\t-\r\n"))
    with rereadable_bed(path) as bed:
        assert isinstance(bed, InputCopy) and str(bed) == str(path)
        first, second = read_bed(bed), read_bed(bed)
        copy = os.fspath(bed)
    assert first == second == [Interval("chr1", 1, 2, line=2), Interval("chr2", 3, 4, "r2", "-", 3)]
    assert not os.path.exists(copy)
    regular = write(tmp_path / "a.bed", "chr1\t1\t2\n")
    with rereadable_bed(regular) as bed:
        assert bed is regular  # a file is read where it is


def test_rereadable_bed_names_the_pipe_and_its_line_and_stops_at_a_bad_one(pipe):
    path = pipe(b"chr1\t1\t2\nchr1\t5\t2\n")
    with pytest.raises(BEDError, match=rf"^{re.escape(str(path))}, line 2: start \(5\) must be less than end \(2\)"):
        with rereadable_bed(path):
            pass
    with pytest.raises(BEDError, match=r"^/dev/zero, line 1: the line is longer than 1,048,576 characters"):
        with rereadable_bed("/dev/zero"):  # endless, no line break: stops after one bounded line
            pass

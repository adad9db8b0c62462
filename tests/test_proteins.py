import gzip
import re

import pytest

from seqzoo.io.proteins import FastaRecord, iter_fasta

TEXT = (
    ">sp|P1|PROT1 first protein OS=Homo sapiens\n"
    "MKVLA\n"
    "AGGTT\n"
    "\n"
    ">P2\n"
    "mkv la*\n"
    ">P3 no sequence\n"
    ">P4\n"
    "ACD\n"
)
EXPECTED = [
    FastaRecord("sp|P1|PROT1", "first protein OS=Homo sapiens", "MKVLAAGGTT", 1),
    FastaRecord("P2", "", "mkvla*", 5),
    FastaRecord("P3", "no sequence", "", 7),
    FastaRecord("P4", "", "ACD", 8),
]


def write(path, text, *, gz=False, newline="\n"):
    data = text.replace("\n", newline).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_records(tmp_path):
    assert list(iter_fasta(write(tmp_path / "p.fa", TEXT))) == EXPECTED


def test_gzip_by_magic_bytes_and_crlf(tmp_path):
    assert list(iter_fasta(write(tmp_path / "p.fa.gz", TEXT, gz=True))) == EXPECTED
    assert list(iter_fasta(write(tmp_path / "p.fasta", TEXT, gz=True, newline="\r\n"))) == EXPECTED
    assert list(iter_fasta(write(tmp_path / "crlf.fa", TEXT, newline="\r\n"))) == EXPECTED


def test_leading_blank_lines_and_header_spacing(tmp_path):
    path = write(tmp_path / "p.fa", "\n\n>  P1   some   words \nMK\n  VL \n")
    assert list(iter_fasta(path)) == [FastaRecord("P1", "some   words", "MKVL", 3)]


def test_streaming(tmp_path):
    path = write(tmp_path / "p.fa", ">P1\nMK\n>P2\nAA\nthis line is fine\n>\nAA\n")
    records = iter_fasta(path)
    assert next(records).id == "P1"
    assert next(records).sequence == "AAthislineisfine"
    with pytest.raises(ValueError, match="line 6"):
        next(records)


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ("MKVLA\n>P1\nMK\n", 1, "text before the first '>' header; the file is not FASTA: 'MKVLA'"),
        ("\nchr1\t1\t2\n", 2, "text before the first '>' header; the file is not FASTA: 'chr1\\t1\\t2'"),
        (">P1\nMK\n>\nAA\n", 3, "header with an empty id: '>'"),
        (">P1\nMK\n>   \nAA\n", 3, "header with an empty id: '>   '"),
        (">P1\nMK\n>P2\nAA\n>P1 again\nCC\n", 5, "duplicate id 'P1' (first seen at line 1, again at line 5)"),
    ],
)
def test_errors_name_file_line_and_problem(tmp_path, text, line, problem):
    path = write(tmp_path / "bad.fa", text)
    with pytest.raises(ValueError) as info:
        list(iter_fasta(path))
    assert str(info.value) == f"{path}, line {line}: {problem}"


def test_errors_in_gzip_crlf_file_keep_line_numbers(tmp_path):
    path = write(tmp_path / "bad.fa.gz", ">P1\nMK\n\n>\n", gz=True, newline="\r\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}, line 4: header with an empty id"):
        list(iter_fasta(path))


def test_duplicates_allowed_on_request(tmp_path):
    path = write(tmp_path / "dup.fa", ">P1\nMK\n>P1\nAA\n")
    records = list(iter_fasta(path, on_duplicate="allow"))
    assert [(r.id, r.sequence, r.line) for r in records] == [("P1", "MK", 1), ("P1", "AA", 3)]
    with pytest.raises(ValueError, match="on_duplicate"):
        list(iter_fasta(path, on_duplicate="ignore"))


def test_long_line_is_truncated_in_message(tmp_path):
    path = write(tmp_path / "long.txt", "x" * 1000 + "\n")
    with pytest.raises(ValueError) as info:
        list(iter_fasta(path))
    assert str(info.value).endswith("...'") and len(str(info.value)) < len(str(path)) + 200


@pytest.mark.parametrize("text", ["", "\n\n"])
def test_no_records(tmp_path, text):
    path = write(tmp_path / "empty.fa", text)
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: no FASTA records found$"):
        list(iter_fasta(path))


def test_binary_file_is_not_fasta(tmp_path):
    path = tmp_path / "binary.fa"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}, line 1: text before the first '>'"):
        list(iter_fasta(path))

"""The TSV/CSV writer's bulk formatting writes exactly what the csv module writes with one
``.6g`` format per value (the documented format): quoting, NaN, inf, masked and odd strings. The
Parquet writer keeps every value and dictionary-encodes only the columns that repeat."""

import csv
import io

import numpy as np
import pytest

from seqzoo.io.tables import ParquetWriter, TSVWriter, _text


def tricky_chunk(n: int = 600) -> dict:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(n, 20)).astype(np.float32)
    values[::7, 3], values[1, 4], values[2, 5], values[3, 6], values[4, 7] = np.nan, np.inf, -0.0, 1e-30, 123456789.0
    chunk = {
        "name": np.array(["chr1", "c\th", 'q"x', "n\nl", "a,b", "", "r\rx", " sp "] * (n // 8), dtype=object),
        "start": np.arange(n), "flag": np.arange(n) % 2 == 0,
        "cls": np.ma.masked_array(np.arange(n), mask=np.arange(n) % 3 == 0),
        "half": rng.random(n).astype(np.float16), "double": rng.random(n) * 1e8,
        "masked_f": np.ma.masked_array(rng.random(n), mask=np.arange(n) % 5 == 0),
    }
    chunk.update({f"t{j}": values[:, j] for j in range(values.shape[1])})
    return chunk


def csv_module(chunk: dict, delimiter: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(list(chunk))
    columns = [c.tolist() if isinstance(c, np.ndarray) else list(c) for c in chunk.values()]
    writer.writerows([[_text(v) for v in row] for row in zip(*columns)])
    return out.getvalue()


@pytest.mark.parametrize("delimiter, suffix", [("\t", ".tsv"), (",", ".csv")])
def test_bulk_formatting_equals_the_csv_module(tmp_path, delimiter, suffix):
    chunk = tricky_chunk()
    out = tmp_path / f"t{suffix}"
    with TSVWriter(out, list(chunk), delimiter=delimiter) as writer:
        half = {k: v[:300] for k, v in chunk.items()}
        writer.write(half)
        writer.write({k: v[300:] for k, v in chunk.items()})
    text = out.read_bytes().decode("utf-8")  # not read_text: it would turn the "\r" into "\n"
    assert text == csv_module(chunk, delimiter)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    assert rows[1 + 1][0] == "c\th" and rows[1 + 3][0] == "n\nl" and rows[1 + 2][0] == 'q"x'


def test_parquet_keeps_every_value_and_dictionary_encodes_only_text_columns(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(1)
    chunk = {"chrom": np.array(["chr1", "chr2"] * 500), "start": np.arange(1000, dtype=np.int64),
             "note": np.array(["", "N only"] * 500, dtype=object),
             "cls": np.ma.masked_array(np.arange(1000) % 4, mask=np.arange(1000) % 3 == 0),
             "call": np.array([None] * 400 + ["A>G"] * 600, dtype=object)}  # no value in the first chunk
    chunk.update({f"t{j}": rng.random(1000).astype(np.float32) for j in range(30)})
    chunk["t0"][::9] = np.nan
    out = tmp_path / "p.parquet"
    with ParquetWriter(out, list(chunk)) as writer:
        writer.write({k: v[:400] for k, v in chunk.items()})
        writer.write({k: v[400:] for k, v in chunk.items()})
    table = pq.read_table(out)
    for name, values in chunk.items():
        if isinstance(values, np.ma.MaskedArray):  # masked values are nulls
            assert table[name].to_pylist() == [None if m else int(v) for v, m in zip(values.data, values.mask)]
        elif name == "call":
            assert table[name].to_pylist() == list(values)
        else:
            np.testing.assert_array_equal(table[name].to_numpy(zero_copy_only=False), values)
    assert pq.ParquetFile(out).metadata.num_row_groups == 1  # 1,000 rows: one row group, not one per chunk
    group = pq.ParquetFile(out).metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)}
    assert all("RLE_DICTIONARY" in encodings[c] for c in ("chrom", "start", "note", "cls")), encodings
    assert not any("DICTIONARY" in e for j in range(30) for e in encodings[f"t{j}"]), encodings["t1"]

"""Streaming table writers for predictions: TSV, Parquet and HDF5, finished atomically.

A writer receives chunks of rows (a dict of column name -> 1-D array, all the same length) and
appends them to ``<output>.partial``. ``close()`` renames it to ``<output>`` only once every chunk
is written; ``abort()`` (or leaving the ``with`` block on an exception) deletes it. So an
interrupted run never leaves a file that looks complete.

The format follows the output's extension: ``.parquet``, ``.h5``/``.hdf5``, anything else TSV.

**Missing values.** A column given as a NumPy masked array (``numpy.ma.MaskedArray``) has no
value where it is masked, e.g. the predicted class of a protein that could not be predicted.
TSV writes an empty field and Parquet a null. HDF5 has no null integer: a masked integer is
written as :data:`HDF5_MISSING_INT` (-1) and a masked float as NaN, and the column's dataset gets
the attribute ``missing_value`` naming that marker; an unmasked -1 in such an integer column is
refused, so the marker is never ambiguous.
"""

import csv
import os
from pathlib import Path

import numpy as np

FORMATS = {".parquet": "parquet", ".h5": "hdf5", ".hdf5": "hdf5"}

#: What a masked (missing) value of a signed integer column is written as in HDF5.
HDF5_MISSING_INT = -1


def output_format(path: str | os.PathLike) -> str:
    """``"tsv"``, ``"parquet"`` or ``"hdf5"`` from the file name's extension."""
    return FORMATS.get(Path(path).suffix.lower(), "tsv")


class AtomicOutput:
    """An output finished atomically: ``close()`` gives the final name, ``abort()`` deletes what was
    written; as a context manager, leaving on an exception aborts."""

    def close(self):  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    def abort(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class TableWriter(AtomicOutput):
    """Base class of the tables: the atomic ``.partial`` file, column checks."""

    def __init__(self, path: str | os.PathLike, columns: list[str]):
        if len(set(columns)) != len(columns):
            duplicated = sorted({c for c in columns if columns.count(c) > 1})
            raise ValueError(f"duplicate output column names: {duplicated}")
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.columns = list(columns)
        self.rows = 0

    def write(self, chunk: dict[str, np.ndarray]) -> None:
        """Append one chunk of rows."""
        missing = [c for c in self.columns if c not in chunk]
        if missing:
            raise ValueError(f"chunk lacks columns {missing}")
        lengths = {len(chunk[c]) for c in self.columns}
        if len(lengths) != 1:
            raise ValueError(f"columns of one chunk differ in length: {sorted(lengths)}")
        self._write(chunk)
        self.rows += lengths.pop()

    def close(self) -> Path:
        """Finish the file and give it its final name."""
        self._close()
        os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the unfinished file."""
        try:
            self._close()
        finally:
            self.partial.unlink(missing_ok=True)

    def _write(self, chunk):  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    def _close(self):  # pragma: no cover
        raise NotImplementedError


def _text(value) -> str:
    if value is None:  # a missing value (e.g. no predicted class for a row without prediction)
        return ""
    if isinstance(value, (float, np.floating)):
        return "nan" if np.isnan(value) else f"{value:.6g}"
    return str(value)


class TSVWriter(TableWriter):
    """Tab-separated text with a header line; floats with 6 significant digits, NaN as ``nan``."""

    def __init__(self, path, columns):
        super().__init__(path, columns)
        self._file = open(self.partial, "w", newline="")
        self._csv = csv.writer(self._file, delimiter="\t", lineterminator="\n")
        self._csv.writerow(self.columns)

    def _write(self, chunk):
        columns = [chunk[c].tolist() if isinstance(chunk[c], np.ndarray) else list(chunk[c]) for c in self.columns]
        self._csv.writerows([[_text(v) for v in row] for row in zip(*columns)])
        self._file.flush()  # each chunk reaches the disk before the next is computed

    def _close(self):
        self._file.close()


class ParquetWriter(TableWriter):
    """Parquet via pyarrow. Chunks are buffered into row groups of about ``ROW_GROUP_BYTES``
    (pyarrow keeps every row group's metadata in memory until the file is closed, so one row
    group per small chunk would make memory grow with the number of rows). The schema is
    ``schema`` (a pyarrow schema, whose nullable columns take ``None`` values) or, without one,
    fixed by the first chunk."""

    ROW_GROUP_BYTES = 32 << 20

    def __init__(self, path, columns, schema=None):
        super().__init__(path, columns)
        self.schema = schema
        self._writer = None
        self._pending: list = []
        self._pending_rows = 0
        # about 8 bytes per value: the rows that make one row group of ROW_GROUP_BYTES
        self._group_rows = max(1024, self.ROW_GROUP_BYTES // (8 * len(self.columns)))

    def _write(self, chunk):
        import pyarrow as pa

        if self.schema is not None:
            table = pa.Table.from_pydict({c: chunk[c] for c in self.columns}, schema=self.schema)
        else:  # a masked array's masked values become nulls
            table = pa.table({c: pa.array(chunk[c]) if isinstance(chunk[c], np.ma.MaskedArray)
                              else np.asarray(chunk[c]) for c in self.columns})
        if self._pending and table.schema != self._pending[0].schema:
            table = table.cast(self._pending[0].schema)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self._group_rows:
            self._flush()

    def _flush(self):
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._pending:
            return
        table = pa.concat_tables(self._pending)
        self._pending, self._pending_rows = [], 0
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.partial, table.schema)
        self._writer.write_table(table.cast(self._writer.schema), row_group_size=table.num_rows)

    def _close(self):
        self._flush()
        if self._writer is None:  # no rows: still write a valid empty file
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = self.schema or pa.schema([(c, pa.string()) for c in self.columns])
            pq.write_table(schema.empty_table(), self.partial)
        else:
            self._writer.close()


def _hdf5_values(name: str, values: np.ma.MaskedArray) -> tuple[np.ndarray, object]:
    """A masked column's values with its missing-value marker filled in, and the marker."""
    kind = values.dtype.kind
    if kind == "i":
        real = values.compressed()
        if (real == HDF5_MISSING_INT).any():
            raise ValueError(f"column {name!r} holds the value {HDF5_MISSING_INT}, which marks a missing value in "
                             "HDF5 output; write it as TSV or Parquet")
        return values.filled(HDF5_MISSING_INT), HDF5_MISSING_INT
    if kind == "f":
        return values.filled(np.nan), np.nan
    raise ValueError(f"column {name!r}: HDF5 output has no missing-value marker for dtype {values.dtype}")


class HDF5Writer(TableWriter):
    """HDF5 via h5py: one resizable 1-D dataset per column (strings as UTF-8), column order kept
    in the file's ``columns`` attribute. A masked column's dataset has the attribute
    ``missing_value`` (see the module docstring)."""

    def __init__(self, path, columns):
        import h5py

        super().__init__(path, columns)
        self._file = h5py.File(self.partial, "w")
        self._file.attrs["columns"] = self.columns

    def _write(self, chunk):
        import h5py

        for name in self.columns:
            missing = None
            if isinstance(chunk[name], np.ma.MaskedArray):
                values, missing = _hdf5_values(name, chunk[name])
            else:
                values = np.asarray(chunk[name])
            if values.dtype.kind in "UO":
                values = values.astype(object)
                dtype = h5py.string_dtype()
            else:
                dtype = values.dtype
            if name not in self._file:
                self._file.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=True)
            data = self._file[name]
            if missing is not None:
                data.attrs["missing_value"] = missing
            data.resize(self.rows + len(values), axis=0)
            data[self.rows:] = values

    def _close(self):
        self._file.close()


def open_writer(path: str | os.PathLike, columns: list[str]) -> TableWriter:
    """A writer for ``path`` in the format its extension names: ``.parquet``, ``.h5``/``.hdf5``,
    and TSV for any other (or no) extension."""
    return {"tsv": TSVWriter, "parquet": ParquetWriter, "hdf5": HDF5Writer}[output_format(path)](path, columns)

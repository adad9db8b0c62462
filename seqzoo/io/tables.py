"""Streaming table writers for predictions: TSV, CSV, Parquet and HDF5, finished atomically.

A writer receives chunks of rows (a dict of column name -> 1-D array, all the same length) and
appends them to a temporary file of its own in the output's folder (hidden, named after the output,
the process id and a random part: ``.out.tsv.<pid>.<random>.partial``), so two runs writing the same
output never share a file. ``close()`` renames it to the output only once every chunk is written;
``abort()`` (or leaving the ``with`` block on any exception, Ctrl-C and a SIGTERM turned into one by
the command line among them) deletes it, as does a ``close()`` that fails (a full disk). So an
interrupted run never leaves a file that looks complete, and never a temporary file either.

**Formats** follow the output's extension (:data:`TABLE_FORMATS`, checked by :func:`output_format`,
which takes the formats a command allows so that other writers can be added): ``.tsv``/``.txt``,
``.tsv.gz`` (gzip), ``.csv``, ``.csv.gz``, ``.parquet``, ``.h5``/``.hdf5``; any other is refused
with the list.

**Replacing.** :func:`check_output`, called by every command before it computes anything, refuses
an output that is a directory, sits in a folder that cannot be written, is one of the command's
inputs (the same file, through links too, or an input's index: :data:`INDEX_SUFFIXES`), or exists
while ``overwrite`` is false (the command line's default; ``--force`` sets it). Without ``overwrite`` the final rename also refuses to replace
a file that appeared while the run was writing (another run finished first).

**Missing values.** A column given as a NumPy masked array (``numpy.ma.MaskedArray``) has no
value where it is masked, e.g. the predicted class of a protein that could not be predicted.
TSV and CSV write an empty field and Parquet a null. HDF5 has no null integer: a masked integer is
written as :data:`HDF5_MISSING_INT` (-1) and a masked float as NaN, and the column's dataset gets
the attribute ``missing_value`` naming that marker; an unmasked -1 in such an integer column is
refused, so the marker is never ambiguous.
"""

import csv
import errno
import gzip
import io
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

#: Table formats by file extension (lower case; the longest matching ending wins).
TABLE_FORMATS: dict[str, str] = {
    ".tsv": "tsv", ".txt": "tsv", ".tsv.gz": "tsv.gz", ".csv": "csv", ".csv.gz": "csv.gz",
    ".parquet": "parquet", ".h5": "hdf5", ".hdf5": "hdf5",
}

#: Index files read beside an input (``genome.fa.fai``, a bgzip FASTA's ``.gzi``, a VCF's ``.tbi``
#: or ``.csi``): an output naming one is refused like the input itself, even before it exists.
INDEX_SUFFIXES = (".fai", ".gzi", ".tbi", ".csi")

#: What a masked (missing) value of a signed integer column is written as in HDF5.
HDF5_MISSING_INT = -1

# mkstemp creates files readable by their owner only; outputs get the usual mode (0666 less umask).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def output_format(path: str | os.PathLike, formats: Mapping[str, str] = TABLE_FORMATS) -> str:
    """The format of ``path`` by its extension among ``formats`` (extension -> format name, e.g.
    :data:`TABLE_FORMATS`, or a command's own mapping with more writers); a ValueError listing the
    supported extensions for any other."""
    name = Path(path).name.lower()
    for extension in sorted(formats, key=len, reverse=True):
        if name.endswith(extension) and len(name) > len(extension):
            return formats[extension]
    raise ValueError(f"{path}: unknown output extension; supported: {', '.join(formats)}")


def _same_file(a: Path, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def input_problem(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None]) -> str | None:
    """Why ``path`` must not be written because the run reads it: it is one of ``inputs`` (the same
    file, through links too, or the same name before the run creates it, e.g. the weights' cached
    copy) or an input's index (:data:`INDEX_SUFFIXES`, existing or not); None when it is none."""
    real = os.path.realpath(path)
    for source in inputs:
        if source is None:
            continue
        if _same_file(Path(path), source) or real == os.path.realpath(source):
            return f"output {path} is this command's input {source}"
        if not os.path.isfile(source):  # e.g. --tile's region, not a file
            continue
        for suffix in INDEX_SUFFIXES:
            index = f"{source}{suffix}"
            if _same_file(Path(path), index) or real == os.path.realpath(index):
                return f"output {path} is the index of this command's input {source}"
    return None


def check_output(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (),
                 overwrite: bool = True, formats: Mapping[str, str] | None = None) -> Path:
    """Refuse, before any work, an output ``path`` that cannot or must not be written (module
    docstring): a ValueError or FileExistsError saying why. ``inputs`` are every file the command
    reads (None entries are skipped): its input files, and the model's files
    (``seqzoo.zoo.weights.run_files``); ``formats``, when given, the extensions allowed."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a file name for the output")
    problem = input_problem(path, inputs)
    if problem is not None:
        raise ValueError(f"{problem}; an input is never overwritten, even with --force: choose another output name")
    if formats is not None:
        output_format(path, formats)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --force to replace it (overwrite=True in Python)")
    folder = path.parent
    while not folder.exists():  # the writers create missing folders: the first existing one counts
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{path}: cannot write in {folder}")
    return path


def temporary_file(path: Path) -> Path:
    """A new, empty, hidden temporary file of this run next to ``path`` (same filesystem, so the
    final rename is atomic), with the mode a plain ``open`` would give."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".partial")
    os.fchmod(fd, 0o666 & ~_UMASK)
    os.close(fd)
    return Path(name)


def publish(temporary: Path, path: Path, overwrite: bool) -> None:
    """Give the finished ``temporary`` file its final name ``path`` atomically. Without
    ``overwrite`` an existing ``path`` (which another run may have written meanwhile) is kept and
    FileExistsError raised."""
    if overwrite:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # fails when path exists, atomically
    except FileExistsError:
        raise FileExistsError(f"{path} appeared while this run was writing it (another run?); it was not "
                              "replaced: pass --force to replace it") from None
    except OSError:  # a filesystem without hard links
        if path.exists():
            raise FileExistsError(f"{path} appeared while this run was writing it; pass --force to replace it") from None
        os.replace(temporary, path)
        return
    temporary.unlink()


class ChildWriter:
    """A file written by a child Python process running ``code``, fed pickled messages through
    its standard input: for libraries that cannot fail cleanly on a full disk (libBigWig aborts the
    process; HDF5 crashes it at exit once a write has failed), so that this process never dies
    with them. ``code`` reads ``first`` and then messages until None, finishes its files and
    exits with 0; it ignores SIGINT/SIGTERM/SIGHUP (:meth:`stop` ends it) and deletes its files
    itself when its input ends without None (this process was killed). Any failure of the child
    is an ``OSError`` naming ``outputs`` (ENOSPC when the folder has no space left); the caller
    deletes the temporary ``paths``."""

    def __init__(self, code: str, first, paths: list[Path], outputs: list[Path], what: str):
        self.paths, self.outputs, self.what = paths, outputs, what
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr)
        self.send(first)

    def send(self, message) -> None:
        """Pass one message to the child; OSError saying why when it has died."""
        try:
            pickle.dump(message, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError:  # a broken pipe: the child died
            raise self._failure() from None

    def close(self) -> None:
        """Let the child finish its files; OSError when it could not."""
        self.send(None)
        try:
            self.proc.stdin.close()
        except OSError:
            raise self._failure() from None
        if self.proc.wait() != 0:
            raise self._failure()
        self._stderr.close()

    def stop(self) -> None:
        """End the child of an aborted run; the caller deletes the files."""
        self._kill()
        self._stderr.close()

    def _kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        try:
            self.proc.stdin.close()
        except OSError:  # unwritten data on a broken pipe
            pass

    def _failure(self) -> OSError:
        """The error for a child that failed or died, saying why; the child is ended."""
        self._kill()
        self._stderr.seek(0)
        said = self._stderr.read().decode(errors="replace").strip().splitlines()
        self._stderr.close()
        rc = self.proc.returncode
        how = (f"{self.what} died of {signal.Signals(-rc).name}" if rc and rc < 0 else
               said[-1] if said else f"{self.what} exited with {rc}")
        folder = self.paths[0].parent
        free = shutil.disk_usage(folder).free  # before the temporary files are deleted
        names = ", ".join(map(str, self.outputs[:3])) + (" ..." if len(self.outputs) > 3 else "")
        if free < (1 << 20):  # what a full disk looks like; libBigWig does not say
            return OSError(errno.ENOSPC, f"writing {names} failed: no space left on device ({free} bytes free in "
                                         f"{folder}; {how}); nothing was kept")
        return OSError(errno.EIO, f"writing {names} failed ({how}); nothing was kept")


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
    """Base class of the tables: the run's own temporary file, column checks. ``overwrite=False``
    keeps a file that exists when the table is finished (FileExistsError)."""

    def __init__(self, path: str | os.PathLike, columns: list[str], *, overwrite: bool = True):
        if len(set(columns)) != len(columns):
            duplicated = sorted({c for c in columns if columns.count(c) > 1})
            raise ValueError(f"duplicate output column names: {duplicated}")
        self.path = Path(path)
        self.columns = list(columns)
        self.overwrite = overwrite
        self.rows = 0
        self.partial = temporary_file(self.path)
        try:
            self._open()
        except BaseException:
            self.partial.unlink(missing_ok=True)
            raise

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
        """Finish the file and give it its final name; on any failure (a full disk, Ctrl-C) the
        temporary file is deleted and the error raised."""
        try:
            self._close()
            publish(self.partial, self.path, self.overwrite)
        except BaseException:
            self.partial.unlink(missing_ok=True)
            raise
        return self.path

    def abort(self) -> None:
        """Drop the unfinished file."""
        try:
            self._close()
        except Exception:  # noqa: BLE001 - the run failed already; deleting the file is what matters
            pass
        finally:
            self.partial.unlink(missing_ok=True)

    def _open(self):  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    def _write(self, chunk):  # pragma: no cover
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
    """Tab-separated text with a header line; floats with 6 significant digits, NaN as ``nan``.
    ``delimiter=","`` writes CSV, ``compress=True`` gzip."""

    def __init__(self, path, columns, *, overwrite: bool = True, delimiter: str = "\t", compress: bool = False):
        self.delimiter, self.compress = delimiter, compress
        super().__init__(path, columns, overwrite=overwrite)

    def _open(self):
        self._raw = open(self.partial, "wb")
        stream = self._raw
        if self.compress:  # the gzip header names the output, not the temporary file
            stream = gzip.GzipFile(filename=self.path.name.removesuffix(".gz"), mode="wb", fileobj=self._raw)
        self._file = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        self._csv = csv.writer(self._file, delimiter=self.delimiter, lineterminator="\n")
        self._csv.writerow(self.columns)

    def _write(self, chunk):
        # One format string per row instead of one call per value (7x faster for a 265-target
        # model): float columns are formatted by it ("{:.6g}", which writes NaN as "nan"), every
        # other column is turned into text first and quoted as the csv module's QUOTE_MINIMAL would.
        fields, values = [], []
        for c in self.columns:
            column = chunk[c]
            if (isinstance(column, np.ndarray) and not isinstance(column, np.ma.MaskedArray)
                    and column.dtype.kind == "f"):
                fields.append("{:.6g}")
                values.append(column.tolist())
            else:
                fields.append("{}")
                cells = column.tolist() if isinstance(column, np.ndarray) else list(column)
                values.append([self._quote(_text(v)) for v in cells])
        row = self.delimiter.join(fields) + "\n"
        self._file.write("".join(row.format(*r) for r in zip(*values)))
        self._file.flush()  # each chunk reaches the disk before the next is computed

    def _quote(self, text: str) -> str:
        if self.delimiter in text or '"' in text or "\n" in text:  # QUOTE_MINIMAL with lineterminator "\n"
            return '"' + text.replace('"', '""') + '"'
        return text

    def _close(self):
        try:
            self._file.close()  # and the gzip stream
        finally:
            self._raw.close()


class ParquetWriter(TableWriter):
    """Parquet via pyarrow. Chunks are buffered into row groups of about ``ROW_GROUP_BYTES``
    (pyarrow keeps every row group's metadata in memory until the file is closed, so one row
    group per small chunk would make memory grow with the number of rows) and each column is
    joined once per row group (one Arrow array per column and row group, not per chunk). The
    schema is fixed by the first row group; a masked array's masked values and None become nulls."""

    ROW_GROUP_BYTES = 32 << 20

    def __init__(self, path, columns, *, overwrite: bool = True):
        self._writer = None
        self._pending: list[dict] = []
        self._pending_rows = 0
        # about 8 bytes per value: the rows that make one row group of ROW_GROUP_BYTES
        self._group_rows = max(1024, self.ROW_GROUP_BYTES // (8 * len(columns)))
        super().__init__(path, columns, overwrite=overwrite)

    def _open(self):
        pass  # pyarrow opens the file with the first row group

    def _write(self, chunk):
        import pyarrow as pa

        # Numbers wait as NumPy arrays, joined once per row group; text and masked columns become
        # Arrow arrays now, which hold strings compactly (NumPy pads each to the longest).
        self._pending.append({c: chunk[c] if _plain_numbers(chunk[c]) else pa.array(chunk[c]) for c in self.columns})
        self._pending_rows += len(chunk[self.columns[0]])
        if self._pending_rows >= self._group_rows:
            self._flush()

    def _flush(self):
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._pending:
            return
        chunks, self._pending, self._pending_rows = self._pending, [], 0
        table = pa.table({c: _joined([chunk[c] for chunk in chunks]) for c in self.columns})
        if self._writer is None:
            # Dictionary pages help repeated text (chromosomes, strands, notes), not predictions,
            # which are nearly all distinct: for them pyarrow builds a dictionary, finds it too big
            # and falls back, which made writing 265 float columns 6x slower and the file 1.4x larger.
            repeated = [f.name for f in table.schema if not pa.types.is_floating(f.type)]
            self._writer = pq.ParquetWriter(self.partial, table.schema, use_dictionary=repeated)
        self._writer.write_table(table.cast(self._writer.schema), row_group_size=table.num_rows)

    def _close(self):
        self._flush()
        if self._writer is None:  # no rows: still write a valid empty file
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pa.schema([(c, pa.string()) for c in self.columns])
            pq.write_table(schema.empty_table(), self.partial)
        else:
            self._writer.close()


def _plain_numbers(values) -> bool:
    return (isinstance(values, np.ndarray) and not isinstance(values, np.ma.MaskedArray)
            and values.dtype.kind in "biuf")


def _joined(parts: list):
    """One column's values over several chunks (NumPy arrays of numbers, or Arrow arrays), as one
    contiguous array; Arrow parts of different types take the first type that is not null."""
    import pyarrow as pa

    if all(_plain_numbers(p) for p in parts):
        return np.concatenate(parts)
    parts = [p if isinstance(p, pa.Array) else pa.array(p) for p in parts]
    typed = [p.type for p in parts if p.type != pa.null()]
    return pa.concat_arrays([p if not typed or p.type == typed[0] else p.cast(typed[0]) for p in parts])


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


# The HDF5 writer's child process (ChildWriter): reads (path, columns), then chunks, each a list of
# (column, values, missing-value marker or None), until None. It never exits through HDF5's own
# clean-up after a failure: a file whose write failed crashes the process there.
_HDF5_CHILD = r"""
import os, pickle, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
import h5py
stream = sys.stdin.buffer
path, columns = pickle.load(stream)
try:
    f = h5py.File(path, "w")
    f.attrs["columns"] = columns
    rows = 0
    while (chunk := pickle.load(stream)) is not None:
        for name, values, missing in chunk:
            if values.dtype.kind in "UO":
                values, dtype = values.astype(object), h5py.string_dtype()
            else:
                dtype = values.dtype
            if name not in f:
                f.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=True)
            data = f[name]
            if missing is not None:
                data.attrs["missing_value"] = missing
            data.resize(rows + len(values), axis=0)
            data[rows:] = values
        rows += len(values)
    f.close()
except BaseException as e:  # a failed write (the parent deletes the file) or a lost parent
    if isinstance(e, EOFError):
        try:
            os.unlink(path)
        except OSError:
            pass
    sys.stderr.write(f"{type(e).__name__}: {e}\n".replace("\n", " ").strip() + "\n")
    sys.stderr.flush()
    os._exit(1)
"""


class HDF5Writer(TableWriter):
    """HDF5 via h5py: one resizable 1-D dataset per column (strings as UTF-8), column order kept
    in the file's ``columns`` attribute. A masked column's dataset has the attribute
    ``missing_value`` (see the module docstring). h5py runs in a child process
    (:class:`ChildWriter`): after a failed write (a full disk) HDF5 crashes the process that
    wrote, at its exit."""

    def _open(self):
        self._child = ChildWriter(_HDF5_CHILD, (str(self.partial), self.columns), [self.partial], [self.path],
                                  what="the HDF5 writer")

    def _write(self, chunk):
        message = []
        for name in self.columns:
            missing = None
            if isinstance(chunk[name], np.ma.MaskedArray):
                values, missing = _hdf5_values(name, chunk[name])
            else:
                values = np.asarray(chunk[name])
            message.append((name, values, missing))
        self._child.send(message)

    def _close(self):
        try:
            self._child.close()
        except BaseException:
            self._child.stop()
            raise

    def abort(self) -> None:
        """Drop the unfinished file (the child is ended, not left to finish it)."""
        try:
            self._child.stop()
        finally:
            self.partial.unlink(missing_ok=True)


def open_writer(path: str | os.PathLike, columns: list[str], *, overwrite: bool = True) -> TableWriter:
    """A writer for ``path`` in the format its extension names (:data:`TABLE_FORMATS`; any other
    extension is a ValueError). ``overwrite=False`` keeps an existing file (FileExistsError)."""
    kind = output_format(path)
    if kind == "parquet":
        return ParquetWriter(path, columns, overwrite=overwrite)
    if kind == "hdf5":
        return HDF5Writer(path, columns, overwrite=overwrite)
    return TSVWriter(path, columns, overwrite=overwrite, delimiter="," if kind.startswith("csv") else "\t",
                     compress=kind.endswith(".gz"))

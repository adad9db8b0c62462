"""Streaming prediction for protein models (DeepSol): FASTA in, one row per record out.

:func:`predict_fasta` reads the FASTA file with :func:`seqzoo.proteins.iter_fasta` in chunks of
``chunk_size`` records, encodes each chunk with :func:`seqzoo.encoding.encode_protein`, predicts
the predictable records in batches and writes the chunk's rows before reading the next, so
memory stays flat however many proteins the file holds (only the record ids are kept, to detect
duplicates).

Output: one row per input record, in input order, with the columns

``id`` (first word of the header), ``length`` (residues as read), ``valid`` (1 = predicted,
0 = not predictable), ``reason`` (why not; empty when valid), ``rule`` (how the protein was read:
``padded`` when it fits the model's length, ``whole sequence`` when it is longer, see below, empty
when not predicted), one probability column per target
(``soluble`` for DeepSol; NaN when not valid) and ``predicted_class`` (1 when the probability is at
least :data:`THRESHOLD`, 0 below it; no value when not valid).

The table is written by :func:`seqzoo.io.tables.open_writer`, like every seqzoo output, so the
format follows the output name: ``.parquet`` (Parquet), ``.h5``/``.hdf5`` (HDF5, one dataset per
column), ``.tsv``/``.txt``/``.tsv.gz`` (tab-separated text, gzip for ``.gz``), ``.csv``/``.csv.gz``;
any other extension is refused before anything is read. The ``predicted_class`` of a row that was not
predicted is empty in TSV and null in Parquet; HDF5 has no null integer, so there it is
:data:`~seqzoo.io.tables.HDF5_MISSING_INT` (-1), the dataset's ``missing_value`` attribute says
so, and ``valid`` is 0 on that row. The file is written under a temporary name of this run and
renamed only when complete; on any error the temporary file is deleted and nothing is left behind.

**Proteins longer than the model's length.** DeepSol's network reads any length: its convolutions
are globally max-pooled and its composition features are frequencies and the log length, so no
weight depends on the input length. A longer protein is therefore read whole by the same network
and weights built for its length rounded up to a multiple of the model's (``whole sequence``),
padded as every shorter protein is; no residue is cut off and nothing is averaged. This holds for
the families whose record says ``length_free``; for others a longer protein stays not predictable.

Bad input (see ``encode_protein`` and ``iter_fasta``): lower case is upper-cased and one trailing
``*`` removed; an empty record or a residue outside the 20 standard ones (X, B, Z, U, O, an internal
``*``, digits...) keeps its row with ``valid = 0`` and the reason (so does a longer protein when
no ``predict_long`` is given); a duplicate id or a file that is not FASTA stops the run with an error naming the
file and line(s), and no output file is left.

**DNA given to a protein model.** A, C, G and T are amino acids too, so a DNA or RNA FASTA would be
predicted as proteins without complaint. A record whose letters are at least
:data:`NUCLEOTIDE_SHARE` (90%) A, C, G, T, U or N, with at least three different bases
(:func:`nucleotide_like`; real proteins hold about 25% of these letters), stops the run with an
error naming the file, the record and its line, and no output is left;
``allow_nucleotide_like=True`` (``--allow-nucleotide-like``) predicts such records as proteins.
"""

from __future__ import annotations

import numbers
import os
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from seqzoo.encoding import encode_protein
from seqzoo.io.proteins import FastaRecord, iter_fasta
from seqzoo.io.tables import TABLE_FORMATS, check_output, open_writer

__all__ = ["NUCLEOTIDE_SHARE", "THRESHOLD", "nucleotide_like", "output_columns", "predict_fasta",
           "whole_sequence_predictor"]

PADDED, WHOLE = "padded", "whole sequence"

#: A probability at or above this is predicted as class 1 (soluble). Fixed, not tuned.
THRESHOLD = 0.5


#: A record is read as DNA or RNA, not a protein, when at least this share of its letters are
#: A, C, G, T, U or N (see :func:`nucleotide_like`).
NUCLEOTIDE_SHARE = 0.9


def nucleotide_like(sequence: str) -> bool:
    """Whether ``sequence`` reads as a nucleotide sequence rather than a protein: at least
    :data:`NUCLEOTIDE_SHARE` of its letters (either case, one trailing ``*`` left out) are A, C, G,
    T, U or N, and at least three of the bases A, C, G and T/U occur. Those letters are about a
    quarter of a real protein's residues; a DNA sequence with a few IUPAC codes (R, Y, ...) still
    counts as DNA, while a homopolymer (poly-alanine ``AAAA...``) or a two-letter repeat, which
    could be either, does not."""
    sequence = sequence.removesuffix("*")
    # counted in both cases, so that a long record is never copied upper-cased
    counts = {base: sequence.count(base) + sequence.count(base.lower()) for base in "ACGTUN"}
    bases = sum(counts[b] > 0 for b in "ACG") + (counts["T"] + counts["U"] > 0)
    return bases >= 3 and sum(counts.values()) >= NUCLEOTIDE_SHARE * len(sequence)


def _refuse_nucleotide_like(records: Iterator[FastaRecord], fasta) -> Iterator[FastaRecord]:
    """``records``, stopped by a ValueError at the first one that is :func:`nucleotide_like`."""
    for record in records:
        if nucleotide_like(record.sequence):
            raise ValueError(
                f"{fasta}, line {record.line}: record {record.id!r} reads as DNA or RNA, not a protein (at least "
                f"{NUCLEOTIDE_SHARE:.0%} of its {len(record.sequence):,} letters are A, C, G, T, U or N); a protein "
                "model was given a nucleotide FASTA? Give it proteins, or pass --allow-nucleotide-like "
                "(allow_nucleotide_like=True) to predict such records as proteins")
        yield record


def output_columns(labels: tuple[str, ...] | list[str]) -> list[str]:
    """The output's column names for a model with target ``labels``."""
    return ["id", "length", "valid", "reason", "rule", *labels, "predicted_class"]


def _chunks(records: Iterator[FastaRecord], size: int) -> Iterator[list[FastaRecord]]:
    while chunk := list(islice(records, size)):
        yield chunk


def _predict_chunk(predict: Callable[[np.ndarray], np.ndarray], chunk: list[FastaRecord],
                   max_len: int, n_targets: int, batch_size: int,
                   predict_long: Callable[[np.ndarray], np.ndarray] | None = None) -> dict:
    """Encode and predict one chunk of records; returns its output columns."""
    reasons, rules, tokens, valid_rows = [], [], [], []
    long_rows: dict[int, list[tuple[int, np.ndarray]]] = {}  # input length -> (row, tokens)
    probabilities = np.full((len(chunk), n_targets), np.nan, dtype=np.float32)
    for i, record in enumerate(chunk):
        encoded, reason = encode_protein(record.sequence, max_len)
        residues = len(record.sequence.removesuffix("*"))
        if encoded is None and predict_long is not None and residues > max_len:
            length = -(-residues // max_len) * max_len  # rounded up to a multiple of max_len
            encoded, reason = encode_protein(record.sequence, length)
            if encoded is not None:
                long_rows.setdefault(length, []).append((i, encoded))
        elif encoded is not None:
            tokens.append(encoded)
            valid_rows.append(i)
        reasons.append(reason or "")
        rules.append("" if encoded is None else (PADDED if len(encoded) == max_len else WHOLE))
    for start in range(0, len(tokens), batch_size):
        batch = np.stack(tokens[start : start + batch_size])
        probabilities[valid_rows[start : start + batch_size]] = predict(batch)
    for length, items in long_rows.items():
        rows = [row for row, _ in items]
        probabilities[rows] = predict_long(np.stack([t for _, t in items]))
    valid = np.array([rule != "" for rule in rules], dtype=np.int8)
    return {
        "id": [r.id for r in chunk],
        "length": [len(r.sequence) for r in chunk],
        "valid": valid,
        "reason": reasons,
        "rule": rules,
        "probabilities": probabilities,
        "predicted_class": (probabilities[:, 0] >= THRESHOLD).astype(np.int8),
    }


def whole_sequence_predictor(model) -> Callable[[np.ndarray], np.ndarray] | None:
    """For a ``ZooModel`` whose network reads any length (its architecture, or every member of
    its ensemble, of a ``length_free`` family): a function predicting tokens of any length, by the same
    weights in a network built at that length (one per length, cached). None for other models."""
    import keras

    from seqzoo.architectures.registry import build, families
    from seqzoo.runtime import mixed_bfloat16

    spec = model.spec
    members = spec.config.get("members") if spec.architecture == "ensemble" else [{"architecture": spec.architecture}]
    length_free = {name for name, f in families().items() if f.length_free}
    if not members or any(m.get("architecture") not in length_free for m in members):
        return None
    networks: dict[int, keras.Model] = {}

    def at_length(config: dict, length: int) -> dict:
        if spec.architecture != "ensemble":
            return {**config, "max_len": length}
        return {**config, "members": [{**m, "config": {**m.get("config", {}), "max_len": length}}
                                      for m in config["members"]]}

    def predict(tokens: np.ndarray) -> np.ndarray:
        length = tokens.shape[1]
        if length not in networks:
            with keras.device(model.device):
                network = build(spec.architecture, **at_length(spec.config, length))
                network.set_weights(model.keras_model.get_weights())
                networks[length] = mixed_bfloat16(network) if model.precision == "bfloat16" else network
        return np.asarray(networks[length].predict_on_batch(tokens.astype("int32")), dtype=np.float32)

    return predict


def _rows(part: dict, labels: list[str]) -> dict:
    """A chunk's output columns; ``predicted_class`` is masked (no value) where the record was
    not predicted (see the module docstring for how each format writes that)."""
    rows = {k: part[k] for k in ("id", "length", "valid", "reason", "rule")}
    rows.update({label: part["probabilities"][:, j] for j, label in enumerate(labels)})
    rows["predicted_class"] = np.ma.MaskedArray(part["predicted_class"], mask=np.asarray(part["valid"]) != 1)
    return rows


def predict_fasta(
    predict: Callable[[np.ndarray], np.ndarray],
    fasta: str | os.PathLike,
    output: str | os.PathLike,
    *,
    max_len: int,
    labels: tuple[str, ...] | list[str] = ("soluble",),
    batch_size: int = 64,
    chunk_size: int = 4096,
    progress: bool = True,
    overwrite: bool = True,
    predict_long: Callable[[np.ndarray], np.ndarray] | None = None,
    allow_nucleotide_like: bool = False,
) -> int:
    """Predict every record of a protein FASTA file and write one row per record (module docstring).

    Args:
        predict: maps an int32 token batch ``(N, max_len)`` to probabilities ``(N, len(labels))``,
            e.g. ``ZooModel.predict_on_batch``.
        fasta: plain or gzipped protein FASTA.
        output: ``.parquet`` (Parquet), ``.h5``/``.hdf5`` (HDF5), ``.tsv``/``.txt``, ``.tsv.gz``, ``.csv``
            or ``.csv.gz`` (``seqzoo.io.tables.TABLE_FORMATS``; another extension is a ValueError).
        max_len: the model's input length; longer sequences are reported as not predictable.
        labels: the model's target names (probability column names).
        batch_size: records per model call.
        chunk_size: records read, predicted and written at a time.
        progress: show a progress bar (records) on stderr.
        overwrite: replace an existing ``output`` (else FileExistsError, before any work). The
            output is never the input FASTA (ValueError).
        predict_long: predicts proteins longer than ``max_len`` whole (tokens padded to a multiple
            of ``max_len``), e.g. :func:`whole_sequence_predictor`; without it they are not predicted.
        allow_nucleotide_like: predict records that read as DNA or RNA (:func:`nucleotide_like`)
            as proteins; by default the first one stops the run.

    Returns:
        The number of rows written.

    Raises:
        ValueError: the file is not FASTA, has a duplicate id, or (without ``allow_nucleotide_like``)
            a record that reads as DNA or RNA (naming the file and lines); nothing is written then.
    """
    from tqdm import tqdm

    for name, value in (("batch_size", batch_size), ("chunk_size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be an integer of at least 1; got {value!r}")
    check_output(output, inputs=[fasta], overwrite=overwrite, formats=TABLE_FORMATS)
    labels = list(labels)
    n_rows = 0
    with open_writer(output, output_columns(labels), overwrite=overwrite) as writer, \
            tqdm(unit=" proteins", disable=not progress, desc=Path(fasta).name) as bar:
        records = iter_fasta(fasta)
        if not allow_nucleotide_like:
            records = _refuse_nucleotide_like(records, fasta)
        for chunk in _chunks(records, chunk_size):
            writer.write(_rows(_predict_chunk(predict, chunk, max_len, len(labels), batch_size, predict_long), labels))
            n_rows += len(chunk)
            bar.update(len(chunk))
    return n_rows

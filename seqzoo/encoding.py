"""Sequence encodings used by the seqzoo models.

DNA one-hot encoding
--------------------
Columns are in ``ACGT`` order (:data:`DNA_ALPHABET`). Each input byte is mapped
through a 256-entry lookup table (:data:`DNA_ONE_HOT_TABLE`), so a whole batch of
uint8 byte codes of shape ``(..., L)`` is encoded at once as ``TABLE[codes]`` with
shape ``(..., L, 4)``.

===============================  ==============================================
input byte (either case)         row (A, C, G, T)
===============================  ==============================================
``A`` ``C`` ``G`` ``T``          one-hot, e.g. ``C`` -> (0, 1, 0, 0)
``N``                            uniform (0.25, 0.25, 0.25, 0.25), as kipoiseq and
                                 the published DeepSEA / Basset pipelines do
``R`` ``Y`` ``S`` ``W`` ``K``    uniform over the two bases of the IUPAC code,
``M``                            e.g. ``R`` (A/G) -> (0.5, 0, 0.5, 0)
``B`` ``D`` ``H`` ``V``          uniform over the three bases, e.g. ``B`` (C/G/T)
                                 -> (0, 1/3, 1/3, 1/3)
anything else                    invalid: :func:`one_hot_dna` raises
                                 ``ValueError`` naming the character and its
                                 position
===============================  ==============================================

Lower case means soft-masked (repeat) sequence in genome FASTA files and is
encoded exactly like upper case.

Because the complement of ``ACGT`` is ``TGCA`` (the same columns reversed), the
reverse complement of an encoded sequence is obtained by reversing both the
length axis and the base axis (:func:`reverse_complement_one_hot`); this also
holds for N and the IUPAC codes (e.g. R = A/G becomes Y = C/T).

Protein tokens (DeepSol)
------------------------
The 20 standard amino acids in :data:`PROTEIN_ALPHABET` order
(``ACDEFGHIKLMNPQRSTVWY``) become tokens 1..20; :data:`PAD_TOKEN` (0) pads the
sequence at the end up to the model's maximum length. See :func:`encode_protein`
for how lower case, stop codons and non-standard residues are handled.

No sequence
-----------
A row that cannot be predicted still takes its place in a kipoi batch, marked so that no model
can mistake it for a sequence: an all-NaN one-hot window (DNA) or all :data:`NO_SEQUENCE_TOKEN`
(-1) tokens (protein). :func:`no_sequence_rows` finds such rows; the zoo's kipoi model
(``seqzoo.kipoi_adapter.KipoiModel``) predicts NaN for them.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DNA_ALPHABET",
    "DNA_ONE_HOT_TABLE",
    "DNA_VALID_TABLE",
    "IUPAC_BASES",
    "NO_SEQUENCE_TOKEN",
    "PAD_TOKEN",
    "PROTEIN_ALPHABET",
    "PROTEIN_TOKEN_TABLE",
    "dna_codes_valid",
    "dna_to_codes",
    "encode_protein",
    "no_sequence_rows",
    "one_hot_dna",
    "reverse_complement",
    "reverse_complement_one_hot",
]

DNA_ALPHABET = "ACGT"

#: Bases each (upper-case) IUPAC nucleotide code stands for.
IUPAC_BASES: dict[str, str] = {
    "A": "A",
    "C": "C",
    "G": "G",
    "T": "T",
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}

_IUPAC_COMPLEMENT = {
    "A": "T", "C": "G", "G": "C", "T": "A",
    "R": "Y", "Y": "R", "S": "S", "W": "W", "K": "M", "M": "K",
    "B": "V", "V": "B", "D": "H", "H": "D", "N": "N",
}


def _build_dna_tables() -> tuple[np.ndarray, np.ndarray]:
    table = np.zeros((256, 4), dtype=np.float32)
    valid = np.zeros(256, dtype=bool)
    for code, bases in IUPAC_BASES.items():
        row = np.zeros(4, dtype=np.float32)
        for base in bases:
            row[DNA_ALPHABET.index(base)] = 1.0 / len(bases)
        for char in (code, code.lower()):
            table[ord(char)] = row
            valid[ord(char)] = True
    table.setflags(write=False)
    valid.setflags(write=False)
    return table, valid


#: ``(256, 4)`` float32 table: row ``b`` is the encoding of byte ``b`` (zeros if invalid).
#: ``DNA_VALID_TABLE``: ``(256,)`` bool table, True for the bytes listed in the module docstring.
DNA_ONE_HOT_TABLE, DNA_VALID_TABLE = _build_dna_tables()

_DNA_COMPLEMENT_TRANS = str.maketrans(
    "".join(_IUPAC_COMPLEMENT) + "".join(_IUPAC_COMPLEMENT).lower(),
    "".join(_IUPAC_COMPLEMENT.values()) + "".join(_IUPAC_COMPLEMENT.values()).lower(),
)


def one_hot_codes(codes: np.ndarray) -> np.ndarray:
    """float32 one-hot ``(..., L, 4)`` of uint8 byte codes ``(..., L)``, without validation
    (bytes that are not DNA give zero rows; check with ``DNA_VALID_TABLE``).

    ``np.take`` on the lookup table is about 10x faster than fancy indexing ``TABLE[codes]``,
    which matters on the prediction path (one lookup per base of every batch).
    """
    return np.take(DNA_ONE_HOT_TABLE, codes, axis=0)


def dna_to_codes(seq: str | bytes) -> np.ndarray:
    """Return the ASCII byte codes of a DNA sequence as a 1-D uint8 array.

    Raises ``ValueError`` if a ``str`` contains a non-ASCII character (naming it and
    its 1-based position).
    """
    if isinstance(seq, str):
        try:
            data = seq.encode("ascii")
        except UnicodeEncodeError as err:
            raise ValueError(
                f"invalid DNA character {seq[err.start]!r} at position {err.start + 1}"
            ) from None
    elif isinstance(seq, (bytes, bytearray, memoryview)):
        data = bytes(seq)
    else:
        raise TypeError(f"expected str or bytes, got {type(seq).__name__}")
    # frombuffer gives a read-only view of the bytes object; copy so callers own it.
    return np.frombuffer(data, dtype=np.uint8).copy()


def _as_codes(codes_or_seq: np.ndarray | str | bytes) -> np.ndarray:
    if isinstance(codes_or_seq, (str, bytes, bytearray, memoryview)):
        return dna_to_codes(codes_or_seq)
    codes = np.asarray(codes_or_seq)
    if codes.dtype != np.uint8:
        raise TypeError(
            f"DNA byte codes must be a uint8 array, got dtype {codes.dtype}; "
            "use dna_to_codes() to convert a sequence"
        )
    return codes


def dna_codes_valid(codes: np.ndarray | str | bytes) -> bool:
    """Return True if every byte is a valid DNA character (ACGT, N or IUPAC, either case)."""
    return bool(DNA_VALID_TABLE[_as_codes(codes)].all())


def _raise_invalid(codes: np.ndarray) -> None:
    bad = np.argwhere(~DNA_VALID_TABLE[codes])[0]
    byte = int(codes[tuple(bad)])
    char = chr(byte)
    shown = repr(char) if char.isprintable() else f"byte 0x{byte:02x}"
    message = f"invalid DNA character {shown} at position {int(bad[-1]) + 1}"
    if codes.ndim > 1:
        index = tuple(int(i) for i in bad[:-1])
        shown_index = index[0] if len(index) == 1 else index
        message += f" of sequence {shown_index} (0-based batch index)"
    raise ValueError(
        message + "; allowed: A C G T N and the IUPAC codes R Y S W K M B D H V (either case)"
    )


def one_hot_dna(codes_or_seq: np.ndarray | str | bytes, dtype=np.float32) -> np.ndarray:
    """One-hot encode DNA in ACGT order (see the module docstring for N and IUPAC codes).

    Args:
        codes_or_seq: a ``str``/``bytes`` sequence, or a uint8 array of byte codes with
            shape ``(..., L)`` (e.g. a whole batch ``(N, L)``).
        dtype: output dtype.

    Returns:
        Array of shape ``(..., L, 4)``.

    Raises:
        ValueError: on the first invalid character, naming it and its 1-based position
            (and, for a batch, the index of the sequence).
    """
    codes = _as_codes(codes_or_seq)
    if not DNA_VALID_TABLE[codes].all():
        _raise_invalid(codes)
    return one_hot_codes(codes).astype(dtype, copy=False)


def reverse_complement_one_hot(x: np.ndarray) -> np.ndarray:
    """Reverse complement one-hot DNA of shape ``(L, 4)`` or ``(N, L, 4)``.

    Flips the length axis and the ACGT axis (the complement TGCA is ACGT reversed).
    Returns a contiguous copy, not a negative-stride view.
    """
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[-1] != 4:
        raise ValueError(f"expected one-hot DNA of shape (L, 4) or (N, L, 4), got {x.shape}")
    return np.ascontiguousarray(x[..., ::-1, ::-1])


def reverse_complement(seq: str) -> str:
    """Reverse complement a DNA string; IUPAC aware (R<->Y, K<->M, B<->V, D<->H, S, W, N
    unchanged) and case preserving. Raises ``ValueError`` on any other character."""
    valid = set(_IUPAC_COMPLEMENT) | {c.lower() for c in _IUPAC_COMPLEMENT}
    for i, char in enumerate(seq):
        if char not in valid:
            raise ValueError(f"invalid DNA character {char!r} at position {i + 1}")
    return seq.translate(_DNA_COMPLEMENT_TRANS)[::-1]


# ---------------------------------------------------------------------------
# Proteins
# ---------------------------------------------------------------------------

PROTEIN_ALPHABET = "ACDEFGHIKLMNPQRSTVWY"
PAD_TOKEN = 0
#: Every token of a protein input row that holds no sequence (module docstring, "No sequence").
NO_SEQUENCE_TOKEN = -1


def _build_protein_table() -> np.ndarray:
    table = np.full(256, -1, dtype=np.int32)  # -1 marks non-standard residues
    for token, residue in enumerate(PROTEIN_ALPHABET, start=1):
        table[ord(residue)] = token
        table[ord(residue.lower())] = token
    table.setflags(write=False)
    return table


#: ``(256,)`` int32 table: token 1..20 for standard residues (either case), -1 otherwise.
PROTEIN_TOKEN_TABLE = _build_protein_table()


def encode_protein(seq: str, max_len: int) -> tuple[np.ndarray | None, str | None]:
    """Encode a protein sequence as DeepSol tokens.

    Behaviour:
      * lower-case standard residues are upper-cased (case carries no meaning in
        protein FASTA);
      * a single trailing ``*`` (stop) is removed;
      * residues map to tokens 1..20 in ``PROTEIN_ALPHABET`` order, padded at the end
        with ``PAD_TOKEN`` (0) up to ``max_len``.

    Returns:
        ``(tokens, None)`` with int32 tokens of length ``max_len``, or ``(None, reason)``
        when the sequence cannot be predicted. Reasons: ``"empty sequence"``;
        ``"non-standard residue 'X' at position 17"`` (first one, 1-based; covers X, B, Z,
        U, O, an internal ``*``, digits, ...); ``"length 1500 exceeds the model's maximum
        of 1200"``.
    """
    if max_len <= 0:
        raise ValueError(f"max_len must be positive, got {max_len}")
    if seq.endswith("*"):
        seq = seq[:-1]
    if not seq:
        return None, "empty sequence"
    if not seq.isascii():
        pos = next(i for i, c in enumerate(seq) if not c.isascii())
        return None, f"non-standard residue {seq[pos]!r} at position {pos + 1}"
    tokens = PROTEIN_TOKEN_TABLE[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
    invalid = np.flatnonzero(tokens < 0)
    if invalid.size:
        pos = int(invalid[0])
        return None, f"non-standard residue {seq[pos]!r} at position {pos + 1}"
    if len(seq) > max_len:
        return None, f"length {len(seq)} exceeds the model's maximum of {max_len}"
    out = np.full(max_len, PAD_TOKEN, dtype=np.int32)
    out[: len(seq)] = tokens
    return out, None


def no_sequence_rows(x: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of a batch that hold no sequence: a one-hot window with a NaN, or a
    token row with a negative token (:data:`NO_SEQUENCE_TOKEN`); see the module docstring."""
    x = np.asarray(x)
    flat = x.reshape(len(x), -1)
    if np.issubdtype(x.dtype, np.floating):
        return np.isnan(flat).any(axis=1)
    return (flat < 0).any(axis=1)

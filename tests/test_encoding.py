import numpy as np
import pytest

from seqzoo.encoding import (
    DNA_ALPHABET,
    DNA_ONE_HOT_TABLE,
    PAD_TOKEN,
    PROTEIN_ALPHABET,
    dna_codes_valid,
    dna_to_codes,
    encode_protein,
    one_hot_dna,
    reverse_complement,
    reverse_complement_one_hot,
)

# Expected encoding of every IUPAC code, written out by hand (columns A, C, G, T).
T3 = 1 / 3
EXPECTED_IUPAC = {
    "A": [1, 0, 0, 0],
    "C": [0, 1, 0, 0],
    "G": [0, 0, 1, 0],
    "T": [0, 0, 0, 1],
    "N": [0.25, 0.25, 0.25, 0.25],
    "R": [0.5, 0, 0.5, 0],
    "Y": [0, 0.5, 0, 0.5],
    "S": [0, 0.5, 0.5, 0],
    "W": [0.5, 0, 0, 0.5],
    "K": [0, 0, 0.5, 0.5],
    "M": [0.5, 0.5, 0, 0],
    "B": [0, T3, T3, T3],
    "D": [T3, 0, T3, T3],
    "H": [T3, T3, 0, T3],
    "V": [T3, T3, T3, 0],
}


def test_alphabet_order():
    assert DNA_ALPHABET == "ACGT"
    np.testing.assert_array_equal(one_hot_dna("ACGT"), np.eye(4, dtype=np.float32))


@pytest.mark.parametrize("code", sorted(EXPECTED_IUPAC))
def test_one_hot_every_iupac_code_both_cases(code):
    expected = np.array([EXPECTED_IUPAC[code]], dtype=np.float32)
    np.testing.assert_allclose(one_hot_dna(code), expected, rtol=1e-6)
    np.testing.assert_allclose(one_hot_dna(code.lower()), expected, rtol=1e-6)
    assert one_hot_dna(code).sum() == pytest.approx(1.0)


def test_lower_case_equals_upper_case():
    seq = "ACGTNRYSWKMBDHVacgtn"
    np.testing.assert_array_equal(one_hot_dna(seq.lower()), one_hot_dna(seq.upper()))


def test_dna_to_codes_and_batch_encoding():
    codes = dna_to_codes("ACGTN")
    assert codes.dtype == np.uint8
    assert codes.tolist() == [65, 67, 71, 84, 78]
    assert dna_to_codes(b"acgt").tolist() == [97, 99, 103, 116]

    batch = np.stack([dna_to_codes("ACGT"), dna_to_codes("ttaa")])
    x = one_hot_dna(batch)
    assert x.shape == (2, 4, 4)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x[0], np.eye(4))
    np.testing.assert_array_equal(x[1].argmax(-1), [3, 3, 0, 0])
    # the batch path is the lookup table itself
    np.testing.assert_array_equal(x, DNA_ONE_HOT_TABLE[batch])


def test_dtype_argument():
    assert one_hot_dna("ACGT", dtype=np.float16).dtype == np.float16


def test_invalid_character_named_with_position():
    with pytest.raises(ValueError, match=r"invalid DNA character 'X' at position 3"):
        one_hot_dna("ACXT")
    with pytest.raises(ValueError, match=r"'-' at position 1"):
        one_hot_dna("-ACGT")
    assert not dna_codes_valid(dna_to_codes("ACGU"))
    assert dna_codes_valid(dna_to_codes("ACGTNRYSWKMBDHVacgtnryswkmbdhv"))


def test_invalid_character_in_batch_names_sequence():
    batch = np.stack([dna_to_codes("ACGT"), dna_to_codes("AC.T")])
    with pytest.raises(ValueError, match=r"'\.' at position 3 of sequence 1"):
        one_hot_dna(batch)


def test_invalid_non_printable_and_non_ascii():
    with pytest.raises(ValueError, match=r"byte 0x00 at position 2"):
        one_hot_dna(b"A\x00GT")
    with pytest.raises(ValueError, match=r"invalid DNA character 'é' at position 2"):
        one_hot_dna("Aé")


def test_codes_must_be_uint8():
    with pytest.raises(TypeError, match="uint8"):
        one_hot_dna(np.array([65, 67], dtype=np.int64))


def test_reverse_complement_string():
    assert reverse_complement("AACG") == "CGTT"
    assert reverse_complement("acgTN") == "NAcgt"
    assert reverse_complement("RYKMBVDHSWN") == "NWSDHBVKMRY"
    with pytest.raises(ValueError, match=r"'Z' at position 2"):
        reverse_complement("AZ")


@pytest.mark.parametrize("seq", ["ACGTTGCA", "AAAACCCGGT", "ACGTNRYSWKMBDHV", "acgtnrYKbdhv"])
def test_reverse_complement_one_hot_matches_string(seq):
    x = one_hot_dna(seq)
    np.testing.assert_allclose(reverse_complement_one_hot(x), one_hot_dna(reverse_complement(seq)))
    # batch form (N, L, 4)
    batch = np.stack([x, x])
    rc = reverse_complement_one_hot(batch)
    assert rc.shape == batch.shape
    assert rc.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(rc[1], one_hot_dna(reverse_complement(seq)))


def test_reverse_complement_one_hot_rejects_bad_shape():
    with pytest.raises(ValueError, match="shape"):
        reverse_complement_one_hot(np.zeros((4, 5)))


# --- proteins ---------------------------------------------------------------


def test_protein_tokens_and_padding():
    tokens, reason = encode_protein(PROTEIN_ALPHABET, max_len=25)
    assert reason is None
    assert tokens.dtype == np.int32
    assert tokens.tolist() == list(range(1, 21)) + [PAD_TOKEN] * 5


def test_protein_lower_case_and_trailing_stop():
    upper, _ = encode_protein("MKVL", 6)
    lower, reason = encode_protein("mkvl*", 6)
    assert reason is None
    np.testing.assert_array_equal(upper, lower)
    assert upper.tolist() == [11, 9, 18, 10, 0, 0]


def test_protein_exact_max_len():
    tokens, reason = encode_protein("A" * 10, 10)
    assert reason is None and tokens.tolist() == [1] * 10


@pytest.mark.parametrize(
    "seq, reason",
    [
        ("", "empty sequence"),
        ("*", "empty sequence"),
        ("MKVLAAAAAAAAAAAAXAA", "non-standard residue 'X' at position 17"),
        ("MKB", "non-standard residue 'B' at position 3"),
        ("MZ", "non-standard residue 'Z' at position 2"),
        ("MU", "non-standard residue 'U' at position 2"),
        ("MO", "non-standard residue 'O' at position 2"),
        ("MK*L", "non-standard residue '*' at position 3"),
        ("MK**", "non-standard residue '*' at position 3"),
        ("M1K", "non-standard residue '1' at position 2"),
        ("MKx", "non-standard residue 'x' at position 3"),
        ("Mé", "non-standard residue 'é' at position 2"),
        ("A" * 1500, "length 1500 exceeds the model's maximum of 1200"),
    ],
)
def test_protein_unpredictable_reasons(seq, reason):
    tokens, got = encode_protein(seq, 1200)
    assert tokens is None
    assert got == reason

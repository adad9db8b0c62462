"""DeepSol S1 (Khurana et al. 2018, Bioinformatics 34:2605): protein solubility from sequence."""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqzoo.architectures.registry import Family

if TYPE_CHECKING:
    import keras

# Kernel sizes 2-8 use 64 filters and 9-15 use 128, as in the published S1 model.
DEEPSOL_KERNELS = {k: (64 if k <= 8 else 128) for k in range(2, 16)}


def build_deepsol(
    max_len: int = 1200,
    vocab_size: int = 21,
    embedding_dim: int = 64,
    kernels: dict[int, int] | None = None,
    dense_units: int = 64,
    dropout: float = 0.5,
    composition: bool = False,
) -> keras.Model:
    """Build a DeepSol S1-like model; the defaults are the published network (920,321 parameters).

    Input: amino-acid tokens ``(N, max_len)`` (0 = padding, 1-20 = residues, see
    ``seqzoo.encoding``). Output: ``(N, 1)``, the probability that the protein is soluble.
    One layer of parallel convolutions (``kernels`` maps kernel size to filter count), each
    globally max-pooled, concatenated, then a dense layer with dropout.

    With ``composition=True`` (not in the paper) the output layer also reads the protein's
    standardized residue and dipeptide frequencies and log length
    (:class:`~seqzoo.architectures.layers.ProteinComposition`; the standardization statistics
    are weights, set from the training data), so the output is a logistic regression on the
    convolutional features and the composition together.
    """
    import keras
    from keras import layers

    from seqzoo.architectures.layers import ProteinComposition, Standardize

    kernels = DEEPSOL_KERNELS if kernels is None else {int(k): int(v) for k, v in kernels.items()}
    inputs = keras.Input((max_len,), dtype="int32", name="tokens")
    x = layers.Embedding(vocab_size, embedding_dim, name="embedding")(inputs)
    pooled = []
    for size, filters in sorted(kernels.items()):
        branch = layers.Conv1D(filters, size, activation="relu", name=f"conv_k{size}")(x)
        pooled.append(layers.GlobalMaxPooling1D(name=f"conv_k{size}_pool")(branch))
    x = layers.Concatenate(name="concat")(pooled)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    if composition:
        features = ProteinComposition(name="composition")(inputs)
        features = Standardize(name="composition_standardize")(features)
        x = layers.Concatenate(name="with_composition")([x, features])
    outputs = layers.Dense(1, activation="sigmoid", name="output")(x)
    return keras.Model(inputs, outputs, name="deepsol")


def build_protein_composition(max_len: int = 1200, pair_gaps: tuple[int, ...] = (0,), l2: float = 0.0) -> keras.Model:
    """A logistic regression on a protein's composition: a companion of DeepSol for ensembles.

    Input and output as :func:`build_deepsol`. The standardized residue frequencies, the
    frequencies of residue pairs ``k`` apart for each ``k`` in ``pair_gaps`` and the log length
    (:class:`~seqzoo.architectures.layers.ProteinComposition`) go through one sigmoid unit
    (``l2``: L2 penalty on its weights). Global composition ranks
    solubility differently from DeepSol's max-pooled motifs, so the two average well.
    """
    import keras
    from keras import layers

    from seqzoo.architectures.layers import ProteinComposition, Standardize

    inputs = keras.Input((max_len,), dtype="int32", name="tokens")
    features = ProteinComposition(pair_gaps, name="composition")(inputs)
    features = Standardize(name="composition_standardize")(features)
    outputs = layers.Dense(1, activation="sigmoid", name="output",
                           kernel_regularizer=keras.regularizers.L2(l2) if l2 else None)(features)
    return keras.Model(inputs, outputs, name="protein_composition")


# Composition features (residue and pair frequencies, standardized: differences of small numbers)
# stay float32 under bfloat16.
COMPOSITION_FLOAT32_LAYERS = ("composition", "composition_standardize")

FAMILIES = (
    Family(name="deepsol", builder=build_deepsol, modality="protein", trains="protein",
           citation="https://doi.org/10.1093/bioinformatics/bty166",
           small={"": dict(max_len=50, kernels={2: 4, 3: 4, 5: 8}, embedding_dim=8, dense_units=8),
                  "composition": dict(max_len=50, kernels={2: 4, 3: 4}, embedding_dim=8, dense_units=8,
                                      composition=True)},
           float32_layers=COMPOSITION_FLOAT32_LAYERS, length_free=True),
    Family(name="protein_composition", builder=build_protein_composition, modality="protein", trains="protein",
           small={"": dict(max_len=50, pair_gaps=(0, 1, 3), l2=1e-4)},
           float32_layers=COMPOSITION_FLOAT32_LAYERS, length_free=True),
)

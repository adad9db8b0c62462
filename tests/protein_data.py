"""Synthetic labelled proteins for the DeepSol training tests: soluble ones richer in E/K,
insoluble ones in L/I/V/F, a signal a tiny model can find. Import it as
``from protein_data import write_labelled_tsv`` (pytest puts tests/ on ``sys.path``)."""

from collections.abc import Callable
from pathlib import Path

import numpy as np

from seqzoo.encoding import PROTEIN_ALPHABET


def write_labelled_tsv(path: Path, n: int, seed: int, length: Callable[[int, np.random.Generator], int]) -> None:
    """Write ``n`` proteins (labels alternating 0, 1) as a ``sequence<TAB>label`` TSV; protein
    ``i`` has ``length(i, rng)`` residues after its initial M."""
    rng = np.random.default_rng(seed)
    rows = ["sequence\tlabel"]
    for i in range(n):
        label = i % 2
        weights = np.ones(20)
        weights[[PROTEIN_ALPHABET.index(c) for c in ("EK" if label else "LIVF")]] = 4
        residues = rng.choice(list(PROTEIN_ALPHABET), length(i, rng), p=weights / weights.sum())
        rows.append("M" + "".join(residues) + f"\t{label}")
    path.write_text("\n".join(rows) + "\n")

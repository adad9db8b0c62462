"""MEME motif files (JASPAR's format): read probability matrices, write them back."""

import os
from pathlib import Path

import numpy as np

__all__ = ["read_meme", "write_meme"]


def read_meme(path: str | os.PathLike) -> dict[str, tuple[str, np.ndarray]]:
    """Motifs of a MEME text file: ``{name: (id, probabilities (width, 4) in ACGT order)}``.

    A name that repeats (JASPAR has a few, e.g. two ``IDD6``) keys its later motifs as
    ``"NAME (ID)"``, so every motif of the file is kept."""
    motifs: dict[str, tuple[str, np.ndarray]] = {}
    lines = Path(path).read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("MOTIF"):
            parts = line.split()
            if len(parts) < 2:
                raise ValueError(f"{path}, line {i + 1}: MOTIF without an id")
            motif_id, name = parts[1], parts[2] if len(parts) > 2 else parts[1]
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("letter-probability"):
                j += 1
            if j == len(lines):
                raise ValueError(f"{path}, line {i + 1}: motif {motif_id} has no letter-probability matrix")
            width = int(lines[j].split("w=")[1].split()[0])
            rows = [[float(v) for v in lines[j + 1 + k].split()] for k in range(width)]
            if any(len(r) != 4 for r in rows):
                raise ValueError(f"{path}, line {j + 1}: motif {motif_id}: expected 4 columns (ACGT)")
            motifs[name if name not in motifs else f"{name} ({motif_id})"] = (motif_id, np.array(rows, dtype=np.float64))
            i = j + width
        i += 1
    return motifs


def write_meme(path: str | os.PathLike, motifs: dict[str, np.ndarray], sites: dict[str, int] | None = None) -> None:
    """Write probability matrices ``{name: (width, 4) ACGT}`` as a MEME (version 4) text file."""
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
             "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for name, prob in motifs.items():
        nsites = (sites or {}).get(name, 0)
        lines += [f"MOTIF {name}", f"letter-probability matrix: alength= 4 w= {len(prob)} nsites= {nsites} E= 0"]
        lines += ["  ".join(f"{v:.6f}" for v in row) for row in prob]
        lines.append("")
    Path(path).write_text("\n".join(lines))

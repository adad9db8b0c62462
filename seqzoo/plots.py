"""Pictures of attributions: a sequence logo (logomaker) and an in-silico mutagenesis heat map.

Figures are drawn with matplotlib's non-interactive Agg backend and saved in the format the
output name's extension asks for (``.png``, ``.svg``, ``.pdf``).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["explain_figure"]

BASES = "ACGT"


def explain_figure(output: str | os.PathLike, attribution: np.ndarray | None, ism: np.ndarray | None,
                   start: int, title: str = "", attribution_label: str = "attribution") -> None:
    """Write a figure of a region: the attribution logo ``(R, 4)`` above the ISM heat map
    ``(R, 4)`` (either may be None); ``start`` is the genome coordinate of the first column."""
    import matplotlib

    matplotlib.use("Agg")
    import logomaker
    import matplotlib.pyplot as plt
    import pandas as pd

    panels = [p for p in (attribution, ism) if p is not None]
    if not panels:
        raise ValueError("nothing to draw: give an attribution map, an ISM map or both")
    length = len(panels[0])
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8.0, min(length / 8, 40.0)), 2.6 * len(panels)),
                             squeeze=False, constrained_layout=True)
    axes = list(axes[:, 0])
    positions = np.arange(start, start + length)
    if attribution is not None:
        ax = axes.pop(0)
        frame = pd.DataFrame(np.asarray(attribution, dtype=float), columns=list(BASES), index=positions)
        logomaker.Logo(frame, ax=ax, color_scheme="classic")
        ax.set_ylabel(attribution_label)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xlim(positions[0] - 0.5, positions[-1] + 0.5)
        if title:
            ax.set_title(title)
    if ism is not None:
        ax = axes.pop(0)
        values = np.asarray(ism, dtype=float).T
        limit = float(np.abs(values).max()) or 1.0
        image = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest",
                          extent=(positions[0] - 0.5, positions[-1] + 0.5, 3.5, -0.5))
        ax.set_yticks(range(4), list(BASES))
        ax.set_ylabel("substituted base")
        ax.set_xlabel("position (0-based)")
        fig.colorbar(image, ax=ax, label="ISM: mutant - reference", pad=0.01)
        if attribution is None and title:
            ax.set_title(title)
    fig.savefig(output, dpi=150)
    plt.close(fig)

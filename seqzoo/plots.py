"""Pictures of attributions: a sequence logo (logomaker) and an in-silico mutagenesis heat map.

Figures are drawn with matplotlib's non-interactive Agg backend and saved in the format the
output name's extension asks for (``.png``, ``.svg``, ``.pdf``).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["explain_figure", "track_figure"]

BASES = "ACGT"


def _genome_axis(ax) -> None:
    """Genome coordinates on ``ax``'s x axis in full, with thousands separators (``129,010``):
    whole-base ticks, never matplotlib's offset notation (``+1.29e5``), which asks for arithmetic."""
    import matplotlib.ticker

    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins="auto", integer=True))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{int(round(x)):,}"))


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
        _genome_axis(ax)
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
        _genome_axis(ax)
        fig.colorbar(image, ax=ax, label="ISM: mutant - reference", pad=0.01)
        if attribution is None and title:
            ax.set_title(title)
    fig.savefig(output, dpi=150)
    plt.close(fig)


def track_figure(output: str | os.PathLike, tracks: dict[str, str | os.PathLike], region: str,
                 peaks: list[tuple[int, int, str]] = (), title: str = "") -> None:
    """Write a browser-like figure of bigWig ``tracks`` (label -> path) over ``region``
    (``CHROM:START-END``), one panel per track, with ``peaks`` (start, end, label) marked below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pyBigWig

    from seqzoo.windows import parse_region

    chrom, start, end = parse_region(region)
    fig, axes = plt.subplots(len(tracks) + bool(peaks), 1, sharex=True, squeeze=False,
                             figsize=(10, 1.6 * len(tracks) + 0.8 * bool(peaks)),
                             gridspec_kw={"height_ratios": [3] * len(tracks) + ([1] if peaks else [])})
    axes = axes[:, 0]
    for ax, (label, path) in zip(axes, tracks.items()):
        with pyBigWig.open(str(path)) as bw:
            for a, b, value in bw.intervals(chrom, start, end) or ():
                ax.fill_between([a, b], [value, value], step="post", color="tab:blue", linewidth=0)
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
        ax.set_ylim(bottom=0)
        ax.spines[["top", "right"]].set_visible(False)
    if peaks:
        ax = axes[-1]
        for a, b, label in peaks:
            ax.add_patch(plt.Rectangle((a, 0.2), b - a, 0.6, color="tab:red"))
            ax.text((a + b) / 2, 0.9, label, ha="center", va="bottom", fontsize=7)
        ax.set_ylim(0, 1.6)
        ax.set_yticks([])
        ax.set_ylabel("peaks", rotation=0, ha="right", va="center")
        ax.spines[["top", "right", "left"]].set_visible(False)
    axes[-1].set_xlim(start, end)
    _genome_axis(axes[-1])
    axes[-1].set_xlabel(f"{chrom} position (bp)")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    fig.savefig(output, dpi=120)
    plt.close(fig)

"""Motif discovery from attributions: DeepLIFT/SHAP -> TF-MoDISco -> TOMTOM, as a report.

:func:`discover_motifs` explains one target's logit over the windows of a BED file with DeepLIFT
(:func:`seqzoo.attribution.attribute_windows`: observed and hypothetical contributions, seeded
dinucleotide-shuffled references), runs TF-MoDISco (the maintained ``modisco`` package,
tfmodisco-lite) on them, and compares each pattern with a MEME motif database by TOMTOM
(``memelite``'s implementation, no MEME binaries). Both packages are the ``seqzoo[interpret]``
extra.

**Matching.** A pattern's position probability matrix is trimmed to the positions whose summed
|contribution| (its CWM) reaches ``trim`` (default 0.3, tfmodisco-lite's report) of the largest,
then compared with every database motif on both strands. TOMTOM's p-values are turned into
q-values by Benjamini-Hochberg over the database's motifs for each pattern (the false discovery
rate among that pattern's matches, as MEME's Tomtom reports them per query).

**Report** (``output``, a folder): ``report.md`` (the patterns, strongest first: sign, seqlet
count, consensus, CWM logo, best matches with p and q and their logos), ``motifs.tsv`` (one row
per pattern), ``logos/*.png``, ``attributions.npz`` (the arrays TF-MoDISco read, layout of
:func:`~seqzoo.attribution.attribute_windows`) and ``modisco_results.h5`` (tfmodisco-lite's own
format, so ``modisco report`` and other tools read it). The **strongest** pattern is the
positive pattern with the most seqlets (TF-MoDISco's ``pos_patterns/pattern_0``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from seqzoo.attribution import attribute_windows
from seqzoo.io.meme import read_meme
from seqzoo.runtime import ZooModel

__all__ = ["discover_motifs", "match_patterns", "q_values"]

BASES = "ACGT"


def q_values(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of the p-values ``p`` along the last axis."""
    p = np.asarray(p, dtype=np.float64)
    n = p.shape[-1]
    order = np.argsort(p, axis=-1)
    ranked = np.take_along_axis(p, order, axis=-1) * n / np.arange(1, n + 1)
    ranked = np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1]
    q = np.empty_like(ranked)
    np.put_along_axis(q, order, np.minimum(ranked, 1.0), axis=-1)
    return q


def _trimmed(ppm: np.ndarray, cwm: np.ndarray, trim: float) -> np.ndarray:
    """``ppm`` over the positions from the first to the last whose summed |CWM| is >= ``trim`` of the largest."""
    score = np.abs(cwm).sum(axis=1)
    keep = np.flatnonzero(score >= trim * score.max())
    return ppm[keep.min():keep.max() + 1]


def match_patterns(ppms: list[np.ndarray], database: str | os.PathLike, top: int = 3) -> list[list[dict]]:
    """TOMTOM (memelite) of each probability matrix ``(width, 4)`` against every motif of the MEME
    file ``database``: per pattern, its ``top`` best matches ``{name, id, p, q, strand, offset}``
    by p-value (q: Benjamini-Hochberg over the database for that pattern)."""
    from memelite import tomtom

    motifs = read_meme(database)
    if not motifs:
        raise ValueError(f"{database}: no motifs")
    names = list(motifs)
    if not ppms:
        return []
    p, _, offsets, _, strands = tomtom([m.T.astype(np.float64) for m in ppms],
                                       [motifs[n][1].T.astype(np.float64) for n in names])[:5]
    p = np.nan_to_num(np.asarray(p, np.float64), nan=1.0)
    q = q_values(p)
    found = []
    for i in range(len(ppms)):
        best = np.argsort(p[i], kind="stable")[:top]
        found.append([{"name": names[j], "id": motifs[names[j]][0], "p": float(p[i, j]), "q": float(q[i, j]),
                       "strand": "-" if strands[i, j] else "+", "offset": int(offsets[i, j])} for j in best])
    return found


def _consensus(ppm: np.ndarray) -> str:
    """The most probable base per position, lower case where it has under half the probability."""
    return "".join(BASES[b] if row[b] >= 0.5 else BASES[b].lower() for row, b in zip(ppm, ppm.argmax(axis=1)))


def _logo(matrix: np.ndarray, path: Path, title: str, information: bool = False) -> None:
    """A sequence logo of ``matrix`` ``(width, 4)`` (a CWM as it is; a PPM scaled by its information
    content with ``information``) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import logomaker
    import matplotlib.pyplot as plt
    import pandas as pd

    if information:
        p = np.clip(matrix, 1e-3, 1)
        p = p / p.sum(axis=1, keepdims=True)
        matrix = p * (2 + (p * np.log2(p)).sum(axis=1, keepdims=True))
    fig, ax = plt.subplots(figsize=(max(2.5, 0.28 * len(matrix)), 1.6))
    logomaker.Logo(pd.DataFrame(matrix, columns=list(BASES)), ax=ax)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def discover_motifs(model: ZooModel, fasta: str | os.PathLike, bed: str | os.PathLike, target: str | int,
                    database: str | os.PathLike, output: str | os.PathLike, *, references: int = 20, seed: int = 0,
                    batch_size: int = 32, out_of_bounds: str = "pad", max_windows: int = 10_000,
                    region: tuple[int, int] | None = None, max_seqlets: int = 2000, window: int = 21,
                    flank: int = 10, leiden_runs: int = 50, min_seqlets: int = 100, top: int = 3,
                    trim: float = 0.3, overwrite: bool = False) -> dict:
    """DeepLIFT/SHAP of ``target`` over the windows of ``bed``, TF-MoDISco, TOMTOM against
    ``database`` (a MEME file), and a report in the folder ``output`` (module docstring).

    ``region`` ``(start, end)``: TF-MoDISco reads only these offsets of every window (for instance
    the central 400 bp); ``max_seqlets`` per sign, ``window`` (TF-MoDISco's sliding window),
    ``flank``, ``leiden_runs`` and ``min_seqlets`` are TF-MoDISco's (``max_seqlets_per_metacluster``,
    ``sliding_window_size``, ``flank_size``, ``n_leiden_runs``, ``min_metacluster_size``: a sign
    with no more seqlets than this gets no patterns); ``top`` matches per pattern.

    Returns ``{"windows", "patterns": [{pattern, sign, seqlets, consensus, matches}...] strongest
    first, "seconds": {attribution, modisco, tomtom}, "max_relative_delta"}``.
    """
    from modiscolite.io import save_hdf5
    from modiscolite.tfmodisco import TFMoDISco

    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"{output}: the report is a folder; this is a file")
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise ValueError(f"{output}: the folder exists and is not empty (overwrite it with --force)")
    read_meme(database)  # a bad database is reported before the attributions, not after
    (output / "logos").mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    summary = attribute_windows(model, fasta, output / "attributions.npz", targets=[target], bed=bed,
                                method="deeplift", references=references, seed=seed, batch_size=batch_size,
                                out_of_bounds=out_of_bounds, max_windows=max_windows, overwrite=True)
    seconds = {"attribution": time.perf_counter() - clock}
    arrays = np.load(output / "attributions.npz")
    one_hot, hypothetical = arrays["sequences"], arrays["hypothetical"][:, 0]
    usable = np.isfinite(hypothetical).all(axis=(1, 2))  # refused windows (all N, outside) carry NaN
    one_hot, hypothetical = one_hot[usable], hypothetical[usable]
    if region is not None:
        start, end = region
        if not 0 <= start < end <= one_hot.shape[1]:
            raise ValueError(f"region {region}: need 0 <= start < end <= {one_hot.shape[1]} (the window's length)")
        one_hot, hypothetical = one_hot[:, start:end], hypothetical[:, start:end]
    clock = time.perf_counter()
    positive, negative = TFMoDISco(one_hot=one_hot.astype(np.float32), hypothetical_contribs=hypothetical.astype(
        np.float32), sliding_window_size=window, flank_size=flank, max_seqlets_per_metacluster=max_seqlets,
        n_leiden_runs=leiden_runs, min_metacluster_size=min_seqlets, verbose=False)
    seconds["modisco"] = time.perf_counter() - clock
    save_hdf5(str(output / "modisco_results.h5"), positive, negative, window)
    patterns = [(f"pos_patterns.pattern_{i}", "+", p) for i, p in enumerate(positive or [])]
    patterns += [(f"neg_patterns.pattern_{i}", "-", p) for i, p in enumerate(negative or [])]
    clock = time.perf_counter()
    matches = match_patterns([_trimmed(p.sequence, p.contrib_scores, trim) for _, _, p in patterns], database, top)
    seconds["tomtom"] = time.perf_counter() - clock
    database_motifs = read_meme(database)
    rows = []
    for (name, sign, pattern), found in zip(patterns, matches):
        ppm = _trimmed(pattern.sequence, pattern.contrib_scores, trim)
        logo = f"logos/{name}.cwm.png"
        _logo(pattern.contrib_scores, output / logo, f"{name} ({len(pattern.seqlets)} seqlets)")
        for match in found:
            match["logo"] = f"logos/{match['id']}.png"
            if not (output / match["logo"]).exists():
                _logo(database_motifs[match["name"]][1], output / match["logo"], f"{match['name']} ({match['id']})",
                      information=True)
        rows.append({"pattern": name, "sign": sign, "seqlets": len(pattern.seqlets), "consensus": _consensus(ppm),
                     "logo": logo, "matches": found})
    _write_report(output, model.name, target, bed, database, summary, int(usable.sum()), region, rows, seconds)
    return {"windows": int(usable.sum()), "patterns": rows, "seconds": seconds,
            "max_relative_delta": summary["max_relative_delta"]}


def _write_report(output: Path, model: str, target, bed, database, summary: dict, windows: int, region, rows: list,
                  seconds: dict) -> None:
    """``report.md`` and ``motifs.tsv`` of :func:`discover_motifs`."""
    top = max((len(r["matches"]) for r in rows), default=0)
    header = ["pattern", "sign", "seqlets", "consensus"] + [f"{k}_{i + 1}" for i in range(top)
                                                             for k in ("match", "match_id", "p", "q")]
    lines = ["\t".join(header)]
    for r in rows:
        cells = [r["pattern"], r["sign"], str(r["seqlets"]), r["consensus"]]
        for m in r["matches"]:
            cells += [m["name"], m["id"], f"{m['p']:.3g}", f"{m['q']:.3g}"]
        lines.append("\t".join(cells + [""] * (len(header) - len(cells))))
    (output / "motifs.tsv").write_text("\n".join(lines) + "\n")
    md = [f"# Motifs of {model}, target {target}", "",
          f"- windows: {windows} (`{Path(bed).name}`){'' if region is None else f', offsets {region[0]}-{region[1]}'}",
          f"- attributions: DeepLIFT/SHAP of the logit, largest relative convergence delta "
          f"{summary['max_relative_delta']:.2e}, {summary['flagged']} windows flagged",
          f"- database: `{Path(database).name}`; q: Benjamini-Hochberg over its motifs, per pattern",
          "- time: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()), ""]
    if not rows:
        md.append("TF-MoDISco found no pattern.")
    for r in rows:
        md += [f"## {r['pattern']} ({'positive' if r['sign'] == '+' else 'negative'}, {r['seqlets']} seqlets)", "",
               f"consensus `{r['consensus']}`", "", f"![CWM]({r['logo']})", "",
               "| match | id | p | q | strand | logo |", "|---|---|---|---|---|---|"]
        md += [f"| {m['name']} | {m['id']} | {m['p']:.3g} | {m['q']:.3g} | {m['strand']} | ![]({m['logo']}) |"
               for m in r["matches"]]
        md.append("")
    (output / "report.md").write_text("\n".join(md))

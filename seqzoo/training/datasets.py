"""Labelled genome windows for DeepSEA- and Basset-like models: build once, stream batches.

:func:`build_dataset` turns a genome FASTA and a BED of labelled intervals (``chrom start end
task``, e.g. one line per transcription-factor peak; the interval's centre is taken as the
summit) into fixed-length windows with one binary label per task, split into named regions.

Designs
-------
``deepsea``
    The genome is tiled into ``bin_size`` (200) bp bins at multiples of ``bin_size``. A bin is
    positive for a task when it overlaps one of that task's summits +- ``flank`` (100) bp, i.e.
    when a summit ``s`` lies in ``(bin_start - flank, bin_end + flank)``. The model input is the
    ``seq_len`` (1000) bp centred on the bin.
``basset``
    Summits of all tasks are merged (a cluster starts at a summit and takes every summit within
    ``bin_size`` bp of it); each cluster gives one ``seq_len`` (600) bp window centred on the
    middle of the cluster, labelled like a DeepSEA bin by its central ``bin_size`` bp. Negatives
    (windows with no summit near their centre) are drawn uniformly from the same regions with a
    seeded generator, ``negative_ratio`` times as many as the peak windows.

In both designs a window with more than ``max_n_fraction`` (10%) N bases is dropped, and a
window lies entirely inside one region of the split: no window crosses a region boundary, so
leaving gaps between regions (e.g. ``train=0-19500000,valid=20000000-24000000``) keeps
training and validation sequences apart.

Splits (``parse_split``)
------------------------
``blocks:train=0-19500000,valid=20000000-24000000``
    Contiguous blocks, 0-based half-open, on every chromosome; ``chr1:0-19500000`` restricts a
    block to one chromosome, ``+`` joins several blocks into one split and ``end`` means the
    chromosome's end.
``chroms:train=chr1+chr2,valid=chr3``
    Whole chromosomes.

Storage (a directory)
---------------------
``manifest.json``
    Format, design, sizes, task names (output order), the split, counts per split and per task,
    the input files and the exact command.
``<split>.seqs.npy``
    ``uint8 (n, seq_len)``: the ASCII codes of the window's bases as in the FASTA (soft-masked
    lower case kept; N and IUPAC codes kept), one-hot encoded on the fly through
    :data:`seqzoo.encoding.DNA_ONE_HOT_TABLE`.
``<split>.labels.npy``
    ``uint8 (n, ceil(n_tasks / 8))``: the labels packed with ``numpy.packbits`` along the task
    axis (big-endian bit order).
``<split>.coords.npy``
    ``int64 (n, 2)``: chromosome index (into ``manifest["chroms"]``) and window start.

:class:`GenomeWindowDataset` reads a split through memory maps: batches are one-hot encoded as
they are drawn, so memory stays flat whatever the size of the split.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from seqzoo.encoding import one_hot_codes, reverse_complement_one_hot
from seqzoo.io.genome import Genome
from seqzoo.io.bed import BEDError, iter_bed, iter_lines
from seqzoo.suggest import did_you_mean
from seqzoo.windows import chromosome_problem, invalid_dna
from seqzoo.zoo.provenance import portable_path

logger = logging.getLogger(__name__)

__all__ = [
    "DESIGNS",
    "FORMAT",
    "GenomeWindowDataset",
    "Split",
    "SplitError",
    "build_dataset",
    "parse_split",
    "split_problems",
    "read_manifest",
    "read_tasks",
]

FORMAT = "seqzoo-genome-windows"
FORMAT_VERSION = 1
#: Default window length of each design.
DESIGNS = {"deepsea": 1000, "basset": 600}

_N_CODES = np.zeros(256, dtype=bool)
_N_CODES[[ord("N"), ord("n")]] = True
_CHUNK = 4096


class SplitError(ValueError):
    """A split specification that cannot be parsed or is inconsistent."""


@dataclass(frozen=True)
class Split:
    """A parsed split: ``kind`` is ``"blocks"`` or ``"chroms"``; ``regions`` maps each split
    name to its ``(chrom or None, start, end or None)`` blocks (``None`` chrom: every
    chromosome; ``None`` end: the chromosome's end) or, for ``chroms``, to chromosome names."""

    kind: str
    regions: dict
    text: str

    def blocks_on(self, chrom: str, size: int) -> list[tuple[str, int, int]]:
        """``(split name, start, end)`` of every block on ``chrom`` (clipped to its size), sorted."""
        out = []
        for name, regions in self.regions.items():
            for region in regions:
                if self.kind == "chroms":
                    if region == chrom:
                        out.append((name, 0, size))
                    continue
                block_chrom, start, end = region
                if block_chrom not in (None, chrom):
                    continue
                end = size if end is None else min(end, size)
                if start < end:
                    out.append((name, start, end))
        return sorted(out, key=lambda b: b[1])


_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")


def _parse_position(text: str, spec: str) -> int | None:
    text = text.strip().replace("_", "")
    if text == "end":
        return None
    if not re.fullmatch(r"[0-9]+", text):
        raise SplitError(f"split {spec!r}: {text!r} is not a 0-based position (digits or 'end')")
    return int(text)


def parse_split(text: str) -> Split:
    """Parse ``blocks:NAME=[CHROM:]START-END[+...],...`` or ``chroms:NAME=CHROM[+CHROM...],...``.

    Raises :class:`SplitError` for a malformed specification, an empty or reversed block,
    a name given twice, or regions that overlap (blocks) or repeat (chromosomes).
    """
    kind, sep, body = text.partition(":")
    if not sep or kind not in ("blocks", "chroms"):
        raise SplitError(
            f"split {text!r}: expected 'blocks:train=0-19500000,valid=20000000-24000000' "
            "or 'chroms:train=chr1+chr2,valid=chr3'"
        )
    regions: dict = {}
    for part in body.split(","):
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or not _NAME_RE.fullmatch(name) or not value.strip():
            raise SplitError(f"split {text!r}: {part!r} is not NAME=REGION")
        if name in regions:
            raise SplitError(f"split {text!r}: split {name!r} is given twice (join regions with '+')")
        items = []
        for item in value.split("+"):
            item = item.strip()
            if kind == "chroms":
                if not item or any(c.isspace() for c in item):
                    raise SplitError(f"split {text!r}: {item!r} is not a chromosome name")
                items.append(item)
                continue
            chrom = None
            if ":" in item:
                chrom, _, item = item.rpartition(":")
            lo, dash, hi = item.partition("-")
            if not dash:
                raise SplitError(f"split {text!r}: block {item!r} is not START-END")
            start, end = _parse_position(lo, text), _parse_position(hi, text)
            if start is None:
                raise SplitError(f"split {text!r}: a block cannot start at 'end'")
            if end is not None and end <= start:
                raise SplitError(f"split {text!r}: block {item!r} is empty or reversed (start must be < end)")
            items.append((chrom, start, end))
        regions[name] = items
    # No overlaps: a position belongs to at most one split.
    if kind == "chroms":
        seen: dict[str, str] = {}
        for name, chroms in regions.items():
            for chrom in chroms:
                if chrom in seen:
                    raise SplitError(f"split {text!r}: chromosome {chrom!r} is in both {seen[chrom]!r} and {name!r}")
                seen[chrom] = name
    else:
        flat = [(name, *block) for name, blocks in regions.items() for block in blocks]
        for i, (n1, c1, s1, e1) in enumerate(flat):
            for n2, c2, s2, e2 in flat[i + 1:]:
                if c1 is not None and c2 is not None and c1 != c2:
                    continue
                if s1 < (math.inf if e2 is None else e2) and s2 < (math.inf if e1 is None else e1):
                    raise SplitError(
                        f"split {text!r}: block {s1}-{e1 if e1 is not None else 'end'} of {n1!r} overlaps "
                        f"block {s2}-{e2 if e2 is not None else 'end'} of {n2!r}"
                    )
    return Split(kind=kind, regions=regions, text=text)


def read_tasks(path: str | os.PathLike) -> list[str]:
    """Task names in output order: the first column of a text/TSV file (a header whose first
    field is ``tf``, ``task`` or ``name`` is skipped; blank and ``#`` lines too)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    first = True
    for line_no, line in iter_lines(path):
        if not line.strip() or line.startswith("#"):
            continue
        name = line.split("\t")[0].strip()
        if first and name.lower() in ("tf", "task", "tasks", "name"):
            first = False
            continue
        first = False
        if name in seen:
            raise ValueError(f"{path}, line {line_no}: task {name!r} is listed twice (first on line {seen[name]})")
        seen[name] = line_no
        names.append(name)
    if not names:
        raise ValueError(f"{path}: no task names found")
    return names


def _read_peaks(path, genome: Genome, tasks: list[str] | None):
    """Summits (interval centres) by chromosome and task index; validates every line."""
    chrom_sizes = genome.chrom_sizes
    summits: dict[str, list[tuple[int, str]]] = {}
    task_line: dict[str, int] = {}
    for iv in iter_bed(path):
        if iv.name == ".":
            raise BEDError(f"{path}, line {iv.line}: column 4 must name the task (e.g. the TF) of the interval",
                           path=str(path), line=iv.line)
        # summits holds the chromosomes already checked: each is checked once
        if iv.chrom not in summits and (problem := chromosome_problem(genome, iv.chrom)) is not None:
            raise BEDError(f"{path}, line {iv.line}: {problem}", path=str(path), line=iv.line)
        size = chrom_sizes[iv.chrom]
        if iv.end > size:
            raise BEDError(f"{path}, line {iv.line}: interval end {iv.end} is past the end of {iv.chrom} "
                           f"({size} bp in {genome.path})", path=str(path), line=iv.line)
        if tasks is not None and iv.name not in tasks:
            raise BEDError(f"{path}, line {iv.line}: task {iv.name!r} is not in the task list", path=str(path),
                           line=iv.line)
        task_line.setdefault(iv.name, iv.line)
        summits.setdefault(iv.chrom, []).append(((iv.start + iv.end) // 2, iv.name))
    names = list(tasks) if tasks is not None else sorted(task_line)
    index = {name: i for i, name in enumerate(names)}
    out = {}
    for chrom, items in summits.items():
        pos = np.array([p for p, _ in items], dtype=np.int64)
        task = np.array([index[t] for _, t in items], dtype=np.int64)
        order = np.lexsort((pos, task))
        out[chrom] = (pos[order], task[order])
    return out, names


def _window_labels(centre_starts: np.ndarray, bin_size: int, flank: int, chrom_summits, n_tasks: int) -> np.ndarray:
    """``(n, n_tasks)`` bool: the central bin ``[a, a + bin_size)`` overlaps a summit +- flank."""
    labels = np.zeros((len(centre_starts), n_tasks), dtype=bool)
    if chrom_summits is None or not len(centre_starts):
        return labels
    pos, task = chrom_summits
    bounds = np.searchsorted(task, np.arange(n_tasks + 1))
    lo_q, hi_q = centre_starts - flank + 1, centre_starts + bin_size + flank  # s in [lo_q, hi_q)
    for t in range(n_tasks):
        s = pos[bounds[t]:bounds[t + 1]]
        if len(s):
            labels[:, t] = np.searchsorted(s, hi_q) > np.searchsorted(s, lo_q)
    return labels


def _chrom_codes(genome: Genome, chrom: str, size: int) -> np.ndarray:
    codes, _ = genome.fetch_codes(chrom, 0, size)
    invalid = invalid_dna(codes)
    if invalid.any():
        pos = int(np.argmax(invalid))
        raise ValueError(f"{genome.path}: invalid DNA character {chr(codes[pos])!r} in {chrom} at position "
                         f"{pos + 1} (1-based); allowed: A C G T N and IUPAC codes, either case")
    return codes


def _cluster_centres(positions: np.ndarray, distance: int) -> np.ndarray:
    """Greedy clusters of sorted positions (a cluster takes everything within ``distance`` of its
    first member); returns the middle of each cluster."""
    centres = []
    i, n = 0, len(positions)
    while i < n:
        j = np.searchsorted(positions, positions[i] + distance, side="right")
        centres.append((positions[i] + positions[j - 1]) // 2)
        i = j
    return np.array(centres, dtype=np.int64)


def build_dataset(
    fasta: str | os.PathLike,
    peaks: str | os.PathLike,
    out_dir: str | os.PathLike,
    design: str = "deepsea",
    split: str | Split = "blocks:train=0-19500000,valid=20000000-24000000",
    tasks: str | os.PathLike | list[str] | None = None,
    seq_len: int | None = None,
    bin_size: int = 200,
    flank: int = 100,
    max_n_fraction: float = 0.1,
    negative_ratio: float = 1.0,
    seed: int = 0,
    overwrite: bool = False,
    command: str | None = None,
    log=None,
) -> dict:
    """Build a labelled window data set in ``out_dir`` (see the module docstring); returns the manifest."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; choose one of {', '.join(DESIGNS)}")
    seq_len = DESIGNS[design] if seq_len is None else int(seq_len)
    if seq_len < bin_size or bin_size <= 0 or flank < 0:
        raise ValueError(f"need 0 < bin_size ({bin_size}) <= seq_len ({seq_len}) and flank >= 0 ({flank})")
    if (seq_len - bin_size) % 2:
        raise ValueError(f"seq_len - bin_size must be even so that the bin is centred ({seq_len}, {bin_size})")
    if not 0 <= max_n_fraction <= 1:
        raise ValueError(f"max_n_fraction must be in [0, 1], got {max_n_fraction}")
    split = parse_split(split) if isinstance(split, str) else split
    out_dir = Path(out_dir)
    if (out_dir / "manifest.json").exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already holds a data set (manifest.json); choose another --out or --overwrite")
    say = log or (lambda msg: None)
    task_list = read_tasks(tasks) if isinstance(tasks, (str, os.PathLike)) else tasks

    with Genome(fasta) as genome:
        sizes = genome.chrom_sizes
        summits, task_names = _read_peaks(peaks, genome, task_list)
        n_tasks = len(task_names)
        if split.kind == "chroms":
            for name, chroms in split.regions.items():
                for chrom in chroms:
                    if (problem := chromosome_problem(genome, chrom)) is not None:
                        raise SplitError(f"split {name!r}: {problem}")
        rng = np.random.default_rng(seed)
        pieces: dict[str, list] = {name: [] for name in split.regions}
        dropped_n: dict[str, int] = {name: 0 for name in split.regions}
        chroms = list(sizes)
        for ci, chrom in enumerate(chroms):
            blocks = split.blocks_on(chrom, sizes[chrom])
            if not blocks:
                continue
            codes = _chrom_codes(genome, chrom, sizes[chrom])
            n_cum = np.concatenate([[0], np.cumsum(_N_CODES[codes], dtype=np.int64)])
            half = (seq_len - bin_size) // 2  # window start = centre-bin start - half
            for name, lo, hi in blocks:
                if design == "deepsea":
                    k0 = -(-(lo + half) // bin_size)
                    k1 = (hi - half - bin_size) // bin_size  # last bin whose window ends <= hi
                    bins = np.arange(k0, k1 + 1, dtype=np.int64) * bin_size
                else:
                    pos = summits[chrom][0] if chrom in summits else np.zeros(0, dtype=np.int64)
                    pos = np.sort(pos[(pos >= lo) & (pos < hi)])
                    centres = _cluster_centres(pos, bin_size)
                    bins = centres - bin_size // 2
                    bins = bins[(bins - half >= lo) & (bins + bin_size + half <= hi)]
                    n_neg = int(round(negative_ratio * len(bins)))
                    if n_neg:
                        cand = rng.integers(lo + half, hi - half - bin_size + 1, size=4 * n_neg + 16)
                        cand_labels = _window_labels(cand, bin_size, flank, summits.get(chrom), n_tasks)
                        cand = np.unique(cand[~cand_labels.any(axis=1)])
                        cand = rng.permutation(cand)[:n_neg]
                        bins = np.sort(np.concatenate([bins, cand]))
                starts = bins - half
                n_count = n_cum[starts + seq_len] - n_cum[starts]
                keep = n_count <= max_n_fraction * seq_len
                dropped_n[name] += int((~keep).sum())
                starts, bins = starts[keep], bins[keep]
                labels = _window_labels(bins, bin_size, flank, summits.get(chrom), n_tasks)
                pieces[name].append((ci, codes, starts, labels))
                say(f"{name}: {chrom}:{lo}-{hi}: {len(starts)} windows ({int((~keep).sum())} dropped for N)")
            # codes stay referenced by pieces until written below; write per chromosome to keep memory flat
            _flush(out_dir, pieces, seq_len)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = _finish(out_dir, list(split.regions), n_tasks)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "design": design,
        "seq_len": seq_len,
        "bin_size": bin_size,
        "flank": flank,
        "max_n_fraction": max_n_fraction,
        "negative_ratio": negative_ratio if design == "basset" else None,
        "seed": seed,
        "label_rule": (f"positive when the central {bin_size} bp of the window overlaps a summit "
                       f"(BED interval centre) +- {flank} bp of the task"),
        "encoding": "seqs: uint8 ASCII codes as in the FASTA; labels: numpy.packbits over tasks (big-endian)",
        "split": {"kind": split.kind, "spec": split.text},
        "chroms": chroms,
        "tasks": task_names,
        "splits": {name: {**counts[name], "dropped_for_N": dropped_n[name]} for name in split.regions},
        "inputs": {"fasta": portable_path(fasta), "peaks": portable_path(peaks),  # seqzoo.zoo.provenance
                   "tasks": portable_path(tasks) if isinstance(tasks, (str, os.PathLike)) else None},
        "command": command,  # the CLI passes options.command_line; None from Python
    }
    manifest["warnings"] = split_problems(manifest, out_dir)
    for problem in manifest["warnings"]:
        logger.warning(problem)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def split_problems(manifest: dict, where: str | os.PathLike) -> list[str]:
    """What makes a data set's splits unfit for training or evaluation, one sentence each: a split
    without windows, and tasks without a positive (or without a negative) window in a split, whose
    AUROC and AUPRC are undefined there (in the validation split, early stopping cannot use them)."""
    problems = []
    tasks = manifest["tasks"]
    for name, counts in manifest["splits"].items():
        n = counts["n_windows"]
        if n == 0:
            problems.append(f"{where}: split {name!r} has no windows (split {manifest['split']['spec']}): it cannot "
                            "be trained or evaluated on")
            continue
        one_class = [t for t, p in zip(tasks, counts["positives_per_task"]) if p == 0 or p == n]
        if one_class:
            shown = ", ".join(one_class[:10]) + (f" and {len(one_class) - 10} more" if len(one_class) > 10 else "")
            problems.append(f"{where}: split {name!r}: {len(one_class)} of {len(tasks)} tasks have no positive (or no "
                            f"negative) window among its {n}: {shown}; their AUROC and AUPRC are undefined there")
    return problems


def _flush(out_dir: Path, pieces: dict, seq_len: int) -> None:
    """Append the windows gathered for one chromosome to per-split temporary part files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    offsets = np.arange(seq_len, dtype=np.int64)
    for name, items in pieces.items():
        for ci, codes, starts, labels in items:
            with open(out_dir / f".{name}.seqs.part", "ab") as fs:
                for i in range(0, len(starts), _CHUNK):
                    fs.write(codes[starts[i:i + _CHUNK, None] + offsets].tobytes())
            with open(out_dir / f".{name}.labels.part", "ab") as fl:
                fl.write(np.packbits(labels, axis=1).tobytes())
            with open(out_dir / f".{name}.coords.part", "ab") as fc:
                fc.write(np.stack([np.full(len(starts), ci, dtype=np.int64), starts], axis=1).tobytes())
        items.clear()


def _finish(out_dir: Path, names: list[str], n_tasks: int) -> dict:
    """Turn the part files into .npy arrays and count windows and positives."""
    counts = {}
    n_bytes = (n_tasks + 7) // 8
    for name in names:
        parts = {kind: out_dir / f".{name}.{kind}.part" for kind in ("seqs", "labels", "coords")}
        for p in parts.values():
            p.touch()
        coords = np.fromfile(parts["coords"], dtype=np.int64).reshape(-1, 2)
        n = len(coords)
        labels = np.fromfile(parts["labels"], dtype=np.uint8).reshape(n, n_bytes)
        np.save(out_dir / f"{name}.coords.npy", coords)
        np.save(out_dir / f"{name}.labels.npy", labels)
        raw = np.memmap(parts["seqs"], dtype=np.uint8, mode="r") if n else np.zeros(0, np.uint8)
        seq_len = raw.size // n if n else 0
        seqs = np.lib.format.open_memmap(out_dir / f"{name}.seqs.npy", mode="w+", dtype=np.uint8,
                                         shape=(n, seq_len))
        for i in range(0, n, _CHUNK * 4):
            seqs[i:i + _CHUNK * 4] = raw[i * seq_len:(i + _CHUNK * 4) * seq_len].reshape(-1, seq_len)
        seqs.flush()
        del seqs, raw
        per_task = np.zeros(n_tasks, dtype=np.int64)
        for i in range(0, n, 65536):
            per_task += np.unpackbits(labels[i:i + 65536], axis=1, count=n_tasks).sum(axis=0, dtype=np.int64)
        for p in parts.values():
            p.unlink()
        counts[name] = {
            "n_windows": int(n),
            "n_positive_labels": int(per_task.sum()),
            "positive_fraction": float(per_task.sum() / max(n * n_tasks, 1)),
            "positives_per_task": per_task.tolist(),
        }
    return counts


def read_manifest(directory: str | os.PathLike) -> dict:
    """The ``manifest.json`` of a data set directory (checked for its format)."""
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a seqzoo data set: no manifest.json (build one with `seqzoo dataset`)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} manifest")
    return manifest


class GenomeWindowDataset:
    """One split of a data set built by :func:`build_dataset`, read through memory maps.

    ``x(rows)`` one-hot encodes windows (float32 ``(n, seq_len, 4)``, ACGT), ``y(rows)`` unpacks
    their labels (uint8 ``(n, n_tasks)``); :meth:`batches` streams ``(x, y)`` batches.
    """

    def __init__(self, directory: str | os.PathLike, split: str):
        self.directory = Path(directory)
        self.manifest = read_manifest(directory)
        if split not in self.manifest["splits"]:
            raise LookupError(f"{directory}: no split {split!r}{did_you_mean(split, self.manifest['splits'])} "
                              f"(it has: {', '.join(self.manifest['splits'])})")
        self.split = split
        self.tasks: list[str] = list(self.manifest["tasks"])
        self.seq_len: int = int(self.manifest["seq_len"])
        self.seqs = np.load(self.directory / f"{split}.seqs.npy", mmap_mode="r")
        self.labels_packed = np.load(self.directory / f"{split}.labels.npy", mmap_mode="r")
        self.coords = np.load(self.directory / f"{split}.coords.npy", mmap_mode="r")

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    def __len__(self) -> int:
        return len(self.seqs)

    def x(self, rows=slice(None), reverse_complement: np.ndarray | bool = False) -> np.ndarray:
        """One-hot windows; ``reverse_complement`` (bool or per-row bool array) flips rows."""
        x = one_hot_codes(np.asarray(self.seqs[rows]))
        flip = np.broadcast_to(np.asarray(reverse_complement, dtype=bool), (len(x),))
        if flip.any():
            x[flip] = reverse_complement_one_hot(x[flip])
        return x

    def y(self, rows=slice(None)) -> np.ndarray:
        return np.unpackbits(np.asarray(self.labels_packed[rows]), axis=1, count=self.n_tasks)

    def intervals(self, rows=slice(None)) -> list[tuple[str, int, int]]:
        """``(chrom, start, end)`` of windows."""
        chroms = self.manifest["chroms"]
        return [(chroms[c], int(s), int(s) + self.seq_len) for c, s in np.asarray(self.coords[rows])]

    def batch_rows(self, batch_size: int, shuffle: bool = False, seed: int = 0, epoch: int = 0) -> list[np.ndarray]:
        """Row indices of each batch (sorted within a batch for sequential reads)."""
        order = np.arange(len(self))
        if shuffle:
            order = np.random.default_rng([seed, epoch]).permutation(len(self))
        return [np.sort(order[i:i + batch_size]) for i in range(0, len(order), batch_size)]

    def batches(self, batch_size: int = 128, shuffle: bool = False, seed: int = 0, epoch: int = 0,
                reverse_complement: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Stream ``(x float32, y float32)`` batches. With ``reverse_complement`` each window is
        reverse complemented with probability 1/2 (seeded by ``seed`` and ``epoch``)."""
        rng = np.random.default_rng([seed, epoch, 1])
        for rows in self.batch_rows(batch_size, shuffle, seed, epoch):
            flip = rng.random(len(rows)) < 0.5 if reverse_complement else False
            yield self.x(rows, flip), self.y(rows).astype(np.float32)

"""One export path for training runs of either kind (``seqzoo export``): the run type
(:mod:`seqzoo.training.runs`) says the kind, and the kind's exporter writes the model directory."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from seqzoo.packaging import ModelInfo
from seqzoo.training.dna import export_model_dir
from seqzoo.training.protein_export import export_protein_model_dir
from seqzoo.training.runs import is_run, read_run

__all__ = ["export_runs"]


def export_runs(runs: str | os.PathLike | list, model_dir: str | os.PathLike, info: ModelInfo, **options) -> dict:
    """Write a model directory serving ``runs`` (one run, or several averaged as an ensemble; a DNA
    export also takes model directories as members) with the exporter of their kind:
    :func:`seqzoo.training.dna.export_model_dir` or
    :func:`seqzoo.training.protein_export.export_protein_model_dir`, given ``options``. Returns
    the weights artifact as a dict."""
    paths = [Path(r) for r in (runs if isinstance(runs, (list, tuple)) else [runs])]
    kinds = {read_run(p).kind for p in paths if is_run(p)} or {"dna"}  # model directories join DNA exports
    if len(kinds) > 1:
        raise ValueError(f"{', '.join(map(str, paths))}: runs of both kinds; export one kind at a time")
    if kinds == {"dna"}:
        return export_model_dir(paths, model_dir, info, **options)
    return dataclasses.asdict(export_protein_model_dir(paths, model_dir, info, **options))

"""A training run directory of either kind, read one way.

``seqzoo train-dna`` writes ``training.json``; ``seqzoo train DeepSol`` and ``seqzoo ensemble``
write ``metrics.json``. :func:`read_run` reads both into one :class:`TrainingRun` (kind,
architecture, configuration, weights, provenance), which loads its network and is what
``seqzoo export`` dispatches on (:func:`export_runs`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keras is imported where a network is built
    import keras

    from seqzoo.packaging import ModelInfo

__all__ = ["RUN_RECORDS", "TrainingRun", "export_runs", "is_run", "read_run"]

#: The record each kind of run writes, by kind.
RUN_RECORDS = {"dna": "training.json", "protein": "metrics.json"}


@dataclass(frozen=True)
class TrainingRun:
    """A finished training run: its ``kind`` ("dna" or "protein"), the ``architecture`` and
    ``config`` it trained, its best ``weights`` file and its ``record`` (the JSON it wrote: data,
    recipe, history, command and versions, i.e. its provenance)."""

    directory: Path
    kind: str
    architecture: str
    config: dict
    weights: Path
    record: dict

    def network(self, weights: str | os.PathLike | None = None, **config_overrides) -> keras.Model:
        """The run's network with its best weights (or ``weights``), built from the recorded
        configuration updated by ``config_overrides``."""
        from seqzoo.architectures import build

        network = build(self.architecture, **dict(self.config, **config_overrides))
        network.load_weights(weights or self.weights)
        return network


def is_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a training run directory of either kind."""
    return any((Path(path) / record).is_file() for record in RUN_RECORDS.values())


def read_run(path: str | os.PathLike) -> TrainingRun:
    """The training run in directory ``path``; an error says what the directory lacks."""
    run = Path(path)
    for kind, file_name in RUN_RECORDS.items():
        if (run / file_name).is_file():
            record = json.loads((run / file_name).read_text())
            break
    else:
        raise FileNotFoundError(f"{run} is not a seqzoo training run: it has neither "
                                f"{' nor '.join(RUN_RECORDS.values())}")
    if kind == "dna":
        architecture, config = record["architecture"], record["config"]
    elif "members" in record:  # an ensemble of protein runs
        architecture, config = "ensemble", record["config"]
    elif "recipe" in record:
        architecture, config = record["recipe"]["architecture"], record["recipe"]["config"]
    else:
        raise ValueError(f"{run / file_name}: neither a seqzoo train run (no 'recipe') nor an ensemble run "
                         "(no 'members')")
    return TrainingRun(run, kind, architecture, config, run / record["weights_file"], record)


def export_runs(runs: str | os.PathLike | list, model_dir: str | os.PathLike, info: ModelInfo, **options) -> dict:
    """Write a model directory serving ``runs`` (one run, or several averaged as an ensemble; a DNA
    export also takes model directories as members) with the exporter of their kind:
    :func:`seqzoo.training.dna.export_model_dir` or
    :func:`seqzoo.training.protein_export.export_protein_model_dir`, given ``options``. Returns
    the weights artifact as a dict."""
    import dataclasses

    paths = [Path(r) for r in (runs if isinstance(runs, (list, tuple)) else [runs])]
    kinds = {read_run(p).kind for p in paths if is_run(p)} or {"dna"}  # model directories join DNA exports
    if len(kinds) > 1:
        raise ValueError(f"{', '.join(map(str, paths))}: runs of both kinds; export one kind at a time")
    if kinds == {"dna"}:
        from seqzoo.training.dna import export_model_dir

        return export_model_dir(paths, model_dir, info, **options)
    from seqzoo.training.protein_export import export_protein_model_dir

    return dataclasses.asdict(export_protein_model_dir(paths, model_dir, info, **options))

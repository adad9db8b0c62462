"""A training run directory of either kind, read one way.

``seqzoo train`` of a DNA model (and ``seqzoo finetune``) writes ``training.json``; ``seqzoo train
DeepSol`` and ``seqzoo ensemble`` write ``metrics.json``. :func:`read_run` reads both into one
:class:`TrainingRun` (kind, architecture, configuration, weights, provenance), which loads its
network and is what ``seqzoo export`` dispatches on (:func:`seqzoo.training.export.export_runs`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keras is imported where a network is built
    import keras

__all__ = ["RUN_RECORDS", "TrainingRun", "is_run", "read_run", "run_kind"]

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


def run_kind(path: str | os.PathLike) -> str | None:
    """The kind of the training run in directory ``path`` ("dna" or "protein"; by the record it
    wrote, without reading it), or None when ``path`` is no training run."""
    return next((kind for kind, record in RUN_RECORDS.items() if (Path(path) / record).is_file()), None)


def is_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a training run directory of either kind."""
    return run_kind(path) is not None


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

"""``seqzoo export`` of protein training runs: a model directory serving a run, or the
equal-weight ensemble of several."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from seqzoo.architectures import build_ensemble
from seqzoo.packaging import ModelInfo, TargetsInfo, staged_model_dir, write_model_dir
from seqzoo.training.protein_evaluation import load_protein_run, protein_input_length
from seqzoo.zoo.artifacts import WeightsArtifact
from seqzoo.zoo.provenance import portable_path

__all__ = ["export_protein_model_dir"]


def export_protein_model_dir(runs: str | os.PathLike | list, model_dir: str | os.PathLike, info: ModelInfo, *,
                             labels: tuple[str, ...] | list[str] | None = None, targets_name: str | None = None,
                             targets_doc: str | None = None, file_name: str | None = None,
                             example: str | os.PathLike | None = None, overwrite: bool = False) -> WeightsArtifact:
    """Write a model directory (:func:`seqzoo.packaging.write_model_dir`) serving a
    :func:`train_deepsol` or :func:`ensemble_deepsol` run, or the equal-weight ensemble of
    several :func:`train_deepsol` runs (for a weighted average measured on held-out rows, run
    :func:`ensemble_deepsol` first and export its run).

    The weights file is the run's (named ``file_name``, default the run's name), ``weights.yaml``
    keeps the run's provenance, and a single run's ``metrics.json`` is copied beside it (for
    several runs, one listing them and their shared lockbox).
    ``labels`` default to those the runs recorded (``seqzoo train`` records the zoo model's).
    ``example`` (a directory with ``proteins.fa``) is copied to ``example/`` and
    ``test.expect.h5`` written; ``README.md`` is the author's. The directory is written whole
    (:func:`seqzoo.packaging.staged_model_dir`): an existing one that is not empty is refused unless
    ``overwrite``, and then replaced only once the new one is complete.
    """
    paths = [Path(r) for r in (runs if isinstance(runs, (list, tuple)) else [runs])]
    parts = [(path, *load_protein_run(path)) for path in paths]
    max_lens = {protein_input_length(architecture, config) for _, _, architecture, config, _ in parts}
    if len(max_lens) != 1:
        raise ValueError(f"the runs take different input lengths ({sorted(max_lens)}); an ensemble needs one")
    recorded = {tuple(part[1].get("labels") or ()) for part in parts}
    labels = tuple(labels or (recorded.pop() if len(recorded) == 1 else ()))
    if not labels:
        raise ValueError(f"{', '.join(map(str, paths))}: the runs record no common target labels "
                         "(runs of an older seqzoo, or of different models): give them (--label)")
    with staged_model_dir(model_dir, overwrite=overwrite, sources=paths) as out:
        return _write_protein_model_dir(out, paths, parts, labels, max_lens.pop(), info, targets_name, targets_doc,
                                        file_name, example)


def _write_protein_model_dir(out: Path, paths: list[Path], parts: list, labels: tuple[str, ...], input_length: int,
                             info: ModelInfo, targets_name: str | None, targets_doc: str | None, file_name: str | None,
                             example: str | os.PathLike | None) -> WeightsArtifact:
    """The body of :func:`export_protein_model_dir`, writing into ``out`` (its staged directory)."""
    first_path, first_info, architecture, config, network = parts[0]
    name = file_name or first_info["weights_file"]
    if not name.endswith(".weights.h5"):
        raise ValueError(f"the weights file name must end in .weights.h5, got {name!r}")
    if len(parts) == 1:
        shutil.copyfile(first_path / first_info["weights_file"], out / name)
        shutil.copyfile(first_path / "metrics.json", out / "metrics.json")
    else:
        ensembles = [str(path) for path, _, arch, _, _ in parts if arch == "ensemble"]
        if ensembles:
            raise ValueError(f"{', '.join(ensembles)}: an ensemble run is exported alone; give its members instead")
        architecture = "ensemble"
        config = {"members": [{"architecture": arch, "config": conf} for _, _, arch, conf, _ in parts]}
        network = build_ensemble(**config)
        for i, (_, _, _, _, member) in enumerate(parts):
            network.get_layer(f"member{i}").set_weights(member.get_weights())
        network.save_weights(out / name)
        lockboxes = {json.dumps(info.get("lockbox")) for _, info, _, _, _ in parts}
        if len(lockboxes) != 1:
            raise ValueError(f"{', '.join(map(str, paths))}: the runs set aside different lockboxes")
        # The equal-weight ensemble was never measured: record its members and what they set aside.
        (out / "metrics.json").write_text(json.dumps({
            "model": "DeepSol", "metrics_on": "none: the equal-weight average of the runs below, not measured",
            "held_out_metrics": None, "lockbox": first_info.get("lockbox"), "data": first_info.get("data"),
            "config": config, "labels": list(labels),
            "members": [{"run": portable_path(path), "command": info.get("command"), "seed": info.get("seed"),
                         "held_out_metrics": info.get("held_out_metrics")} for path, info, _, _, _ in parts],
        }, indent=2) + "\n")
    if len(labels) != network.output_shape[-1]:
        raise ValueError(f"{len(labels)} target labels {list(labels)} for a model of {network.output_shape[-1]} outputs")
    produced_by = "; ".join(
        (f"run {path}: " if len(parts) > 1 else "") + WeightsArtifact.from_yaml(path / "weights.yaml").produced_by
        for path, *_ in parts)
    return write_model_dir(out, architecture=architecture, config=config, weights_file=out / name,
                           produced_by=produced_by, modality="protein", input_length=input_length,
                           targets=TargetsInfo(labels, targets_name or TargetsInfo.name,
                                               targets_doc or TargetsInfo.doc), info=info, example=example)

"""Checks of a model directory, the way ``kipoi test`` checks it plus seqzoo's stricter ones.

``check_model_dir`` returns a list of problems (empty = the directory passes);
``write_expect`` writes the reference predictions ``kipoi test`` compares against.
"""

import os
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from seqzoo.runtime import ZooModel
from seqzoo.zoo.spec import ModelSpec, load_spec

EXPECT_FILE = "test.expect.h5"


@contextmanager
def _inside(directory: Path):
    # kipoi resolves a model's example files relative to its directory; do the same.
    previous = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)


def dataloader_class(spec: ModelSpec):
    """The model's default dataloader class with the model's ``default_args`` applied."""
    from kipoi_utils.utils import load_obj, override_default_kwargs

    return override_default_kwargs(load_obj(spec.dataloader), spec.default_dataloader_args)


def example_batch(spec: ModelSpec) -> dict:
    """All of the directory's example inputs as one batch (``inputs`` and ``metadata``)."""
    cls = dataloader_class(spec)
    with _inside(spec.directory):
        return cls.init_example().load_all()


def write_expect(directory: str | os.PathLike) -> Path:
    """Predict the directory's example with its weights; write ``test.expect.h5`` for kipoi."""
    spec = load_spec(directory)
    batch = example_batch(spec)
    preds = ZooModel(spec, device="cpu").predict_on_batch(batch["inputs"])
    path = spec.directory / EXPECT_FILE
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:  # the layout kipoi's HDF5Reader reads: /inputs, /preds
        f.create_dataset("inputs", data=batch["inputs"])
        f.create_dataset("preds", data=preds)
    os.replace(tmp, path)
    return path


def check_model_dir(directory: str | os.PathLike) -> list[str]:
    """Problems with a model directory; an empty list means it passes every check."""
    import kipoi

    problems: list[str] = []
    directory = Path(directory).resolve()
    try:
        spec = load_spec(directory)
    except Exception as e:  # report, don't crash: the caller lists every problem
        return [f"model.yaml: {e}"]
    for name in ("README.md", "weights.yaml", EXPECT_FILE):
        if not (directory / name).is_file():
            problems.append(f"missing {name}")
    if not spec.labels:
        problems.append("schema.targets has no column_labels file")
    loader = dataloader_class(spec)
    from seqzoo.dataloaders import DNAIntervalDataset, ProteinDataset

    reads = {DNAIntervalDataset: "dna", ProteinDataset: "protein"}
    loader_modality = next((m for cls, m in reads.items() if issubclass(loader, cls)), None)
    if loader_modality is not None and loader_modality != spec.modality:
        problems.append(f"model.yaml says the model reads {spec.modality}, but its dataloader {spec.dataloader} "
                        f"gives {loader_modality}")
    schema = loader.get_output_schema()
    if tuple(schema.inputs.shape) != spec.input_shape:
        problems.append(f"dataloader input shape {tuple(schema.inputs.shape)} != model input {spec.input_shape}")
    try:
        model = kipoi.get_model(str(directory), source="dir")
        batch = example_batch(spec)
        if tuple(batch["inputs"].shape[1:]) != spec.input_shape:
            problems.append(f"example batch has shape {batch['inputs'].shape}, model expects {spec.input_shape}")
        preds = model.predict_on_batch(batch["inputs"])
        if tuple(preds.shape[1:]) != spec.target_shape:
            problems.append(f"predictions have shape {preds.shape}, schema says {spec.target_shape}")
        if (directory / EXPECT_FILE).is_file():
            with h5py.File(directory / EXPECT_FILE, "r") as f:
                expected = f["preds"][:]
                same_inputs = np.array_equal(f["inputs"][:], batch["inputs"])
            if not same_inputs:
                problems.append(f"{EXPECT_FILE} inputs differ from the example's inputs")
            elif not np.allclose(preds, expected, atol=1.5e-5, rtol=0):
                problems.append(f"predictions differ from {EXPECT_FILE} (max |diff| {np.abs(preds - expected).max():.2e})")
    except Exception as e:
        problems.append(f"loading or predicting through kipoi failed: {type(e).__name__}: {e}")
    return problems

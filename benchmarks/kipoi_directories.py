"""Kipoi model directories made the way kipoi/models makes ``Basset`` and ``DeepSEA/predict``:
``type: pytorch``, the PyTorch network of the published layer lists (``tests/torch_references.py``,
the independent implementation the weight-import tests use) with random weights, and kipoiseq's
``SeqIntervalDl`` as the dataloader with kipoi/models' default arguments. The benchmark runs them
with ``kipoi predict``, as a kipoi user does.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Per model: the reference builder, the input shape kipoi/models declares, the dataloader's
#: default arguments there and the number of targets.
KIPOI_LAYOUTS = {
    "Basset": ("basset_reference", "(4,600,1)", {"auto_resize_len": 600, "alphabet_axis": 0, "dummy_axis": 2}, 164),
    "DeepSEA": ("deepsea_reference", "(4,1,1000)", {"auto_resize_len": 1000, "alphabet_axis": 0, "dummy_axis": 1}, 919),
}


def write_kipoi_directory(name: str, directory: Path, seed: int = 0) -> Path:
    """Write ``directory`` (a kipoi PyTorch model directory for ``name``) with random weights."""
    import torch

    builder, shape, dataloader_args, n_targets = KIPOI_LAYOUTS[name]
    directory.mkdir(parents=True, exist_ok=True)
    # One self-contained module file, as kipoi/models ships (kipoi runs it without __file__).
    source = (ROOT / "tests" / "torch_references.py").read_text()
    (directory / "network.py").write_text(f"{source}\n\nmodel = {builder}()\n")
    namespace: dict = {}
    exec(compile(source, str(directory / "network.py"), "exec"), namespace)
    network = namespace["randomise"](namespace[builder](), seed)
    torch.save(network.state_dict(), directory / "weights.pth")
    args = "\n".join(f"    {k}: {v}" for k, v in dataloader_args.items())
    (directory / "model.yaml").write_text(f"""\
type: pytorch
args:
  module_file: network.py
  module_obj: model
  weights: weights.pth
default_dataloader:
  defined_as: kipoiseq.dataloaders.SeqIntervalDl
  default_args:
{args}
    dtype: np.float32
info:
  authors:
    - name: seqzoo benchmark
  doc: {name} as kipoi/models serves it (PyTorch, kipoiseq SeqIntervalDl), random weights
dependencies:
  pip:
    - kipoiseq
schema:
  inputs:
    name: seq
    special_type: DNASeq
    shape: {shape}
    doc: DNA sequence
    associated_metadata: ranges
  targets:
    name: probs
    shape: ({n_targets}, )
    doc: probabilities
""")
    return directory

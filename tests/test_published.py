"""Importing kipoi's PyTorch checkpoints: an independent PyTorch reference of each published
network (tests/torch_references.py), built from its layer list, must give the same predictions
as seqzoo's Keras model. Tests marked ``torch`` need torch; the last needs neither torch nor kipoi.
"""

import shutil

import numpy as np
import pytest

import seqzoo
from seqzoo.packaging import example_batch
from seqzoo.cli import main
from seqzoo.encoding import one_hot_dna
from seqzoo.io.genome import Genome
from seqzoo.published import PUBLISHED, CheckpointError, import_weights, published_description
from seqzoo.zoo.spec import find_model, load_spec


def real_sequences(name):
    """The model directory's example windows plus windows with N, IUPAC codes and lower case."""
    spec = load_spec(find_model(name))
    x = example_batch(spec)["inputs"]
    length = spec.input_shape[0]
    with Genome(find_model(name) / "example" / "genome.fa") as genome:
        codes, _ = genome.fetch_codes("chr1", 5000, 5000 + length)
    edited = codes.copy()
    edited[10:30] = ord("N")
    edited[40:45] = np.frombuffer(b"RYkmS", np.uint8)
    return np.concatenate([x, one_hot_dna(codes)[None], one_hot_dna(edited)[None]])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def torch_references():
    """tests/torch_references.py, or a skip where torch is not installed."""
    pytest.importorskip("torch")
    import torch_references

    return torch_references


@pytest.fixture(params=["Basset", "DeepSEA"])
def checkpoint(request, tmp_path):
    """A random PyTorch reference network and its checkpoint file, in kipoi's layout."""
    name = request.param
    refs = torch_references()
    reference = refs.randomise(refs.basset_reference() if name == "Basset" else refs.deepsea_reference(), seed=5)
    path = tmp_path / PUBLISHED[name].file_name
    refs.torch.save(reference.state_dict(), path)
    return name, reference, path


@pytest.mark.torch
@pytest.mark.kipoi  # real_sequences reads the example through the kipoi dataloader
def test_imported_weights_reproduce_the_pytorch_model(checkpoint, cache):
    import torch

    from torch_references import torch_layout

    name, reference, path = checkpoint
    import_weights(name, path, verify_source=False)
    x = real_sequences(name)
    with torch.no_grad():
        expected = reference(torch_layout(name, x)).numpy()
    ours = seqzoo.get_model(name, weights="published", device="cpu").predict_on_batch(x)
    assert np.abs(ours - expected).max() <= 1e-5
    assert expected.std() > 1e-3  # the comparison is not between constant outputs


@pytest.mark.torch
@pytest.mark.kipoi
def test_kipoi_directory_selects_the_published_weights(checkpoint, cache, tmp_path):
    import kipoi
    import torch

    from torch_references import torch_layout

    name, reference, path = checkpoint
    assert main(["import-weights", name, str(path), "--unverified-source"]) == 0
    directory = tmp_path / name
    shutil.copytree(find_model(name), directory)
    yaml_path = directory / "model.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("weights: weights.yaml", "weights: published"))
    model = kipoi.get_model(str(directory), source="dir")
    x = real_sequences(name)[:4]
    with torch.no_grad():
        expected = reference(torch_layout(name, x)).numpy()
    assert np.abs(model.predict_on_batch(x) - expected).max() <= 1e-5


@pytest.mark.torch
def test_unverified_checkpoint_is_refused_by_default(checkpoint, cache):
    name, _, path = checkpoint
    with pytest.raises(CheckpointError, match="it is not the published checkpoint"):
        import_weights(name, path)
    assert not published_description(name).exists()


@pytest.mark.torch
def test_checkpoint_of_the_wrong_layout_names_the_keys(cache, tmp_path):
    import torch

    refs = torch_references()
    state = refs.randomise(refs.basset_reference(), seed=1).state_dict()
    del state["14.running_var"]
    state["99.weight"] = torch.zeros(3)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"no tensor '14.running_var'"):
        import_weights("Basset", path, verify_source=False)
    state["14.running_var"] = torch.ones(1000)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"not used by the basset layout: \['99.weight'\]"):
        import_weights("Basset", path, verify_source=False)


def test_published_weights_not_imported_is_a_clear_error(cache):
    with pytest.raises(FileNotFoundError, match="run `seqzoo import-weights DeepSEA deepsea_predict.pth`"):
        seqzoo.get_model("DeepSEA", weights="published")

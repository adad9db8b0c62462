"""Importing kipoi's PyTorch checkpoints: an independent PyTorch reference of each published
network (tests/torch_references.py), built from its layer list, must give the same predictions
as seqzoo's Keras model. Tests marked ``torch`` need torch; the last needs neither torch nor kipoi.
"""

import re
import shutil
import time
from dataclasses import replace

import numpy as np
import pytest

import seqzoo
from model_checks import free_port
from seqzoo.packaging import example_batch
from seqzoo.cli import main
from seqzoo.encoding import one_hot_dna
from seqzoo.io.genome import Genome
from seqzoo.architectures.published import PUBLISHED, CheckpointError, import_weights, published_description
from seqzoo.zoo.artifacts import ArtifactError, file_md5
from seqzoo.zoo.spec import find_model, load_spec
from seqzoo.zoo.weights import resolve_weights


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


def test_published_weights_offline_name_the_url_and_the_mirror(cache, monkeypatch):
    monkeypatch.setenv("SEQZOO_OFFLINE", "1")
    with pytest.raises(ArtifactError, match=r"deepsea_predict.pth is not in the cache and SEQZOO_OFFLINE is set: not "
                                            r"downloading https://zenodo.org/record/1466993/files/deepsea_predict.pth"
                                            r"\?download=1; put deepsea_predict.pth in a folder named by SEQZOO_MIRROR"):
        seqzoo.get_model("DeepSEA", weights="published")
    assert not published_description("DeepSEA").exists()
    with pytest.raises(FileNotFoundError, match="seqzoo fetch DeepSEA --weights published"):
        resolve_weights(load_spec(find_model("DeepSEA")), "published", download=False)


@pytest.mark.torch
@pytest.mark.kipoi  # real_sequences reads the example through the kipoi dataloader
def test_published_weights_are_fetched_checked_and_converted_on_demand(cache, served, monkeypatch, tmp_path):
    """`get_model(NAME, weights="published")` downloads the checkpoint kipoi lists (here served on
    127.0.0.1 in Basset's layout, its md5 standing for kipoi's), checks the md5, converts it once."""
    import torch

    folder, url, requests = served
    refs = torch_references()
    reference = refs.randomise(refs.basset_reference(), seed=7)
    torch.save(reference.state_dict(), folder / "basset.pth")
    md5 = file_md5(folder / "basset.pth")
    monkeypatch.setitem(PUBLISHED, "Basset", replace(PUBLISHED["Basset"], url=f"{url}/basset.pth", md5=md5))

    model = seqzoo.get_model("Basset", weights="published", device="cpu")
    x = real_sequences("Basset")
    from torch_references import torch_layout

    with torch.no_grad():
        expected = reference(torch_layout("Basset", x)).numpy()
    assert np.abs(model.predict_on_batch(x) - expected).max() <= 1e-5 and expected.std() > 1e-3
    assert requests == ["/basset.pth"] and published_description("Basset").is_file()
    seqzoo.get_model("Basset", weights="published", device="cpu")  # imported: no second download
    assert requests == ["/basset.pth"]
    assert main(["fetch", "Basset", "--weights", "published"]) == 0 and requests == ["/basset.pth"]


@pytest.mark.torch
def test_a_published_checkpoint_with_another_md5_or_no_server_is_refused_and_nothing_kept(cache, served, monkeypatch):
    folder, url, requests = served
    (folder / "basset.pth").write_bytes(b"not the published file")
    monkeypatch.setitem(PUBLISHED, "Basset", replace(PUBLISHED["Basset"], url=f"{url}/basset.pth", md5="0" * 32))
    with pytest.raises(ArtifactError, match=rf"_th.pth from {url}/basset.pth has md5 [0-9a-f]{{32}}, not the "
                                            f"published {'0' * 32}: it is not the published file; it was discarded"):
        seqzoo.get_model("Basset", weights="published", device="cpu")
    assert not published_description("Basset").exists()
    assert [p.name for p in (cache / "checkpoints").rglob("*") if p.is_file() and p.suffix == ".pth"] == []
    silent = f"http://127.0.0.1:{free_port()}/basset.pth"  # nothing listens there
    monkeypatch.setitem(PUBLISHED, "Basset", replace(PUBLISHED["Basset"], url=silent))
    start = time.time()
    with pytest.raises(ArtifactError, match=rf"could not download \S+.pth from {re.escape(silent)}: .*SEQZOO_MIRROR"):
        seqzoo.get_model("Basset", weights="published", device="cpu")
    assert time.time() - start < 30

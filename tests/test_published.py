"""Importing kipoi's PyTorch checkpoints: an independent PyTorch reference of each published
network, built from its layer list, must give the same predictions as seqzoo's Keras model.
"""

import shutil

import kipoi
import numpy as np
import pytest

import seqzoo
from seqzoo.packaging import example_batch
from seqzoo.cli import main
from seqzoo.encoding import one_hot_dna
from seqzoo.io.genome import Genome
from seqzoo.published import PUBLISHED, CheckpointError, import_weights, published_description
from seqzoo.zoo.spec import find_model, load_spec

torch = pytest.importorskip("torch")
nn = torch.nn


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.size(0), -1)


class Recode(nn.Module):
    """ACGT -> AGCT channel order, as DeepSEA's first module does."""

    def forward(self, x):
        return x[:, [0, 2, 1, 3]]


class ConcatReverseComplement(nn.Module):
    """Append the reverse complement along the batch; in AGCT order the complement is the
    reversed channel order (A<->T, G<->C)."""

    def forward(self, x):
        return torch.cat([x, x.flip(1).flip(3)], 0)


class AverageHalves(nn.Module):
    def forward(self, x):
        half = x.size(0) // 2
        return (x[:half] + x[half:]) / 2


def linear(n_in, n_out):
    return nn.Sequential(nn.Identity(), nn.Linear(n_in, n_out))  # keys "<i>.1.weight"


def basset_reference():
    return nn.Sequential(
        nn.Conv2d(4, 300, (19, 1)), nn.BatchNorm2d(300), nn.ReLU(), nn.MaxPool2d((3, 1)),
        nn.Conv2d(300, 200, (11, 1)), nn.BatchNorm2d(200), nn.ReLU(), nn.MaxPool2d((4, 1)),
        nn.Conv2d(200, 200, (7, 1)), nn.BatchNorm2d(200), nn.ReLU(), nn.MaxPool2d((4, 1)),
        Flatten(),
        linear(2000, 1000), nn.BatchNorm1d(1000, eps=1e-5), nn.ReLU(), nn.Dropout(0.3),
        linear(1000, 1000), nn.BatchNorm1d(1000, eps=1e-5), nn.ReLU(), nn.Dropout(0.3),
        linear(1000, 164), nn.Sigmoid(),
    )


def deepsea_reference():
    network = nn.Sequential(
        nn.Conv2d(4, 320, (1, 8)), nn.Threshold(0, 1e-6), nn.MaxPool2d((1, 4)), nn.Dropout(0.2),
        nn.Conv2d(320, 480, (1, 8)), nn.Threshold(0, 1e-6), nn.MaxPool2d((1, 4)), nn.Dropout(0.2),
        nn.Conv2d(480, 960, (1, 8)), nn.Threshold(0, 1e-6), nn.Dropout(0.5),
        Flatten(),
        linear(50880, 925), nn.Threshold(0, 1e-6),
        linear(925, 919), nn.Sigmoid(),
    )
    return nn.Sequential(Recode(), ConcatReverseComplement(), network, AverageHalves())


def randomise(module, seed):
    """Random weights with non-trivial batch-norm statistics and scale."""
    torch.manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            m.bias.data.uniform_(-0.2, 0.2)
    return module.eval()


def torch_layout(name, x):
    """seqzoo's (N, L, 4) one-hot -> the PyTorch model's input layout."""
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1)))
    return t[:, :, :, None] if name == "Basset" else t[:, :, None, :]


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


@pytest.fixture(params=["Basset", "DeepSEA"])
def checkpoint(request, tmp_path):
    name = request.param
    reference = randomise(basset_reference() if name == "Basset" else deepsea_reference(), seed=5)
    path = tmp_path / PUBLISHED[name].file_name
    torch.save(reference.state_dict(), path)
    return name, reference, path


def test_imported_weights_reproduce_the_pytorch_model(checkpoint, cache):
    name, reference, path = checkpoint
    import_weights(name, path, verify_source=False)
    x = real_sequences(name)
    with torch.no_grad():
        expected = reference(torch_layout(name, x)).numpy()
    ours = seqzoo.get_model(name, weights="published", device="cpu").predict_on_batch(x)
    assert np.abs(ours - expected).max() <= 1e-5
    assert expected.std() > 1e-3  # the comparison is not between constant outputs


def test_kipoi_directory_selects_the_published_weights(checkpoint, cache, tmp_path):
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


def test_unverified_checkpoint_is_refused_by_default(checkpoint, cache):
    name, _, path = checkpoint
    with pytest.raises(CheckpointError, match="it is not the published checkpoint"):
        import_weights(name, path)
    assert not published_description(name).exists()


def test_checkpoint_of_the_wrong_layout_names_the_keys(cache, tmp_path):
    state = randomise(basset_reference(), seed=1).state_dict()
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

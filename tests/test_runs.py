"""seqzoo.training.runs: one run type reads runs of both kinds, loads their networks, and one
export path writes a model directory from either."""

import json

import numpy as np
import pytest

from protein_data import write_labelled_tsv
from seqzoo.architectures import build
from seqzoo.cli import main
from seqzoo.packaging import ModelInfo
from seqzoo.training.datasets import build_dataset
from seqzoo.training.dna import train_dna
from seqzoo.training.export import export_runs
from seqzoo.training.runs import is_run, read_run

TINY_DNA = {"conv_filters": [4, 4, 4], "dense_units": 4}
TINY_PROTEIN = {"embedding_dim": 4, "kernels": {"2": 3, "3": 3}, "dense_units": 4, "dropout": 0.1}
INFO = ModelInfo(doc="a test model", trained_on="test data", authors=("Test Author",), license="MIT")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny DNA training run (``train_dna``) and a tiny protein training run."""
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    (root / "g.fa").write_text(">chr1\n" + "".join(np.array(list("ACGT"))[rng.integers(0, 4, 12000)]) + "\n")
    summits = rng.integers(300, 11700, 30)
    (root / "peaks.bed").write_text("".join(f"chr1\t{s - 100}\t{s + 100}\tTF_{'AB'[i % 2]}\n"
                                            for i, s in enumerate(summits)))
    build_dataset(root / "g.fa", root / "peaks.bed", root / "ds", seq_len=200,
                  split="blocks:train=0-8000,valid=8500-12000", command="test")
    train_dna(root / "ds", root / "dna", "DeepSEA", config=TINY_DNA, epochs=1, batch_size=16, verbose=False)
    write_labelled_tsv(root / "train.tsv", 24, seed=1, length=lambda i, rng: 30 + i)
    write_labelled_tsv(root / "valid.tsv", 16, seed=2, length=lambda i, rng: 30 + i)
    assert main(["train", "DeepSol", "--train", str(root / "train.tsv"), "--valid", str(root / "valid.tsv"),
                 "-o", str(root / "protein"), "--name", "tiny", "--config", json.dumps(TINY_PROTEIN),
                 "--epochs", "1", "--batch-size", "8", "--quiet"]) == 0
    return root


@pytest.mark.parametrize("kind, record", [("dna", "training.json"), ("protein", "metrics.json")])
def test_a_run_of_either_kind_reads_as_one_type_and_loads_its_network(runs, kind, record):
    run = read_run(runs / kind)
    assert is_run(runs / kind) and run.kind == kind
    assert run.record == json.loads((runs / kind / record).read_text())
    assert run.weights == runs / kind / run.record["weights_file"] and run.weights.is_file()
    network = run.network()
    expected = build(run.architecture, **run.config)
    expected.load_weights(run.weights)
    x = np.zeros((2, *network.input_shape[1:]), dtype="float32" if kind == "dna" else "int32")
    np.testing.assert_array_equal(np.asarray(network.predict_on_batch(x)), np.asarray(expected.predict_on_batch(x)))


def test_a_directory_without_a_run_record_is_named_with_what_it_lacks(tmp_path):
    assert not is_run(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"not a seqzoo training run: it has neither training.json nor "
                                                r"metrics.json"):
        read_run(tmp_path)


@pytest.mark.parametrize("kind", ["dna", "protein"])
def test_one_export_path_writes_a_model_directory_of_the_runs_kind(runs, kind, tmp_path):
    from seqzoo.zoo.spec import load_spec

    artifact = export_runs(runs / kind, tmp_path / "model", INFO)
    spec = load_spec(tmp_path / "model")
    assert spec.modality == kind and (tmp_path / "model" / artifact["file_name"]).is_file()


def test_export_refuses_runs_of_both_kinds(runs, tmp_path):
    with pytest.raises(ValueError, match="runs of both kinds"):
        export_runs([runs / "dna", runs / "protein"], tmp_path / "model", INFO)
    assert not (tmp_path / "model").exists()

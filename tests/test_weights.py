"""The one weights resolver (seqzoo.zoo.weights) and `--weights` on predict, variants and explain."""

import logging
import re
import shutil

import numpy as np
import pandas as pd
import pyfaidx
import pytest

from seqzoo.architectures.registry import build
from seqzoo.architectures.untrained import untrained_weights
from seqzoo.cli import main
from seqzoo.encoding import one_hot_dna
from seqzoo.io.genome import Genome
from seqzoo.runtime import ZooModel
from seqzoo.zoo.artifacts import fetch
from seqzoo.zoo.spec import find_model, load_spec
from seqzoo.zoo.weights import resolve_weights, weights_state

MODEL = "Basset_Athaliana265"  # small and trained: its own weights differ from the file made below
EXAMPLE = find_model(MODEL) / "example"


@pytest.fixture(scope="module")
def spec():
    return load_spec(find_model(MODEL))


@pytest.fixture(scope="module")
def other_weights(spec, tmp_path_factory):
    """A .weights.h5 of the same architecture with other (seeded) values."""
    net = build(spec.architecture, **spec.config)
    untrained_weights(net, seed=11)
    path = tmp_path_factory.mktemp("weights") / "other.weights.h5"
    net.save_weights(path)
    return path


def test_the_directory_artifact_is_fetched_and_verified(spec):
    weights = resolve_weights(spec)
    assert (weights.source, weights.trained) == ("directory", True)
    assert weights.path == fetch(spec.artifact) and weights.artifact == spec.artifact
    assert weights_state(spec) == "cached"


def test_untrained_weights_have_no_file_and_say_so():
    basset = load_spec(find_model("Basset"))
    weights = resolve_weights(basset)
    assert not weights.trained and weights.path is None and weights.untrained_seed == basset.artifact.untrained_seed
    assert weights_state(basset) == "UNTRAINED" and "UNTRAINED" in weights.describe()


def test_published_weights_not_imported_is_an_error_saying_how(spec, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path))
    basset = load_spec(find_model("Basset"))
    with pytest.raises(FileNotFoundError, match="seqzoo import-weights Basset"):
        resolve_weights(basset, "published")
    with pytest.raises(FileNotFoundError, match="no published checkpoint is known"):
        resolve_weights(spec, "published")


def test_a_local_file_is_used_as_given_and_a_missing_one_is_named(spec, other_weights, tmp_path):
    weights = resolve_weights(spec, other_weights)
    assert (weights.source, weights.path, weights.trained) == ("file", other_weights, True)
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(FileNotFoundError, match="nope.weights.h5"):
        resolve_weights(spec, str(missing))


def test_predict_with_weights_runs_that_file(spec, other_weights, tmp_path):
    own, other = tmp_path / "own.tsv", tmp_path / "other.tsv"
    common = ["--fasta", str(EXAMPLE / "genome.fa"), "--bed", str(EXAMPLE / "intervals.bed"), "--quiet"]
    assert main(["predict", MODEL, *common, "-o", str(own)]) == 0
    assert main(["predict", MODEL, *common, "-o", str(other), "--weights", str(other_weights)]) == 0
    columns = list(spec.columns)
    own_values, other_values = (pd.read_csv(p, sep="\t")[columns].to_numpy() for p in (own, other))
    model = ZooModel(spec, weights=other_weights, device="cpu")
    with pyfaidx.Fasta(str(EXAMPLE / "genome.fa")) as fasta:
        chrom = next(iter(fasta.keys()))
        sequence = str(fasta[chrom][2800 + 100 - 300:2800 + 100 + 300])  # line 3: chr1 2800-3000, + strand
    x = one_hot_dna(np.frombuffer(sequence.encode(), dtype=np.uint8))[None]
    np.testing.assert_allclose(other_values[2], model.predict_on_batch(x)[0], atol=2e-6)
    assert np.abs(own_values - other_values).max() > 1e-3  # the file, not the directory's weights, ran


def test_variants_and_explain_take_weights(spec, other_weights, tmp_path):
    fasta = EXAMPLE / "genome.fa"
    with pyfaidx.Fasta(str(fasta)) as f:
        chrom = next(iter(f.keys()))
        ref = str(f[chrom][2899:2900]).upper()
    alt = "A" if ref != "A" else "C"
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"{chrom}\t2900\tsnv\t{ref}\t{alt}\t.\t.\t.\n")
    tables = {}
    for name, extra in (("own", []), ("other", ["--weights", str(other_weights)])):
        out = tmp_path / f"{name}.tsv"
        assert main(["variants", MODEL, "--fasta", str(fasta), "--vcf", str(vcf), "-o", str(out), "--quiet",
                     "--scores", "ref", *extra]) == 0
        tables[name] = pd.read_csv(out, sep="\t")
    ref_columns = [c for c in tables["own"].columns if c.startswith("ref:")]
    model = ZooModel(spec, weights=other_weights, device="cpu")
    with Genome(fasta) as genome:  # an SNV's window: 299 bases left of it, 300 right (seqzoo.variants)
        codes, _ = genome.fetch_codes(chrom, 2899 - 299, 2899 + 301)
    expected = model.predict_on_batch(one_hot_dna(codes)[None])[0]
    np.testing.assert_allclose(tables["other"][ref_columns].to_numpy()[0], expected, atol=2e-6)
    assert not np.allclose(tables["own"][ref_columns].to_numpy(), tables["other"][ref_columns].to_numpy())

    arrays = tmp_path / "explain.npz"
    assert main(["explain", MODEL, "--fasta", str(fasta), "--region", f"{chrom}:2880-2920", "--target", "0",
                 "--no-ism", "-o", str(tmp_path / "fig.png"), "--arrays", str(arrays),
                 "--weights", str(other_weights)]) == 0
    assert np.load(arrays)["attribution"].shape == (40, 4)


# --- the measured bfloat16 deviation --------------------------------------------------------

def test_every_model_records_its_measured_bfloat16_deviation_and_its_card_states_it(model_name):
    spec = load_spec(find_model(model_name))
    deviation = spec.artifact.bfloat16_deviation
    assert deviation is not None, f"{spec.name}: run research/bfloat16_deviation.py {spec.name} --write"
    assert f"{deviation:.1e}" in (spec.directory / "README.md").read_text(), \
        f"{spec.name}: its card must state the bfloat16 deviation {deviation:.1e}"


@pytest.mark.parametrize("deviation, warned", [(None, "was not measured"), (5e-3, "by up to 5.0e-03"), (4e-4, None)])
def test_bfloat16_warns_when_the_measured_deviation_is_above_the_bound(tmp_path, caplog, deviation, warned):
    directory = tmp_path / "Basset_Athaliana265"
    shutil.copytree(find_model("Basset_Athaliana265"), directory)
    path = directory / "weights.yaml"
    text = re.sub(r"^bfloat16_deviation:.*\n", "", path.read_text(), flags=re.M)
    path.write_text(text + (f"bfloat16_deviation: {deviation}\n" if deviation is not None else ""))
    with caplog.at_level(logging.WARNING, logger="seqzoo.runtime"):
        ZooModel(load_spec(directory), device="cpu", precision="bfloat16")
        ZooModel(load_spec(directory), device="cpu")
    messages = [r.getMessage() for r in caplog.records if "float32" in r.getMessage() and "deviate" in r.getMessage()
                or "was not measured" in r.getMessage()]
    assert (len(messages) == 1 and warned in messages[0]) if warned else not messages


def test_a_bfloat16_deviation_that_is_not_a_small_number_is_refused(tmp_path):
    from seqzoo.zoo.artifacts import ArtifactError, WeightsArtifact

    for bad in ("small", -1, 2, True):
        with pytest.raises(ArtifactError, match="bfloat16_deviation"):
            WeightsArtifact("w.weights.h5", untrained_seed=0, bfloat16_deviation=bad)
    artifact = WeightsArtifact("w.weights.h5", untrained_seed=0, bfloat16_deviation=6.1e-3)
    artifact.to_yaml(tmp_path / "weights.yaml")
    assert WeightsArtifact.from_yaml(tmp_path / "weights.yaml") == artifact


# --- int8: served only where the weights' validation metrics are recorded within the bound ----

def copy_with_int8(tmp_path, auroc_change, auprc_change):
    """Basset_Athaliana265 in ``tmp_path`` with these int8 changes recorded in its weights.yaml (None: none)."""
    directory = tmp_path / "Basset_Athaliana265"
    shutil.copytree(find_model("Basset_Athaliana265"), directory)
    path = directory / "weights.yaml"
    text = re.sub(r"^int8_au(roc|prc)_change:.*\n", "", path.read_text(), flags=re.M)
    if auroc_change is not None:
        text += f"int8_auroc_change: {auroc_change}\nint8_auprc_change: {auprc_change}\n"
    path.write_text(text)
    return load_spec(directory)


@pytest.mark.parametrize("changes, says", [
    ((None, None), "int8 is not validated for these weights"),
    ((-0.0001, -0.0031), "AUPRC by -0.0031 (its card), more than the 0.002 allowed"),
], ids=["not measured", "AUPRC moved too far"])
def test_int8_is_refused_with_the_reason_unless_validated(tmp_path, changes, says):
    spec = copy_with_int8(tmp_path, *changes)
    with pytest.raises(ValueError, match=re.escape(says)):
        ZooModel(spec, device="cpu", precision="int8")


def test_int8_is_served_where_validated_and_quantizes_the_dense_layers(tmp_path):
    spec = copy_with_int8(tmp_path, -0.0004, 0.0012)
    int8 = ZooModel(spec, device="cpu", precision="int8")
    dense = [layer for layer in int8.keras_model.layers if type(layer).__name__ == "Dense"]
    assert dense and all(layer.dtype_policy.name.startswith("int8") for layer in dense)
    x = np.stack([one_hot_dna("ACGT" * 150), one_hot_dna("T" * 600)])
    assert np.abs(int8.predict_on_batch(x) - ZooModel(spec, device="cpu").predict_on_batch(x)).max() < 0.05


def test_the_cli_refuses_int8_for_a_model_not_validated_for_it_saying_why(tmp_path, capsys):
    code = main(["predict", "DeepSEA_Athaliana265", "--fasta", str(EXAMPLE / "genome.fa"), "--bed",
                 str(EXAMPLE / "intervals.bed"), "-o", str(tmp_path / "o.tsv"), "--precision", "int8", "--quiet"])
    assert code == 2
    assert "DeepSEA_Athaliana265: int8 is not validated for these weights" in capsys.readouterr().err
    assert not (tmp_path / "o.tsv").exists()


def test_an_int8_change_that_is_not_a_small_number_is_refused(tmp_path):
    from seqzoo.zoo.artifacts import ArtifactError, WeightsArtifact

    for bad in ("small", -2, True):
        with pytest.raises(ArtifactError, match="int8_auroc_change"):
            WeightsArtifact("w.weights.h5", untrained_seed=0, int8_auroc_change=bad)
    artifact = WeightsArtifact("w.weights.h5", untrained_seed=0, int8_auroc_change=-4e-4, int8_auprc_change=1e-3)
    artifact.to_yaml(tmp_path / "weights.yaml")
    assert WeightsArtifact.from_yaml(tmp_path / "weights.yaml") == artifact

"""The kipoi contract, checked with the real kipoi package for every registered model."""

import os
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest

import seqzoo
from seqzoo.packaging import EXPECT_FILE, check_model_dir, dataloader_class
from seqzoo.zoo.spec import find_model, load_spec, models_dir

from model_checks import random_inputs

kipoi = pytest.importorskip("kipoi")  # collected (and skipped) where kipoi is missing
pytestmark = pytest.mark.kipoi


def kipoi_cli(args, cwd, home):
    """Run the real ``kipoi`` command line with its own HOME (it writes ~/.kipoi on start)."""
    env = dict(os.environ, HOME=str(home))
    return subprocess.run([sys.executable, "-m", "kipoi", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_zoo_lists_its_models():
    assert {"Basset", "DeepSEA", "DeepSol", "DeepSEA_Athaliana265", "Basset_Athaliana265"} <= set(seqzoo.list_models())
    assert seqzoo.list_models("deep") == ["DeepSEA", "DeepSEA_Athaliana265", "DeepSol"]


def test_kipoi_get_model_predicts_the_schema_shape(model_dir, spec):
    model = kipoi.get_model(str(model_dir), source="dir")
    x = random_inputs(spec.input_shape, 5)
    preds = model.predict_on_batch(x)
    assert preds.shape == (5,) + spec.target_shape
    assert np.all((preds >= 0) & (preds <= 1))
    assert list(model.schema.targets.column_labels) == list(spec.labels)


def test_seqzoo_and_kipoi_give_the_same_predictions(model_name, model_dir, spec):
    x = random_inputs(spec.input_shape, 4, seed=7)
    ours = seqzoo.get_model(model_name).predict_on_batch(x)
    theirs = kipoi.get_model(str(model_dir), source="dir").predict_on_batch(x)
    np.testing.assert_array_equal(ours, theirs)


def test_seqzoo_get_model_works_from_any_directory_for_every_model(tmp_path):
    # One process loads every registered model in turn, from a folder outside the repository
    # (one TensorFlow start-up for all: a process per model cost a minute of the suite).
    names = seqzoo.list_models()
    code = ("import numpy, seqzoo\n"
            f"for name in {names!r}:\n"
            "    m = seqzoo.get_model(name)\n"
            "    dtype = 'int32' if m.spec.modality == 'protein' else 'float32'\n"
            "    print(name, m.predict_on_batch(numpy.zeros((1,) + m.spec.input_shape, dtype=dtype)).shape)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    expected = [f"{name} {(1,) + load_spec(find_model(name)).target_shape}" for name in names]
    assert out.stdout.strip().splitlines() == expected


def test_pipeline_predicts_on_the_example_files(model_dir, spec):
    model = kipoi.get_model(str(model_dir), source="dir")
    files = {k: str(model_dir / v.example) for k, v in model.default_dataloader.args.items()
             if isinstance(v.example, str)}
    preds = model.pipeline.predict(files, batch_size=4)
    with h5py.File(model_dir / EXPECT_FILE) as f:
        n_examples = len(f["preds"])
    assert preds.shape == (n_examples,) + spec.target_shape


def test_dataloader_schema_equals_the_model_schema(model_dir, spec, batch):
    model = kipoi.get_model(str(model_dir), source="dir")
    schema = model.default_dataloader.get_output_schema()
    assert tuple(schema.inputs.shape) == tuple(model.schema.inputs.shape) == spec.input_shape
    assert batch["inputs"].shape[1:] == spec.input_shape
    assert schema == dataloader_class(spec).get_output_schema()


def test_model_directory_passes_seqzoo_check(model_dir):
    assert check_model_dir(model_dir) == []


def kipoi_test(model_dir, monkeypatch, *args):
    """kipoi's own ``kipoi test . ARGS`` (``kipoi.cli.main.cli_test``), run in this process from the
    model directory (kipoi reads test.expect relative to it): a process per model cost a TensorFlow
    start-up each. It exits 1 when the predictions do not match."""
    from kipoi.cli.main import cli_test

    monkeypatch.chdir(model_dir)
    cli_test("test", [".", *args])


def test_kipoi_test_passes_with_the_reference_predictions(model_dir, monkeypatch, caplog):
    with caplog.at_level("INFO"):
        kipoi_test(model_dir, monkeypatch)
    assert "All predictions match" in caplog.text


@pytest.mark.parametrize("model_name", ["Basset_Athaliana265", "DeepSol"])  # one per modality: kipoi's check
def test_kipoi_test_fails_when_predictions_change(model_dir, monkeypatch, tmp_path, caplog):
    with h5py.File(model_dir / EXPECT_FILE) as f:
        inputs, preds = f["inputs"][:], f["preds"][:]
    wrong = tmp_path / "wrong.h5"
    with h5py.File(wrong, "w") as f:
        f["inputs"], f["preds"] = inputs, preds + 1e-3
    with pytest.raises(SystemExit) as exit_, caplog.at_level("INFO"):
        kipoi_test(model_dir, monkeypatch, "-e", str(wrong))
    assert exit_.value.code == 1 and "don't match the expected predictions" in caplog.text


def test_kipoi_predict_writes_metadata_and_one_row_per_input(model_dir, spec, tmp_path, monkeypatch):
    import json

    from kipoi.cli.main import cli_predict

    model = kipoi.get_model(str(model_dir), source="dir")
    files = {k: str(model_dir / v.example) for k, v in model.default_dataloader.args.items()
             if isinstance(v.example, str)}
    out = tmp_path / "preds.tsv"
    monkeypatch.chdir(tmp_path)
    # kipoi's own `kipoi predict`, in this process (a process per model cost a TensorFlow start-up each;
    # `kipoi test` and `kipoi predict` as processes: the README's kipoi block, run by tests/test_readme.py)
    cli_predict("predict", [str(model_dir), "--source", "dir", "--keep_metadata",
                            "--dataloader_args", json.dumps(files), "-o", str(out)])
    table = pd.read_csv(out, sep="\t")
    with h5py.File(model_dir / EXPECT_FILE) as f:
        expected = f["preds"][:]
    assert len(table) == len(expected)
    pred_columns = [f"preds/{i}" for i in range(spec.target_shape[-1])]
    np.testing.assert_allclose(table[pred_columns].to_numpy(), expected, atol=1e-6)
    metadata = [c for c in table.columns if c.startswith("metadata/")]
    if spec.modality == "protein":
        assert "metadata/id" in metadata
    else:
        assert {"metadata/ranges/chr", "metadata/ranges/start", "metadata/ranges/end"} <= set(metadata)


def test_zoo_as_a_kipoi_source(kipoi_home):
    source = kipoi.sources.LocalSource(str(models_dir()))
    assert sorted(source.list_models().model) == seqzoo.list_models()
    model = kipoi.get_model("Basset", source=source)
    assert model.predict_on_batch(np.zeros((2, 600, 4), "float32")).shape == (2, 164)


def test_kipoi_ls_lists_exactly_the_zoo(kipoi_home, tmp_path):
    home = tmp_path / "home"
    (home / ".kipoi").mkdir(parents=True)
    (home / ".kipoi" / "config.yaml").write_text(
        f"model_sources:\n  seqzoo:\n    type: local\n    local_path: {models_dir()}\n")
    result = kipoi_cli(["ls", "all", "--source", "seqzoo"], cwd=tmp_path, home=home)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(result.stdout.split()) == seqzoo.list_models()  # kipoi lists in its own order


def test_root_model_yaml_does_not_break_kipoi_listing_of_the_repository():
    # Registering the repository root instead of models/ still lists (and does not crash on)
    # the top-level model.yaml, which must therefore be a valid kipoi model description.
    source = kipoi.sources.LocalSource(str(models_dir().parent))
    listed = set(source.list_models().model)
    assert {f"models/{name}" for name in seqzoo.list_models()} <= listed


def test_wrong_input_shape_is_a_clear_error(model_name, spec):
    model = seqzoo.get_model(model_name)
    bad = np.zeros((2,) + tuple(d + 1 for d in spec.input_shape), dtype="float32")
    with pytest.raises(ValueError, match=rf"{model_name} expects a batch of shape \(N, "):
        model.predict_on_batch(bad)


#: The zoo's default model: the top-level model.yaml mirrors it on its example.
DEFAULT_MODEL = "DeepSEA_Athaliana265"


def test_root_model_yaml_is_the_default_model_and_runs_its_example(kipoi_home):
    import yaml

    root = models_dir().parent
    default = kipoi.get_model(str(root), source="dir")
    model = yaml.safe_load((root / "models" / DEFAULT_MODEL / "model.yaml").read_text())
    mirrored = yaml.safe_load((root / "model.yaml").read_text())
    assert mirrored["args"]["architecture"] == model["args"]["architecture"]
    assert mirrored["args"]["config"] == model["args"]["config"]
    assert mirrored["args"]["weights"] == f"models/{DEFAULT_MODEL}/weights.yaml"
    assert mirrored["schema"]["inputs"]["shape"] == model["schema"]["inputs"]["shape"]
    assert mirrored["schema"]["targets"]["shape"] == model["schema"]["targets"]["shape"]
    assert mirrored["default_dataloader"]["default_args"]["seq_len"] == model["default_dataloader"]["default_args"]["seq_len"]
    preds = default.pipeline.predict({}, batch_size=4)  # the example is the default input
    with h5py.File(root / "models" / DEFAULT_MODEL / EXPECT_FILE) as f:
        np.testing.assert_allclose(preds, f["preds"][:], atol=1e-6)

"""The NumPy engine (seqzoo.numpy_engine) computes what TensorFlow computes, on every zoo model,
runs small predictions without importing TensorFlow or Keras, and refuses, saying why, what it
does not implement (the caller then runs Keras)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import model_checks
from conftest import MODELS
from seqzoo.numpy_engine import ACTIVATIONS, KERAS_CONFIG_FILE, LAYERS, SMALL_JOB, Unsupported, numpy_model
from seqzoo.packaging import keras_config_problems
from seqzoo.runtime import ZooModel
from seqzoo.zoo.spec import find_model, load_spec

REPOSITORY = Path(__file__).resolve().parents[1]
README_MODEL = "DeepSEA_Athaliana265"  # the README's set-up command predicts its example intervals
EXAMPLE = REPOSITORY / "models" / README_MODEL / "example"


@pytest.fixture(scope="module")
def keras_and_numpy(request, tmp_path_factory):
    """(ZooModel, NumpyModel) of one zoo model; an untrained model's drawn weights are saved to a
    file first (the engine reads trained weights only, as ``--weights FILE`` gives them)."""
    spec = load_spec(find_model(request.param))
    keras_model = ZooModel(spec, device="cpu")
    weights = None
    if not keras_model.trained:
        weights = tmp_path_factory.mktemp("weights") / f"{spec.name}.weights.h5"
        keras_model.keras_model.save_weights(weights)
    try:
        return keras_model, numpy_model(spec, weights)
    except Unsupported as refusal:
        return keras_model, refusal


@pytest.mark.parametrize("keras_and_numpy", MODELS, indirect=True)  # every registered model
@pytest.mark.parametrize("n", [1, 7])
def test_numpy_engine_predicts_what_tensorflow_predicts_within_1e_5_on_every_zoo_model(keras_and_numpy, n):
    keras_model, numpy_run = keras_and_numpy
    if isinstance(numpy_run, Unsupported):  # refused, naming a layer or an activation it lacks: Keras runs the model
        lacking = [name for name in LAYERS if f"layer {name} " in str(numpy_run)]
        lacking += [name for name in ACTIVATIONS if f"activation {name!r}" in str(numpy_run)]
        assert ("layer " in str(numpy_run) or "activation '" in str(numpy_run)) and not lacking, numpy_run
        pytest.xfail(f"the NumPy engine leaves this model to Keras: {numpy_run}")
    x = model_checks.random_inputs(keras_model.spec.input_shape, n, seed=n)
    if x.ndim == 3:
        x[0, :50] = 0  # a run of N, as windows at a chromosome end are padded
    expected = keras_model.predict_on_batch(x)
    found = numpy_run.predict_on_batch(x)
    assert found.shape == expected.shape and found.dtype == np.float32
    assert np.abs(found - expected).max() <= 1e-5


def test_keras_config_json_is_what_the_architecture_builds(model_name):
    spec = load_spec(find_model(model_name))
    assert (spec.directory / KERAS_CONFIG_FILE).is_file(), f"seqzoo check {model_name} --write-expect writes it"
    assert keras_config_problems(spec, ZooModel(spec, device="cpu").keras_model) == []


def copy_model(tmp_path: Path, name: str = README_MODEL) -> Path:
    directory = tmp_path / name
    shutil.copytree(find_model(name), directory, ignore=shutil.ignore_patterns("example"))
    return directory


def test_a_stale_or_missing_keras_config_is_refused_with_the_reason(tmp_path):
    directory = copy_model(tmp_path)
    config = json.loads((directory / KERAS_CONFIG_FILE).read_text())
    config["config"]["members"] = config["config"]["members"][:1]
    (directory / KERAS_CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(Unsupported, match="stale"):
        numpy_model(load_spec(directory))
    (directory / KERAS_CONFIG_FILE).unlink()
    with pytest.raises(Unsupported, match=f"no {KERAS_CONFIG_FILE}"):
        numpy_model(load_spec(directory))


@pytest.mark.parametrize("change, says", [
    (lambda layer: layer.update(class_name="LSTM"), "layer LSTM"),
    (lambda layer: layer["config"].update(padding="causal"), "padding='causal'"),
    (lambda layer: layer["config"].update(activation="gelu"), "activation 'gelu'"),
    (lambda layer: layer["config"].update(dtype={"config": {"name": "mixed_bfloat16"}}), "mixed_bfloat16"),
    (lambda layer: layer["config"].update(new_option=3), "option(s) new_option"),
], ids=["unknown layer", "unknown padding", "unknown activation", "another precision", "unknown option"])
def test_anything_the_engine_does_not_implement_is_refused_not_guessed(tmp_path, change, says):
    directory = copy_model(tmp_path, "Basset_Athaliana265")
    config = json.loads((directory / KERAS_CONFIG_FILE).read_text())
    change(next(layer for layer in config["model"]["config"]["layers"] if layer["class_name"] == "Conv1D"))
    (directory / KERAS_CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(Unsupported, match=says.replace("(", r"\(").replace(")", r"\)")):
        numpy_model(load_spec(directory))


def test_untrained_published_bfloat16_and_gpu_runs_are_left_to_keras():
    for args, says in [(("Basset",), "untrained"), (("Basset_Athaliana265", "published"), "published"),
                       (("Basset_Athaliana265", None, "bfloat16"), "precision bfloat16"),
                       (("Basset_Athaliana265", None, "float32", "gpu"), "device gpu")]:
        name, *rest = args
        with pytest.raises(Unsupported, match=says):
            numpy_model(load_spec(find_model(name)), *rest)


def run_seqzoo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m seqzoo ARGS`` in a fresh interpreter that prints, last, the heavy modules it imported."""
    probe = ("import json, sys\nfrom seqzoo.cli import main\ncode = main(sys.argv[1:])\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))))\n"
             "sys.exit(code)")
    env = dict(os.environ, SEQZOO_CACHE=str(tmp_path / "cache"), HOME=str(tmp_path))
    return subprocess.run([sys.executable, "-c", probe, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_readme_command_predicts_without_importing_tensorflow_what_keras_predicts(tmp_path):
    common = ["predict", README_MODEL, "--fasta", str(EXAMPLE / "genome.fa"), "--bed", str(EXAMPLE / "intervals.bed"),
              "--quiet"]
    small = run_seqzoo(tmp_path, *common, "-o", str(tmp_path / "numpy.tsv"))
    assert small.returncode == 0, small.stderr[-3000:]
    assert json.loads(small.stdout.strip().splitlines()[-1]) == []
    large = run_seqzoo(tmp_path, *common, "-o", str(tmp_path / "keras.tsv"), "--engine", "keras")
    assert large.returncode == 0, large.stderr[-3000:]
    assert "tensorflow" in json.loads(large.stdout.strip().splitlines()[-1])
    rows = [[line.split("\t") for line in (tmp_path / f"{e}.tsv").read_text().splitlines()] for e in ("numpy", "keras")]
    assert [r[:7] for r in rows[0]] == [r[:7] for r in rows[1]] and len(rows[0]) == 11
    numbers = [np.array([r[7:] for r in rs[1:]], dtype=float) for rs in rows]
    assert np.abs(numbers[0] - numbers[1]).max() <= 1.5e-5  # 1e-5 and the TSV's rounding


def test_more_intervals_than_a_small_job_run_on_keras_and_engine_numpy_says_why_it_cannot(tmp_path):
    bed = tmp_path / "many.bed"
    bed.write_text("".join(f"chr1\t{1000 + i}\t{2000 + i}\n" for i in range(SMALL_JOB + 1)))
    fasta = str(EXAMPLE / "genome.fa")
    many = run_seqzoo(tmp_path, "predict", "Basset_Athaliana265", "--fasta", fasta, "--bed", str(bed), "-o",
                      str(tmp_path / "many.tsv"), "--quiet")
    assert many.returncode == 0, many.stderr[-3000:]
    assert "tensorflow" in json.loads(many.stdout.strip().splitlines()[-1])
    refused = run_seqzoo(tmp_path, "predict", "Basset", "--fasta", fasta, "--bed", str(EXAMPLE / "intervals.bed"),
                         "-o", str(tmp_path / "u.tsv"), "--engine", "numpy")
    assert refused.returncode == 2
    assert "--engine numpy cannot run Basset: Basset's untrained weights are made by Keras" in refused.stderr
    assert not (tmp_path / "u.tsv").exists()

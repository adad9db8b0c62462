"""The architectures: published sizes, naming, serialisation round trips, and the shared model
checks (model_checks.run_model_checks) on a small configuration of each."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from model_checks import AUTHORSHIP_ARGS, CHECKS, random_inputs, run_model_checks
from seqzoo.architectures import Family, build, build_basset, build_deepsea, build_deepsol, families
from seqzoo.architectures.registry import trained_by
from seqzoo.architectures.untrained import untrained_weights
from seqzoo.runtime import resolve_device

PUBLISHED_PARAMETERS = {"basset": 4_140_464, "danq": 46_926_479, "deepsea": 52_843_119, "deepsol": 920_321}

# Small variants keep the round-trip tests fast; sizes are arguments, not constants. They come from
# the families' records (Family.small), so a new family is tested the moment its file exists.
FAMILIES = families()
SMALL = {test_id: config for f in FAMILIES.values() for test_id, config in f.small_configurations().items()}


def build_small(variant):
    """The small model ``variant``: a key of SMALL, an architecture or ``architecture+option``."""
    return build(variant.split("+")[0], **SMALL[variant])


def small_inputs(model, n, seed=0):
    return random_inputs(model.input_shape[1:], n, seed)


@pytest.mark.parametrize("architecture", sorted(PUBLISHED_PARAMETERS))
def test_published_parameter_count(architecture):
    model = build(architecture)
    assert model.count_params() == PUBLISHED_PARAMETERS[architecture]


def test_published_shapes():
    assert build_basset().input_shape == (None, 600, 4) and build_basset().output_shape == (None, 164)
    assert build_deepsea().input_shape == (None, 1000, 4) and build_deepsea().output_shape == (None, 919)
    assert build_deepsol().input_shape == (None, 1200) and build_deepsol().output_shape == (None, 1)


def test_rc_average_adds_no_parameters_and_is_strand_symmetric():
    model = build_deepsea(**SMALL["deepsea"])
    assert model.count_params() == build_deepsea(**{**SMALL["deepsea"], "rc_average": False}).count_params()
    untrained_weights(model, seed=1)
    x = small_inputs(model, 4)
    reverse_complement = x[:, ::-1, ::-1]
    np.testing.assert_allclose(model.predict_on_batch(x), model.predict_on_batch(reverse_complement), atol=1e-6)


def test_task_motif_branch_gives_each_task_its_own_filters():
    model = build_small("deepsea+task_motifs")
    untrained_weights(model, seed=5)
    x = small_inputs(model, 4)
    before = model.predict_on_batch(x)
    conv = model.get_layer("task_motif_conv")
    kernel, bias = conv.get_weights()
    kernel[..., 2:4] += 1.0  # filters 2 and 3 belong to task 1 (2 filters per task)
    conv.set_weights([kernel, bias])
    after = model.predict_on_batch(x)
    changed = np.abs(after - before).max(axis=0) > 1e-4
    assert changed.tolist() == [False, True, False, False, False]
    # the scanned region is the central 60 bp: bases outside it reach the output only through the shared layers
    model.get_layer("output").set_weights([w * 0 for w in model.get_layer("output").get_weights()])
    outside = x.copy()
    outside[:, :60] = outside[:, :60, ::-1]
    np.testing.assert_allclose(model.predict_on_batch(outside), model.predict_on_batch(x), atol=1e-6)
    with pytest.raises(ValueError, match="task_motif_region"):
        build_deepsea(seq_len=200, n_tasks=5, task_motifs=2, task_motif_width=15, task_motif_region=10)


def test_the_registry_finds_every_family_file():
    # keras_json's configuration is a file an import writes (tests/test_legacy.py): no small variant
    assert set(FAMILIES) == {"basenji", "basset", "danq", "deepsea", "deepsol", "ensemble", "keras_json",
                             "protein_composition", "resnet"}
    assert {v.split("+")[0] for v in SMALL} == set(FAMILIES) - {"keras_json"}
    assert trained_by("dna") == ("basenji", "basset", "danq", "deepsea", "resnet")
    assert trained_by("protein") == ("deepsol", "protein_composition")


def test_listing_the_families_imports_no_keras():
    # the CLI's choices and help texts read the records before TensorFlow is imported
    probe = ("import sys; from seqzoo.architectures.registry import families; families(); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def _build_tiny(seq_len=20, n_tasks=2):
    raise AssertionError("never built")


@pytest.mark.parametrize("fields, says", [
    (dict(name="Tiny"), "lower-case identifier"),
    (dict(modality="rna"), "modality must be one of"),
    (dict(trains="protein"), "a dna family cannot be trained as protein"),
    (dict(small={}), "at least one small test configuration"),
    (dict(builder=lambda seq_len=20: None), "must take n_tasks"),
])
def test_a_family_record_refuses_what_breaks_the_contract(fields, says):
    record = dict(name="tiny", builder=_build_tiny, modality="dna", trains="dna", small={"": {}})
    with pytest.raises(ValueError, match=says):
        Family(**{**record, **fields})


@pytest.mark.parametrize("architecture", sorted(SMALL))
def test_every_layer_named_by_the_builder(architecture):
    # Keras numbers automatic names ("dense", "dense_1", ...) per session, so a second build
    # renames any layer the builder left unnamed; explicit names stay the same.
    first = [layer.name for layer in build_small(architecture).layers]
    second = [layer.name for layer in build_small(architecture).layers]
    assert first == second
    assert len(first) == len(set(first))


def small_model(architecture, device):
    """The small ``architecture`` with untrained weights, built on ``device``."""
    with keras.device(resolve_device(device)):
        model = build_small(architecture)
        untrained_weights(model, seed=2)
    return model


@pytest.mark.parametrize("architecture", sorted(SMALL))
def test_model_checks(architecture, device):
    run_model_checks(small_model(architecture, device), device=device, name=architecture,
                     checks=[c for c in CHECKS if c != "bfloat16"], family=FAMILIES[architecture.split("+")[0]])


# A oneDNN fault seen on an Intel Xeon with AMX bfloat16 units: its bfloat16 Conv1D of 8 -> 8
# channels, width 8, returns wrong sums (6e-2 off; 1.2e-3 with TF_ENABLE_ONEDNN_OPTS=0). The
# published and shipped sizes are not affected (their checks pass); other CPUs may not show it, so
# the mark is not strict.
ONEDNN_BFLOAT16_FAULT = {
    "deepsea": "oneDNN's bfloat16 Conv1D 8->8 width 8 is wrong on AMX CPUs (6.1e-2 off)",
    "deepsea+task_motifs": "the same oneDNN Conv1D fault (5.7e-2 off)",
    # its members are the small deepsea configurations, computed in bfloat16 like any other model
    "ensemble": "the same oneDNN Conv1D fault, in its deepsea members (3.8e-2 off)",
    "ensemble+weighted": "the same oneDNN Conv1D fault, in its deepsea members (5.0e-2 off)",
}


@pytest.mark.parametrize("architecture", [
    pytest.param(a, marks=pytest.mark.xfail(strict=False, reason=ONEDNN_BFLOAT16_FAULT[a]))
    if a in ONEDNN_BFLOAT16_FAULT else a
    for a in sorted(SMALL)
])
def test_bfloat16_is_close_to_float32(architecture, device):
    run_model_checks(small_model(architecture, device), device=device, name=architecture, checks=["bfloat16"])


@pytest.mark.parametrize("architecture", sorted(SMALL))
def test_keras_and_weights_file_round_trip(architecture, tmp_path):
    model = build_small(architecture)
    untrained_weights(model, seed=3)
    x = small_inputs(model, 3)
    expected = model.predict_on_batch(x)

    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(reloaded.predict_on_batch(x), expected)

    model.save_weights(tmp_path / "model.weights.h5")
    fresh = build_small(architecture)
    fresh.load_weights(tmp_path / "model.weights.h5")
    np.testing.assert_array_equal(fresh.predict_on_batch(x), expected)


def test_ensemble_averages_its_members_and_loads_their_weights(tmp_path):
    members = SMALL["ensemble"]["members"]
    ensemble = build("ensemble", members=members)
    x = small_inputs(ensemble, 6)
    singles = []
    for i, member in enumerate(members):
        net = build(member["architecture"], **member["config"])
        untrained_weights(net, seed=10 + i)
        net.save_weights(tmp_path / f"m{i}.weights.h5")
        ensemble.get_layer(f"member{i}").load_weights(tmp_path / f"m{i}.weights.h5")
        singles.append(net.predict_on_batch(x))
    np.testing.assert_allclose(ensemble.predict_on_batch(x), np.mean(singles, axis=0), atol=1e-6)
    weighted = build("ensemble", members=members, weights=[1, 3])
    weighted.set_weights(ensemble.get_weights())
    np.testing.assert_allclose(weighted.predict_on_batch(x), 0.25 * singles[0] + 0.75 * singles[1], atol=1e-6)
    calibrated = build("ensemble", members=members, weights=[1, 3], calibration=[0.8, -0.3])
    calibrated.set_weights(ensemble.get_weights())
    p = 0.25 * singles[0] + 0.75 * singles[1]
    np.testing.assert_allclose(calibrated.predict_on_batch(x), 1 / (1 + np.exp(-(0.8 * np.log(p / (1 - p)) - 0.3))),
                               atol=1e-5)
    with pytest.raises(ValueError, match="positive slope"):
        build("ensemble", members=members, calibration=[-1.0, 0.0])
    assert ensemble.count_params() == sum(build(m["architecture"], **m["config"]).count_params() for m in members)
    with pytest.raises(ValueError, match="differ in input or output shape"):
        build("ensemble", members=[members[0], {"architecture": "deepsea", "config": dict(seq_len=300, n_tasks=5)}])
    with pytest.raises(ValueError, match="needs 2 positive weights"):
        build("ensemble", members=members, weights=[1, 0])
    with pytest.raises(ValueError, match="at least 2 members"):
        build("ensemble", members=members[:1])


def test_unknown_architecture_and_bad_config_are_clear():
    with pytest.raises(ValueError, match="unknown architecture 'transformer'; known: basenji, basset, danq"):
        build("transformer")
    with pytest.raises(ValueError, match="bad configuration for architecture 'basset'"):
        build("basset", seq_length=600)


# --- a new family is one file ------------------------------------------------------------------

TINY_FAMILY = '''"""A test family: one convolution, global max pooling and the output."""

from seqzoo.architectures.registry import Family


def build_tiny_cnn(seq_len: int = 400, n_tasks: int = 2, filters: int = 4, width: int = 9):
    import keras
    from keras import layers

    inputs = keras.Input((seq_len, 4), name="dna")
    x = layers.Conv1D(filters, width, activation="relu", name="conv1")(inputs)
    x = layers.GlobalMaxPooling1D(name="conv1_pool")(x)
    outputs = layers.Dense(n_tasks, activation="sigmoid", name="output")(x)
    return keras.Model(inputs, outputs, name="tiny_cnn")


FAMILY = Family(name="tiny_cnn", builder=build_tiny_cnn, modality="dna", trains="dna",
                citation="https://example.org/tiny-cnn", small={"": dict(seq_len=60, n_tasks=3)})
'''


def seqzoo_command(tmp_path, *args):
    """``python -m seqzoo ARGS`` with ``tmp_path`` on the Python path (where the family lies)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
               SEQZOO_CACHE=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-m", "seqzoo", *map(str, args)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_a_family_file_on_the_python_path_is_listed_checked_trained_and_exported(tmp_path, monkeypatch,
                                                                                 synthetic_peaks):
    # The whole family is seqzoo_families/tiny_cnn.py in tmp_path: no file of seqzoo names it.
    (tmp_path / "seqzoo_families").mkdir()
    (tmp_path / "seqzoo_families" / "tiny_cnn.py").write_text(TINY_FAMILY)
    assert "tiny_cnn" not in families()
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    record = families()["tiny_cnn"]
    assert record.trains == "dna" and "tiny_cnn" in trained_by("dna")
    for variant, config in record.small_configurations().items():  # the shared model checks
        model = build("tiny_cnn", **config)
        untrained_weights(model, seed=4)
        run_model_checks(model, name=variant, family=record)

    # listed by the CLI, trained on a `seqzoo dataset` directory and exported, by real commands
    assert "tiny_cnn" in seqzoo_command(tmp_path, "train", "--help")
    seqzoo_command(tmp_path, "dataset", "--fasta", synthetic_peaks / "g.fa", "--peaks", synthetic_peaks / "peaks.bed",
                   "--design",
                   "deepsea", "--seq-len", "400", "--split", "blocks:train=0-20000,valid=21000-30000", "--out",
                   tmp_path / "ds", "--quiet")
    seqzoo_command(tmp_path, "train", "tiny_cnn", "--data", tmp_path / "ds", "-o", tmp_path / "run", "--epochs", "1",
                   "--steps-per-epoch", "2", "--batch-size", "16", "--quiet")
    seqzoo_command(tmp_path, "export", tmp_path / "run", tmp_path / "TinyCNN", "--doc", "A tiny test family.",
                   "--trained-on", "a synthetic genome", "--file-name", "tiny-cnn-v1.weights.h5", *AUTHORSHIP_ARGS)

    from seqzoo.runtime import get_model
    from seqzoo.zoo.spec import load_spec

    spec = load_spec(tmp_path / "TinyCNN")
    assert spec.architecture == "tiny_cnn" and spec.labels == ("TF_A", "TF_B")
    assert "cite_as: https://example.org/tiny-cnn" in (tmp_path / "TinyCNN" / "model.yaml").read_text()
    model = get_model(tmp_path / "TinyCNN", device="cpu")
    assert model.trained
    run_model_checks(model.keras_model, output_shape=spec.target_shape, family=record, name="TinyCNN")

"""The architectures: published sizes, naming, serialisation round trips, and the shared model
checks (model_checks.run_model_checks) on a small configuration of each."""

import keras
import numpy as np
import pytest

from model_checks import CHECKS, random_inputs, run_model_checks
from seqzoo.architectures import ARCHITECTURES, build, build_basset, build_deepsea, build_deepsol
from seqzoo.architectures.untrained import untrained_weights
from seqzoo.runtime import resolve_device
from seqzoo.zoo.spec import KERAS_JSON

PUBLISHED_PARAMETERS = {"basset": 4_140_464, "danq": 46_926_479, "deepsea": 52_843_119, "deepsol": 920_321}

# Small variants keep the round-trip tests fast; sizes are arguments, not constants.
SMALL = {
    "basset": dict(seq_len=100, n_tasks=3, conv_filters=(8, 8, 8), conv_widths=(5, 3, 3), dense_units=(16, 16)),
    "deepsea": dict(seq_len=200, n_tasks=5, conv_filters=(8, 8, 8), dense_units=16, rc_average=True),
    "deepsea+task_motifs": dict(seq_len=200, n_tasks=5, conv_filters=(8, 8, 8), dense_units=16, rc_average=True,
                                task_motifs=2, task_motif_width=7, task_motif_region=60),
    "danq": dict(seq_len=200, n_tasks=5, conv_filters=8, conv_width=9, pool_size=5, lstm_units=4, dense_units=16),
    "danq+task_motifs": dict(seq_len=200, n_tasks=5, conv_filters=8, conv_width=9, pool_size=5, lstm_units=4,
                             dense_units=16, batch_norm=True, rc_average=True, task_motifs=2, task_motif_width=7,
                             task_motif_region=60),
    "basenji": dict(seq_len=200, n_tasks=5, stem_filters=8, tower_filters=(8, 12), dilated_layers=2, central_bins=4,
                    dense_units=16),
    "basenji+task_motifs": dict(seq_len=200, n_tasks=5, stem_filters=8, tower_filters=(8, 12), dilated_layers=2,
                                central_bins=4, dense_units=16, rc_average=True, task_motifs=2, task_motif_width=7,
                                task_motif_region=60),
    "resnet": dict(seq_len=200, n_tasks=5, stem_filters=8, stage_filters=(8, 12), dense_units=16),
    "resnet+task_motifs": dict(seq_len=200, n_tasks=5, stem_filters=8, stage_filters=(8, 12), dense_units=16,
                               rc_average=True, task_motifs=2, task_motif_width=7, task_motif_region=60),
    "deepsol": dict(max_len=50, kernels={2: 4, 3: 4, 5: 8}, embedding_dim=8, dense_units=8),
    "deepsol+composition": dict(max_len=50, kernels={2: 4, 3: 4}, embedding_dim=8, dense_units=8, composition=True),
    "protein_composition": dict(max_len=50, pair_gaps=(0, 1, 3), l2=1e-4),
    "ensemble": dict(members=[
        {"architecture": "deepsea", "config": dict(seq_len=200, n_tasks=5, conv_filters=(8, 8, 8), dense_units=16)},
        {"architecture": "deepsea", "config": dict(seq_len=200, n_tasks=5, conv_filters=(4, 8, 8), conv_width=(9, 5, 5),
                                                   pool_size=(6, 3), dense_units=8, rc_average=True)},
    ]),
}


SMALL["ensemble+weighted"] = dict(SMALL["ensemble"], weights=[2.0, 1.0])


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


def test_every_architecture_has_a_small_variant():
    # keras_json is no family: its configuration is a file an import writes (tests/test_legacy.py)
    assert set(ARCHITECTURES) - {KERAS_JSON} <= set(SMALL)


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
                     checks=[c for c in CHECKS if c != "bfloat16"])


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
    with pytest.raises(ValueError, match="unknown architecture 'resnet'"):
        build("resnet")
    with pytest.raises(ValueError, match="bad configuration for architecture 'basset'"):
        build("basset", seq_length=600)

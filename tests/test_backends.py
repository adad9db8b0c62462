"""The same model and weights give the same predictions under the tensorflow and torch backends.

Keras picks its backend once per process, so the torch side runs in a subprocess. This is how a
GPU machine without tensorflow runs the zoo.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import seqzoo
from seqzoo.runtime import resolve_device, visible_gpus

from model_checks import random_inputs

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TORCH_SIDE = """
import sys, numpy as np, keras
assert keras.backend.backend() == "torch", keras.backend.backend()
import seqzoo
model = seqzoo.get_model(sys.argv[1], weights=sys.argv[2] or None, device="cpu")
np.save(sys.argv[4], model.predict_on_batch(np.load(sys.argv[3])))
"""


def predict_under_torch(name, x, tmp_path, weights=""):
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, KERAS_BACKEND="torch")
    result = subprocess.run([sys.executable, "-c", TORCH_SIDE, name, str(weights), str(tmp_path / "x.npy"),
                             str(tmp_path / "y.npy")], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(tmp_path / "y.npy")


def test_tensorflow_and_torch_agree(model_name, spec, tmp_path):
    x = random_inputs(spec.input_shape, 8, seed=11)
    ours = seqzoo.get_model(model_name, device="cpu").predict_on_batch(x)
    np.testing.assert_allclose(predict_under_torch(model_name, x, tmp_path), ours, atol=1e-5, rtol=0)


SMALL_TORCH_SIDE = """
import sys, numpy as np, keras
assert keras.backend.backend() == "torch", keras.backend.backend()
from seqzoo.architectures.registry import build, families
small = {i: (f.name, c) for f in families().values() for i, c in f.small_configurations().items()}
for i, variant in enumerate(sys.argv[2:]):
    name, config = small[variant]
    with keras.device("cpu"):
        model = build(name, **config)
        model.load_weights(f"{sys.argv[1]}/{i}.weights.h5")
        np.save(f"{sys.argv[1]}/{i}.torch.npy", keras.ops.convert_to_numpy(model(np.load(f"{sys.argv[1]}/{i}.npy"))))
"""


def test_every_family_small_configuration_agrees_under_tensorflow_and_torch(tmp_path):
    # one torch process for every family's small configurations (Family.small): the same weights
    # files (written here, under tensorflow) and inputs give the same predictions within 1e-5
    from seqzoo.architectures.registry import build, families
    from seqzoo.architectures.untrained import untrained_weights

    # the package's families: one a test adds from a temporary folder is not on the torch process's path
    small = {i: (f.name, c) for f in families().values() if f.builder.__module__.startswith("seqzoo.")
             for i, c in f.small_configurations().items()}
    ours = []
    for i, (variant, (name, config)) in enumerate(small.items()):
        model = build(name, **config)
        untrained_weights(model, seed=13)
        model.save_weights(tmp_path / f"{i}.weights.h5")
        x = random_inputs(model.input_shape[1:], 8, seed=i)
        np.save(tmp_path / f"{i}.npy", x)
        ours.append(np.asarray(model(x, training=False)))
    env = dict(os.environ, KERAS_BACKEND="torch")
    result = subprocess.run([sys.executable, "-c", SMALL_TORCH_SIDE, str(tmp_path), *small], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for i, variant in enumerate(small):
        theirs = np.load(tmp_path / f"{i}.torch.npy")
        assert np.abs(theirs - ours[i]).max() <= 1e-5, f"{variant}: torch differs by {np.abs(theirs - ours[i]).max():.2e}"


def test_weights_saved_under_tensorflow_load_under_torch(tmp_path):
    model = seqzoo.get_model("DeepSol", device="cpu")
    # Perturb the weights so this is not just the deterministic initialisation again.
    model.keras_model.set_weights([w * 1.5 for w in model.keras_model.get_weights()])
    path = tmp_path / "deepsol.weights.h5"
    model.keras_model.save_weights(path)
    x = random_inputs(model.spec.input_shape, 8, seed=12)
    np.testing.assert_allclose(predict_under_torch("DeepSol", x, tmp_path, weights=path),
                               model.predict_on_batch(x), atol=1e-5, rtol=0)


def test_device_choice():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("gpu:0" if visible_gpus() else "cpu")
    if not visible_gpus():
        with pytest.raises(RuntimeError, match="no GPU"):
            resolve_device("gpu")
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")

"""Shared fixtures: every registered model, its directory and its example batch."""

import os

# Quiet TensorFlow's start-up chatter in test output; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import seqzoo  # noqa: E402
from seqzoo.packaging import example_batch  # noqa: E402
from seqzoo.zoo.spec import find_model, load_spec  # noqa: E402


def is_protein(spec) -> bool:
    """Whether a model reads amino-acid tokens ``(N, L)`` rather than one-hot DNA ``(N, L, 4)``."""
    return spec.input_shape[-1:] != (4,)


MODELS = seqzoo.list_models()
# Models that read one-hot DNA (variant effects and interpretation apply to these).
DNA_MODELS = [m for m in MODELS if not is_protein(load_spec(find_model(m)))]


@pytest.fixture(params=MODELS)
def model_name(request) -> str:
    """Each registered model in turn: a new directory under models/ is tested automatically."""
    return request.param


@pytest.fixture(params=DNA_MODELS, scope="module")
def dna_model(request):
    """Each registered DNA model in turn, loaded on the CPU."""
    return seqzoo.get_model(request.param, device="cpu")


@pytest.fixture
def model_dir(model_name):
    return find_model(model_name)


@pytest.fixture
def spec(model_dir):
    return load_spec(model_dir)


@pytest.fixture
def batch(spec) -> dict:
    """The model directory's example files, loaded by its default dataloader."""
    return example_batch(spec)


@pytest.fixture(scope="session")
def kipoi_home(tmp_path_factory):
    """A HOME for kipoi, which writes ~/.kipoi/config.yaml on import: keep it out of the real one."""
    home = tmp_path_factory.mktemp("home")
    return home


def random_inputs(spec, n: int, seed: int = 0) -> np.ndarray:
    """A batch of valid random inputs for a model: one-hot DNA or amino-acid tokens."""
    rng = np.random.default_rng(seed)
    if is_protein(spec):
        return rng.integers(0, 21, (n,) + spec.input_shape).astype("int32")
    return np.eye(4, dtype="float32")[rng.integers(0, 4, (n,) + spec.input_shape[:-1])]

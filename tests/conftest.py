"""Shared fixtures: every registered model, its directory and example batch, the device a test
runs on, a HOME for kipoi. Helpers live in tests/model_checks.py (imported as a module).

Markers (setup.cfg, ``--strict-markers``): ``kipoi``, ``ray``, ``torch`` for tests needing those
packages, ``gpu`` for the GPU runs of the ``device`` fixture, ``slow`` for long ones; e.g.
``pytest -m "not kipoi and not ray"``. tests/test_layout.py checks that every test module using
kipoi, Ray or torch carries its marker.
"""

import http.server
import os
import threading
from functools import partial

# Quiet TensorFlow's start-up chatter in test output; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

import model_checks  # noqa: E402
from seqzoo.packaging import example_batch  # noqa: E402
from seqzoo.runtime import get_model, visible_gpus  # noqa: E402
from seqzoo.zoo.spec import find_model, list_models, load_spec  # noqa: E402

MODELS = list_models()
# Models that read one-hot DNA (variant effects and interpretation apply to these).
DNA_MODELS = [m for m in MODELS if load_spec(find_model(m)).modality == "dna"]


@pytest.fixture(scope="session", params=["cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def device(request) -> str:
    """Where the test's model runs: ``"cpu"`` always, and ``"gpu"`` where the Keras backend sees
    one (``seqzoo.runtime.visible_gpus()``); elsewhere the gpu run is skipped."""
    if request.param == "gpu" and visible_gpus() == 0:
        pytest.skip(f"no GPU visible to the Keras {keras.backend.backend()} backend (seqzoo.runtime.visible_gpus() == 0)")
    return request.param


@pytest.fixture(params=MODELS)
def model_name(request) -> str:
    """Each registered model in turn: a new directory under models/ is tested automatically."""
    return request.param


@pytest.fixture(params=DNA_MODELS, scope="module")
def dna_model(request):
    """Each registered DNA model in turn, loaded on the CPU."""
    return get_model(request.param, device="cpu")


@pytest.fixture
def model_dir(model_name):
    return find_model(model_name)


@pytest.fixture
def spec(model_dir):
    return load_spec(model_dir)


@pytest.fixture
def batch(spec) -> dict:
    """The model directory's example files, loaded by its default dataloader (needs kipoi)."""
    return example_batch(spec)


@pytest.fixture(scope="session")
def synthetic_peaks(tmp_path_factory):
    """A folder with a 30 kb synthetic genome ``g.fa`` (chr1) and ``peaks.bed``: 30 peaks of TF_A,
    whose summits carry GACGTCAT, and 30 of TF_B, 500 bp each (for `seqzoo dataset`)."""
    import numpy as np

    root = tmp_path_factory.mktemp("peaks")
    rng = np.random.default_rng(0)
    genome = np.array(list("ACGT"))[rng.integers(0, 4, 30000)]
    summits = rng.integers(500, 29500, 60)
    for s in summits[:30]:
        genome[s - 4:s + 4] = list("GACGTCAT")
    (root / "g.fa").write_text(">chr1\n" + "".join(genome) + "\n")
    (root / "peaks.bed").write_text("".join(f"chr1\t{s - 250}\t{s + 250}\t{'TF_A' if i < 30 else 'TF_B'}\n"
                                            for i, s in enumerate(summits)))
    return root


@pytest.fixture(scope="session")
def kipoi_home(tmp_path_factory):
    """A HOME for kipoi, which writes ~/.kipoi/config.yaml on import: keep it out of the real one."""
    return tmp_path_factory.mktemp("home")


def random_inputs(spec, n: int, seed: int = 0):
    """``model_checks.random_inputs`` for a ModelSpec. Kept only because tests/test_cli.py (edited
    elsewhere now) says ``from conftest import random_inputs``; new tests import model_checks."""
    return model_checks.random_inputs(spec.input_shape, n, seed)


@pytest.fixture
def served(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/served, logging request paths."""
    folder = tmp_path / "served"
    folder.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()

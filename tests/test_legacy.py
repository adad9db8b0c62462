"""kipoi's Keras 1/2 models under Keras 3 (seqzoo.architectures.legacy, seqzoo.kipoi_import):
kipoi/kipoi's own example files (tests/data/kipoi_examples, see its README) and Keras 2 files
written by tf-keras are converted, and their outputs match outputs computed without seqzoo
(tf-keras loading the same files, or a NumPy forward pass written here) within 1e-5."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from model_checks import free_port
from seqzoo.architectures import legacy
from seqzoo.kipoi_import import KipoiImportError, import_kipoi
from seqzoo.zoo.artifacts import file_md5
from seqzoo.zoo.spec import ModelSpecError, load_spec

EXAMPLES = Path(__file__).resolve().parent / "data" / "kipoi_examples"
REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5


def one_hot(n: int, length: int, seed: int = 0) -> np.ndarray:
    return np.eye(4, dtype=np.float32)[np.random.default_rng(seed).integers(0, 4, (n, length))]


def converted(arch: Path, weights: Path):
    config, version = legacy.read_legacy_config(arch)
    conversion = legacy.convert_config(config, version)
    model = legacy.build_model(conversion.config)
    legacy.set_legacy_weights(model, legacy.read_legacy_weights(weights), conversion.channels_first_kernels)
    return model


def seqzoo_cli(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env or {}), PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "seqzoo", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def conv1d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, padding: str) -> np.ndarray:
    """Keras' Conv1D (cross-correlation, 'same' pads (k-1)//2 on the left): x (N, L, C), kernel (k, C, F)."""
    k = kernel.shape[0]
    if padding == "same":
        x = np.pad(x, ((0, 0), ((k - 1) // 2, k - 1 - (k - 1) // 2), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(x, k, axis=1)  # (N, L', C, k)
    return np.einsum("nlck,kcf->nlf", windows, kernel) + bias


def relu(x):
    return np.maximum(x, 0)


@pytest.fixture
def kipoi_dir_env(kipoi_home, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(kipoi_home))
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.kipoi
def test_tal1_imported_by_the_command_predicts_as_tf_keras_with_seqzoo_and_the_real_kipoi(kipoi_dir_env):
    """tal1_model (Keras 2.1.5, Sequential): `seqzoo import-kipoi` writes a directory that loads with
    seqzoo.get_model and kipoi.get_model, both equal to tf-keras loading kipoi's own files."""
    import kipoi
    import tf_keras

    import seqzoo

    out = kipoi_dir_env / "tal1"
    result = seqzoo_cli("import-kipoi", EXAMPLES / "tal1_model", "-o", out, "--name", "tal1", cwd=kipoi_dir_env)
    assert result.returncode == 0, result.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == ["README.md", "architecture.json", "example", "model.yaml", "tal1.weights.h5",
                     "target_labels.txt", "test.expect.h5", "weights.yaml"]
    card = (out / "README.md").read_text()
    assert "Keras 2.1.5" in card and "a8d48df17050886666a00c05034f863e" in card  # weights.hdf5's md5
    assert "seqzoo import-kipoi" in card
    spec = load_spec(out)
    assert spec.architecture == "keras_json" and spec.input_shape == (500, 4) and spec.labels == ("binding_prob",)

    reference = tf_keras.models.model_from_json((EXAMPLES / "tal1_model/model_files/arch.json").read_text())
    reference.load_weights(str(EXAMPLES / "tal1_model/model_files/weights.hdf5"))
    x = one_hot(200, 500)
    expected = reference.predict(x, verbose=0)
    ours = seqzoo.get_model(out, device="cpu").predict_on_batch(x)
    through_kipoi = kipoi.get_model(str(out), source="dir").predict_on_batch(x)
    deviation = max(np.abs(ours - expected).max(), np.abs(through_kipoi - expected).max())
    print(f"tal1_model: max |seqzoo - tf-keras| and |kipoi - tf-keras| = {deviation:.2e}")
    assert deviation < TOLERANCE
    # kipoi's example FASTA windows, read by seqzoo's DNA dataloader through kipoi (kipoi test's reference)
    with h5py.File(out / "test.expect.h5", "r") as f:
        inputs, preds = np.asarray(f["inputs"]), np.asarray(f["preds"])
    assert inputs.shape == (20, 500, 4)
    assert np.abs(reference.predict(inputs, verbose=0) - preds).max() < TOLERANCE


def test_extended_coda_keras1_and_keras2_files_match_a_numpy_forward_pass():
    """extended_coda as Keras 1.2.2 wrote it (Convolution1D, 4-D kernels, no version attributes) and as a
    Keras 2.1.4 whole-model HDF5: four 'same' convolutions with ReLUs, computed here in NumPy."""
    x = np.random.default_rng(1).random((2, 25025, 1), dtype=np.float32)
    with h5py.File(EXAMPLES / "extended_coda/model_files/weights.h5", "r") as f:
        params = [(np.asarray(f[f"convolution1d_{i}/convolution1d_{i}_W:0"])[:, 0],
                   np.asarray(f[f"convolution1d_{i}/convolution1d_{i}_b:0"])) for i in range(1, 5)]
    expected = x.astype(np.float64)
    for kernel, bias in params:
        expected = relu(conv1d(expected, kernel, bias, "same"))
    files = EXAMPLES / "extended_coda/model_files"
    for arch, weights in [(files / "model.json", files / "weights.h5"),
                          (files / "keras2/model.h5", files / "keras2/model.h5"),
                          (files / "keras2/model.json", files / "weights.h5")]:
        ours = np.asarray(converted(arch, weights).predict_on_batch(x))
        deviation = np.abs(ours - expected).max()
        print(f"extended_coda {arch.relative_to(files)}: max |seqzoo - NumPy| = {deviation:.2e}")
        assert ours.shape == (2, 25025, 1) and deviation < TOLERANCE


def test_the_rbp_model_with_concise_spline_t_matches_a_numpy_forward_pass():
    """kipoi's rbp / non_bedinput_model (Keras 2.0.5, two inputs, concise's SplineT implemented by seqzoo)."""
    files = EXAMPLES / "non_bedinput_model/model_files"
    model = converted(files / "model.json", files / "weights.h5")
    assert type(model.get_layer("spline_t_6")).__module__ == "seqzoo.architectures.layers"
    seq, dist = one_hot(200, 101, seed=2), np.random.default_rng(3).random((200, 1, 10), dtype=np.float32)
    with h5py.File(files / "weights.h5", "r") as f:
        w = {k: np.asarray(f[k], dtype=np.float64) for k in ("conv1/conv1_5/kernel:0", "conv1/conv1_5/bias:0",
             "spline_t_6/spline_t_6/kernel:0", "dense_6/dense_6/kernel:0", "dense_6/dense_6/bias:0")}
    conv = relu(conv1d(seq.astype(np.float64), w["conv1/conv1_5/kernel:0"], w["conv1/conv1_5/bias:0"], "valid"))
    pooled = conv[:, : conv.shape[1] // 4 * 4].reshape(200, -1, 4, 10).mean(axis=2)  # AveragePooling1D(4)
    spline = np.einsum("nfb,bf->nf", dist, w["spline_t_6/spline_t_6/kernel:0"])
    features = np.concatenate([pooled.reshape(200, -1), spline], axis=1)
    expected = features @ w["dense_6/dense_6/kernel:0"] + w["dense_6/dense_6/bias:0"]
    ours = np.asarray(model.predict_on_batch({"seq": seq, "dist_polya_st": dist}))
    deviation = np.abs(ours - expected).max()
    print(f"rbp (non_bedinput_model): max |seqzoo - NumPy| = {deviation:.2e}")
    assert deviation < TOLERANCE


def test_keras2_recurrent_batchnorm_and_nested_files_written_by_tf_keras_match_tf_keras(tmp_path):
    """Genuine Keras 2 files (tf-keras 2.21): a FactorNet-like network (convolution, batch norm with
    trained statistics, bidirectional LSTM with hard_sigmoid gates, GRU) around a nested Sequential,
    saved as JSON + weights HDF5 and as a whole-model HDF5; 200 random sequences."""
    import tf_keras as K2

    inner = K2.Sequential([K2.layers.Conv1D(8, 5, padding="same", activation="relu", name="conv", input_shape=(60, 4)),
                           K2.layers.BatchNormalization(name="bn"), K2.layers.MaxPooling1D(3, name="pool")],
                          name="trunk")
    seq = K2.Input((60, 4), name="seq")
    h = inner(seq)
    lstm = K2.layers.Bidirectional(K2.layers.LSTM(6, recurrent_activation="hard_sigmoid", return_sequences=True),
                                   name="bilstm")(h)
    gru = K2.layers.GRU(5, reset_after=False, name="gru")(lstm)
    out = K2.layers.Dense(3, activation="sigmoid", name="output")(K2.layers.Concatenate(name="cat")(
        [gru, K2.layers.GlobalMaxPooling1D(name="gmp")(lstm)]))
    reference = K2.Model(seq, out, name="factornet_like")
    rng = np.random.default_rng(4)
    reference.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in reference.get_weights()])
    bn = inner.get_layer("bn")  # running statistics away from 0 and 1, variance positive
    bn.set_weights([w if i < 2 else (np.abs(w) + 0.5 if i == 3 else w) for i, w in enumerate(bn.get_weights())])
    (tmp_path / "arch.json").write_text(reference.to_json())
    reference.save_weights(str(tmp_path / "weights.h5"))
    reference.save(str(tmp_path / "model.h5"))
    x = one_hot(200, 60, seed=5)
    expected = reference.predict(x, verbose=0)
    for arch, weights in [(tmp_path / "arch.json", tmp_path / "weights.h5"), (tmp_path / "model.h5",) * 2]:
        ours = np.asarray(converted(arch, weights).predict_on_batch(x))
        deviation = np.abs(ours - expected).max()
        print(f"tf-keras FactorNet-like {arch.name}: max |seqzoo - tf-keras| = {deviation:.2e}")
        assert deviation < TOLERANCE


def test_keras1_per_gate_lstm_weights_are_fused_in_keras3_gate_order(tmp_path):
    """Keras 1 stores an LSTM's gates apart (W_i, U_i, b_i, W_c, ..., in the order i, c, f, o); a file in
    that layout, made here from a tf-keras LSTM's fused (i, f, c, o) weights, gives tf-keras's outputs."""
    import tf_keras as K2

    reference = K2.Sequential([K2.layers.LSTM(4, recurrent_activation="hard_sigmoid", name="lstm_1",
                                              input_shape=(12, 4))], name="seq1")
    rng = np.random.default_rng(6)
    reference.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in reference.get_weights()])
    kernel, recurrent, bias = reference.get_weights()
    gates = dict(zip("ifco", range(4)))
    with h5py.File(tmp_path / "weights.h5", "w") as f:  # Keras 1.2's save_weights layout
        f.attrs["layer_names"] = [b"lstm_1"]
        group = f.create_group("lstm_1")
        names = []
        for gate in "icfo":
            part = slice(gates[gate] * 4, gates[gate] * 4 + 4)
            for role, value in (("W", kernel[:, part]), ("U", recurrent[:, part]), ("b", bias[part])):
                names.append(f"lstm_1_{role}_{gate}".encode())
                group[names[-1].decode()] = value
        group.attrs["weight_names"] = names
    keras1 = {"class_name": "Sequential", "config": [{"class_name": "LSTM", "config": {
        "name": "lstm_1", "output_dim": 4, "batch_input_shape": [None, 12, 4], "input_dtype": "float32",
        "init": "glorot_uniform", "inner_init": "orthogonal", "forget_bias_init": "one", "activation": "tanh",
        "inner_activation": "hard_sigmoid", "W_regularizer": None, "U_regularizer": None, "b_regularizer": None,
        "dropout_W": 0.0, "dropout_U": 0.0, "consume_less": "cpu", "return_sequences": False,
        "go_backwards": False, "stateful": False, "unroll": False, "trainable": True}}]}
    (tmp_path / "model.json").write_text(json.dumps(keras1))
    x = one_hot(50, 12, seed=7)
    ours = np.asarray(converted(tmp_path / "model.json", tmp_path / "weights.h5").predict_on_batch(x))
    deviation = np.abs(ours - reference.predict(x, verbose=0)).max()
    print(f"Keras 1 per-gate LSTM: max |seqzoo - tf-keras| = {deviation:.2e}")
    assert deviation < TOLERANCE


def tal1_with(tmp_path: Path, change) -> Path:
    """A copy of kipoi's tal1_model whose architecture JSON ``change`` edits."""
    copy = Path(shutil.copytree(EXAMPLES / "tal1_model", tmp_path / "tal1_model"))
    arch = copy / "model_files/arch.json"
    config = json.loads(arch.read_text())
    change(config["config"])
    arch.write_text(json.dumps(config))
    return copy


def test_a_lambda_layer_and_an_unknown_custom_class_are_refused_by_name(tmp_path):
    lambda_layer = {"class_name": "Lambda", "config": {"name": "revcomp", "function": ["4wEAAAAAAAAA", None, None],
                                                       "function_type": "lambda", "arguments": {}}}
    source = tal1_with(tmp_path / "a", lambda layers: layers.insert(1, lambda_layer))
    result = seqzoo_cli("import-kipoi", source, "-o", tmp_path / "out_a", cwd=tmp_path)
    assert result.returncode == 2
    assert "layer 'revcomp' (Lambda)" in result.stderr and "never runs" in result.stderr
    custom = {"class_name": "GAMSmooth", "config": {"name": "smooth_1", "n_bases": 10}}
    source = tal1_with(tmp_path / "b", lambda layers: layers.insert(1, custom))
    result = seqzoo_cli("import-kipoi", source, "-o", tmp_path / "out_b", cwd=tmp_path)
    assert result.returncode == 2 and "layer 'smooth_1' (GAMSmooth)" in result.stderr
    assert "never loaded" in result.stderr
    assert not (tmp_path / "out_a").exists() and not (tmp_path / "out_b").exists()
    # a Keras 3 JSON in a model directory is checked too: a Lambda smuggled into architecture.json
    with pytest.raises(legacy.LegacyModelError, match=r"layer 'f' \(Lambda\) runs Python code"):
        legacy.check_config({"class_name": "Functional", "module": "keras", "config": {"layers": [
            {"class_name": "Lambda", "module": "keras.layers", "config": {"name": "f"}}]}})
    with pytest.raises(legacy.LegacyModelError, match=r"layer 'x' \(Evil\) of module 'os'"):
        legacy.check_config({"class_name": "Evil", "module": "os", "config": {"name": "x"}})


@pytest.mark.kipoi
def test_nothing_from_the_kipoi_directory_is_imported_or_executed(tmp_path, kipoi_dir_env):
    """The custom_objects file, the dataloader's code and a model.py of the kipoi directory would each
    write a marker when run: importing, and loading the result through seqzoo and kipoi, runs none."""
    import kipoi

    import seqzoo

    source = Path(shutil.copytree(EXAMPLES / "tal1_model", tmp_path / "tal1_model"))
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'a').write(__name__)\nOBJECTS = {{}}\n"
    for name in ("custom_keras_objects.py", "dataloader.py", "model.py", "model_files/custom_keras_objects.py"):
        (source / name).write_text(code)
    text = (source / "model.yaml").read_text().replace("custom_objects: custom_keras_objects.py",
                                                       "custom_objects: model_files/custom_keras_objects.py")
    (source / "model.yaml").write_text(text)
    out = tmp_path / "imported"
    result = seqzoo_cli("import-kipoi", source, "-o", out, cwd=source)  # even from inside the directory
    assert result.returncode == 0, result.stderr[-3000:]
    seqzoo.get_model(out, device="cpu").predict_on_batch(one_hot(2, 500))
    kipoi.get_model(str(out), source="dir").predict_on_batch(one_hot(2, 500))
    assert not marker.exists()
    assert not list(out.rglob("*.py"))


def test_weights_are_set_strictly_by_layer_name(tmp_path):
    arch = EXAMPLES / "tal1_model/model_files/arch.json"
    weights = tmp_path / "weights.h5"
    shutil.copyfile(EXAMPLES / "tal1_model/model_files/weights.hdf5", weights)
    with h5py.File(weights, "a") as f:  # the dense layer's weights under another name
        f.move("dense_1", "dense_9")
        f.attrs["layer_names"] = [b"conv1d_1", b"global_max_pooling1d_1", b"dense_9", b"activation_1"]
    with pytest.raises(legacy.LegacyModelError, match=r"layer 'dense_1' \(Dense\) has weights but weights.h5 holds none"):
        converted(arch, weights)
    shutil.copyfile(EXAMPLES / "tal1_model/model_files/weights.hdf5", weights)
    with h5py.File(weights, "a") as f:  # a kernel of the wrong shape
        del f["dense_1/dense_1/kernel:0"]
        f["dense_1/dense_1/kernel:0"] = np.zeros((15, 1), np.float32)
    with pytest.raises(legacy.LegacyModelError, match=r"layer 'dense_1' \(Dense\): its kernel has shape \(16, 1\), "
                                                      r"the file's \(15, 1\)"):
        converted(arch, weights)
    shutil.copyfile(EXAMPLES / "tal1_model/model_files/weights.hdf5", weights)
    with h5py.File(weights, "a") as f:  # a weight the layer has no place for
        f["dense_1/dense_1/extra:0"] = np.zeros((1,), np.float32)
        f["dense_1"].attrs["weight_names"] = [b"dense_1/kernel:0", b"dense_1/bias:0", b"dense_1/extra:0"]
    with pytest.raises(legacy.LegacyModelError, match=r"layer 'dense_1' \(Dense\): stored weight\(s\) extra"):
        converted(arch, weights)


def test_kipoi_models_seqzoo_cannot_serve_yet_are_refused_with_the_reason(tmp_path):
    result = seqzoo_cli("import-kipoi", EXAMPLES / "non_bedinput_model", "-o", tmp_path / "nb", cwd=tmp_path)
    assert result.returncode == 2 and "reads 2 inputs" in result.stderr
    result = seqzoo_cli("import-kipoi", EXAMPLES / "extended_coda", "-o", tmp_path / "ec", cwd=tmp_path)
    assert result.returncode == 2 and "not DNASeq" in result.stderr
    assert not any((tmp_path / name).exists() for name in ("nb", "ec"))


def test_a_keras_json_architecture_stays_inside_its_directory_and_keeps_its_sha256(tmp_path):
    from seqzoo.kipoi_import import import_kipoi
    from seqzoo.runtime import ZooModel

    out = import_kipoi(EXAMPLES / "tal1_model", tmp_path / "tal1")
    text = (out / "model.yaml").read_text()
    (out / "model.yaml").write_text(text.replace("file: architecture.json", "file: ../architecture.json"))
    with pytest.raises(ModelSpecError, match="outside the model directory"):
        load_spec(out)
    (out / "model.yaml").write_text(text)
    architecture = json.loads((out / "architecture.json").read_text())
    architecture["config"]["name"] = "changed"
    (out / "architecture.json").write_text(json.dumps(architecture))
    with pytest.raises(ValueError, match="the architecture was changed after it was written"):
        ZooModel(load_spec(out), device="cpu")


def tal1_served(tmp_path: Path, folder: Path, url: str, weights_md5: str | None = None) -> Path:
    """kipoi's tal1_model with its arch and weights served by ``url`` (``folder``), named in model.yaml
    as kipoi's downloads {url, md5}; ``weights_md5`` replaces the weights' real md5."""
    folder.mkdir(parents=True, exist_ok=True)
    files = EXAMPLES / "tal1_model/model_files"
    for name in ("arch.json", "weights.hdf5"):
        shutil.copyfile(files / name, folder / name)
    source = Path(shutil.copytree(EXAMPLES / "tal1_model", tmp_path / "tal1_model", ignore=shutil.ignore_patterns("model_files")))
    md5 = {name: file_md5(files / name) for name in ("arch.json", "weights.hdf5")}
    text = (source / "model.yaml").read_text().replace(
        "  weights: model_files/weights.hdf5\n  arch: model_files/arch.json\n",
        f"  weights:\n    url: {url}/weights.hdf5?download=1\n    md5: {weights_md5 or md5['weights.hdf5']}\n"
        f"  arch:\n    url: {url}/arch.json\n    md5: {md5['arch.json']}\n")
    (source / "model.yaml").write_text(text)
    return source


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_kipoi_downloads_are_fetched_md5_checked_and_recorded_on_the_card(tmp_path, served, cache):
    """args.arch and args.weights as kipoi's {url, md5}, served on 127.0.0.1: fetched once, checked, the
    card records URL, md5 and sha256, and the model equals the one imported from the local files."""
    import hashlib

    folder, url, requests = served
    source = tal1_served(tmp_path, folder, url)
    out = import_kipoi(source, tmp_path / "out")
    assert sorted(requests) == ["/arch.json", "/weights.hdf5?download=1"]
    card = (out / "README.md").read_text()
    weights = (EXAMPLES / "tal1_model/model_files/weights.hdf5").read_bytes()
    assert (f"| `weights`: {url}/weights.hdf5?download=1 | `a8d48df17050886666a00c05034f863e` | "
            f"`{hashlib.sha256(weights).hexdigest()}` | Keras 2.1.5 |") in card
    assert f"| `arch`: {url}/arch.json |" in card
    local = import_kipoi(EXAMPLES / "tal1_model", tmp_path / "local")
    from seqzoo.runtime import get_model

    x = one_hot(20, 500, seed=8)
    assert np.array_equal(get_model(out, device="cpu").predict_on_batch(x),
                          get_model(local, device="cpu").predict_on_batch(x))
    import_kipoi(source, tmp_path / "again")  # from the cache: no second download
    assert len(requests) == 2


def test_a_kipoi_download_with_another_md5_is_refused_and_nothing_written(tmp_path, served, cache):
    folder, url, requests = served
    source = tal1_served(tmp_path, folder, url, weights_md5="f" * 32)
    result = seqzoo_cli("import-kipoi", source, "-o", tmp_path / "out", cwd=tmp_path,
                        env={"SEQZOO_CACHE": str(cache)})
    assert result.returncode == 2, result.stderr[-2000:]
    assert (f"model.yaml args.weights: weights.hdf5 from {url}/weights.hdf5?download=1 has md5 "
            f"a8d48df17050886666a00c05034f863e, not the published {'f' * 32}") in result.stderr
    assert not (tmp_path / "out").exists()
    assert not [p for p in cache.rglob("*.hdf5")]


def test_an_absent_or_silent_server_gives_a_bounded_error_naming_the_url(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("SEQZOO_FETCH_TIMEOUT", "3")
    absent = f"http://127.0.0.1:{free_port()}"
    source = tal1_served(tmp_path / "a", tmp_path / "a" / "served", absent)
    start = time.monotonic()
    with pytest.raises(KipoiImportError, match=rf"args.weights: could not download weights.hdf5 from "
                                               rf"{re.escape(absent)}/weights.hdf5\?download=1: ConnectionError"):
        import_kipoi(source, tmp_path / "out")
    assert time.monotonic() - start < 10
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        source = tal1_served(tmp_path / "b", tmp_path / "b" / "served", url)
        start = time.monotonic()
        with pytest.raises(KipoiImportError, match=rf"could not download weights.hdf5 from {re.escape(url)}/weights.hdf5"
                                                   r"\?download=1: \w*(Timeout|ConnectionError)"):
            import_kipoi(source, tmp_path / "out")
        assert time.monotonic() - start < 15
    assert not (tmp_path / "out").exists()


# --- kipoi model groups (model-template.yaml + models.tsv) -------------------------------------

MODELS = Path(__file__).resolve().parent / "data" / "kipoi_models"  # files of kipoi/models, see its README


@pytest.mark.kipoi
@pytest.mark.parametrize("group", ["DeepBind", "CpGenie"])
def test_group_templates_render_as_kipoi_renders_them(group, kipoi_dir_env):
    """kipoi/models' DeepBind and CpGenie templates, every row (the {% if %} row included): seqzoo's
    renderer gives the text kipoi's LocalComponentGroup (jinja2, pandas) gives."""
    from kipoi.sources import LocalComponentGroup

    from seqzoo.kipoi_import import read_models_tsv, render_template

    theirs = LocalComponentGroup.load(str(MODELS / group))
    text = (MODELS / group / "model-template.yaml").read_text()
    rows = read_models_tsv(MODELS / group / "models.tsv")
    assert list(rows) == list(theirs.df.model) and len(rows) == 3
    for row, cells in rows.items():
        expected = theirs.template.render(**theirs.get_model_row(row))
        ours = render_template(text, cells, "template")
        assert ours.rstrip("\n") == expected.rstrip("\n")  # jinja2 drops the final newline
    assert "test:" in render_template(text, rows[list(rows)[-1]], "t")  # the row the template's {% if %} names
    assert "test:" not in render_template(text, rows[list(rows)[0]], "t")


def test_a_template_is_rendered_without_running_code():
    from seqzoo.kipoi_import import render_template

    row = {"model": "m", "url": "http://x/m.h5"}
    assert render_template("a: {{ url }}\n{% if model != 'm' %}b: 1\n{% else %}b: 2\n{% endif %}", row, "t") == \
        "a: http://x/m.h5\nb: 2\n"
    for template, refused in [("a: {{ ''.__class__.__mro__ }}", r"t, line 1: .* is not a plain column name"),
                              ("a: 1\nb: {{ url|upper }}", r"t, line 2: .* is not a plain column name"),
                              ("{% for x in model %}{% endfor %}", r"t, line 1: .*for x in model.* is refused"),
                              ("{% if model.startswith('m') %}{% endif %}", r"is refused"),
                              ("{% if model == 'm' %}a: 1", r"not closed"),
                              ("a: {{ md5 }}", r"t, line 1: column 'md5' is not in models.tsv for model 'm'")]:
        with pytest.raises(KipoiImportError, match=refused):
            render_template(template, row, "t")


def deepbind_like(length: int = 101):
    """DeepBind's shape (kipoi/models DeepBind): convolution, global max-pool, dense layers."""
    import tf_keras as K2

    seq = K2.Input((length, 4), name="seq")
    h = K2.layers.Conv1D(16, 24, activation="relu", name="conv")(seq)
    h = K2.layers.MaxPooling1D(8, name="pool")(h)
    h = K2.layers.Flatten(name="flat")(h)
    h = K2.layers.Dense(32, activation="relu", name="hidden")(h)
    return K2.Model(seq, K2.layers.Dense(1, activation="sigmoid", name="out")(h), name="deepbind_like")


def randomised(model, seed: int):
    """``model`` with random weights: kernels of scale 1/sqrt(fan-in), so outputs do not saturate;
    vectors (biases, batch norm parameters and statistics) around 0 (variances positive, around 1)."""
    rng = np.random.default_rng(seed)

    def value(shape, name):
        if "variance" in name:
            return rng.uniform(0.5, 1.5, shape)
        if len(shape) >= 2:
            return rng.normal(0, 1 / np.sqrt(np.prod(shape[:-1])), shape)
        return rng.normal(1 if "gamma" in name else 0, 0.2, shape)

    model.set_weights([value(w.shape, v.name).astype(np.float32) for w, v in zip(model.get_weights(), model.weights)])
    return model


def served_group(tmp_path: Path, group: str, folder: Path, url: str, reference, row: str) -> Path:
    """kipoi/models' ``group`` template with a models.tsv of one row whose arch and weights are
    ``reference``'s Keras 2 files, served at ``url``."""
    (folder / "arch.json").write_text(reference.to_json())
    reference.save_weights(str(folder / "weights.h5"))
    source = tmp_path / group
    source.mkdir()
    shutil.copyfile(MODELS / group / "model-template.yaml", source / "model-template.yaml")
    header = "model\targs_arch\targs_weights\targs_arch_md5\targs_weights_md5\targs_arch_url\targs_weights_url"
    cells = [row, "model_files/arch.json", "model_files/weights.h5", file_md5(folder / "arch.json"),
             file_md5(folder / "weights.h5"), f"{url}/arch.json?download=1", f"{url}/weights.h5?download=1"]
    (source / "models.tsv").write_text(f"{header}\n# a comment line\n" + "\t".join(cells) + "\n")
    return source


def test_a_group_row_is_imported_with_its_downloads(tmp_path, served, cache):
    """kipoi/models' DeepBind template, a row whose files are a DeepBind-shaped tf-keras network served
    on 127.0.0.1: `import-kipoi GROUP --row ROW` imports it; outputs equal tf-keras's on 200 sequences."""
    folder, url, requests = served
    row = "Homo_sapiens/TF/D00817.001_ChIP-seq_TBP"
    reference = randomised(deepbind_like(), seed=11)
    source = served_group(tmp_path, "DeepBind", folder, url, reference, row)
    result = seqzoo_cli("import-kipoi", source, "-o", tmp_path / "none", cwd=tmp_path, env={"SEQZOO_CACHE": str(cache)})
    assert result.returncode == 2 and f"is a kipoi model group (1 models in models.tsv, e.g. {row}): name one " \
                                      "with --row" in result.stderr
    with pytest.raises(KipoiImportError, match=r"no model 'Homo_sapiens/TF/D00817' among its 1 rows"):
        import_kipoi(source, tmp_path / "none", row="Homo_sapiens/TF/D00817")
    out = import_kipoi(source, tmp_path / "out", row=row)
    assert sorted(requests) == ["/arch.json?download=1", "/weights.h5?download=1"]
    assert (out / "Homo_sapiens-TF-D00817.001_ChIP-seq_TBP.weights.h5").is_file()
    card = (out / "README.md").read_text()
    assert f"row `{row}` of models.tsv" in card and "Alipanahi" in card and "nbt.3300" in card
    from seqzoo.runtime import get_model

    x = one_hot(200, 101, seed=12)
    deviation = np.abs(get_model(out, device="cpu").predict_on_batch(x) - reference.predict(x, verbose=0)).max()
    print(f"DeepBind-shaped group row: max |seqzoo - tf-keras| = {deviation:.2e}")
    assert deviation < TOLERANCE


# --- input layouts: kipoiseq SeqIntervalDl's arguments ----------------------------------------

def write_genome(directory: Path, length: int, n: int, seed: int) -> tuple[Path, Path]:
    """A random two-chromosome FASTA (upper and soft-masked lower case) and a BED of ``n`` windows of
    ``length`` inside it, some on the '+' strand."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    fasta, bed = directory / "genome.fa", directory / "regions.bed"
    chroms = {name: "".join(rng.choice(list("ACGTacgt"), length * 4)) for name in ("chr1", "chr2")}
    fasta.write_text("".join(f">{c}\n" + "\n".join(s[i:i + 70] for i in range(0, len(s), 70)) + "\n"
                             for c, s in chroms.items()))
    rows = [f"chr{1 + i % 2}\t{s}\t{s + length}\tr{i}\t0\t+" for i, s in enumerate(rng.integers(0, length * 3, n))]
    bed.write_text("\n".join(rows) + "\n")
    return fasta, bed


def kipoi_keras_dir(directory: Path, reference, default_args: dict, labels: list[str]) -> Path:
    """A kipoi model directory as kipoi/models writes one: ``reference``'s Keras 2 JSON and weights
    HDF5 (tf-keras), model.yaml with kipoiseq's SeqIntervalDl and ``default_args``."""
    (directory / "model_files").mkdir(parents=True)
    (directory / "model_files/arch.json").write_text(reference.to_json())
    reference.save_weights(str(directory / "model_files/weights.h5"))
    write_kipoi_yaml(directory, reference.input_shape[1:], f"{reference.name}, random weights", default_args, labels)
    return directory


def write_kipoi_yaml(directory: Path, input_shape, doc: str, default_args: dict, labels: list[str],
                     backend: str = "tensorflow") -> None:
    """kipoi's model.yaml for ``model_files/arch.json`` + ``model_files/weights.h5`` read through
    kipoiseq's SeqIntervalDl with ``default_args``, run by kipoi under Keras' ``backend``."""
    import yaml

    shape = "(" + ", ".join(str(d) for d in input_shape) + ")"
    description = {
        "type": "keras", "args": {"arch": "model_files/arch.json", "weights": "model_files/weights.h5",
                                  "backend": backend},
        "default_dataloader": {"defined_as": "kipoiseq.dataloaders.SeqIntervalDl", "default_args": default_args},
        "info": {"authors": [{"name": "seqzoo tests"}], "doc": doc,
                 "cite_as": "https://doi.org/10.1038/nbt.3300", "license": "MIT"},
        "schema": {"inputs": {"name": "seq", "special_type": "DNASeq", "shape": shape, "associated_metadata": "ranges"},
                   "targets": {"name": "y", "shape": f"({len(labels)}, )", "column_labels": labels}}}
    (directory / "model.yaml").write_text(yaml.safe_dump(description))


def flat_dense(shape: tuple, n_out: int = 3, seed: int = 0):
    """A tf-keras network reading ``shape`` by position (Flatten, Dense): any change of layout changes it."""
    import tf_keras as K2

    seq = K2.Input(shape, name="seq")
    out = K2.layers.Dense(n_out, name="out")(K2.layers.Flatten(name="flat")(seq))
    return randomised(K2.Model(seq, out, name="flat_dense"), seed)


@pytest.mark.kipoi
@pytest.mark.parametrize("args, shape", [({"alphabet_axis": 0, "dummy_axis": 1}, (4, 1, 30)),  # CpGenie
                                         ({"alphabet_axis": 0}, (4, 30)),
                                         ({"dummy_axis": 0, "alphabet_axis": 2}, (1, 30, 4)),
                                         ({"dummy_axis": 2}, (30, 4, 1)),
                                         ({"alphabet_axis": 1, "dtype": "np.float32"}, (30, 4))])  # scbasset
def test_each_seq_interval_dl_layout_reaches_the_network_as_kipoiseq_makes_it(args, shape, tmp_path):
    """The imported directory reads seqzoo's (L, 4); the network behind it gets exactly the array
    kipoiseq's SeqIntervalDl encoding (ReorderedOneHot) gives for ``args``."""
    from kipoiseq.transforms import ReorderedOneHot

    from seqzoo.kipoi_import import seq_interval_layout
    from seqzoo.runtime import get_model

    reference = flat_dense(shape, seed=13)
    source = kipoi_keras_dir(tmp_path / "kipoi", reference, {"auto_resize_len": 30, **args}, ["a", "b", "c"])
    out = import_kipoi(source, tmp_path / "out")
    encode = ReorderedOneHot(**{k: v for k, v in args.items() if k != "dtype"})
    assert encode.get_output_shape(30) == shape
    assert tuple({"L": 30, "A": 4, "D": 1}[a] for a in seq_interval_layout(args, "args")[0]) == shape
    rng = np.random.default_rng(14)
    sequences = ["".join(rng.choice(list("ACGTN"), 30)) for _ in range(200)]
    theirs = reference.predict(np.stack([encode(s) for s in sequences]), verbose=0)
    ours = get_model(out, device="cpu").predict_on_batch(np.stack([ReorderedOneHot()(s) for s in sequences]))
    deviation = np.abs(ours - theirs).max()
    print(f"layout {args}: max |seqzoo - tf-keras on kipoiseq's array| = {deviation:.2e}")
    assert deviation < TOLERANCE
    assert spec_shape(out) == (30, 4)


def spec_shape(directory: Path) -> tuple:
    return load_spec(directory).input_shape


def test_a_layout_the_network_does_not_read_is_refused(tmp_path):
    source = kipoi_keras_dir(tmp_path / "kipoi", flat_dense((4, 1, 30)), {"auto_resize_len": 30, "alphabet_axis": 0},
                             ["a", "b", "c"])
    with pytest.raises(KipoiImportError, match=r"the network's input is \(4, 1, 30\), but the dataloader .*"
                                               r"kipoiseq SeqIntervalDl\)\) gives \(4, L\)"):
        import_kipoi(source, tmp_path / "out")
    source = kipoi_keras_dir(tmp_path / "k2", flat_dense((30, 4)), {"auto_resize_len": 31}, ["a", "b", "c"])
    with pytest.raises(KipoiImportError, match=r"auto_resize_len 31, but the network reads sequences of 30"):
        import_kipoi(source, tmp_path / "out")
    source = kipoi_keras_dir(tmp_path / "k3", flat_dense((30, 4)), {"alphabet": "ACGU"}, ["a", "b", "c"])
    with pytest.raises(KipoiImportError, match=r"alphabet 'ACGU'; seqzoo's one-hot columns are A, C, G, T"):
        import_kipoi(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.kipoi
@pytest.mark.slow
def test_seqzoo_predict_rows_equal_kipoi_predict_rows_for_a_cpgenie_layout_group_row(tmp_path, served, kipoi_dir_env):
    """kipoi/models' CpGenie template (SeqIntervalDl auto_resize_len 1001, alphabet_axis 0, dummy_axis 1:
    (4, 1, 1001)) with a CpGenie-shaped tf-keras network served on 127.0.0.1: `seqzoo predict` and the
    real `kipoi predict` give the same rows on one BED, equal to tf-keras fed kipoiseq's SeqIntervalDl."""
    import tf_keras as K2
    from kipoiseq.dataloaders import SeqIntervalDl

    seq = K2.Input((4, 1, 1001), name="seq")
    h = K2.layers.Reshape((1001, 4), name="to_length_first")(K2.layers.Permute((3, 2, 1), name="swap")(seq))
    h = K2.layers.Conv1D(8, 9, activation="relu", name="conv")(h)
    h = K2.layers.Flatten(name="flat")(K2.layers.MaxPooling1D(10, name="pool")(h))
    reference = randomised(K2.Model(seq, K2.layers.Dense(2, activation="softmax", name="out")(h), name="cpgenie_like"),
                           seed=15)
    folder, url, _ = served
    source = served_group(tmp_path, "CpGenie", folder, url, reference, "GM19239_ENCSR000DGH")
    out = tmp_path / "cpgenie"
    result = seqzoo_cli("import-kipoi", source, "-o", out, "--row", "GM19239_ENCSR000DGH", cwd=tmp_path,
                        env={"HOME": os.environ["HOME"], "SEQZOO_CACHE": os.environ["SEQZOO_CACHE"]})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Permute(2, 1) and Reshape(4, 1, 1001)" in (out / "README.md").read_text()
    fasta, bed = write_genome(tmp_path / "data", 1001, 12, seed=16)
    ours = tmp_path / "seqzoo.tsv"
    result = seqzoo_cli("predict", out, "--fasta", fasta, "--bed", bed, "-o", ours, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = tmp_path / "kipoi.tsv"
    kipoi_predict(out, fasta, bed, theirs)
    labels = ["methylation_prob", "unmethylation_prob"]
    ours_rows, kipoi_rows_ = kipoi_rows(ours, theirs, labels)
    rows_deviation = np.abs(ours_rows - kipoi_rows_).max()
    bed3 = tmp_path / "data/regions3.bed"  # kipoiseq reads a BED's 4th and later columns as float targets
    bed3.write_text("".join("\t".join(line.split("\t")[:3]) + "\n" for line in bed.read_text().splitlines()))
    kipoiseq = SeqIntervalDl(str(bed3), str(fasta), auto_resize_len=1001, alphabet_axis=0, dummy_axis=1,
                             ignore_targets=True).load_all()["inputs"]
    assert kipoiseq.shape == (12, 4, 1, 1001)
    reference_deviation = np.abs(ours_rows - reference.predict(kipoiseq, verbose=0)).max()
    print(f"CpGenie layout: max |seqzoo predict - kipoi predict| = {rows_deviation:.2e}, "
          f"max |seqzoo predict - tf-keras on kipoiseq SeqIntervalDl| = {reference_deviation:.2e}")
    assert rows_deviation < 1e-6 and reference_deviation < TOLERANCE


# --- Keras 2 files of kipoi's Keras families, written by tf-keras ----------------------------

def basenji_layers():
    """tf-keras references of Basenji's custom layers, as kipoi/models' scbasset/custom_objects.py
    defines them (tf.keras there, tf_keras here), keyed by class name."""
    import tensorflow as tf
    import tf_keras as K2

    class GELU(K2.layers.Layer):
        def call(self, x):
            return K2.activations.sigmoid(tf.constant(1.702) * x) * x

    class StochasticReverseComplement(K2.layers.Layer):
        def call(self, seq_1hot, training=None):
            if training:
                raise AssertionError("only inference is compared")
            return seq_1hot, tf.constant(False)

    class SwitchReverse(K2.layers.Layer):
        def call(self, x_reverse):
            x, reverse = x_reverse
            rev_axes = [1] if len(x.shape) == 3 else [1, 2]
            return K2.backend.switch(reverse, tf.reverse(x, axis=rev_axes), x)

    class StochasticShift(K2.layers.Layer):
        def __init__(self, shift_max=0, pad="uniform", **kwargs):
            super().__init__()
            self.shift_max, self.pad = shift_max, pad

        def call(self, seq_1hot, training=None):
            return seq_1hot

        def get_config(self):
            return {**super().get_config(), "shift_max": self.shift_max, "pad": self.pad}

    return {c.__name__: c for c in (GELU, StochasticReverseComplement, SwitchReverse, StochasticShift)}


def test_basenji_layers_match_their_tf_keras_definitions():
    """seqzoo's GELU, StochasticReverseComplement, StochasticShift and SwitchReverse (reversed or not,
    3-D and 4-D) against the tf-keras definitions kipoi/models ships for scbasset."""
    import tensorflow as tf

    from seqzoo.architectures import layers

    theirs = basenji_layers()
    x = np.random.default_rng(17).normal(0, 2, (5, 12, 4)).astype(np.float32)
    assert np.abs(np.asarray(layers.GELU()(x)) - theirs["GELU"]()(x).numpy()).max() < 1e-6
    ours_x, ours_rev = layers.StochasticReverseComplement()(x)
    their_x, their_rev = theirs["StochasticReverseComplement"]()(x)
    assert np.array_equal(np.asarray(ours_x), their_x.numpy()) and not bool(ours_rev) and not bool(their_rev)
    assert np.array_equal(np.asarray(layers.StochasticShift(shift_max=3)(x)), x)
    for value in (x, x.reshape(5, 6, 2, 4)):
        for flag in (False, True):
            ours = np.asarray(layers.SwitchReverse()([value, np.array(flag)]))
            expected = theirs["SwitchReverse"]()([tf.constant(value), tf.constant(flag)]).numpy()
            assert np.array_equal(ours, expected)
    assert not np.array_equal(np.asarray(layers.SwitchReverse()([x, np.array(True)])), x)


def deepstarr_like():
    """DeepSTARR's shape (de Almeida et al. 2022): four convolution blocks with batch norm, two dense
    layers, two one-unit heads (developmental, housekeeping)."""
    import tf_keras as K2

    seq = K2.Input((249, 4), name="seq")
    h = seq
    for i, (filters, width) in enumerate([(32, 7), (16, 3), (16, 5), (16, 3)]):
        h = K2.layers.Conv1D(filters, width, padding="same", name=f"conv{i}")(h)
        h = K2.layers.BatchNormalization(name=f"bn{i}")(h)
        h = K2.layers.Activation("relu", name=f"relu{i}")(h)
        h = K2.layers.MaxPooling1D(2, name=f"pool{i}")(h)
    h = K2.layers.Flatten(name="flat")(h)
    for i in range(2):
        h = K2.layers.Dense(32, name=f"dense{i}")(h)
        h = K2.layers.BatchNormalization(name=f"dense_bn{i}")(h)
        h = K2.layers.Dropout(0.4, name=f"drop{i}")(K2.layers.Activation("relu", name=f"dense_relu{i}")(h))
    heads = [K2.layers.Dense(1, name=name)(h) for name in ("Dense_Dev", "Dense_Hk")]
    return K2.Model(seq, heads, name="deepstarr_like")


def factornet_like():
    """FactorNet's shape (Quang & Xie 2019): convolution, max-pool, bidirectional LSTM, dense."""
    import tf_keras as K2

    seq = K2.Input((200, 4), name="seq")
    h = K2.layers.Conv1D(16, 26, activation="relu", name="conv")(seq)
    h = K2.layers.MaxPooling1D(13, name="pool")(h)
    h = K2.layers.Bidirectional(K2.layers.LSTM(8, return_sequences=True), name="bilstm")(h)
    h = K2.layers.Dense(16, activation="relu", name="hidden")(K2.layers.Flatten(name="flat")(h))
    return K2.Model(seq, K2.layers.Dense(1, activation="sigmoid", name="out")(h), name="factornet_like")


def deepflybrain_like():
    """DeepFlyBrain's shape (Janssens et al. 2022; DeepMEL and DeepLiver share it): convolution,
    max-pool, dropout, TimeDistributed(Dense), bidirectional LSTM, flatten, dense, sigmoid topics."""
    import tf_keras as K2

    seq = K2.Input((500, 4), name="seq")
    h = K2.layers.Conv1D(16, 24, activation="relu", name="conv")(seq)
    h = K2.layers.Dropout(0.5, name="drop1")(K2.layers.MaxPooling1D(12, name="pool")(h))
    h = K2.layers.TimeDistributed(K2.layers.Dense(8, activation="relu", name="td_dense"), name="td")(h)
    h = K2.layers.Bidirectional(K2.layers.LSTM(8, return_sequences=True), name="bilstm")(h)
    h = K2.layers.Dense(16, activation="relu", name="hidden")(K2.layers.Flatten(name="flat")(h))
    return K2.Model(seq, K2.layers.Dense(3, activation="sigmoid", name="topics")(h), name="deepflybrain_like")


def basenji_like():
    """A Basenji-style network: stochastic reverse complement and shift, a GELU stem, a dilated
    residual tower, cropping, a per-position head switched back, flattened."""
    import tf_keras as K2

    custom = basenji_layers()
    seq = K2.Input((256, 4), name="sequence")
    h, reverse = custom["StochasticReverseComplement"](name="src")(seq)
    h = custom["StochasticShift"](3, name="shift")(h)
    h = K2.layers.Conv1D(16, 15, padding="same", use_bias=False, name="stem")(custom["GELU"](name="gelu_stem")(h))
    h = K2.layers.MaxPooling1D(4, name="stem_pool")(K2.layers.BatchNormalization(name="stem_bn")(h))
    for rate in (1, 2, 4, 8):
        r = K2.layers.Conv1D(8, 3, dilation_rate=rate, padding="same", use_bias=False,
                             name=f"dil{rate}")(custom["GELU"](name=f"gelu_a{rate}")(h))
        r = K2.layers.BatchNormalization(name=f"dil{rate}_bn")(r)
        r = K2.layers.Conv1D(16, 1, use_bias=False, name=f"dil{rate}_mix")(custom["GELU"](name=f"gelu_b{rate}")(r))
        r = K2.layers.Dropout(0.3, name=f"dil{rate}_drop")(K2.layers.BatchNormalization(name=f"dil{rate}_bn2")(r))
        h = K2.layers.Add(name=f"residual{rate}")([h, r])
    h = K2.layers.Cropping1D(8, name="crop")(h)
    h = K2.layers.Dense(3, activation="softplus", name="head")(custom["GELU"](name="gelu_head")(h))
    out = K2.layers.Flatten(name="flat")(custom["SwitchReverse"](name="switch")([h, reverse]))
    return K2.Model(seq, out, name="basenji_like")


def scbasset_real():
    """scBasset's real architecture, kipoi/models' scbasset/model.json (tf.keras 2.8), read by tf-keras."""
    import tf_keras as K2

    text = (MODELS / "scbasset/model.json").read_text()
    return K2.models.model_from_json(text, custom_objects=basenji_layers())


FAMILIES = {  # name: (builder, SeqIntervalDl default_args as kipoi/models gives them, output columns)
    "DeepBind": (deepbind_like, {"auto_resize_len": 101}, 1),
    "DeepSTARR": (deepstarr_like, {"auto_resize_len": 249, "alphabet": "ACGT", "ignore_targets": False}, 2),
    "FactorNet": (factornet_like, {"auto_resize_len": 200}, 1),
    "DeepFlyBrain": (deepflybrain_like, {"auto_resize_len": 500}, 3),  # its own dataloader gives (500, 4)
    "Basenji": (basenji_like, {"auto_resize_len": 256}, 3 * 48),
    "scBasset": (scbasset_real, {"alphabet_axis": 1, "auto_resize_len": 1344, "dtype": "np.float32"}, 2034),
}


# pwm_HOCOMOCO (networks of any length) and DeepMEL (a strand pair): kipoi/models' own descriptions,
# whose files are downloads served here from $SEQZOO_MIRROR under the names their URLs give
PWM_ROW, PWM_SEQ_LEN = "human/CTCF", 100


def pwm_hocomoco_like(width: int = 19, seed: int = 30):
    """pwm_HOCOMOCO's network as kipoi/models' pwm_HOCOMOCO/export-pwms.ipynb builds it: a Sequential of
    one Conv1D filter named conv1 holding a PWM's log-odds (relu, input (None, 4): any length), then
    GlobalMaxPooling1D; here the PWM is random (rows summing to 1, pseudocount 0.001 as concise's)."""
    import tf_keras as K2

    pwm = np.random.default_rng(seed).dirichlet(np.full(4, 0.5), width)
    pssm = np.log2((pwm + 0.001) / 0.25)  # log-odds against a uniform background
    model = K2.Sequential([K2.layers.Conv1D(1, width, activation="relu", kernel_initializer="zeros",
                                            bias_initializer="zeros", input_shape=(None, 4), name="conv1"),
                           K2.layers.GlobalMaxPooling1D()])
    model.layers[0].set_weights([pssm[:, :, None].astype(np.float32), np.zeros(1, np.float32)])
    return model


def pwm_hocomoco_source(directory: Path, mirror: Path):
    """kipoi/models' pwm_HOCOMOCO group (its template, its models.tsv row PWM_ROW with the md5 of a
    whole-model HDF5 written here by tf-keras, as export-pwms.ipynb's model.save); returns (group, network)."""
    reference = pwm_hocomoco_like()
    mirror.mkdir(parents=True, exist_ok=True)
    weights = mirror / f"{PWM_ROW.replace('/', '-')}.h5"  # the file name of the row's zenodo URL
    reference.save(str(weights))
    directory.mkdir(parents=True)
    shutil.copyfile(MODELS / "pwm_HOCOMOCO/model-template.yaml", directory / "model-template.yaml")
    header, *rows = (MODELS / "pwm_HOCOMOCO/models.tsv").read_text().splitlines()
    cells = next(r for r in rows if r.startswith(f"{PWM_ROW}\t")).split("\t")
    cells[header.split("\t").index("args_weights_md5")] = file_md5(weights)
    (directory / "models.tsv").write_text(header + "\n" + "\t".join(cells) + "\n")
    return directory, reference


def deepmel_like():
    """DeepMEL's shape (Minnoye et al. 2020; kipoi/models DeepMEL/DeepMEL/model.yaml: inputs (500, 4) and
    its reverse complement, 24 topics): convolution, max-pool, dropout, TimeDistributed(Dense) and
    bidirectional LSTM shared by both strands, the strands concatenated, dense, sigmoid topics."""
    import tf_keras as K2

    forward, reverse = K2.Input((500, 4), name="input_1"), K2.Input((500, 4), name="input_2")
    shared = [K2.layers.Conv1D(16, 20, activation="relu", name="conv1d_1"), K2.layers.MaxPooling1D(10, name="pool"),
              K2.layers.Dropout(0.5, name="drop"),
              K2.layers.TimeDistributed(K2.layers.Dense(8, activation="relu"), name="td"),
              K2.layers.Bidirectional(K2.layers.LSTM(8, return_sequences=True), name="bilstm"),
              K2.layers.Flatten(name="flat")]

    def strand(x):
        for layer in shared:
            x = layer(x)
        return x

    h = K2.layers.Concatenate(name="strands")([strand(forward), strand(reverse)])
    h = K2.layers.Dense(16, activation="relu", name="hidden")(h)
    return K2.Model([forward, reverse], K2.layers.Dense(24, activation="sigmoid", name="topics")(h), name="deepmel_like")


def kipoi_models_dir(directory: Path, family: str, mirror: Path, reference) -> Path:
    """kipoi/models' ``family`` directory (tests/data/kipoi_models) whose arch and weights downloads are
    ``reference``'s tf-keras JSON and weights, put in ``mirror`` under their URLs' file names; the
    md5s in model.yaml are theirs (in the same spelling, 'md5:' or not)."""
    source = Path(shutil.copytree(MODELS / family, directory))
    text = (source / "model.yaml").read_text()
    mirror.mkdir(parents=True, exist_ok=True)
    for key in ("arch", "weights"):
        url, md5 = re.search(rf"  {key}:\n +url: (\S+)\n +md5: (?:md5:)?([0-9a-f]{{32}})", text).groups()
        path = mirror / Path(url.split("?")[0]).name
        path.write_text(reference.to_json()) if key == "arch" else reference.save_weights(str(path))
        text = text.replace(md5, file_md5(path))
    (source / "model.yaml").write_text(text)
    return source


def family_source(family: str, directory: Path):
    """A kipoi directory holding ``family``'s tf-keras network with random weights (Keras 2 JSON +
    weights HDF5) and kipoi/models' dataloader arguments; returns (directory, the tf-keras network)."""
    build, args, n_out = FAMILIES[family]
    reference = randomised(build(), seed=18)
    labels = [f"t{i}" for i in range(n_out)] if family != "DeepSTARR" else None
    source = kipoi_keras_dir(directory, reference, args, labels or [])
    text = (source / "model.yaml").read_text()
    if labels is None:  # DeepSTARR: no column_labels, and (as DeepCpG_DNA's) one target entry per head
        text = re.sub(r"  targets:\n(    .*\n)+", "  targets:\n  - {name: dev, shape: (1, )}\n  - {name: hk, shape: (1, )}\n",
                      text)
    if family == "scBasset":  # as kipoi/models' scbasset/model.yaml: a one-item list naming a file of labels
        (source / "cells.csv").write_text("".join(f"t{i}\n" for i in range(n_out)))
        text = text[:text.index("    column_labels:")] + "    column_labels:\n    - cells.csv\n" + \
            text[text.index("    name: y"):]
    (source / "model.yaml").write_text(text)
    return source, reference


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """``imported(name)``: (seqzoo directory, tf-keras network or None) of one kipoi model, imported
    once per test module (and pytest-xdist worker) and shared by the tests that read it."""
    made = {}

    def get(name: str):
        if name not in made:
            root = tmp_path_factory.mktemp(name)
            reference = None
            if name == "tal1_model":
                source = EXAMPLES / "tal1_model"
            elif name == "Keras1-DanQ-GRU":
                keras1_danq_gru(root / "kipoi")
                write_kipoi_yaml(root / "kipoi", (101, 4), "DanQ-shaped Keras 1.2.2 network, random weights",
                                 {"auto_resize_len": 101}, ["t0", "t1"])
                source = root / "kipoi"
            elif name == "Keras1-CpGenie-th-Conv2D":
                keras1_cpgenie(root / "kipoi")
                source = root / "kipoi"
            elif name in ("pwm_HOCOMOCO", "DeepMEL"):
                with pytest.MonkeyPatch.context() as env:  # downloads served from a mirror, cached in root
                    env.setenv("SEQZOO_MIRROR", str(root / "mirror"))
                    env.setenv("SEQZOO_CACHE", str(root / "cache"))
                    if name == "pwm_HOCOMOCO":
                        source, reference = pwm_hocomoco_source(root / "kipoi", root / "mirror")
                        made[name] = import_kipoi(source, root / "out", row=PWM_ROW, seq_len=PWM_SEQ_LEN), reference
                    else:
                        reference = randomised(deepmel_like(), seed=33)
                        source = kipoi_models_dir(root / "kipoi", "DeepMEL/DeepMEL", root / "mirror", reference)
                        made[name] = import_kipoi(source, root / "out"), reference
                return made[name]
            else:
                source, reference = family_source(name, root / "kipoi")
            made[name] = import_kipoi(source, root / "out"), reference
        return made[name]

    return get


@pytest.mark.parametrize("family", ["DeepBind", "DeepSTARR", "FactorNet", "DeepFlyBrain",
                                    pytest.param("Basenji", marks=pytest.mark.slow),
                                    pytest.param("scBasset", marks=pytest.mark.slow)])
def test_keras2_files_of_kipois_families_import_and_match_tf_keras(family, imported):
    """Each family's network, random weights, saved by tf-keras (Keras 2 JSON + weights HDF5) in a kipoi
    directory: imported, equal to tf-keras's predictions within 1e-5 on 200 random sequences (kipoi
    test, seqzoo check and kipoi predict on the directory: the test after this one)."""
    from seqzoo.runtime import get_model

    out, reference = imported(family)
    n_out, length = FAMILIES[family][2], FAMILIES[family][1]["auto_resize_len"]
    x = one_hot(200, length, seed=19)
    expected = reference.predict(x, verbose=0)
    expected = np.concatenate(expected, axis=1) if isinstance(expected, list) else expected
    model = get_model(out, device="cpu")
    if family == "DeepSTARR":
        assert model.labels == ("dev", "hk")
    if family == "scBasset":
        assert model.labels[:2] == ("t0", "t1") and len(model.labels) == 2034
    deviation = np.abs(model.predict_on_batch(x) - expected).max()
    print(f"{family}: max |seqzoo - tf-keras| on 200 sequences = {deviation:.2e} (output std {expected.std():.2e})")
    assert expected.shape == (200, n_out) and expected.std() > 1e-3
    assert deviation < TOLERANCE


def kipoi_predict(directory: Path, fasta: Path, bed: Path, output: Path) -> None:
    """kipoi's own `kipoi predict DIR --source dir --keep_metadata` (its cli_predict, in this process)."""
    from kipoi.cli.main import cli_predict

    cli_predict("predict", [str(directory), "--source", "dir", "--keep_metadata", "--dataloader_args",
                            json.dumps({"intervals_file": str(bed), "fasta_file": str(fasta)}), "-o", str(output)])


def kipoi_rows(ours: Path, theirs: Path, labels) -> tuple[np.ndarray, np.ndarray]:
    """The predictions of `seqzoo predict`'s TSV and of `kipoi predict`'s, after checking both hold the
    same intervals (chromosome, start, end, name, strand) in the same order."""
    import pandas as pd

    ours_table, kipoi_table = pd.read_csv(ours, sep="\t"), pd.read_csv(theirs, sep="\t")
    assert len(ours_table) == len(kipoi_table) > 0
    for column, kipoi_column in (("chrom", "chr"), ("start", "start"), ("end", "end"), ("name", "id"),
                                 ("strand", "strand")):
        assert list(ours_table[column]) == list(kipoi_table[f"metadata/ranges/{kipoi_column}"]), column
    kipoi_columns = [f"preds/{i}" for i in range(len(labels))]  # kipoi sorts its columns by name: select them
    return ours_table[list(labels)].to_numpy(), kipoi_table[kipoi_columns].to_numpy()


def test_a_length_free_pwm_hocomoco_row_is_served_at_the_chosen_length_and_matches_tf_keras(imported):
    """kipoi/models' pwm_HOCOMOCO template and a row of its models.tsv, the weights a whole-model HDF5
    of its network (Conv1D of the PWM's log-odds, input (None, 4), global max-pool) written by tf-keras:
    imported with seq_len, it reads (seq_len, 4), the card says the length was chosen, and it equals
    tf-keras's predictions on 200 sequences of that length within 1e-5."""
    from seqzoo.runtime import get_model

    out, reference = imported("pwm_HOCOMOCO")
    assert reference.input_shape == (None, None, 4) and load_spec(out).input_shape == (PWM_SEQ_LEN, 4)
    card = (out / "README.md").read_text()
    assert f"Window length: {PWM_SEQ_LEN}, chosen at import (`--seq-len {PWM_SEQ_LEN}`)" in card
    assert f"seq_len={PWM_SEQ_LEN}" in card and "Kulakovskiy" in card and "human-CTCF.h5" in card
    x = one_hot(200, PWM_SEQ_LEN, seed=31)
    expected = reference.predict(x, verbose=0)
    model = get_model(out, device="cpu")
    assert model.labels == ("pwm_match",)
    deviation = np.abs(model.predict_on_batch(x) - expected).max()
    print(f"pwm_HOCOMOCO: max |seqzoo - tf-keras| on 200 sequences of {PWM_SEQ_LEN} = {deviation:.2e} "
          f"(output std {expected.std():.2e})")
    assert expected.shape == (200, 1) and expected.std() > 1e-3 and deviation < TOLERANCE


def test_seq_len_is_asked_for_when_the_model_reads_any_length_and_refused_when_it_fixes_another(tmp_path, monkeypatch):
    """A pwm_HOCOMOCO row imported without seq_len: refused, telling the user to give --seq-len; the
    command with --seq-len 150: a directory reading (150, 4). A model with a fixed length (tal1_model, 500; a
    SeqIntervalDl auto_resize_len) refuses another seq_len, naming both."""
    source, _ = pwm_hocomoco_source(tmp_path / "pwm", tmp_path / "mirror")
    monkeypatch.setenv("SEQZOO_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    with pytest.raises(KipoiImportError, match=r"reads sequences of any length \(input \(None, 4\)\) .*give the "
                                               r"window length to serve it at with --seq-len N"):
        import_kipoi(source, tmp_path / "none", row=PWM_ROW)
    assert not (tmp_path / "none").exists()
    from seqzoo.cli import main  # the command's parser and handler, in this process (TensorFlow loaded once)

    assert main(["import-kipoi", str(source), "--row", PWM_ROW, "--seq-len", "150", "-o", str(tmp_path / "out")]) == 0
    assert load_spec(tmp_path / "out").input_shape == (150, 4)
    assert "--seq-len 150" in (tmp_path / "out/README.md").read_text()
    with pytest.raises(KipoiImportError, match=r"--seq-len 300, but the network reads sequences of 500; leave"):
        import_kipoi(EXAMPLES / "tal1_model", tmp_path / "tal1", seq_len=300)
    any_length = kipoi_keras_dir(tmp_path / "resized", pwm_hocomoco_like(), {"auto_resize_len": 101}, ["s"])
    with pytest.raises(KipoiImportError, match=r"--seq-len 50, but its dataloader .*auto_resize_len\) reads "
                                               r"sequences of 101"):
        import_kipoi(any_length, tmp_path / "resized_out", seq_len=50)
    assert load_spec(import_kipoi(any_length, tmp_path / "resized_out", seq_len=101)).input_shape == (101, 4)
    assert not (tmp_path / "tal1").exists()


def test_deepmels_two_strands_become_one_dna_input_and_match_tf_keras_fed_both_strands(imported):
    """kipoi/models' DeepMEL/DeepMEL model.yaml (inputs (500, 4) and its reverse complement; md5s spelt
    'md5:...'), its files a DeepMEL-shaped two-input tf-keras network: imported as one model reading
    one (500, 4) input whose reverse complement is computed inside it, equal within 1e-5 to tf-keras fed
    the forward strand and kipoi's dataloader's reverse strand (seq_onehot[::-1, ::-1])."""
    from seqzoo.runtime import get_model

    out, reference = imported("DeepMEL")
    model = get_model(out, device="cpu")
    assert len(model.keras_model.inputs) == 1 and load_spec(out).input_shape == (500, 4)
    assert "`input_1` and `input_2`" in (out / "README.md").read_text()
    x = one_hot(200, 500, seed=32)
    expected = reference.predict([x, x[:, ::-1, ::-1]], verbose=0)
    deviation = np.abs(model.predict_on_batch(x) - expected).max()
    print(f"DeepMEL: max |seqzoo - tf-keras fed both strands| on 200 sequences = {deviation:.2e} "
          f"(output std {expected.std():.2e})")
    assert expected.shape == (200, 24) and expected.std() > 1e-3 and deviation < TOLERANCE
    assert np.abs(reference.predict([x, x], verbose=0) - expected).max() > 1e-3  # the second strand matters


def test_a_strand_pair_with_signal_channels_is_refused_with_the_reason(tmp_path, monkeypatch):
    """kipoi/models' FactorNet FOXA1/onePeak_DGF model.yaml: its two inputs are one interval's strands,
    but (1002, 5): one-hot DNA plus a DNase track, which seqzoo cannot compute; refused saying so."""
    import tf_keras as K2

    monkeypatch.setenv("SEQZOO_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    strands = [K2.Input((1002, 5), name="seq"), K2.Input((1002, 5), name="seq_rc")]
    conv, pool = K2.layers.Conv1D(4, 26, name="conv"), K2.layers.GlobalMaxPooling1D(name="pool")
    h = K2.layers.Concatenate(name="both")([pool(conv(x)) for x in strands])
    reference = K2.Model(strands, K2.layers.Dense(1, activation="sigmoid", name="out")(h))
    source = kipoi_models_dir(tmp_path / "FactorNet", "FactorNet/FOXA1/onePeak_DGF", tmp_path / "mirror", reference)
    with pytest.raises(KipoiImportError, match=r"reads a strand pair \(seq \(1002, 5\).* of 5 channels: one-hot DNA "
                                               r"and 1 other channel\(s\) \(signal tracks\)"):
        import_kipoi(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


IMPORTED_DNA = ["tal1_model", "DeepBind", "DeepSTARR", "FactorNet", "DeepFlyBrain", "pwm_HOCOMOCO", "DeepMEL",
                pytest.param("Basenji", marks=pytest.mark.slow), pytest.param("scBasset", marks=pytest.mark.slow),
                "Keras1-DanQ-GRU", "Keras1-CpGenie-th-Conv2D"]


@pytest.mark.kipoi
@pytest.mark.parametrize("name", IMPORTED_DNA)
def test_each_imported_directory_passes_kipoi_test_and_seqzoo_check_and_predicts_kipoi_predicts_rows(
        name, imported, tmp_path, kipoi_dir_env, caplog):
    """Every imported kipoi model that reads DNA intervals: kipoi's own `kipoi test` (cli_test, against
    test.expect.h5) and `seqzoo check` pass on the directory, and a `seqzoo predict` process gives
    the rows the real `kipoi predict` gives on the same BED and FASTA."""
    import logging

    from kipoi.cli.main import cli_test

    from seqzoo.packaging import check_model_dir

    out, _ = imported(name)
    spec = load_spec(out)
    with caplog.at_level(logging.INFO):
        cli_test("test", [str(out), "--source", "dir", "-e", str(out / "test.expect.h5")])  # exits 1 on a mismatch
    assert "All predictions match" in caplog.text
    assert check_model_dir(out) == []
    fasta, bed = write_genome(tmp_path / "data", spec.input_shape[0], 12, seed=20)
    ours, theirs = tmp_path / "seqzoo.tsv", tmp_path / "kipoi.tsv"
    result = seqzoo_cli("predict", out, "--fasta", fasta, "--bed", bed, "-o", ours, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    kipoi_predict(out, fasta, bed, theirs)
    seqzoo_rows, kipoi_rows_ = kipoi_rows(ours, theirs, spec.labels)
    print(f"{name}: kipoi test and seqzoo check pass; max |seqzoo predict - kipoi predict| = "
          f"{np.abs(seqzoo_rows - kipoi_rows_).max():.2e} (largest prediction {np.abs(kipoi_rows_).max():.2e})")
    np.testing.assert_allclose(seqzoo_rows, kipoi_rows_, rtol=1e-5, atol=1e-7)  # seqzoo's TSV: 6 digits


# --- more families: cuDNN recurrent layers, Keras 1 GRU, TimeDistributed, th convolutions, Merge ------

def test_cudnn_lstm_and_gru_files_written_by_tf_keras_match_tf_keras_own_conversion(tmp_path):
    """Genuine Keras 2 files with CuDNNLSTM (inside Bidirectional, as a GPU-trained FactorNet or DanQ)
    and CuDNNGRU, written by tf-keras (which cannot run them without a GPU): seqzoo's LSTM and
    GRU(reset_after=True) give what tf-keras gives after loading the same weights file into its own
    LSTM / GRU (its HDF5 loader's cuDNN conversion), within 1e-5 on 200 sequences."""
    import tf_keras as K2
    from tf_keras.src.layers.rnn.cudnn_gru import CuDNNGRU
    from tf_keras.src.layers.rnn.cudnn_lstm import CuDNNLSTM

    def network(lstm, gru):
        seq = K2.Input((40, 4), name="seq")
        h = K2.layers.Conv1D(8, 5, activation="relu", name="conv")(seq)
        h = K2.layers.Bidirectional(lstm(6, return_sequences=True, name="lstm"), name="bilstm")(h)
        h = gru(5, name="gru")(h)
        return K2.Model(seq, K2.layers.Dense(2, name="out")(h), name="danq_like")

    cudnn = randomised(network(CuDNNLSTM, CuDNNGRU), seed=21)
    (tmp_path / "arch.json").write_text(cudnn.to_json())
    cudnn.save_weights(str(tmp_path / "weights.h5"))
    arch = json.loads((tmp_path / "arch.json").read_text())
    assert {"CuDNNLSTM", "CuDNNGRU"} <= set(re.findall(r'"class_name": "(\w+)"', json.dumps(arch)))
    with h5py.File(tmp_path / "weights.h5", "r") as f:
        assert f["gru/gru/bias:0"].shape == (30,) and f["bilstm/bilstm/forward_lstm/bias:0"].shape == (48,)
    reference = network(lambda *a, **k: K2.layers.LSTM(*a, recurrent_activation="sigmoid", **k),
                        lambda *a, **k: K2.layers.GRU(*a, reset_after=True, recurrent_activation="sigmoid", **k))
    reference.load_weights(str(tmp_path / "weights.h5"))  # tf-keras converts the cuDNN weights
    x = one_hot(200, 40, seed=22)
    expected = reference.predict(x, verbose=0)
    model = converted(tmp_path / "arch.json", tmp_path / "weights.h5")
    assert [type(layer).__name__ for layer in (model.get_layer("bilstm").forward_layer, model.get_layer("gru"))] \
        == ["LSTM", "GRU"]
    deviation = np.abs(np.asarray(model.predict_on_batch(x)) - expected).max()
    print(f"CuDNNLSTM/CuDNNGRU: max |seqzoo - tf-keras| = {deviation:.2e} (output std {expected.std():.2e})")
    assert expected.std() > 1e-3 and deviation < TOLERANCE


# Keras 1.2.2 files, hand-written in its formats (there is no installable Keras 1): a configuration as its
# get_config writes it (training-only keys included), weights as its save_weights lays them out (one
# group per layer, weightless layers included, datasets named `<layer>_W:0`; Convolution1D kernels 4-D,
# th-ordered Convolution2D kernels (filters, channels, rows, cols), a GRU's gates apart unless
# consume_less='gpu'), as kipoi/kipoi's extended_coda example shows them.
KERAS1_DEFAULTS = {
    "Convolution1D": dict(init="glorot_uniform", activation="linear", border_mode="valid", subsample_length=1,
                          W_regularizer=None, b_regularizer=None, activity_regularizer=None, W_constraint=None,
                          b_constraint=None, bias=True, input_dim=None, input_length=None),
    "Convolution2D": dict(init="glorot_uniform", activation="linear", border_mode="valid", subsample=[1, 1],
                          dim_ordering="th", W_regularizer=None, b_regularizer=None, activity_regularizer=None,
                          W_constraint=None, b_constraint=None, bias=True),
    "MaxPooling1D": dict(stride=None, border_mode="valid"),
    "MaxPooling2D": dict(border_mode="valid", strides=None, dim_ordering="th"),
    "GRU": dict(init="glorot_uniform", inner_init="orthogonal", activation="tanh", inner_activation="hard_sigmoid",
                W_regularizer=None, U_regularizer=None, b_regularizer=None, dropout_W=0.0, dropout_U=0.0,
                return_sequences=False, go_backwards=False, stateful=False, unroll=False, consume_less="cpu",
                input_dim=None, input_length=None),
    "Dense": dict(init="glorot_uniform", activation="linear", W_regularizer=None, b_regularizer=None,
                  activity_regularizer=None, W_constraint=None, b_constraint=None, bias=True, input_dim=None),
    "Flatten": {}, "Dropout": {"p": 0.5}, "TimeDistributed": {},
}


def keras1_layer(class_name: str, name: str, **config) -> dict:
    return {"class_name": class_name, "config": {"name": name, "trainable": True, **KERAS1_DEFAULTS[class_name],
                                                 **config}}


def write_keras1(directory: Path, config: dict, weights: dict[str, list[tuple[str, np.ndarray]]]) -> None:
    """``model_files/arch.json`` (``config`` with keras_version 1.2.2) and ``model_files/weights.h5``:
    ``weights`` maps every layer name, in order, to its [(weight name, array)]."""
    (directory / "model_files").mkdir(parents=True, exist_ok=True)
    (directory / "model_files/arch.json").write_text(json.dumps({**config, "keras_version": "1.2.2"}, indent=4))
    with h5py.File(directory / "model_files/weights.h5", "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in weights], dtype=f"S{max(map(len, weights))}")
        for layer, items in weights.items():
            group = f.create_group(layer)
            group.attrs["weight_names"] = np.array([n.encode() for n, _ in items], dtype="S32")
            for n, value in items:
                group[n] = value.astype(np.float32)


def hard_sigmoid(x):
    return np.clip(0.2 * x + 0.5, 0, 1)  # Keras 1's


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def keras1_gru(x: np.ndarray, w: dict, return_sequences: bool) -> np.ndarray:
    """Keras 1's GRU step: z, r = hard_sigmoid(x W + h U + b); hh = tanh(x W_h + (r h) U_h + b_h);
    h = z h + (1 - z) hh. ``w``: W_z, U_z, b_z, W_r, ... (float64)."""
    h = np.zeros((x.shape[0], w["U_z"].shape[0]))
    steps = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        z = hard_sigmoid(xt @ w["W_z"] + h @ w["U_z"] + w["b_z"])
        r = hard_sigmoid(xt @ w["W_r"] + h @ w["U_r"] + w["b_r"])
        h = z * h + (1 - z) * np.tanh(xt @ w["W_h"] + (r * h) @ w["U_h"] + w["b_h"])
        steps.append(h)
    return np.stack(steps, axis=1) if return_sequences else h


def keras1_danq_gru(directory: Path, consume_less: str = "cpu", seed: int = 23) -> dict:
    """A Keras 1.2.2 Sequential shaped like kipoi's DanQ-style models, reading (101, 4): Convolution1D,
    MaxPooling1D, GRU (all steps), TimeDistributed(Dense), Flatten, Dense; written to ``directory``.
    Returns the weights (float64) its NumPy forward pass reads."""
    rng = np.random.default_rng(seed)
    w = {"conv_W": rng.normal(0, 1 / 6, (9, 1, 4, 8)), "conv_b": rng.normal(0, 0.2, 8),
         **{f"{role}_{g}": rng.normal(0, 0.4, shape) for g in "zrh"
            for role, shape in (("W", (8, 6)), ("U", (6, 6)), ("b", (6,)))},
         "td_W": rng.normal(0, 0.4, (6, 3)), "td_b": rng.normal(0, 0.2, 3),
         "out_W": rng.normal(0, 0.2, (23 * 3, 2)), "out_b": rng.normal(0, 0.2, 2)}
    layers = [keras1_layer("Convolution1D", "convolution1d_1", nb_filter=8, filter_length=9, activation="relu",
                           batch_input_shape=[None, 101, 4], input_dtype="float32"),
              keras1_layer("MaxPooling1D", "maxpooling1d_1", pool_length=4),
              keras1_layer("GRU", "gru_1", output_dim=6, return_sequences=True, consume_less=consume_less),
              keras1_layer("TimeDistributed", "timedistributed_1",
                           layer=keras1_layer("Dense", "dense_1", output_dim=3, activation="relu")),
              keras1_layer("Flatten", "flatten_1"),
              keras1_layer("Dense", "dense_2", output_dim=2, activation="sigmoid")]
    if consume_less == "gpu":  # one matrix for the three gates, in z, r, h order
        gru = [(f"gru_1_{role}:0", np.concatenate([w[f"{role}_{g}"] for g in "zrh"], axis=-1)) for role in "WUb"]
    else:
        gru = [(f"gru_1_{role}_{g}:0", w[f"{role}_{g}"]) for g in "zrh" for role in "WUb"]
    write_keras1(directory, {"class_name": "Sequential", "config": layers}, {
        "convolution1d_1": [("convolution1d_1_W:0", w["conv_W"]), ("convolution1d_1_b:0", w["conv_b"])],
        "maxpooling1d_1": [], "gru_1": gru,
        "timedistributed_1": [("dense_1_W:0", w["td_W"]), ("dense_1_b:0", w["td_b"])],
        "flatten_1": [], "dense_2": [("dense_2_W:0", w["out_W"]), ("dense_2_b:0", w["out_b"])]})
    return w


def keras1_danq_gru_numpy(x: np.ndarray, w: dict) -> np.ndarray:
    h = relu(conv1d(x.astype(np.float64), w["conv_W"][:, 0], w["conv_b"], "valid"))
    h = h[:, : h.shape[1] // 4 * 4].reshape(len(x), -1, 4, h.shape[-1]).max(axis=2)
    h = relu(keras1_gru(h, {k[:3]: v for k, v in w.items() if k[:2] in ("W_", "U_", "b_")}, True) @ w["td_W"]
             + w["td_b"])
    return sigmoid(h.reshape(len(x), -1) @ w["out_W"] + w["out_b"])


@pytest.mark.parametrize("consume_less", ["cpu", "gpu"])
def test_keras1_gru_and_time_distributed_dense_match_a_numpy_forward_pass(consume_less, tmp_path):
    """A Keras 1.2.2 GRU stored gate by gate (consume_less 'cpu', Keras 1's default) or fused ('gpu'),
    hard_sigmoid gates, then TimeDistributed(Dense): equal to Keras 1's equations in NumPy."""
    w = keras1_danq_gru(tmp_path, consume_less)
    x = one_hot(200, 101, seed=24)
    model = converted(tmp_path / "model_files/arch.json", tmp_path / "model_files/weights.h5")
    assert type(model.get_layer("timedistributed_1")).__name__ == "TimeDistributed"
    expected = keras1_danq_gru_numpy(x, w)
    deviation = np.abs(np.asarray(model.predict_on_batch(x)) - expected).max()
    print(f"Keras 1 GRU ({consume_less}) + TimeDistributed: max |seqzoo - NumPy| = {deviation:.2e} "
          f"(output std {expected.std():.2e})")
    assert expected.std() > 1e-2 and deviation < TOLERANCE


def keras1_cpgenie(directory: Path, backend: str = "tensorflow", seed: int = 25) -> dict:
    """A Keras 1.2.2 Sequential shaped like CpGenie (kipoi/models CpGenie: Keras 1.2.2, kipoiseq's
    SeqIntervalDl with alphabet_axis 0 and dummy_axis 1, so (4, 1, L)): th-ordered Convolution2D and
    MaxPooling2D, Flatten, Dense, Dropout, a softmax Dense; a kipoi directory run under ``backend``.
    Returns the weights (float64) its NumPy forward pass reads."""
    rng = np.random.default_rng(seed)
    w = {"conv_W": rng.normal(0, 1 / 6, (8, 4, 1, 9)), "conv_b": rng.normal(0, 0.2, 8),
         "hidden_W": rng.normal(0, 1 / 13, (8 * 23, 16)), "hidden_b": rng.normal(0, 0.2, 16),
         "out_W": rng.normal(0, 0.5, (16, 2)), "out_b": rng.normal(0, 0.2, 2)}
    layers = [keras1_layer("Convolution2D", "convolution2d_1", nb_filter=8, nb_row=1, nb_col=9, activation="relu",
                           batch_input_shape=[None, 4, 1, 101], input_dtype="float32"),
              keras1_layer("MaxPooling2D", "maxpooling2d_1", pool_size=[1, 4], strides=[1, 4]),
              keras1_layer("Flatten", "flatten_1"),
              keras1_layer("Dense", "dense_1", output_dim=16, activation="relu"),
              keras1_layer("Dropout", "dropout_1"),
              keras1_layer("Dense", "dense_2", output_dim=2, activation="softmax")]
    write_keras1(directory, {"class_name": "Sequential", "config": layers}, {
        "convolution2d_1": [("convolution2d_1_W:0", w["conv_W"]), ("convolution2d_1_b:0", w["conv_b"])],
        "maxpooling2d_1": [], "flatten_1": [],
        "dense_1": [("dense_1_W:0", w["hidden_W"]), ("dense_1_b:0", w["hidden_b"])],
        "dropout_1": [], "dense_2": [("dense_2_W:0", w["out_W"]), ("dense_2_b:0", w["out_b"])]})
    write_kipoi_yaml(directory, (4, 1, 101), "CpGenie-shaped Keras 1.2.2 network, random weights",
                     {"auto_resize_len": 101, "alphabet_axis": 0, "dummy_axis": 1},
                     ["methylation_prob", "unmethylation_prob"], backend=backend)
    return w


def keras1_cpgenie_numpy(x: np.ndarray, w: dict, theano: bool) -> np.ndarray:
    """``x`` (N, L, 4) as kipoiseq gives it to CpGenie, (N, 4, 1, L); a th convolution as TensorFlow
    computes it (cross-correlation) or, with ``theano``, as Theano does (the kernel flipped)."""
    x = x.transpose(0, 2, 1)[:, :, None, :].astype(np.float64)
    kernel = w["conv_W"][:, :, ::-1, ::-1] if theano else w["conv_W"]  # (filters, channels, rows, cols)
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel.shape[2:], axis=(2, 3))  # (N, C, H', W', r, c)
    h = relu(np.einsum("nchwrs,fcrs->nfhw", windows, kernel) + w["conv_b"][:, None, None])
    h = h[..., : h.shape[-1] // 4 * 4].reshape(*h.shape[:3], -1, 4).max(axis=-1)  # MaxPooling2D((1, 4))
    h = relu(h.reshape(len(x), -1) @ w["hidden_W"] + w["hidden_b"])  # Keras 1 flattens (C, H, W) as it is
    logits = h @ w["out_W"] + w["out_b"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("backend", ["tensorflow", "theano"])
def test_a_keras1_th_ordered_convolution2d_model_imports_as_kipoi_runs_it_under_its_backend(backend, tmp_path):
    """CpGenie's shape in Keras 1.2.2 files (th Convolution2D kernels (filters, channels, rows, cols),
    no backend recorded): imported from a kipoi directory whose args.backend is TensorFlow (kernels
    cross-correlate) or Theano (they convolve: flipped), equal to that computation in NumPy on the
    (4, 1, L) array kipoiseq's SeqIntervalDl gives; seqzoo's directory reads (L, 4)."""
    from seqzoo.runtime import get_model

    w = keras1_cpgenie(tmp_path / "kipoi", backend)
    out = import_kipoi(tmp_path / "kipoi", tmp_path / "out")
    x = one_hot(200, 101, seed=26)
    expected = keras1_cpgenie_numpy(x, w, theano=backend == "theano")
    other = keras1_cpgenie_numpy(x, w, theano=backend != "theano")
    deviation = np.abs(get_model(out, device="cpu").predict_on_batch(x) - expected).max()
    print(f"Keras 1 th Convolution2D under {backend}: max |seqzoo - NumPy| = {deviation:.2e} "
          f"(the other backend's outputs differ by {np.abs(other - expected).max():.2e})")
    assert deviation < TOLERANCE and np.abs(other - expected).max() > 1e-2
    assert ("Theano convolves, flipping the kernels" in (out / "README.md").read_text()) == (backend == "theano")


def test_a_keras1_sequential_merging_sequential_branches_matches_a_numpy_forward_pass(tmp_path):
    """Keras 1's Sequential([Merge([seq_branch, tracks_branch], mode='concat'), Dense]): two inputs, each
    branch's layers and the layers after the merge stored at the top level of the weights file (Keras 1's
    flattened_layers), converted to the functional model it computes; equal to NumPy on 200 pairs."""
    rng = np.random.default_rng(27)
    w = {"conv_W": rng.normal(0, 1 / 4, (5, 1, 4, 6)), "conv_b": rng.normal(0, 0.2, 6),
         "tracks_W": rng.normal(0, 0.5, (3, 4)), "tracks_b": rng.normal(0, 0.2, 4),
         "out_W": rng.normal(0, 0.2, (26 * 6 + 4, 2)), "out_b": rng.normal(0, 0.2, 2)}
    seq_branch = {"class_name": "Sequential", "config": [
        keras1_layer("Convolution1D", "convolution1d_1", nb_filter=6, filter_length=5, activation="relu",
                     batch_input_shape=[None, 30, 4], input_dtype="float32"),
        keras1_layer("Flatten", "flatten_1")]}
    tracks_branch = {"class_name": "Sequential", "config": [
        keras1_layer("Dense", "dense_1", output_dim=4, activation="tanh", batch_input_shape=[None, 3],
                     input_dtype="float32")]}
    merge = {"class_name": "Merge", "config": {
        "name": "merge_1", "mode": "concat", "mode_type": "raw", "concat_axis": -1, "dot_axes": -1,
        "output_shape": None, "output_shape_type": "raw", "output_mask": None, "output_mask_type": "raw",
        "arguments": {}, "layers": [seq_branch, tracks_branch]}}
    write_keras1(tmp_path, {"class_name": "Sequential", "config": [
        merge, keras1_layer("Dense", "dense_2", output_dim=2, activation="sigmoid")]}, {
        "convolution1d_1": [("convolution1d_1_W:0", w["conv_W"]), ("convolution1d_1_b:0", w["conv_b"])],
        "flatten_1": [], "dense_1": [("dense_1_W:0", w["tracks_W"]), ("dense_1_b:0", w["tracks_b"])],
        "dense_2": [("dense_2_W:0", w["out_W"]), ("dense_2_b:0", w["out_b"])]})
    model = converted(tmp_path / "model_files/arch.json", tmp_path / "model_files/weights.h5")
    assert [i.name for i in model.inputs] == ["convolution1d_1_input", "dense_1_input"]
    seq, tracks = one_hot(200, 30, seed=28), np.random.default_rng(29).normal(size=(200, 3)).astype(np.float32)
    conv = relu(conv1d(seq.astype(np.float64), w["conv_W"][:, 0], w["conv_b"], "valid")).reshape(200, -1)
    features = np.concatenate([conv, np.tanh(tracks @ w["tracks_W"] + w["tracks_b"])], axis=1)
    expected = sigmoid(features @ w["out_W"] + w["out_b"])
    deviation = np.abs(np.asarray(model.predict_on_batch([seq, tracks])) - expected).max()
    print(f"Keras 1 Merge of Sequential branches: max |seqzoo - NumPy| = {deviation:.2e} "
          f"(output std {expected.std():.2e})")
    assert expected.std() > 1e-2 and deviation < TOLERANCE

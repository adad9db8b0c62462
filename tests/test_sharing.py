"""Publishing and installing models on real stores: a folder, a real HTTP server and a real S3 protocol
server (moto's server mode, a separate process), all on 127.0.0.1."""

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import yaml

from seqzoo.packaging import example_batch
from seqzoo.runtime import get_model
from seqzoo.sharing import PublishError, publish
from seqzoo.zoo import stores
from seqzoo.zoo.spec import find_model, load_spec

pytestmark = pytest.mark.kipoi  # publish runs seqzoo check, which runs kipoi

MODEL = "Basset_Athaliana265"  # small and trained
VERSION = "1.0.0"  # its model.yaml's info.version


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A fresh seqzoo cache per test: installs land here, never in the user's cache."""
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(stores.OFFLINE_ENV, raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def folder_store(tmp_path_factory):
    """A folder store holding MODEL 1.0.0, published once for the module."""
    store = tmp_path_factory.mktemp("store")
    publish(MODEL, str(store))
    return store


class StoreHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and records every request path in ``server.requests``; ``server.pace`` maps a
    file name to how it is sent: ``("trickle", bytes_per_second)``, ``("silent", seconds)`` or
    ``("oversize", n_bytes)`` (that many bytes instead of the file). ``server.sent`` counts bytes sent."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        how = self.server.pace.get(self.path.rsplit("/", 1)[-1])
        if how is None:
            return super().do_GET()
        kind, amount = how
        if kind == "silent":
            time.sleep(amount)
            return None
        body = b"x" * amount if kind == "oversize" else Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        step = max(1, amount // 10) if kind == "trickle" else 1 << 16
        try:
            for i in range(0, len(body), step):
                self.wfile.write(body[i:i + step])
                self.server.sent += len(body[i:i + step])
                if kind == "trickle":
                    time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass


def serve(folder: Path):
    """A real HTTP server on 127.0.0.1 serving ``folder`` (StoreHandler); returns (server, URL)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(StoreHandler, directory=str(folder)))
    server.requests, server.pace, server.sent = [], {}, 0
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def http_server(folder_store):
    """The folder store served read-only by a real HTTP server."""
    server, _ = serve(folder_store)
    yield server
    server.shutdown()


@pytest.fixture
def http_store(http_server):
    http_server.requests.clear()
    http_server.pace.clear()
    return f"http://127.0.0.1:{http_server.server_address[1]}"


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server in its own process; the AWS variables point boto (s3fs) at it."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("moto's server did not start")
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    s3fs.S3FileSystem().mkdir("zoo-bucket")
    yield "s3://zoo-bucket/models"
    process.kill()
    process.wait()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def source_predictions() -> np.ndarray:
    spec = load_spec(find_model(MODEL))
    return get_model(MODEL, device="cpu").predict_on_batch(example_batch(spec)["inputs"])


def assert_installed_predicts_like_the_source(directory: Path) -> None:
    assert (directory / stores.MANIFEST).is_file() and stores.origin(directory)["version"] == VERSION
    spec = load_spec(directory)
    assert spec.name == MODEL
    installed = get_model(f"{MODEL}@{VERSION}", device="cpu")
    assert installed.spec.directory == directory
    np.testing.assert_array_equal(installed.predict_on_batch(example_batch(spec)["inputs"]), source_predictions())


def test_folder_store_round_trip(folder_store):
    catalogue = json.loads((folder_store / stores.CATALOGUE).read_text())
    entry = catalogue["models"][MODEL][VERSION]
    assert entry["license"] == "MIT" and entry["targets"] == 265
    manifest = json.loads((folder_store / MODEL / VERSION / stores.MANIFEST).read_text())
    listed = {f["path"] for f in manifest["files"]}
    assert {"model.yaml", "weights.yaml", "README.md", "target_labels.txt", "test.expect.h5"} <= listed
    assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in manifest["files"])
    assert_installed_predicts_like_the_source(stores.install(f"{folder_store}/{MODEL}"))
    assert find_model(MODEL) == Path(__file__).resolve().parents[1] / "models" / MODEL  # the zoo's own wins


def test_http_store_round_trip(http_store):
    assert stores.list_store(http_store)[MODEL][VERSION]["modality"] == "dna"
    assert_installed_predicts_like_the_source(stores.install(f"{http_store}/{MODEL}@{VERSION}"))
    with pytest.raises(stores.StoreError, match="read-only"):
        stores.put_package(find_model(MODEL), http_store, MODEL, "9.9.9")


def test_s3_store_round_trip(s3_server):
    publish(MODEL, s3_server)
    assert VERSION in stores.list_store(s3_server)[MODEL]
    directory = find_model(f"{s3_server}/{MODEL}@{VERSION}")  # installs on first use
    assert_installed_predicts_like_the_source(directory)
    with pytest.raises(stores.StoreError, match="already published"):
        publish(MODEL, s3_server)


def test_a_published_version_never_changes(folder_store):
    before = {p: p.read_bytes() for p in folder_store.rglob("*") if p.is_file()}
    with pytest.raises(stores.StoreError, match=f"{MODEL} {VERSION} is already published"):
        publish(MODEL, str(folder_store))
    assert {p: p.read_bytes() for p in folder_store.rglob("*") if p.is_file()} == before


def package_folder(store: Path, version: str = VERSION) -> Path:
    """Where a folder store keeps the files of ``MODEL`` ``version`` (the manifest's files_root)."""
    manifest = json.loads((store / MODEL / version / stores.MANIFEST).read_text())
    return store / MODEL / version / manifest["files_root"]


def test_a_tampered_file_is_refused_and_nothing_is_installed(folder_store, tmp_path, cache):
    store = tmp_path / "tampered"
    shutil.copytree(folder_store, store)
    labels = package_folder(store) / "target_labels.txt"
    labels.write_text(labels.read_text().replace("ABF2", "ABF3", 1))
    with pytest.raises(stores.StoreError, match=r"target_labels.txt fails its check: manifest size \d+, sha256 "):
        stores.install(f"{store}/{MODEL}")
    assert stores.installed_versions(MODEL) == []
    left = sorted(p.name for p in (cache / "installed" / MODEL).iterdir())
    assert left == [f"{VERSION}.lock"]  # no version folder, no staging folder


def test_an_interrupted_publish_neither_lists_nor_installs(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (store / MODEL / VERSION).mkdir(parents=True)
    (store / MODEL / VERSION / stores.MANIFEST).mkdir()  # the manifest cannot be written: the commit fails
    with pytest.raises(Exception):
        publish(MODEL, str(store))
    assert list((store / MODEL / VERSION).iterdir()) == [store / MODEL / VERSION / stores.MANIFEST]  # files removed
    assert stores.list_store(str(store)) == {}
    with pytest.raises(stores.StoreError, match="has no model"):
        stores.install(f"{store}/{MODEL}")
    (store / MODEL / VERSION / stores.MANIFEST).rmdir()
    publish(MODEL, str(store))
    assert VERSION in stores.list_store(str(store))[MODEL]


def test_a_lost_catalogue_is_repaired_by_the_next_publish(folder_store, tmp_path):
    """The manifest is the commit point; the catalogue is derived from the manifests, so a catalogue a
    crash left invalid (or without a version) is rebuilt, even by publishing a version that exists."""
    store = tmp_path / "store"
    shutil.copytree(folder_store, store)
    (store / stores.CATALOGUE).write_text('{"format": "seqzoo-model-package/2", "mod')  # cut short
    with pytest.raises(stores.StoreError, match="not valid JSON"):
        stores.list_store(str(store))
    with pytest.raises(stores.StoreError, match="already published"):
        publish(MODEL, str(store))
    assert stores.list_store(str(store))[MODEL][VERSION]["targets"] == 265
    assert stores.install(f"{store}/{MODEL}@{VERSION}").is_dir()


def test_two_concurrent_installs(folder_store, cache):
    code = ("import sys; from seqzoo.zoo import stores; print(stores.install(sys.argv[1]))")
    env = {**os.environ, "SEQZOO_CACHE": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", code, f"{folder_store}/{MODEL}@{VERSION}"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert {out.strip() for out, _ in results} == {str(stores.installed_dir(MODEL, VERSION))}
    assert stores.installed_versions(MODEL) == [VERSION]
    leftovers = [p.name for p in (cache / "installed" / MODEL).iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_offline_uses_installed_models_and_refuses_the_network(http_store, monkeypatch):
    stores.install(f"{http_store}/{MODEL}@{VERSION}")
    monkeypatch.setenv(stores.OFFLINE_ENV, "1")
    assert find_model(f"{MODEL}@{VERSION}") == stores.installed_dir(MODEL, VERSION)
    assert stores.install(f"{http_store}/{MODEL}@{VERSION}") == stores.installed_dir(MODEL, VERSION)
    with pytest.raises(stores.StoreError, match="SEQZOO_OFFLINE is set"):
        stores.list_store(http_store)
    with pytest.raises(stores.StoreError, match="SEQZOO_OFFLINE is set"):
        stores.install(f"{http_store}/{MODEL}")  # no version: needs the catalogue


def test_an_unreachable_store_is_a_prompt_error():
    store = f"http://127.0.0.1:{free_port()}/zoo"  # nothing listens there
    start = time.time()
    with pytest.raises(stores.StoreError, match=store.replace(".", r"\.")):
        stores.install(f"{store}/{MODEL}")
    assert time.time() - start < stores.STORE_TIMEOUT + 5


def copy_model(tmp_path) -> Path:
    directory = tmp_path / MODEL
    shutil.copytree(find_model(MODEL), directory, ignore=shutil.ignore_patterns("*.fai"))
    return directory


def test_packages_that_carry_or_name_code_are_refused(tmp_path):
    store = str(tmp_path / "store")
    with_code = copy_model(tmp_path / "a")
    (with_code / "model.py").write_text("import os  # would run on load\n")
    with pytest.raises(stores.UnsafePackageError, match="model.py: a code file"):
        publish(with_code, store)
    names_code = copy_model(tmp_path / "b")
    descr = yaml.safe_load((names_code / "model.yaml").read_text())
    descr["defined_as"] = "model.MyModel"
    (names_code / "model.yaml").write_text(yaml.safe_dump(descr))
    with pytest.raises(stores.UnsafePackageError, match="defined_as 'model.MyModel'"):
        publish(names_code, store)
    assert not Path(store).exists()  # refused before anything was written or imported

    # A package put in a store with --trust-code is refused at install without it.
    stores.put_package(with_code, store, MODEL, VERSION, trust_code=True)
    with pytest.raises(stores.UnsafePackageError, match="install of .* refused.*model.py"):
        stores.install(f"{store}/{MODEL}@{VERSION}")
    assert stores.installed_versions(MODEL) == []
    assert stores.install(f"{store}/{MODEL}@{VERSION}", trust_code=True).is_dir()


def test_manifest_paths_leaving_the_package_are_refused(folder_store, tmp_path):
    store = tmp_path / "evil"
    shutil.copytree(folder_store, store)
    manifest_path = store / MODEL / VERSION / stores.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][0]["path"] = "../../outside.txt"
    manifest_path.write_text(json.dumps(manifest))
    catalogue = json.loads((store / stores.CATALOGUE).read_text())
    import hashlib

    catalogue["models"][MODEL][VERSION]["manifest_sha256"] = hashlib.sha256(manifest_path.read_bytes()).hexdigest()
    (store / stores.CATALOGUE).write_text(json.dumps(catalogue))
    with pytest.raises(stores.StoreError, match="leaves the package folder"):
        stores.install(f"{store}/{MODEL}@{VERSION}")


def test_publish_refuses_incomplete_models(tmp_path):
    directory = copy_model(tmp_path)
    descr = yaml.safe_load((directory / "model.yaml").read_text())
    descr["info"]["version"] = "1.0"
    del descr["info"]["license"]
    (directory / "model.yaml").write_text(yaml.safe_dump(descr))
    (directory / "README.md").unlink()
    with pytest.raises(PublishError) as e:
        publish(directory, str(tmp_path / "store"))
    assert "not SemVer" in str(e.value) and "info.license" in str(e.value) and "missing README.md" in str(e.value)


def test_kipoi_loads_an_installed_model(folder_store, kipoi_home, monkeypatch):
    monkeypatch.setenv("HOME", str(kipoi_home))
    import kipoi

    directory = stores.install(f"{folder_store}/{MODEL}")
    spec = load_spec(directory)
    model = kipoi.get_model(str(directory), source="dir")
    np.testing.assert_allclose(model.predict_on_batch(example_batch(spec)["inputs"]), source_predictions(),
                               atol=1e-6)

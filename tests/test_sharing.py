"""Publishing and installing models on real stores: a folder, a real HTTP server and a real S3 protocol
server (moto's server mode, a separate process), all on 127.0.0.1."""

import http.server
import json
import os
import re
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

from seqzoo.cli import main
from seqzoo.packaging import example_batch
from seqzoo.runtime import get_model
from seqzoo.sharing import PublishError, publish
from seqzoo.zoo import stores
from seqzoo.zoo.spec import find_model, load_spec

import model_checks

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


# -- hostile stores: every file checked by check's rule, identity, listings, downloads ----------------

def forge(source: Path, store: Path, edit=None, catalogue_edit=None) -> Path:
    """A copy of the folder store ``source`` whose MODEL VERSION package is changed by ``edit(folder)``,
    with the manifest and catalogue made to match it: what a hostile store serves."""
    import hashlib

    shutil.copytree(source, store)
    folder = package_folder(store)
    if edit is not None:
        edit(folder)
    manifest_path = store / MODEL / VERSION / stores.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["files"] = [{"path": p.relative_to(folder).as_posix(), "size": p.stat().st_size,
                          "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                         for p in sorted(folder.rglob("*")) if p.is_file()]
    manifest_path.write_text(json.dumps(manifest))
    catalogue = json.loads((store / stores.CATALOGUE).read_text())
    catalogue["models"][MODEL][VERSION]["manifest_sha256"] = hashlib.sha256(manifest_path.read_bytes()).hexdigest()
    if catalogue_edit is not None:
        catalogue_edit(catalogue)
    (store / stores.CATALOGUE).write_text(json.dumps(catalogue))
    return store


def edit_model_yaml(change):
    def edit(folder: Path) -> None:
        (folder / "model.yaml").write_text(change((folder / "model.yaml").read_text()))
    return edit


def write_file(rel: str, text: str):
    def edit(folder: Path) -> None:
        (folder / rel).write_text(text)
    return edit


LAUGHS = "".join([f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 10)])
HOSTILE_PACKAGES = {
    # kipoi reads model.yml before model.yaml with its unsafe loader: the tag would run
    "a tag in model.yml": (lambda marker: lambda folder: (folder / "model.yml").write_text(
        (folder / "model.yaml").read_text() + f'x: !!python/object/apply:os.system ["touch {marker}"]\n'),
        "the YAML tag '!!python/object/apply:os.system' is refused"),
    "a tag in a nested YAML file": (lambda marker: write_file(
        "example/extra.yaml", f'x: !!python/object/apply:os.system ["touch {marker}"]\n'),
        "example/extra.yaml, line 1: the YAML tag"),
    "an alias bomb in info.doc": (lambda marker: edit_model_yaml(
        lambda text: "l0: &l0 [lol]\n" + LAUGHS + text.replace("info:\n", "info:\n  doc: *l9\n", 1)),
        "the YAML alias '*l0' is refused"),
    "column_labels outside the package": (lambda marker: edit_model_yaml(
        lambda text: text.replace("column_labels: target_labels.txt", "column_labels: /etc/hostname")),
        "'/etc/hostname', which is outside the model directory"),
    "an architecture file outside the package": (lambda marker: edit_model_yaml(
        lambda text: text.replace("  config:\n", "  config:\n    file: /etc/hostname\n", 1)),
        "args.config.file names '/etc/hostname', which is outside"),
    "a weights URL of the installing machine": (lambda marker: write_file(
        "weights.yaml", (find_model(MODEL) / "weights.yaml").read_text().replace(
            "- basset-athaliana265-v1.weights.h5", "- file:///etc/hostname")),
        "the URL 'file:///etc/hostname' is a file of this machine"),
}


@pytest.mark.parametrize("case", list(HOSTILE_PACKAGES))
def test_install_applies_the_rules_of_check_to_every_file_even_with_trust_code(folder_store, tmp_path, case):
    marker = tmp_path / "ran"
    make_edit, message = HOSTILE_PACKAGES[case]
    store = forge(folder_store, tmp_path / "hostile", make_edit(marker))
    for trust_code in (False, True):
        start = time.time()
        with pytest.raises(stores.UnsafePackageError) as e:
            stores.install(f"{store}/{MODEL}@{VERSION}", trust_code=trust_code)
        assert message in str(e.value) and time.time() - start < 10
    assert stores.installed_versions(MODEL) == [] and not marker.exists()
    # the same directory, published or checked, is refused by the same rule
    with pytest.raises(stores.UnsafePackageError, match=re.escape(message)):
        publish(package_folder(store), str(tmp_path / "elsewhere"), trust_code=True)
    assert not (tmp_path / "elsewhere").exists()


def test_a_model_directory_naming_a_path_outside_it_is_refused(tmp_path):
    directory = copy_model(tmp_path)
    text = (directory / "model.yaml").read_text()
    for named in ("/etc/hostname", "../target_labels.txt"):
        (directory / "model.yaml").write_text(text.replace("column_labels: target_labels.txt", f"column_labels: {named}"))
        with pytest.raises(ValueError, match=f"names {named!r}, which is outside the model directory"):
            load_spec(directory)


def test_offline_fetch_of_an_installed_package_makes_no_connection(folder_store, http_server, http_store, tmp_path):
    """The package's weights are not in it but at an http URL: offline, fetch names the URL and connects to nothing."""
    weights = "basset-athaliana265-v1.weights.h5"
    served = folder_store / "weights"
    served.mkdir(exist_ok=True)
    shutil.copy(find_model(MODEL) / weights, served / weights)

    def weights_elsewhere(folder: Path) -> None:
        (folder / weights).unlink()
        text = (folder / "weights.yaml").read_text()
        (folder / "weights.yaml").write_text(text.replace(f"- {weights}", f"- {http_store}/weights/{weights}"))

    store = forge(folder_store, tmp_path / "remote_weights", weights_elsewhere)
    stores.install(f"{store}/{MODEL}@{VERSION}")
    command = [sys.executable, "-m", "seqzoo", "fetch", f"{MODEL}@{VERSION}"]
    offline = subprocess.run(command, env={**os.environ, stores.OFFLINE_ENV: "1"}, capture_output=True, text=True,
                             timeout=120)
    assert offline.returncode != 0
    assert f"{http_store}/weights/{weights}: not reached, SEQZOO_OFFLINE is set" in offline.stderr
    assert "SEQZOO_MIRROR" in offline.stderr
    assert http_server.requests == []  # not one connection
    online = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert online.returncode == 0, online.stderr
    assert http_server.requests == [f"/weights/{weights}"]


def test_text_from_a_store_is_shown_escaped(folder_store, tmp_path, capsys):
    hostile = "MIT\x1b]0;owned\x07\x1b[2J\nmodel  9.9.9  fake line\u202e"

    def set_license(catalogue: dict) -> None:
        catalogue["models"][MODEL][VERSION]["license"] = hostile

    store = forge(folder_store, tmp_path / "ansi", catalogue_edit=set_license)
    assert main(["list", "--source", str(store)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out and "fake line" in out
    assert "MIT\\x1b]0;owned\\x07\\x1b[2J\\nmodel  9.9.9  fake line\\u202e" in out
    assert len(out.strip().splitlines()) == 2  # the header and one model: no line forged


@pytest.mark.parametrize("catalogue", [[], {"models": []}, {"models": {MODEL: None}},
                                       {"models": {MODEL: {"1.0": {}, "null": None, "2.0.0": "x"}}}],
                         ids=["a list", "models a list", "versions null", "bad versions"])
def test_a_malformed_catalogue_is_named_and_hides_nothing_else(folder_store, tmp_path, capsys, catalogue):
    store = tmp_path / "odd"
    shutil.copytree(folder_store, store)
    good = json.loads((store / stores.CATALOGUE).read_text())["models"][MODEL][VERSION]
    if isinstance(catalogue, dict) and isinstance(catalogue["models"], dict):
        catalogue["models"]["Good"] = {VERSION: good}
    (store / stores.CATALOGUE).write_text(json.dumps(catalogue))
    assert main(["list", "--source", str(store)]) == 1
    said = capsys.readouterr()
    assert f"{store}/{stores.CATALOGUE}" in said.err and "Traceback" not in said.err
    if "Good" in json.dumps(catalogue):
        assert "left out" in said.err and "Good" in said.out and VERSION in said.out
    else:
        assert "not a catalogue" in said.err


def card(i: int) -> str:
    return model_checks.model_card(MODEL, f"Card of publisher {i}.")


def test_concurrent_real_seqzoo_publish_processes_on_a_folder_store(tmp_path):
    """Two `seqzoo publish` of one version (different cards) and one of another, started together."""
    store = tmp_path / "store"
    directories = []
    for i, version in enumerate([VERSION, VERSION, "1.1.0"]):
        directory = copy_model(tmp_path / f"publisher{i}")
        (directory / "README.md").write_text(model_checks.model_card(MODEL, f"Card of publisher {i}."))
        text = (directory / "model.yaml").read_text()
        (directory / "model.yaml").write_text(text.replace(f"version: {VERSION}", f"version: {version}"))
        directories.append(directory)
    procs = [subprocess.Popen([sys.executable, "-m", "seqzoo", "publish", str(d), str(store)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for d in directories]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    assert sorted(rc for rc, _, _ in results[:2]) == [0, 2] and results[2][0] == 0, results
    assert "already published" in next(err for rc, _, err in results[:2] if rc)
    assert_store_consistent(str(store), {VERSION: [card(i) for i in (0, 1)], "1.1.0": [card(2)]})
    for rc, _, err in results:  # no progress bar (kipoi's loader drew "0/1" ones); the next step
        assert not re.search(r"it/s|\d+/\d+ \[", err) and (rc or "next: seqzoo install " in err), err


PUBLISHER = """
import sys, time
from seqzoo.zoo import stores
directory, store, version, start = sys.argv[1:]
while time.time() < float(start):
    time.sleep(0.001)
stores.put_package(directory, store, "{model}", version, info={{"targets": 265}})
"""


def assert_store_consistent(store: str, cards: dict[str, list[str]]) -> None:
    """Every version listed, each installs (every hash right) with one publisher's card, whole."""
    listed = stores.list_store(store)[MODEL]
    assert sorted(listed) == sorted(cards)
    for version, possible in cards.items():
        directory = stores.install(f"{store}/{MODEL}@{version}")
        assert (directory / "README.md").read_text() in possible


@pytest.mark.parametrize("kind", ["folder", "http", "s3"])
def test_concurrent_publishers_neither_lose_nor_mix(kind, tmp_path, request):
    """Three publishers of one version (each its own card) and three of other versions, released at
    one instant, as real processes: one wins the version, every version is listed, nothing mixes."""
    if kind == "s3":
        store = request.getfixturevalue("s3_server") + f"/race-{time.time_ns()}"
    else:
        (tmp_path / "store").mkdir()
        store = str(tmp_path / "store")
    jobs = []
    for i, version in enumerate([VERSION] * 3 + ["1.1.0", "1.2.0", "2.0.0"]):
        directory = copy_model(tmp_path / f"publisher{i}")
        (directory / "README.md").write_text(model_checks.model_card(MODEL, f"Card of publisher {i}."))
        jobs.append((directory, version))
    start = time.time() + 5  # every process imported and waiting
    code = PUBLISHER.format(model=MODEL)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(d), store, v, str(start)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for d, v in jobs]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    assert sorted(rc for rc, _ in results[:3]) == [0, 1, 1], results
    assert all("is already published" in err for rc, err in results[:3] if rc)
    assert all(rc == 0 for rc, _ in results[3:]), results
    if kind == "http":
        server, store = serve(Path(store))
    assert_store_consistent(store, {VERSION: [card(i) for i in range(3)], "1.1.0": [card(3)], "1.2.0": [card(4)],
                                    "2.0.0": [card(5)]})
    if kind == "folder":  # the losers removed their files: one files folder per version
        assert all(len(list((Path(store) / MODEL / v).glob("files-*"))) == 1 for v in ("1.0.0", "1.1.0"))


def test_publishing_never_creates_a_bucket(s3_server):
    import s3fs

    store = "s3://no-such-bucket-typo/zoo"
    with pytest.raises(stores.StoreError, match="the bucket 'no-such-bucket-typo' does not exist.*never creates"):
        publish(MODEL, store)
    with pytest.raises(stores.StoreError, match="never creates"):
        stores.put_package(find_model(MODEL), store, MODEL, VERSION)
    assert "no-such-bucket-typo" not in s3fs.S3FileSystem().ls("")


def test_a_package_is_its_store_and_manifest_not_its_name(folder_store, tmp_path):
    """Installed from one store, NAME@VERSION named through another store holding a different package
    (or through the same store after it changed the version) is refused; a mirror of the same is fine."""
    installed = stores.install(f"{folder_store}/{MODEL}@{VERSION}")
    mirror = tmp_path / "mirror"
    shutil.copytree(folder_store, mirror)
    assert find_model(f"{mirror}/{MODEL}@{VERSION}") == installed  # the same manifest: the same package
    other = forge(folder_store, tmp_path / "other", write_file("README.md", "another package\n"))
    with pytest.raises(stores.StoreError, match="two different packages share this name and version"):
        find_model(f"{other}/{MODEL}@{VERSION}")
    with pytest.raises(stores.StoreError, match="two different packages"):
        find_model(f"{other}/{MODEL}")  # the newest version there is that one too
    # the store it came from is rolled back to another package of that version, then stops listing it
    (folder_store / stores.CATALOGUE).rename(tmp_path / "saved_catalogue")
    try:
        shutil.copy(other / stores.CATALOGUE, folder_store / stores.CATALOGUE)
        with pytest.raises(stores.StoreError, match="the store changed a published version"):
            find_model(f"{folder_store}/{MODEL}@{VERSION}")
        (folder_store / stores.CATALOGUE).write_text(json.dumps({"format": stores.FORMAT, "models": {}}))
        with pytest.raises(stores.StoreError, match=f"does not list {MODEL} {VERSION}, which is installed here"):
            find_model(f"{folder_store}/{MODEL}@{VERSION}")
    finally:
        (tmp_path / "saved_catalogue").replace(folder_store / stores.CATALOGUE)
    assert find_model(f"{folder_store}/{MODEL}@{VERSION}") == installed


def test_a_file_larger_than_declared_is_not_downloaded_past_its_size(http_server, http_store):
    http_server.pace["README.md"] = ("oversize", 200 << 20)  # 200 MB where the manifest says 14 kB
    http_server.sent = 0
    with pytest.raises(stores.StoreError, match=r"README.md: larger than the \d+ bytes declared; stopped reading"):
        stores.install(f"{http_store}/{MODEL}@{VERSION}")
    assert http_server.sent < 50 << 20  # stopped, not read whole
    assert stores.installed_versions(MODEL) == []


def test_a_trickling_or_silent_store_ends_in_an_error_naming_the_store_the_file_and_the_cause(
        http_server, http_store, monkeypatch):
    monkeypatch.setenv(stores.STORE_TIMEOUT_ENV, "1")
    http_server.pace["target_labels.txt"] = ("trickle", 20)  # 20 bytes a second, 1,851 bytes
    start = time.time()
    with pytest.raises(stores.StoreError) as e:
        stores.install(f"{http_store}/{MODEL}@{VERSION}")
    assert time.time() - start < 10
    assert http_store in str(e.value) and "target_labels.txt" in str(e.value) and "slower than" in str(e.value)
    http_server.pace.clear()
    http_server.pace["weights.yaml"] = ("silent", 5)
    with pytest.raises(stores.StoreError) as e:
        stores.install(f"{http_store}/{MODEL}@{VERSION}")
    assert http_store in str(e.value) and "weights.yaml" in str(e.value) and "no answer within 1 s" in str(e.value)
    assert stores.installed_versions(MODEL) == []


def test_a_slow_steady_store_installs_within_a_deadline_scaled_by_the_size(http_server, http_store, monkeypatch):
    """2.3 MB of weights at about 600 kB/s with a 1 s store timeout: the file's deadline grows with its size."""
    monkeypatch.setenv(stores.STORE_TIMEOUT_ENV, "1")
    http_server.pace["basset-athaliana265-v1.weights.h5"] = ("trickle", 600_000)
    assert_installed_predicts_like_the_source(stores.install(f"{http_store}/{MODEL}@{VERSION}"))

"""Tests for seqzoo.zoo.artifacts against a real local HTTP server (no mocks)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from seqzoo.zoo.artifacts import (
    ArtifactError,
    WeightsArtifact,
    cache_dir,
    cached_path,
    fetch,
    is_cached,
    verify,
)

FILE_NAME = "toy-v1.weights.bin"
PAYLOAD_SIZE = 256 * 1024


class _Handler(BaseHTTPRequestHandler):
    """Serves files from ``server.root``.

    ``/<name>`` serves the file; ``/truncated/<name>`` announces the full
    Content-Length but sends half the bytes and closes; ``/slow/<name>`` sleeps
    between chunks; ``/trickle/<name>`` sends one byte a second (until the server stops).
    Every GET is counted per path in ``server.counts``.
    """

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        server = self.server
        with server.lock:
            server.counts[self.path] = server.counts.get(self.path, 0) + 1
        mode, _, name = self.path.lstrip("/").rpartition("/")
        file = server.root / name
        if mode not in ("", "truncated", "slow", "trickle") or not file.is_file():
            self.send_error(404, "File not found")
            return
        data = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if mode == "truncated":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if mode == "trickle":
            for i in range(len(data)):
                if server.stopping.is_set():
                    return
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                server.stopping.wait(1.0)
            return
        chunk = 8 * 1024
        for start in range(0, len(data), chunk):
            self.wfile.write(data[start : start + chunk])
            if mode == "slow":
                self.wfile.flush()
                time.sleep(0.03)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 with an ephemeral port, in a thread."""

    def __init__(self, root: Path) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.root = root
        self.httpd.counts = {}
        self.httpd.lock = threading.Lock()
        self.httpd.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.running = True

    @property
    def counts(self) -> dict[str, int]:
        return self.httpd.counts

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path}"

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.httpd.stopping.set()
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=5)


@pytest.fixture
def served(tmp_path: Path) -> Path:
    root = tmp_path / "served"
    root.mkdir()
    return root


@pytest.fixture
def server(served: Path):
    srv = Server(served)
    yield srv
    srv.stop()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("SEQZOO_CACHE", str(path))
    monkeypatch.delenv("SEQZOO_MIRROR", raising=False)
    return path


@pytest.fixture
def payload(served: Path) -> bytes:
    """A few hundred KB of random bytes, published on the server as FILE_NAME."""
    data = os.urandom(PAYLOAD_SIZE)
    (served / FILE_NAME).write_bytes(data)
    return data


def _artifact(data: bytes, *urls: str, file_name: str = FILE_NAME) -> WeightsArtifact:
    return WeightsArtifact(
        file_name=file_name,
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        size=len(data),
        urls=urls,
        produced_by="os.urandom in tests",
    )


def _leftovers(cache: Path) -> list[Path]:
    """Every file in the cache except lock files (which filelock may leave behind)."""
    if not cache.exists():
        return []
    return sorted(p for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- downloads


def test_good_download(cache: Path, server: Server, payload: bytes) -> None:
    art = _artifact(payload, server.url(FILE_NAME))
    assert not is_cached(art)

    path = fetch(art, progress=True)

    assert path == cache.resolve() / art.sha256[:12] / FILE_NAME
    assert path == cached_path(art)
    assert path.read_bytes() == payload
    verify(path, art)
    assert is_cached(art)
    assert _leftovers(cache) == [path]
    assert server.counts == {f"/{FILE_NAME}": 1}


def test_cached_reload_without_network(cache: Path, server: Server, payload: bytes) -> None:
    art = _artifact(payload, server.url(FILE_NAME))
    first = fetch(art, progress=False)
    server.stop()

    second = fetch(art, progress=False)

    assert second == first
    assert second.read_bytes() == payload
    assert server.counts == {f"/{FILE_NAME}": 1}


def test_corrupted_file_on_server(cache: Path, server: Server, payload: bytes) -> None:
    art = _artifact(payload, server.url(FILE_NAME))
    bad = bytearray(payload)
    bad[1000] ^= 0xFF  # same size, different bytes
    (server.httpd.root / FILE_NAME).write_bytes(bytes(bad))

    with pytest.raises(ArtifactError) as info:
        fetch(art, progress=False)

    msg = str(info.value)
    assert "sha256" in msg
    assert art.sha256 in msg
    assert hashlib.sha256(bytes(bad)).hexdigest() in msg
    assert "discarded" in msg
    assert server.url(FILE_NAME) in msg
    assert not cached_path(art).exists()
    assert _leftovers(cache) == []


def test_corrupted_cached_file_refused_then_forced(
    cache: Path, server: Server, payload: bytes
) -> None:
    art = _artifact(payload, server.url(FILE_NAME))
    path = fetch(art, progress=False)
    damaged = bytearray(payload)
    damaged[-1] ^= 0x01
    path.write_bytes(bytes(damaged))

    assert not is_cached(art)
    with pytest.raises(ArtifactError) as info:
        fetch(art, progress=False)
    msg = str(info.value)
    assert "corrupt" in msg and "sha256" in msg
    assert str(path) in msg
    assert "--force" in msg
    # Refused, not silently re-downloaded.
    assert server.counts == {f"/{FILE_NAME}": 1}
    assert path.read_bytes() == bytes(damaged)

    fixed = fetch(art, force=True, progress=False)

    assert fixed == path
    assert fixed.read_bytes() == payload
    assert is_cached(art)
    assert server.counts == {f"/{FILE_NAME}": 2}
    assert _leftovers(cache) == [path]


def test_404(cache: Path, server: Server, payload: bytes) -> None:
    url = server.url("missing.weights.bin")
    art = _artifact(payload, url)

    with pytest.raises(ArtifactError) as info:
        fetch(art, progress=False)

    msg = str(info.value)
    assert "404" in msg
    assert url in msg
    assert FILE_NAME in msg
    assert "SEQZOO_MIRROR" in msg  # tells the user how to work offline
    assert _leftovers(cache) == []


def test_second_url_used_when_first_404s(cache: Path, server: Server, payload: bytes) -> None:
    art = _artifact(payload, server.url("gone/" + FILE_NAME), server.url(FILE_NAME))

    path = fetch(art, progress=False)

    assert path.read_bytes() == payload
    assert server.counts == {f"/gone/{FILE_NAME}": 1, f"/{FILE_NAME}": 1}


def test_every_url_failing_is_listed(cache: Path, server: Server, payload: bytes) -> None:
    refused = f"http://127.0.0.1:{_free_port()}/{FILE_NAME}"
    missing = server.url("missing.bin")
    art = _artifact(payload, refused, missing)

    with pytest.raises(ArtifactError) as info:
        fetch(art, progress=False)

    msg = str(info.value)
    assert refused in msg and missing in msg
    assert "404" in msg
    assert _leftovers(cache) == []


def test_transfer_cut_off_midway(cache: Path, server: Server, payload: bytes) -> None:
    url = server.url("truncated/" + FILE_NAME)
    art = _artifact(payload, url)

    with pytest.raises(ArtifactError) as info:
        fetch(art, progress=False)

    assert url in str(info.value)
    assert server.counts == {f"/truncated/{FILE_NAME}": 1}
    assert not cached_path(art).exists()
    assert _leftovers(cache) == []


# --------------------------------------------------------------------------- mirror


def test_mirror_without_network(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(100_000)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / FILE_NAME).write_bytes(data)
    monkeypatch.setenv("SEQZOO_MIRROR", str(mirror))
    # The only URL points at a closed port: success proves no network was used.
    art = _artifact(data, f"http://127.0.0.1:{_free_port()}/{FILE_NAME}")

    path = fetch(art, progress=False)

    assert path == cached_path(art)
    assert path.read_bytes() == data
    assert _leftovers(cache) == [path]


def test_wrong_file_in_mirror(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(100_000)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / FILE_NAME).write_bytes(os.urandom(100_000))
    monkeypatch.setenv("SEQZOO_MIRROR", str(mirror))
    art = _artifact(data)

    with pytest.raises(ArtifactError) as info:
        fetch(art, progress=False)

    msg = str(info.value)
    assert "SEQZOO_MIRROR" in msg and str(mirror / FILE_NAME) in msg
    assert art.sha256 in msg
    assert not cached_path(art).exists()
    assert _leftovers(cache) == []


def test_no_urls_no_mirror_says_how_to_work_offline(cache: Path) -> None:
    art = _artifact(b"x" * 10)
    with pytest.raises(ArtifactError, match="SEQZOO_MIRROR"):
        fetch(art, progress=False)


# --------------------------------------------------------------------------- concurrency

# The child imports only seqzoo.zoo.artifacts: the package root is light (no keras).
_CHILD = r"""
import json, sys, time
from pathlib import Path
from seqzoo.zoo.artifacts import WeightsArtifact, fetch
art = WeightsArtifact.from_yaml(sys.argv[1])
print("ready", flush=True)
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.002)
start = time.time()
path = fetch(art, progress=False)
print(json.dumps({"path": str(path), "start": start, "end": time.time()}), flush=True)
"""


def test_two_processes_fetch_once(cache: Path, server: Server, payload: bytes, tmp_path: Path) -> None:
    art = _artifact(payload, server.url("slow/" + FILE_NAME))
    spec = tmp_path / "artifact.yaml"
    art.to_yaml(spec)
    go = tmp_path / "go"
    env = dict(os.environ)  # carries SEQZOO_CACHE set by the fixture
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(spec), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    try:
        # Start both fetches at the same moment, whatever the import time was.
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        go.touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    paths = {r["path"] for r in results}
    assert paths == {str(cached_path(art))}
    assert Path(paths.pop()).read_bytes() == payload
    # The two fetches really overlapped in time...
    assert max(r["start"] for r in results) < min(r["end"] for r in results)
    # ...yet the server sent the file once: the second process waited on the lock.
    assert server.counts == {f"/slow/{FILE_NAME}": 1}
    assert _leftovers(cache) == [cached_path(art)]


# --------------------------------------------------------------------------- deadlines

# A fetch in its own process, its warnings on stderr: a test can time it, and stop it if it hangs.
_FETCH = r"""
import logging, sys
logging.basicConfig(level=logging.WARNING, format="%(message)s")
from seqzoo.zoo.artifacts import WeightsArtifact, fetch
fetch(WeightsArtifact.from_yaml(sys.argv[1]), progress=False)
"""


def _fetch_process(spec: Path, timeout: float) -> subprocess.Popen:
    env = dict(os.environ, SEQZOO_FETCH_TIMEOUT=str(timeout))  # SEQZOO_CACHE from the fixture
    return subprocess.Popen([sys.executable, "-c", _FETCH, str(spec)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str, float]:
    start = time.monotonic()
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the fetch was still running after {timeout} s:\n{err}")
    return proc.returncode, err, time.monotonic() - start


def test_a_trickling_server_is_cut_off_at_the_fetch_deadline(cache: Path, server: Server, payload: bytes,
                                                            tmp_path: Path) -> None:
    # One byte a second: no single read ever waits long, so only a deadline on the whole file ends it.
    spec = tmp_path / "artifact.yaml"
    _artifact(payload, server.url("trickle/" + FILE_NAME)).to_yaml(spec)
    rc, err, seconds = _finish(_fetch_process(spec, timeout=3), timeout=60)
    assert rc != 0 and "not finished within SEQZOO_FETCH_TIMEOUT=3 s" in err
    assert "partial download was deleted" in err
    assert seconds < 30
    assert _leftovers(cache) == []  # no .part file, no final file


def test_a_fetch_waiting_for_another_says_who_holds_it_and_gives_up(cache: Path, server: Server, payload: bytes,
                                                                    tmp_path: Path) -> None:
    art = _artifact(payload, server.url("trickle/" + FILE_NAME))
    spec = tmp_path / "artifact.yaml"
    art.to_yaml(spec)
    holder = _fetch_process(spec, timeout=120)
    try:
        info = Path(str(cached_path(art)) + ".lock.info")
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert info.exists(), "the first fetch never took the lock"
        rc, err, seconds = _finish(_fetch_process(spec, timeout=3), timeout=60)
    finally:
        holder.kill()
        holder.communicate()
    who = f"process {holder.pid} on {socket.gethostname()}"
    assert rc != 0 and f"waiting for {FILE_NAME}: {who}" in err  # said while waiting
    assert f"gave up waiting for {FILE_NAME} after 3 s (SEQZOO_FETCH_TIMEOUT): {who}" in err
    assert seconds < 30


@pytest.mark.parametrize("value", ["0", "-5", "soon", "inf"])
def test_a_bad_fetch_timeout_is_refused(cache: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from seqzoo.zoo.artifacts import fetch_timeout

    monkeypatch.setenv("SEQZOO_FETCH_TIMEOUT", value)
    with pytest.raises(ArtifactError, match="SEQZOO_FETCH_TIMEOUT"):
        fetch_timeout()


# --------------------------------------------------------------------------- description


def test_yaml_round_trip(tmp_path: Path) -> None:
    art = _artifact(b"weights", "https://example.org/a", "https://example.org/b")
    path = tmp_path / "weights.yaml"
    art.to_yaml(path)
    assert WeightsArtifact.from_yaml(path) == art

    untrained = WeightsArtifact(file_name="basset.weights.h5", untrained_seed=7)
    untrained.to_yaml(path)
    assert WeightsArtifact.from_yaml(path) == untrained


def test_describe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(5000)
    file = tmp_path / "basset-v1.weights.h5"
    file.write_bytes(data)

    art = WeightsArtifact.describe(file, urls=["https://example.org/x"], produced_by="test")

    assert art.file_name == "basset-v1.weights.h5"
    assert art.sha256 == hashlib.sha256(data).hexdigest()
    assert art.md5 == hashlib.md5(data).hexdigest()
    assert art.size == 5000
    assert art.urls == ("https://example.org/x",)
    assert art.trained
    verify(file, art)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("sha256: " + "0" * 64 + "\n", "file_name"),
        ("file_name: a.weights.h5\nsize: 3\n", "sha256"),
        ("file_name: a.weights.h5\nsha256: " + "0" * 64 + "\nchecksum: 12\n", "checksum"),
    ],
)
def test_from_yaml_bad_keys(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ArtifactError) as info:
        WeightsArtifact.from_yaml(path)
    assert str(path) in str(info.value)
    assert key in str(info.value)


def test_untrained_artifact(cache: Path) -> None:
    art = WeightsArtifact(file_name="deepsea.weights.h5", untrained_seed=0)
    assert art.trained is False
    assert not is_cached(art)
    with pytest.raises(ArtifactError, match="untrained; there is no file to fetch"):
        fetch(art)
    with pytest.raises(ArtifactError):
        WeightsArtifact(file_name="x.h5", untrained_seed=1, sha256="0" * 64)


def test_invalid_descriptions_rejected() -> None:
    with pytest.raises(ArtifactError, match="sha256"):
        WeightsArtifact(file_name="x.weights.h5")
    with pytest.raises(ArtifactError, match="file_name"):
        WeightsArtifact(file_name="../x.weights.h5", sha256="0" * 64)


# --------------------------------------------------------------------------- cache layout


def test_cache_layout(cache: Path) -> None:
    a = _artifact(b"one")
    b = _artifact(b"two")
    assert cache_dir() == cache.resolve()
    assert cache.is_dir()
    assert cached_path(a) == cache.resolve() / a.sha256[:12] / FILE_NAME
    assert cached_path(a) != cached_path(b)  # same name, different hash: no collision


def test_verify_reports_expected_and_actual(tmp_path: Path) -> None:
    file = tmp_path / FILE_NAME
    file.write_bytes(b"actual bytes")
    art = _artifact(b"expected bytes")  # same length, different content
    with pytest.raises(ArtifactError) as info:
        verify(file, art)
    msg = str(info.value)
    assert art.sha256 in msg
    assert hashlib.sha256(b"actual bytes").hexdigest() in msg
    assert str(file) in msg


def test_relative_url_is_a_file_beside_the_description(tmp_path: Path, cache: Path) -> None:
    # An artifact shipped in the repository: weights.yaml names the file relative to itself.
    data = os.urandom(4096)
    (tmp_path / "shipped.weights.h5").write_bytes(data)
    description = tmp_path / "weights.yaml"
    description.write_text(
        f"file_name: shipped.weights.h5\nsha256: {hashlib.sha256(data).hexdigest()}\n"
        f"size: {len(data)}\nurls:\n  - shipped.weights.h5\n"
    )
    art = WeightsArtifact.from_yaml(description)
    assert art.urls == ((tmp_path / "shipped.weights.h5").resolve().as_uri(),)
    path = fetch(art, progress=False)
    assert path.read_bytes() == data and path.parent.parent == cache
    (tmp_path / "shipped.weights.h5").write_bytes(data[:-1] + b"x")
    with pytest.raises(ArtifactError, match="sha256"):
        fetch(art, force=True, progress=False)


# --------------------------------------------------------------------------- a relative SEQZOO_CACHE (issue 26)

_KIPOI_LOAD = ("import sys, kipoi; m = kipoi.get_model(sys.argv[1], source='dir'); "
               "print(m.model.weights_path)")


@pytest.mark.kipoi
def test_a_relative_cache_is_the_users_directory_even_when_kipoi_works_inside_the_model(tmp_path, kipoi_home):
    import shutil

    from seqzoo.zoo.spec import find_model

    model = tmp_path / "model"
    shutil.copytree(find_model("Basset_Athaliana265"), model, ignore=shutil.ignore_patterns("example"))
    work = tmp_path / "work"
    work.mkdir()
    # as a shell sets it: the variable relative, PWD the directory it was set in
    env = dict(os.environ, HOME=str(kipoi_home), SEQZOO_CACHE="cache", PWD=str(work))
    done = subprocess.run([sys.executable, "-c", _KIPOI_LOAD, str(model)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip().splitlines()[-1]).is_relative_to(work / "cache")
    assert not (model / "cache").exists()
    # no PWD to say where the user was: never a cache inside the model directory, which publish would ship
    env.pop("PWD")
    done = subprocess.run([sys.executable, "-c", _KIPOI_LOAD, str(model)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and f"is inside the model directory {model}" in done.stderr
    assert not (model / "cache").exists()


def test_a_relative_cache_is_fixed_where_seqzoo_started(tmp_path):
    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start.mkdir()
    elsewhere.mkdir()
    code = ("import os, sys; from seqzoo.zoo.artifacts import cache_dir; os.chdir(sys.argv[1]); "
            "print(cache_dir())")
    done = subprocess.run([sys.executable, "-c", code, str(elsewhere)], cwd=start, capture_output=True, text=True,
                          env=dict(os.environ, SEQZOO_CACHE="c"), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(start / "c") and not (elsewhere / "c").exists()

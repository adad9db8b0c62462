"""Trained-weights artifacts: describe a weights file once, fetch it safely.

A :class:`WeightsArtifact` records what a weights file is (name, sha256, size,
where to download it, how it was produced). :func:`fetch` puts a verified copy
in the user cache and returns its path:

1. a verified file already in the cache is re-hashed and returned;
2. else, if ``$SEQZOO_MIRROR`` names a directory holding the file, it is
   verified and copied into the cache (offline / air-gapped use);
3. else each URL is tried in order with pooch; the download is verified. With
   ``$SEQZOO_OFFLINE`` set only ``file://`` URLs (files shipped beside the description) are
   read: no connection is made, and the error names each URL it did not reach and the mirror.

Files only ever appear under their final name after verification (download to
a temporary name in the same directory, check, then :func:`os.replace`), and a
:class:`filelock.FileLock` next to the file makes concurrent fetches of the same
artifact from several processes download it once.

**Deadlines.** A fetch's downloads, all its URLs together, must finish within
``$SEQZOO_FETCH_TIMEOUT`` seconds (default :data:`DEFAULT_FETCH_TIMEOUT`, 30 minutes), whatever
the server's pace: a server trickling bytes is cut off (each read also waits at most
:data:`DOWNLOAD_TIMEOUT`), the partial file is deleted and the error says so. A fetch waiting for
another process's download of the same file says who holds it (``<file>.lock.info``: process id,
host, start time) and for how long, and gives up after the same deadline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlparse
from urllib.request import url2pathname

import filelock
import pooch
import yaml

__all__ = [
    "ArtifactError",
    "OFFLINE_ENV",
    "WeightsArtifact",
    "cache_dir",
    "file_sha256",
    "cached_path",
    "verify",
    "fetch",
    "fetch_checkpoint",
    "file_md5",
    "is_cached",
    "offline",
]

#: Environment variable overriding the cache directory.
CACHE_ENV = "SEQZOO_CACHE"
#: Environment variable naming a local directory of artifact files (no network).
MIRROR_ENV = "SEQZOO_MIRROR"
#: Environment variable: when set (not "", "0" or "false"), seqzoo makes no network connection.
OFFLINE_ENV = "SEQZOO_OFFLINE"
#: Seconds one read of an HTTP download waits for the server before giving up.
DOWNLOAD_TIMEOUT = 60
#: Environment variable: seconds a whole fetch (every URL's download, or a wait for another
#: process's download) may take.
FETCH_TIMEOUT_ENV = "SEQZOO_FETCH_TIMEOUT"
#: The default of ``$SEQZOO_FETCH_TIMEOUT``: 30 minutes.
DEFAULT_FETCH_TIMEOUT = 1800.0
#: Seconds between the messages of a fetch waiting for another process's download.
LOCK_REPORT_INTERVAL = 30.0

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")
_FORCE_HINT = "re-run with force=True (`seqzoo fetch MODEL --force`)"
_MIRROR_HINT = "set {env} to a directory holding {name} to work offline"


def offline() -> bool:
    """Whether ``$SEQZOO_OFFLINE`` forbids every network connection."""
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0", "false", "False")


class ArtifactError(RuntimeError):
    """A weights artifact could not be described, found, downloaded or verified.

    The message names the artifact file, the URL or path involved, what went
    wrong and what the user can do about it.
    """


@dataclass(frozen=True)
class WeightsArtifact:
    """Description of one weights file (or of deterministic untrained weights).

    Attributes:
        file_name: Base name with its real extension, e.g. ``"basset-v1.weights.h5"``.
        sha256: Lower-case hex sha256 of the file; required unless untrained.
        md5: Lower-case hex md5, kept for kipoi (``fetch`` checks sha256 only).
        size: Size in bytes, checked before hashing when given.
        urls: Download URLs, tried in order.
        produced_by: Free text: training data, command, keras version...
        untrained_seed: When set, this is *not* a file: the model uses
            deterministic untrained weights generated from this seed, and
            ``sha256``/``urls`` must be absent.
        bfloat16_deviation: The largest ``|bfloat16 - float32|`` of these weights'
            predictions on real sequences, measured (``research/bfloat16_deviation.py``; the
            model card says on what); ``precision="bfloat16"`` warns when it is above
            ``seqzoo.runtime.BFLOAT16_BOUND`` or was not measured.
        int8_auroc_change, int8_auprc_change: How far validation mean AUROC and mean AUPRC
            move when these weights run in int8 (``seqzoo evaluate MODEL --precision int8``
            against float32, the model card says on what); ``precision="int8"`` is refused
            unless both were measured and are within ``seqzoo.runtime.INT8_BOUND``.
    """

    file_name: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    urls: tuple[str, ...] = ()
    produced_by: str = ""
    untrained_seed: int | None = None
    bfloat16_deviation: float | None = None
    int8_auroc_change: float | None = None
    int8_auprc_change: float | None = None

    def __post_init__(self) -> None:
        # Accept a list for urls but store a tuple so the instance stays hashable.
        object.__setattr__(self, "urls", tuple(self.urls))
        name = self.file_name
        # file_name becomes part of a cache path: refuse anything that could escape it.
        if (
            not isinstance(name, str)
            or not name
            or name in (".", "..")
            or "/" in name
            or "\\" in name
            or os.path.basename(name) != name
        ):
            raise ArtifactError(
                f"invalid artifact file_name {name!r}: it must be a bare file name "
                "such as 'basset-v1.weights.h5' (no directories)"
            )
        deviation = self.bfloat16_deviation
        if deviation is not None and (isinstance(deviation, bool) or not isinstance(deviation, (int, float))
                                      or not 0 <= deviation <= 1):
            raise ArtifactError(f"artifact {name} has an invalid bfloat16_deviation {deviation!r}: "
                                "expected the measured largest |bfloat16 - float32|, a number from 0 to 1")
        for key in ("int8_auroc_change", "int8_auprc_change"):
            change = getattr(self, key)
            if change is not None and (isinstance(change, bool) or not isinstance(change, (int, float))
                                       or not -1 <= change <= 1):
                raise ArtifactError(f"artifact {name} has an invalid {key} {change!r}: expected the measured "
                                    "change of a validation mean metric, a number from -1 to 1")
        if self.untrained_seed is not None:
            if self.sha256 is not None or self.urls:
                raise ArtifactError(
                    f"artifact {name} has untrained_seed={self.untrained_seed} and also "
                    "sha256/urls; an untrained artifact is not a file, remove one or the other"
                )
            return
        if self.sha256 is None:
            raise ArtifactError(
                f"artifact {name} has no sha256; give the sha256 of the file "
                "(WeightsArtifact.describe(path) computes it) or set untrained_seed"
            )
        if not isinstance(self.sha256, str) or not _SHA256_RE.match(self.sha256):
            raise ArtifactError(
                f"artifact {name} has an invalid sha256 {self.sha256!r}: "
                "expected 64 lower-case hex digits"
            )
        if self.md5 is not None and (
            not isinstance(self.md5, str) or not _MD5_RE.match(self.md5)
        ):
            raise ArtifactError(
                f"artifact {name} has an invalid md5 {self.md5!r}: "
                "expected 32 lower-case hex digits"
            )
        if self.size is not None and (
            isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0
        ):
            raise ArtifactError(
                f"artifact {name} has an invalid size {self.size!r}: "
                "expected a non-negative number of bytes"
            )

    @property
    def trained(self) -> bool:
        """True for a real weights file, False for seeded untrained weights."""
        return self.untrained_seed is None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> WeightsArtifact:
        """Read an artifact from a YAML mapping.

        Keys: ``file_name`` (required), ``sha256`` (required unless
        ``untrained_seed`` is set), ``md5``, ``size``, ``urls`` (list),
        ``produced_by``, ``untrained_seed``, ``bfloat16_deviation``, ``int8_auroc_change``,
        ``int8_auprc_change``.

        Raises:
            ArtifactError: unreadable file, not a mapping, unknown or missing
                key, or invalid value; the message names the file and the key.
        """
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ArtifactError(f"cannot read artifact description {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ArtifactError(
                f"artifact description {path} must be a YAML mapping with keys "
                f"{', '.join(_FIELDS)}; got {type(data).__name__}"
            )
        unknown = sorted(str(k) for k in data if k not in _FIELDS)
        if unknown:
            raise ArtifactError(
                f"artifact description {path} has unknown key(s) {', '.join(unknown)}; "
                f"allowed keys are {', '.join(_FIELDS)}"
            )
        required = ["file_name"]
        if data.get("untrained_seed") is None:
            required.append("sha256")
        for key in required:
            if data.get(key) is None:
                raise ArtifactError(
                    f"artifact description {path} is missing required key '{key}'"
                )
        urls = data.get("urls") or []
        if isinstance(urls, str) or not isinstance(urls, list):
            raise ArtifactError(
                f"artifact description {path}: key 'urls' must be a list of URLs, "
                f"got {urls!r}"
            )
        kwargs = {k: v for k, v in data.items() if v is not None}
        # A URL without a scheme is a path relative to this YAML file: an artifact shipped in
        # the repository beside its description. It is fetched (copied and verified) like any.
        kwargs["urls"] = tuple(
            str(u) if urlparse(str(u)).scheme else (path.parent / str(u)).resolve().as_uri()
            for u in urls
        )
        if "produced_by" in kwargs:
            kwargs["produced_by"] = str(kwargs["produced_by"])
        try:
            return cls(**kwargs)
        except ArtifactError as exc:
            raise ArtifactError(f"artifact description {path}: {exc}") from exc

    def to_yaml(self, path: str | os.PathLike[str]) -> None:
        """Write this artifact as a YAML mapping readable by :meth:`from_yaml`.

        Keys whose value is unset (None, empty) are left out.
        """
        data: dict[str, Any] = {}
        for field in _FIELDS:
            value = getattr(self, field)
            if value is None or value == "" or value == ():
                continue
            data[field] = list(value) if field == "urls" else value
        Path(path).write_text(
            yaml.safe_dump(data, sort_keys=False, default_flow_style=False),
            encoding="utf-8",
        )

    @classmethod
    def describe(
        cls,
        path: str | os.PathLike[str],
        urls: Iterable[str] = (),
        produced_by: str = "",
    ) -> WeightsArtifact:
        """Describe an existing weights file: computes its sha256, md5 and size.

        ``file_name`` is the file's base name.
        """
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"cannot describe {path}: no such file")
        sha256, md5 = _hashes(path)
        return cls(
            file_name=path.name,
            sha256=sha256,
            md5=md5,
            size=path.stat().st_size,
            urls=tuple(urls),
            produced_by=produced_by,
        )


_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(WeightsArtifact))


def _hashes(path: Path) -> tuple[str, str]:
    """Return (sha256, md5) hex digests of a file, read in chunks."""
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
    return sha256.hexdigest(), md5.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _require_trained(artifact: WeightsArtifact) -> None:
    if not artifact.trained:
        raise ArtifactError(
            f"artifact {artifact.file_name} is untrained; there is no file to fetch "
            f"(the model builds deterministic untrained weights from untrained_seed="
            f"{artifact.untrained_seed} instead)"
        )


def _start_directory() -> str:
    """The directory a relative ``$SEQZOO_CACHE`` means, fixed when seqzoo is first imported: the
    working directory then, except inside a model (or dataloader) directory that kipoi changed
    into to load it (kipoi imports seqzoo from there): then ``$PWD``, the directory of the shell
    where the variable was set, when it names another directory."""
    cwd = os.getcwd()
    pwd = os.environ.get("PWD", "")
    inside_kipoi = any(os.path.isfile(os.path.join(cwd, name)) for name in ("model.yaml", "dataloader.yaml"))
    if inside_kipoi and os.path.isabs(pwd) and os.path.isdir(pwd) and os.path.realpath(pwd) != os.path.realpath(cwd):
        return pwd
    return cwd


_START = _start_directory()


def cache_dir() -> Path:
    """The seqzoo cache directory, created on demand.

    ``$SEQZOO_CACHE`` if set, else the user cache directory for "seqzoo"
    (platformdirs, via :func:`pooch.os_cache`), e.g. ``~/.cache/seqzoo``. A relative
    ``$SEQZOO_CACHE`` is taken relative to the directory seqzoo started in
    (:func:`_start_directory`), whatever the working directory later (kipoi works inside the
    model directory). The cache is never inside the seqzoo package nor inside a model directory
    (``seqzoo publish`` would ship it): ArtifactError.
    """
    env = os.environ.get(CACHE_ENV)
    path = Path(_START, Path(env).expanduser()) if env else pooch.os_cache("seqzoo").expanduser()
    path = path.resolve()
    # Weights must never end up inside the installed package / source tree.
    package_dir = Path(__file__).resolve().parents[1]  # seqzoo/, this file being seqzoo/zoo/artifacts.py
    if path == package_dir or package_dir in path.parents:
        raise ArtifactError(
            f"cache directory {path} is inside the seqzoo package ({package_dir}); "
            f"set {CACHE_ENV} to a directory outside it"
        )
    model_dir = next((p for p in (path, *path.parents) if (p / "model.yaml").is_file()), None)
    if model_dir is not None:
        raise ArtifactError(
            f"cache directory {path} is inside the model directory {model_dir}, which would ship it; "
            f"set {CACHE_ENV} to a directory outside it (an absolute path)"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArtifactError(
            f"cannot create cache directory {path}: {exc}; "
            f"set {CACHE_ENV} to a writable directory"
        ) from exc
    return path


def cached_path(artifact: WeightsArtifact) -> Path:
    """Where ``artifact`` lives in the cache: ``cache_dir()/<sha256[:12]>/<file_name>``.

    The hash prefix in the path keeps two artifacts with the same file name
    apart. The file may not exist yet.
    """
    _require_trained(artifact)
    assert artifact.sha256 is not None  # guaranteed for trained artifacts
    return cache_dir() / artifact.sha256[:12] / artifact.file_name


def _problem(path: Path, artifact: WeightsArtifact) -> str | None:
    """Say how the file at ``path`` differs from ``artifact`` (None if it matches)."""
    if not path.is_file():
        return "the file does not exist"
    size = path.stat().st_size
    actual = file_sha256(path)
    if artifact.size is not None and size != artifact.size:
        return (
            f"its size is {size} bytes, expected {artifact.size} bytes "
            f"(sha256 {actual}, expected {artifact.sha256})"
        )
    if actual != artifact.sha256:
        return f"its sha256 is {actual}, expected {artifact.sha256}"
    return None


def verify(path: str | os.PathLike[str], artifact: WeightsArtifact) -> None:
    """Check that ``path`` has the artifact's size and sha256.

    Raises:
        ArtifactError: the file is missing or differs; the message gives the
            expected and actual values.
    """
    _require_trained(artifact)
    problem = _problem(Path(path), artifact)
    if problem is not None:
        raise ArtifactError(f"{artifact.file_name} at {path} failed verification: {problem}")


def is_cached(artifact: WeightsArtifact) -> bool:
    """True if the artifact is in the cache and its size and sha256 check out."""
    if not artifact.trained:
        return False
    return _problem(cached_path(artifact), artifact) is None


def _temp_path(final: Path) -> Path:
    """A fresh, empty temporary file next to ``final`` (same filesystem => atomic replace)."""
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
    os.close(fd)
    return Path(name)


class _Mismatch(ArtifactError):
    """A freshly written file failed verification (internal; callers add context)."""


def _install(final: Path, artifact: WeightsArtifact, write: Callable[[Path], Any]) -> None:
    """Write via ``write(tmp_path)`` into a temp file, verify, then move to ``final``.

    The temporary file is removed on any failure, so only verified files ever
    carry the final name. Raises _Mismatch when the written file is not the
    artifact; exceptions from ``write`` propagate.
    """
    tmp = _temp_path(final)
    try:
        write(tmp)
        problem = _problem(tmp, artifact)
        if problem is not None:
            raise _Mismatch(problem)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def fetch_timeout() -> float:
    """Seconds a whole fetch may take: ``$SEQZOO_FETCH_TIMEOUT`` or :data:`DEFAULT_FETCH_TIMEOUT`."""
    text = os.environ.get(FETCH_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_FETCH_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ArtifactError(f"{FETCH_TIMEOUT_ENV}={text!r}: give the seconds a download may take, a positive number")
    return value


class _DeadlinePassed(ArtifactError):
    """A download did not finish before the fetch's deadline (internal)."""


def _http_download(url: str, output: str, deadline: float, progress: bool) -> None:
    """Stream ``url`` into ``output``, giving up at ``deadline`` (``time.monotonic()``): each read
    returns what has arrived (``read1``) and waits at most :data:`DOWNLOAD_TIMEOUT` or until the
    deadline, so a server sending a byte at a time cannot keep it going."""
    import requests
    from tqdm import tqdm

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _DeadlinePassed(f"not finished within {FETCH_TIMEOUT_ENV}={fetch_timeout():g} s; "
                                  f"the partial download was deleted (raise {FETCH_TIMEOUT_ENV} for a slow link)")
        return remaining

    with requests.get(url, stream=True, timeout=min(DOWNLOAD_TIMEOUT, left())) as response:
        response.raise_for_status()
        size = int(response.headers.get("Content-Length") or 0) or None
        with open(output, "wb") as out, tqdm(total=size, unit="B", unit_scale=True, disable=not progress) as bar:
            while True:
                left()
                chunk = response.raw.read1(_CHUNK, decode_content=True)
                if not chunk:
                    break
                out.write(chunk)
                bar.update(len(chunk))
        left()


def _downloader(url: str, progress: bool, deadline: float):
    """A downloader for ``url``: HTTP(S) bounded by ``deadline`` (``_http_download``), files copied,
    other schemes by pooch."""
    scheme = urlparse(url).scheme
    if scheme in ("http", "https"):
        return lambda url, output, _: _http_download(url, output, deadline, progress)
    if scheme == "file":
        return lambda url, output, _: shutil.copyfile(url2pathname(urlparse(url).path), output)
    return pooch.choose_downloader(url, progressbar=progress)


def _from_mirror(final: Path, artifact: WeightsArtifact) -> bool:
    """Copy the artifact from ``$SEQZOO_MIRROR`` if it is there. True if copied."""
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        return False
    source = Path(mirror).expanduser() / artifact.file_name
    if not source.is_file():
        return False
    try:
        _install(final, artifact, lambda tmp: shutil.copyfile(source, tmp))
    except _Mismatch as exc:
        raise ArtifactError(
            f"mirror copy of {artifact.file_name} at {source} ({MIRROR_ENV}) is not the "
            f"expected file: {exc}; nothing was copied. Replace it with the right "
            f"{artifact.file_name} or unset {MIRROR_ENV}"
        ) from None
    except OSError as exc:
        raise ArtifactError(
            f"cannot copy {artifact.file_name} from mirror {source} ({MIRROR_ENV}) "
            f"to {final}: {exc}"
        ) from exc
    return True


def _from_urls(final: Path, artifact: WeightsArtifact, progress: bool, deadline: float) -> None:
    """Download from the first URL that works, all before ``deadline``; raise listing every failure."""
    mirror_note = (
        f"{MIRROR_ENV}={os.environ[MIRROR_ENV]} does not hold {artifact.file_name}"
        if os.environ.get(MIRROR_ENV)
        else _MIRROR_HINT.format(env=MIRROR_ENV, name=artifact.file_name)
    )
    if not artifact.urls:
        raise ArtifactError(
            f"{artifact.file_name} is not in the cache ({final}) and the artifact has no "
            f"download URLs; {mirror_note}"
        )
    errors: list[str] = []
    for url in artifact.urls:
        if offline() and urlparse(url).scheme != "file":
            errors.append(f"  {url}: not reached, {OFFLINE_ENV} is set")
            continue

        def download(tmp: Path, url: str = url) -> None:
            _downloader(url, progress, deadline)(url, str(tmp), None)

        try:
            _install(final, artifact, download)
            return
        except _DeadlinePassed as exc:  # no time left for the other URLs either
            errors.append(f"  {url}: {exc}")
            break
        except _Mismatch as exc:
            errors.append(f"  {url}: downloaded file is not the expected one: {exc}; "
                          "the file was discarded")
        except Exception as exc:  # noqa: BLE001 - HTTP errors, refused, cut off, ...
            errors.append(f"  {url}: {type(exc).__name__}: {exc}")
    raise ArtifactError(
        f"could not download {artifact.file_name} from any of its {len(artifact.urls)} "
        "URL(s):\n" + "\n".join(errors)
        + (f"\nUnset {OFFLINE_ENV} to download it, or {mirror_note}" if offline()
           else f"\nCheck the network or the URLs, or {mirror_note}")
    )


def fetch(artifact: WeightsArtifact, force: bool = False, progress: bool = True) -> Path:
    """Return the path of a verified copy of ``artifact`` in the cache.

    Uses the cached file (re-hashed on every call), else the ``$SEQZOO_MIRROR``
    directory, else each URL in turn. ``force=True`` ignores (and replaces) the
    cached file. Safe to call from several processes at once: one downloads, the
    others wait, saying who holds the download. Downloads, and the wait, end within
    ``$SEQZOO_FETCH_TIMEOUT`` seconds (module docstring).

    Raises:
        ArtifactError: the artifact is untrained, the cached file is corrupt
            (without ``force``), the mirror file is wrong, every URL failed, or the
            deadline passed.
    """
    _require_trained(artifact)
    final = cached_path(artifact)
    final.parent.mkdir(parents=True, exist_ok=True)

    def cached() -> Path | None:
        if not final.exists():
            return None
        problem = _problem(final, artifact)
        if problem is not None:
            # Refuse rather than silently re-download: a corrupt cache may mean a
            # disk problem or tampering the user should know about.
            raise ArtifactError(
                f"cached {artifact.file_name} at {final} is corrupt: {problem}. "
                f"Delete {final} or {_FORCE_HINT} to download it again"
            )
        return final

    if not force and (hit := cached()) is not None:
        return hit
    # Serialise fetches of this artifact across processes; the lock file lives
    # next to the final file so different artifacts do not block each other.
    timeout = fetch_timeout()
    with _download_lock(final, timeout):
        # Another process may have finished the download while we waited.
        if not force and (hit := cached()) is not None:
            return hit
        if not _from_mirror(final, artifact):
            _from_urls(final, artifact, progress, time.monotonic() + timeout)
    return final


def file_md5(path: str | os.PathLike[str]) -> str:
    """Hex md5 of a file (kipoi records its files' md5 only)."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_checkpoint(url: str, md5: str, file_name: str, progress: bool = True) -> Path:
    """A verified local copy of a file another project publishes with its md5 only (kipoi's PyTorch
    checkpoints): the cache (``checkpoints/<md5>/<file_name>``, re-checked every call), else
    ``$SEQZOO_MIRROR/<file_name>``, else ``url`` within ``$SEQZOO_FETCH_TIMEOUT``. A file whose md5
    differs is deleted and refused, naming both; with ``$SEQZOO_OFFLINE`` no connection is made and
    the error names the URL and the mirror variable."""
    final = cache_dir() / "checkpoints" / md5 / file_name
    final.parent.mkdir(parents=True, exist_ok=True)

    def cached() -> bool:
        return final.is_file() and file_md5(final) == md5

    if cached():
        return final
    timeout = fetch_timeout()
    with _download_lock(final, timeout):
        if cached():
            return final
        mirror = Path(os.environ[MIRROR_ENV]).expanduser() / file_name if os.environ.get(MIRROR_ENV) else None
        if mirror is not None and mirror.is_file():
            source, write = f"{mirror} ({MIRROR_ENV})", lambda tmp: shutil.copyfile(mirror, tmp)
        elif offline():
            raise ArtifactError(f"{file_name} is not in the cache and {OFFLINE_ENV} is set: not downloading {url}; "
                                f"put {file_name} in a folder named by {MIRROR_ENV} to use it offline")
        else:
            deadline = time.monotonic() + timeout
            source, write = url, lambda tmp: _downloader(url, progress, deadline)(url, str(tmp), None)
        tmp = _temp_path(final)
        try:
            try:
                write(tmp)
            except _DeadlinePassed as exc:  # a server trickling bytes: name where from
                raise ArtifactError(f"could not download {file_name} from {source}: {exc}") from None
            except ArtifactError:
                raise
            except Exception as exc:  # noqa: BLE001 - HTTP errors, refused, cut off, ...
                raise ArtifactError(f"could not download {file_name} from {source}: {type(exc).__name__}: {exc}; "
                                    + _MIRROR_HINT.format(env=MIRROR_ENV, name=file_name)) from exc
            got = file_md5(tmp)
            if got != md5:
                raise ArtifactError(f"{file_name} from {source} has md5 {got}, not the published {md5}: it is not "
                                    "the published file; it was discarded")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
    return final


def _lock_holder(info: Path) -> str:
    """Who holds a download lock, from its info file: 'process 123 on host h for 12 s'."""
    try:
        holder = json.loads(info.read_text())
        return (f"process {holder['pid']} on {holder['host']} for "
                f"{max(0.0, time.time() - holder['since']):.0f} s")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (no lock information yet)"


class _download_lock:
    """The cross-process lock of one cached file's download, waited for at most ``timeout`` seconds,
    saying while it waits who holds it; the holder's pid, host and start time are written beside
    the lock (``<file>.lock.info``) for the others to read."""

    def __init__(self, final: Path, timeout: float):
        self.final, self.timeout = final, timeout
        self.lock = filelock.FileLock(str(final) + ".lock")
        self.info = Path(str(final) + ".lock.info")

    def __enter__(self):
        start = time.monotonic()
        reported = None
        while True:
            waited = time.monotonic() - start
            try:
                self.lock.acquire(timeout=min(1.0, max(0.01, self.timeout - waited)))
                break
            except filelock.Timeout:
                waited = time.monotonic() - start
                if waited >= self.timeout:
                    raise ArtifactError(
                        f"gave up waiting for {self.final.name} after {waited:.0f} s ({FETCH_TIMEOUT_ENV}): "
                        f"{_lock_holder(self.info)} is downloading it (lock {self.lock.lock_file}). Try again "
                        "later, or stop that process") from None
                if reported is None or time.monotonic() - reported >= LOCK_REPORT_INTERVAL:
                    reported = time.monotonic()
                    logger.warning("waiting for %s: %s is downloading it; waited %.0f s of %g (%s)",
                                   self.final.name, _lock_holder(self.info), waited, self.timeout, FETCH_TIMEOUT_ENV)
        try:
            self.info.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}))
        except OSError:
            pass  # the information is a courtesy to waiting processes
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.info.unlink(missing_ok=True)
        finally:
            self.lock.release()

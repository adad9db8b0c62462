"""Model stores: publish a checked model directory, list a store, install a pinned version (no keras).

A store is any fsspec location: a folder (plain path or ``file://``), ``s3://`` (s3fs; endpoint and
credentials from the standard AWS environment variables, ``AWS_ENDPOINT_URL`` included), ``gs://``,
``hf://`` and, read-only, ``http(s)://`` (a static web server serving a published folder). Layout::

    STORE/NAME/VERSION/manifest.json           every file's relative path, size and sha256, the folder
                                               holding them and the summary the catalogue shows
    STORE/NAME/VERSION/files-<token>/<files>   model.yaml, weights.yaml, the weights, card, labels ...
    STORE/catalogue.json                       an index derived from the manifests:
                                               {"format": ..., "models": {NAME: {VERSION: {manifest_sha256, ...}}}}

**Concurrent publishers.** A published version is immutable and its ``manifest.json`` is the one
commit point: each publisher uploads its files into a folder of its own (``files-<token>``), then
creates the manifest with an exclusive write (a hard link on a folder, S3's conditional
``If-None-Match: *`` put, ``mode="create"`` elsewhere). Exactly one publisher of a version wins;
the others delete their folder and fail with "already published"; nobody's files mix. The
catalogue is never edited, only derived: after its manifest is in, a publisher lists every
manifest of the store, writes the catalogue they make (atomically: a rename on a folder, one PUT on
an object store), reads the store again and repeats until the catalogue it reads back lists every
manifest it finds; the last writer thus always leaves a complete catalogue. A catalogue that is
missing versions or is not valid JSON is repaired by the next publish (publishing an existing
version repairs it too). Publishing never creates a bucket.

``install`` downloads into a temporary folder in the cache, checks every file's size (reading no
byte past the declared size) and sha256 against the manifest (and the manifest against the
catalogue), applies the rules of ``seqzoo check`` (:func:`seqzoo.zoo.trust.package_problems`) to
every file, then renames the folder into place under a file lock: a version is visible complete or
not at all. An installed package is identified by its store and its manifest's sha256
(``origin.json``): naming another store, or a store whose catalogue now says something else for
that version, is noticed.

Deadlines: connecting, and each read, wait at most ``$SEQZOO_STORE_TIMEOUT`` seconds (default
:data:`STORE_TIMEOUT`); a whole file may take that plus its declared size at :data:`MIN_RATE`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import filelock

from seqzoo.suggest import did_you_mean
from seqzoo.version import __version__
from seqzoo.zoo import trust
from seqzoo.zoo.artifacts import OFFLINE_ENV, cache_dir, file_sha256, offline

__all__ = ["CATALOGUE", "FORMAT", "MANIFEST", "OFFLINE_ENV", "Catalogue", "StoreError", "UnsafePackageError",
           "InstallRef", "install", "installed_dir", "installed_versions", "list_installed", "list_store", "origin",
           "parse_ref", "put_package", "read_catalogue", "require_unpublished", "semver_key", "store_timeout"]

FORMAT = "seqzoo-model-package/2"  # /2: the manifest names the folder of its files (files_root)
MANIFEST = "manifest.json"
CATALOGUE = "catalogue.json"
ORIGIN = "origin.json"  # written beside an installed package: where it came from
#: Default seconds for connecting to a store and for each read (``$SEQZOO_STORE_TIMEOUT``).
STORE_TIMEOUT = 20
STORE_TIMEOUT_ENV = "SEQZOO_STORE_TIMEOUT"
#: The slowest pace a download is granted, in bytes per second: a file's deadline is the store
#: timeout plus its declared size at this rate.
MIN_RATE = 32_000
#: The largest manifest or catalogue read, in bytes.
MAX_JSON_BYTES = 64 << 20

logger = logging.getLogger(__name__)

_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
_OBJECT_STORES = ("s3", "s3a", "gs", "gcs")  # bucket-based: publishing never creates the bucket


class StoreError(RuntimeError):
    """A store that cannot be read or written, or a version that exists, is missing or fails its checks."""


class UnsafePackageError(StoreError):
    """A package that would run code seqzoo did not write, or breaks a rule ``trust_code`` cannot lift."""


def semver_key(version: str) -> tuple:
    """Sort key of a SemVer version (a release sorts after its pre-releases); ValueError if malformed."""
    m = _SEMVER.match(version) if isinstance(version, str) else None
    if not m:
        raise ValueError(f"version {version!r} is not SemVer (MAJOR.MINOR.PATCH, e.g. 1.0.0)")
    major, minor, patch, pre = m.groups()
    return int(major), int(minor), int(patch), pre is None, pre or ""


def store_timeout() -> float:
    """``$SEQZOO_STORE_TIMEOUT`` seconds (default :data:`STORE_TIMEOUT`)."""
    text = os.environ.get(STORE_TIMEOUT_ENV, "")
    try:
        value = float(text) if text else float(STORE_TIMEOUT)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise StoreError(f"{STORE_TIMEOUT_ENV}={text!r}: expected a positive number of seconds")
    return value


def _protocol(store: str) -> str:
    return store.split("://", 1)[0].lower() if "://" in store else "file"


def _filesystem(store: str):
    """``(fsspec filesystem, root path)`` of a store URI, with bounded network time."""
    import fsspec

    protocol = _protocol(store)
    if offline() and protocol != "file":
        raise StoreError(f"{OFFLINE_ENV} is set: not reaching the store {store}; installed models work "
                         f"offline, install others first without {OFFLINE_ENV}")
    timeout = store_timeout()
    options: dict = {}
    if protocol in ("http", "https"):
        import aiohttp

        # No total: a large file may take long; the per-file deadline (_copy_bounded) ends it.
        options["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(total=None, sock_connect=timeout,
                                                                     sock_read=timeout)}
    elif protocol in ("s3", "s3a"):
        options["config_kwargs"] = {"connect_timeout": timeout, "read_timeout": timeout,
                                    "retries": {"max_attempts": 2}}
    try:
        return fsspec.core.url_to_fs(store, **options)
    except (ImportError, ValueError) as e:
        raise StoreError(f"cannot open the store {store}: {e}") from e


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def _cause(e: BaseException) -> str:
    """An exception as words, also when it carries none (a timeout)."""
    text = str(e).strip()
    if isinstance(e, TimeoutError) or type(e).__name__ in ("FSTimeoutError", "ServerTimeoutError"):
        return f"no answer within {store_timeout():g} s ({STORE_TIMEOUT_ENV}){': ' + text if text else ''}"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _protocol_of(fs) -> str:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return "file" if protocol == "local" else protocol


def _copy_bounded(fs, source: str, write, limit: int, where: str, *, declared: bool = True) -> int:
    """Stream ``source`` into ``write``; returns the bytes read. Refused: a byte past ``limit``, and a
    download slower than the store timeout plus :data:`MIN_RATE` bytes per second for ``limit``
    bytes (``declared``: a file's size from its manifest) or for what came, 1 MiB at least (a JSON
    file of unknown size)."""
    start, timeout = time.monotonic(), store_timeout()
    received = 0
    streaming = {"block_size": 0, "size": max(limit, 1)} if _protocol_of(fs) in ("http", "https") else {}
    with fs.open(source, "rb", **streaming) as stream:
        while True:
            chunk = stream.read(min(_CHUNK, limit + 1 - received))
            if not chunk:
                return received
            received += len(chunk)
            if received > limit:
                raise StoreError(f"{where}: larger than the {limit} bytes {'declared' if declared else 'allowed'}; "
                                 "stopped reading, nothing installed")
            write(chunk)
            allowed = timeout + (limit if declared else max(received, 1 << 20)) / MIN_RATE
            if time.monotonic() - start > allowed:
                raise StoreError(f"{where}: {received} bytes came in {time.monotonic() - start:.0f} s, slower than "
                                 f"{MIN_RATE} B/s after {timeout:g} s ({STORE_TIMEOUT_ENV}); stopped, nothing "
                                 f"installed; set {STORE_TIMEOUT_ENV} to wait longer")


def _read_bytes(fs, path: str, store: str, limit: int = MAX_JSON_BYTES) -> bytes | None:
    """A file of the store (at most ``limit`` bytes), None if it does not exist."""
    parts: list[bytes] = []
    try:
        _copy_bounded(fs, path, parts.append, limit, f"{store}: {path}", declared=False)
    except FileNotFoundError:
        return None
    except StoreError:
        raise
    except Exception as e:  # network errors of every file system: name the store, the file, the cause
        raise StoreError(f"cannot read {path} from the store {store}: {_cause(e)}") from e
    return b"".join(parts)


def _read_json(fs, path: str, store: str):
    """A JSON file of the store, None if it does not exist; unreadable or invalid: StoreError."""
    data = _read_bytes(fs, path, store)
    if data is None:
        return None
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StoreError(f"{store}: {path} is not valid JSON: {e}") from e


# -- the catalogue: an index derived from the manifests ------------------------------------------------

@dataclass(frozen=True)
class Catalogue:
    """A store's catalogue as read: ``models`` ``{name: {version: entry}}`` holds the entries that are
    well formed; ``problems`` says which were left out and why (one bad entry hides nothing else)."""

    models: dict
    problems: tuple[str, ...] = ()


def _valid_models(data, where: str) -> Catalogue:
    """The well-formed entries of a parsed catalogue (module docstring: the layout)."""
    if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
        return Catalogue({}, (f"{where}: not a catalogue (expected {{\"format\": ..., \"models\": {{NAME: "
                              f"{{VERSION: ...}}}}}}, got {type(data).__name__}"
                              f"{'' if not isinstance(data, dict) else ' models ' + type(data.get('models')).__name__})",))
    models: dict = {}
    problems = []
    for name, versions in data.get("models", {}).items():
        if not _NAME.match(str(name)):
            problems.append(f"{where}: model name {name!r} is not a valid name; left out")
            continue
        if not isinstance(versions, dict):
            problems.append(f"{where}: {name}: expected {{VERSION: entry}}, got {type(versions).__name__}; left out")
            continue
        for version, entry in versions.items():
            if not _SEMVER.match(str(version)):
                problems.append(f"{where}: {name} version {version!r} is not SemVer; left out")
            elif not isinstance(entry, dict) or not _SHA256.match(str(entry.get("manifest_sha256", ""))):
                problems.append(f"{where}: {name} {version}: no valid manifest_sha256; left out")
            else:
                models.setdefault(name, {})[version] = entry
    return Catalogue(models, tuple(problems))


def read_catalogue(store: str) -> Catalogue:
    """The catalogue of ``store`` (an empty store has none: no models)."""
    fs, root = _filesystem(store)
    path = _join(root, CATALOGUE)
    data = _read_json(fs, path, store)
    if data is None:
        try:
            exists = fs.exists(root)
        except Exception as e:  # noqa: BLE001 - network errors: name the store
            raise StoreError(f"cannot reach the store {store}: {_cause(e)}") from e
        if not exists:
            raise StoreError(f"the store {store} does not exist")
        return Catalogue({})
    return _valid_models(data, f"{store}/{CATALOGUE}")


def list_store(store: str) -> dict[str, dict[str, dict]]:
    """``{name: {version: catalogue entry}}`` of a store's well-formed entries (:func:`read_catalogue`)."""
    catalogue = read_catalogue(store)
    for problem in catalogue.problems:
        logger.warning(problem)
    return catalogue.models


def _derived_catalogue(fs, root: str, store: str) -> dict:
    """The catalogue the store's manifests make: every ``NAME/VERSION/manifest.json``."""
    fs.invalidate_cache()  # listings are cached by object stores' file systems
    paths = fs.glob(_join(root, "*", "*", MANIFEST))
    models: dict = {}
    for path in sorted(paths):
        name, version = PurePosixPath(path).parts[-3:-1]
        if not _NAME.match(name) or not _SEMVER.match(version):
            continue
        data = _read_bytes(fs, path, store)
        if data is None:
            continue
        try:
            summary = json.loads(data).get("summary") or {}
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            logger.warning("%s: %s is not a valid manifest; not listed", store, path)
            continue
        models.setdefault(name, {})[version] = {"manifest_sha256": hashlib.sha256(data).hexdigest(),
                                                **(summary if isinstance(summary, dict) else {})}
    return {"format": FORMAT, "models": models}


def _refresh_catalogue(fs, root: str, store: str, attempts: int = 50) -> None:
    """Write the catalogue the manifests make until the catalogue read back is that (module docstring)."""
    path = _join(root, CATALOGUE)
    for _ in range(attempts):
        wanted = _derived_catalogue(fs, root, store)
        try:
            current = _read_json(fs, path, store)
        except StoreError:
            current = None  # not valid JSON: replaced below
        known = _valid_models(current, "").models if current is not None else {}
        for name, versions in wanted["models"].items():  # a format /1 manifest has no summary: keep the
            for version, entry in versions.items():      # catalogue's, when it lists that very manifest
                old = known.get(name, {}).get(version, {})
                if len(entry) == 1 and old.get("manifest_sha256") == entry["manifest_sha256"]:
                    versions[version] = old
        if current == wanted:
            return
        _atomic_write(fs, path, json.dumps(wanted, indent=1, sort_keys=True).encode())
        time.sleep(secrets.randbelow(50) / 1000)  # let a concurrent writer's catalogue land before re-reading
    raise StoreError(f"{store}: the catalogue kept changing under {attempts} rewrites; publish again to repair it")


def _is_local(fs) -> bool:
    return _protocol_of(fs) == "file"


def _atomic_write(fs, path: str, data: bytes) -> None:
    """Replace ``path`` whole: a rename on a folder, one PUT on an object store."""
    if _is_local(fs):
        tmp = f"{path}.{secrets.token_hex(6)}.tmp"
        Path(tmp).write_bytes(data)
        os.replace(tmp, path)
    else:
        fs.pipe_file(path, data)


def _exclusive_write(fs, path: str, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it exists, as one atomic step; False if it existed."""
    if _is_local(fs):
        tmp = f"{path}.{secrets.token_hex(6)}.tmp"
        Path(tmp).write_bytes(data)
        try:
            os.link(tmp, path)  # fails if path exists; readers see the whole file or none
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
    try:
        fs.pipe_file(path, data, mode="create")  # S3: If-None-Match: * (a conditional put)
        return True
    except FileExistsError:  # s3fs's word for 412 Precondition Failed
        return False


def _require_bucket(fs, root: str, store: str) -> None:
    """Publishing never creates a bucket: a mistyped one is an error."""
    bucket = root.strip("/").split("/", 1)[0]
    try:
        exists = fs.exists(bucket)
    except Exception as e:  # noqa: BLE001 - credentials, network: name the store
        raise StoreError(f"cannot reach the store {store}: {_cause(e)}") from e
    if not exists:
        raise StoreError(f"{store}: the bucket {bucket!r} does not exist (or these credentials cannot see it); "
                         "seqzoo never creates a bucket: check the name, or create it first")


# -- publishing --------------------------------------------------------------------------------------

def _check_package(directory: Path, files: list[str], trust_code: bool, action: str) -> None:
    problems = trust.package_problems(directory, files, trust_code=trust_code)
    if problems:
        lifted = set(problems) - set(trust.package_problems(directory, files, trust_code=True))
        raise UnsafePackageError(f"{action} refused: {directory}: " + "; ".join(problems)
                                 + (" (pass --trust-code to accept code)" if lifted else ""))


def _publishable_files(directory: Path) -> list[str]:
    files = trust.package_files(directory)
    for rel in files:
        if (directory / rel).is_symlink():
            raise StoreError(f"{directory / rel}: a link; a model package holds plain files only")
    return [f for f in files if f not in (MANIFEST, ORIGIN)]  # an installed copy's own records


def put_package(directory: str | os.PathLike, store: str, name: str, version: str, *,
                info: dict | None = None, trust_code: bool = False) -> dict:
    """Upload a model directory as ``store/name/version`` (module docstring); returns its manifest.

    The caller has checked the model (``seqzoo.sharing.publish`` runs ``seqzoo check`` first);
    ``info`` is the summary the catalogue shows (targets, license, modality, doc).
    """
    directory = Path(directory)
    semver_key(version)
    if not _NAME.match(name):
        raise StoreError(f"model name {name!r}: use letters, digits, '_', '.', '-'")
    files = _publishable_files(directory)
    _check_package(directory, files, trust_code, "publish")
    if _protocol(store) in ("http", "https"):
        raise StoreError(f"{store}: an http(s) store is read-only; publish to its folder, S3 or another store")
    fs, root = _filesystem(store)
    if _protocol(store) in _OBJECT_STORES:
        _require_bucket(fs, root, store)
    target = _join(root, name, version)
    manifest_path = _join(target, MANIFEST)
    require_unpublished(store, name, version)
    files_root = f"files-{secrets.token_hex(8)}"  # this publisher's own folder: nobody else writes here
    manifest = {"format": FORMAT, "seqzoo": __version__, "name": name, "version": version,
                "files_root": files_root, "summary": dict(info or {}),
                "files": [{"path": rel, "size": (directory / rel).stat().st_size,
                           "sha256": file_sha256(directory / rel)} for rel in files]}
    try:
        for rel in files:
            if _is_local(fs):
                fs.makedirs(_join(target, files_root, *rel.split("/")[:-1]), exist_ok=True)
            fs.put_file(str(directory / rel), _join(target, files_root, rel))
        won = _exclusive_write(fs, manifest_path, json.dumps(manifest, indent=1).encode())
    except BaseException:
        _remove_quietly(fs, _join(target, files_root))
        raise
    if not won:
        _remove_quietly(fs, _join(target, files_root))
        require_unpublished(store, name, version)
    _refresh_catalogue(fs, root, store)
    return manifest


def _remove_quietly(fs, path: str) -> None:
    try:
        fs.rm(path, recursive=True)
    except Exception as e:  # noqa: BLE001 - a leftover folder is harmless: no manifest names it
        logger.warning("could not remove %s: %s", path, _cause(e))


def require_unpublished(store: str, name: str, version: str) -> None:
    """StoreError if ``store`` holds ``name`` ``version`` (its manifest is written); the catalogue is
    repaired first, so a version a crash left unlisted is listed from then on. A missing bucket is
    an error too (publishing never creates one)."""
    fs, root = _filesystem(store)
    if _protocol(store) in _OBJECT_STORES:
        _require_bucket(fs, root, store)
    fs.invalidate_cache()
    manifest_path = _join(root, name, version, MANIFEST)
    if fs.exists(manifest_path):
        _refresh_catalogue(fs, root, store)
        raise StoreError(f"{store}: {name} {version} is already published ({manifest_path}); a published "
                         "version never changes: raise info.version in model.yaml")


# -- installing --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InstallRef:
    """``STORE/NAME[@VERSION]`` split into its parts (version None: the newest)."""

    store: str
    name: str
    version: str | None


def parse_ref(ref: str) -> InstallRef:
    """Split ``STORE/NAME[@VERSION]``; a folder store is made absolute (it identifies the package)."""
    head, _, version = ref.rstrip("/").partition("@")
    store, _, name = head.rpartition("/")
    if not store or not name:
        raise StoreError(f"{ref!r}: expected STORE/NAME[@VERSION], e.g. s3://bucket/zoo/DeepSol@1.0.0")
    if version:
        semver_key(version)
    if "://" not in store:
        store = str(Path(store).expanduser().resolve())
    return InstallRef(store, name, version or None)


def installed_root() -> Path:
    """Where installed packages live: ``cache/installed/NAME/VERSION`` (also a kipoi local source)."""
    return cache_dir() / "installed"


def installed_dir(name: str, version: str) -> Path:
    return installed_root() / name / version


def installed_versions(name: str) -> list[str]:
    """Installed versions of ``name``, oldest first."""
    folder = installed_root() / name
    if not folder.is_dir():
        return []
    versions = [p.name for p in folder.iterdir() if (p / MANIFEST).is_file() and _SEMVER.match(p.name)]
    return sorted(versions, key=semver_key)


def list_installed(pattern: str = "") -> dict[str, list[str]]:
    """``{name: installed versions}`` of every installed model whose name contains ``pattern``."""
    root = installed_root()
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    found = {name: installed_versions(name) for name in names if pattern.lower() in name.lower()}
    return {name: versions for name, versions in found.items() if versions}


def _download_verified(fs, source: str, target: Path, expected: dict, where: str) -> None:
    """Download one file of a manifest, reading no byte past its declared size, and check its sha256."""
    digest = hashlib.sha256()
    try:
        with open(target, "wb") as out:
            def write(chunk: bytes) -> None:
                digest.update(chunk)
                out.write(chunk)

            size = _copy_bounded(fs, source, write, int(expected["size"]), f"{where}: {expected['path']}")
    except StoreError:
        raise
    except FileNotFoundError:
        raise StoreError(f"{where}: {expected['path']} is missing from the store ({source}); nothing installed") \
            from None
    except Exception as e:  # network errors of every file system: name the store, the file, the cause
        raise StoreError(f"{where}: cannot download {expected['path']} ({source}): {_cause(e)}; "
                         "nothing installed") from e
    if size != expected["size"] or digest.hexdigest() != expected["sha256"]:
        raise StoreError(f"{where}: {expected['path']} fails its check: manifest size {expected['size']}, "
                         f"sha256 {expected['sha256']}; downloaded size {size}, sha256 {digest.hexdigest()}; "
                         "nothing installed")


def _manifest_files(manifest, where: str) -> tuple[str, list[dict]]:
    """The files root and the file entries of a manifest, each checked (path inside, size, sha256)."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise StoreError(f"{where}: {MANIFEST} is not a manifest (no list of files); nothing installed")
    files_root = manifest.get("files_root", "")  # format /1 kept the files beside the manifest
    if files_root and not re.match(r"^files-[0-9a-f]+$", str(files_root)):
        raise StoreError(f"{where}: {MANIFEST} names the files folder {files_root!r}; refused")
    entries = []
    for entry in manifest["files"]:
        if (not isinstance(entry, dict) or not isinstance(entry.get("path"), str)
                or isinstance(entry.get("size"), bool) or not isinstance(entry.get("size"), int)
                or entry["size"] < 0 or not _SHA256.match(str(entry.get("sha256", "")))):
            raise StoreError(f"{where}: {MANIFEST} has a malformed file entry {entry!r}; nothing installed")
        rel = entry["path"]
        p = PurePosixPath(rel)
        if not rel or p.is_absolute() or ".." in p.parts or "\\" in rel or rel.startswith("~"):
            raise StoreError(f"{where}: the path {rel!r} leaves the package folder; refused")
        if rel in (MANIFEST, ORIGIN) or any(rel == e["path"] for e in entries):
            raise StoreError(f"{where}: {MANIFEST} lists {rel!r} twice or names seqzoo's own record; refused")
        entries.append(entry)
    return str(files_root), entries


def _check_identity(installed: Path, store: str, listed: dict | None, version: str) -> None:
    """An installed version named through ``store`` must be the package that store lists (module docstring)."""
    o = origin(installed) or {}
    name = o.get("name", installed.parent.name)
    if listed is None:
        raise StoreError(f"{store} does not list {name} {version}, which is installed here from {o.get('store')} "
                         f"(manifest sha256 {o.get('manifest_sha256')}): the store was rolled back or altered; "
                         f"use {name}@{version} for the installed copy")
    if listed.get("manifest_sha256") != o.get("manifest_sha256"):
        same_store = o.get("store") == store
        raise StoreError(
            f"{store}/{name}@{version} has manifest sha256 {listed.get('manifest_sha256')}, but the {name} {version} "
            f"installed here ({installed}) came from {o.get('store')} with manifest sha256 {o.get('manifest_sha256')}: "
            + ("the store changed a published version (rolled back or altered); " if same_store else
               "two different packages share this name and version; ")
            + f"not using either silently. Use {name}@{version} for the installed copy, or delete {installed} "
              "and install again")


def install(ref: str, *, trust_code: bool = False) -> Path:
    """Install ``STORE/NAME[@VERSION]`` into the cache (module docstring); returns its directory.

    A version already installed from the same package (store, manifest sha256) is returned as it
    is; the store is asked what it lists for it, except offline, when the installed copy from that
    very store is used without asking.
    """
    r = parse_ref(ref)
    if r.version and (installed_dir(r.name, r.version) / MANIFEST).is_file() and offline():
        installed = installed_dir(r.name, r.version)
        if (origin(installed) or {}).get("store") != r.store:
            raise StoreError(f"{r.name} {r.version} is installed from {(origin(installed) or {}).get('store')}, "
                             f"not from {r.store}, and {OFFLINE_ENV} forbids asking {r.store} whether they are "
                             f"the same package; use {r.name}@{r.version} for the installed copy")
        return installed
    fs, root = _filesystem(r.store)
    catalogue = list_store(r.store)
    versions = catalogue.get(r.name) or {}
    if r.version and (installed_dir(r.name, r.version) / MANIFEST).is_file():
        _check_identity(installed_dir(r.name, r.version), r.store, versions.get(r.version), r.version)
        return installed_dir(r.name, r.version)
    if not versions:
        raise StoreError(f"{r.store} has no model {r.name!r}{did_you_mean(r.name, catalogue)} "
                         f"(it has: {', '.join(sorted(catalogue)) or 'none'})")
    version = r.version or max(versions, key=semver_key)
    gone = [v for v in installed_versions(r.name) if v not in versions
            and (origin(installed_dir(r.name, v)) or {}).get("store") == r.store]
    if gone:
        logger.warning("%s no longer lists %s %s, installed here from it: the store was rolled back or altered",
                       r.store, r.name, ", ".join(gone))
    if version not in versions:
        raise StoreError(f"{r.store}: {r.name} has no version {version} (published: "
                         f"{', '.join(sorted(versions, key=semver_key))})")
    final = installed_dir(r.name, version)
    final.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(final) + ".lock", timeout=600):
        if (final / MANIFEST).is_file():  # installed earlier, or by another process meanwhile
            _check_identity(final, r.store, versions[version], version)
            return final
        where = f"{r.store}/{r.name}@{version}"
        source = _join(root, r.name, version)
        manifest_bytes = _read_bytes(fs, _join(source, MANIFEST), r.store)
        if manifest_bytes is None:
            raise StoreError(f"{where}: no {MANIFEST} (an unfinished publish?); nothing installed")
        expected_sha = versions[version]["manifest_sha256"]
        if hashlib.sha256(manifest_bytes).hexdigest() != expected_sha:
            raise StoreError(f"{where}: {MANIFEST} has sha256 {hashlib.sha256(manifest_bytes).hexdigest()}, the "
                             f"catalogue says {expected_sha}; nothing installed")
        try:
            manifest = json.loads(manifest_bytes)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise StoreError(f"{where}: {MANIFEST} is not valid JSON: {e}; nothing installed") from None
        files_root, entries = _manifest_files(manifest, where)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=final.parent))
        try:
            for entry in entries:
                target = staging / entry["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                _download_verified(fs, _join(source, *([files_root] if files_root else []), entry["path"]),
                                   target, entry, where)
            _check_package(staging, [e["path"] for e in entries], trust_code, f"install of {where}")
            (staging / MANIFEST).write_bytes(manifest_bytes)
            record = {"store": r.store, "name": r.name, "version": version, "manifest_sha256": expected_sha}
            (staging / ORIGIN).write_text(json.dumps(record, indent=1))
            os.rename(staging, final)  # atomic on one file system: the version appears complete
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return final


def origin(directory: str | os.PathLike) -> dict | None:
    """Where an installed package came from (store, name, version, manifest sha256), or None."""
    path = Path(directory) / ORIGIN
    return json.loads(path.read_text()) if path.is_file() else None

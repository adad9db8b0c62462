"""Model stores: publish a checked model directory, list a store, install a pinned version (no keras).

A store is any fsspec location: a folder (plain path or ``file://``), ``s3://`` (s3fs; endpoint and
credentials from the standard AWS environment variables, ``AWS_ENDPOINT_URL`` included), ``gs://``,
``hf://`` and, read-only, ``http(s)://`` (a static web server serving a published folder). Layout::

    STORE/catalogue.json                 {"format": ..., "models": {NAME: {VERSION: {manifest_sha256, ...}}}}
    STORE/NAME/VERSION/manifest.json     every file's relative path, size and sha256
    STORE/NAME/VERSION/<the files>       model.yaml, weights.yaml, the weights, card, labels, examples ...

A published version is immutable. Files are uploaded first, then ``manifest.json``, then the
catalogue, so an interrupted publish leaves a version that neither lists nor installs.
``install`` downloads into a temporary folder in the cache, checks every file's size and sha256
against the manifest (and the manifest against the catalogue), checks the package is safe (below),
then renames the folder into place under a file lock: a version is visible complete or not at all.

Safety: a package may hold only data. Its model.yaml must name seqzoo's own model class and
dataloaders, and it may not carry Python files, pickles or full-model Keras files (weights load only
from ``.weights.h5`` onto an architecture seqzoo defines); paths may not leave the package folder.
``trust_code=True`` lifts the code checks (never the hash or path checks).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import filelock
import yaml

from seqzoo.version import __version__
from seqzoo.zoo.artifacts import cache_dir, file_sha256

__all__ = ["CATALOGUE", "FORMAT", "MANIFEST", "OFFLINE_ENV", "StoreError", "UnsafePackageError", "InstallRef",
           "install", "installed_dir", "installed_versions", "list_installed", "list_store", "origin", "published", "parse_ref", "put_package",
           "safety_problems", "semver_key"]

FORMAT = "seqzoo-model-package/1"
MANIFEST = "manifest.json"
CATALOGUE = "catalogue.json"
ORIGIN = "origin.json"  # written beside an installed package: where it came from
OFFLINE_ENV = "SEQZOO_OFFLINE"
#: Seconds before an unreachable store is an error (HTTP total time, S3 connect time).
STORE_TIMEOUT = 20

_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# What a model package may not carry unless trusted: code, pickles, full models.
_CODE_SUFFIXES = {".py", ".pyc", ".pyo", ".so", ".sh", ".ipynb"}
_PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt"}
_MODEL_CLASS = "seqzoo.kipoi_adapter.KipoiModel"
_DATALOADER_PREFIX = "seqzoo.dataloaders."


class StoreError(RuntimeError):
    """A store that cannot be read or written, or a version that exists, is missing or fails its checks."""


class UnsafePackageError(StoreError):
    """A package that would run code seqzoo did not write (refused unless ``trust_code``)."""


def semver_key(version: str) -> tuple:
    """Sort key of a SemVer version (a release sorts after its pre-releases); ValueError if malformed."""
    m = _SEMVER.match(version)
    if not m:
        raise ValueError(f"version {version!r} is not SemVer (MAJOR.MINOR.PATCH, e.g. 1.0.0)")
    major, minor, patch, pre = m.groups()
    return int(major), int(minor), int(patch), pre is None, pre or ""


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0", "false", "False")


def _filesystem(store: str):
    """``(fsspec filesystem, root path)`` of a store URI, with bounded network time."""
    import fsspec

    protocol = store.split("://", 1)[0] if "://" in store else "file"
    if offline() and protocol != "file":
        raise StoreError(f"{OFFLINE_ENV} is set: not reaching the store {store}; installed models work "
                         f"offline, install others first without {OFFLINE_ENV}")
    options: dict = {}
    if protocol in ("http", "https"):
        import aiohttp

        options["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(total=STORE_TIMEOUT)}
    elif protocol in ("s3", "s3a"):
        options["config_kwargs"] = {"connect_timeout": STORE_TIMEOUT, "read_timeout": STORE_TIMEOUT,
                                    "retries": {"max_attempts": 2}}
    try:
        return fsspec.core.url_to_fs(store, **options)
    except (ImportError, ValueError) as e:
        raise StoreError(f"cannot open the store {store}: {e}") from e


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def _read_json(fs, path: str, store: str) -> dict | None:
    """A JSON file of the store, None if it does not exist; unreachable stores raise StoreError."""
    try:
        return json.loads(fs.cat_file(path))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as e:
        raise StoreError(f"{store}: {path} is not valid JSON: {e}") from e
    except Exception as e:  # network errors of every file system: name the store, do not hang
        raise StoreError(f"cannot read {path} from the store {store}: {type(e).__name__}: {e}") from e


def _package_files(directory: Path) -> list[str]:
    """Relative POSIX paths of every file of a package directory; links are refused."""
    files = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_symlink():
            raise StoreError(f"{path}: a link; a model package holds plain files only")
        if path.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.split("/")):
            files.append(rel)
    return files


def _safe_relative(rel: str, where: str) -> str:
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or ".." in p.parts or "\\" in rel or rel.startswith("~"):
        raise StoreError(f"{where}: the path {rel!r} leaves the package folder; refused")
    return rel


def _is_full_keras_model(path: Path) -> bool:
    if path.suffix == ".keras":
        return True
    if path.suffix in (".h5", ".hdf5") and not path.name.endswith(".weights.h5"):
        import h5py

        with h5py.File(path, "r") as f:
            return "model_config" in f.attrs
    return False


def safety_problems(directory: str | os.PathLike, files: list[str] | None = None) -> list[str]:
    """Why a package directory would run code seqzoo did not write; empty when it holds only data."""
    directory = Path(directory)
    problems = []
    for rel in files if files is not None else _package_files(directory):
        suffix = PurePosixPath(rel).suffix.lower()
        if suffix in _CODE_SUFFIXES:
            problems.append(f"{rel}: a code file")
        elif suffix in _PICKLE_SUFFIXES:
            problems.append(f"{rel}: a pickle-based file (loading it can run code)")
        elif _is_full_keras_model(directory / rel):
            problems.append(f"{rel}: a full Keras model (its config can name code); ship .weights.h5 only")
    try:
        descr = yaml.safe_load((directory / "model.yaml").read_text())
    except (OSError, yaml.YAMLError) as e:
        return problems + [f"model.yaml: unreadable: {e}"]
    if not isinstance(descr, dict):
        return problems + ["model.yaml: not a mapping"]
    if descr.get("defined_as") != _MODEL_CLASS:
        problems.append(f"model.yaml: defined_as {descr.get('defined_as')!r} is not seqzoo's {_MODEL_CLASS}")
    loader = (descr.get("default_dataloader") or {})
    loader_class = loader.get("defined_as") if isinstance(loader, dict) else loader
    if not str(loader_class).startswith(_DATALOADER_PREFIX):
        problems.append(f"model.yaml: default_dataloader {loader_class!r} is not one of seqzoo's "
                        f"({_DATALOADER_PREFIX}*)")
    return problems


def _check_safe(directory: Path, files: list[str], trust_code: bool, action: str) -> None:
    problems = [] if trust_code else safety_problems(directory, files)
    if problems:
        raise UnsafePackageError(f"{action} refused: {directory} would run code seqzoo did not write: "
                                 + "; ".join(problems) + " (pass --trust-code to accept it)")


def _manifest(directory: Path, name: str, version: str, files: list[str]) -> dict:
    return {"format": FORMAT, "seqzoo": __version__, "name": name, "version": version,
            "files": [{"path": rel, "size": (directory / rel).stat().st_size, "sha256": file_sha256(directory / rel)}
                      for rel in files]}


def put_package(directory: str | os.PathLike, store: str, name: str, version: str, *,
                info: dict | None = None, trust_code: bool = False) -> dict:
    """Upload a model directory as ``store/name/version`` (module docstring); returns its manifest.

    The caller has checked the model (``seqzoo.sharing.publish`` runs ``seqzoo check`` first).
    """
    directory = Path(directory)
    semver_key(version)
    if not _NAME.match(name):
        raise StoreError(f"model name {name!r}: use letters, digits, '_', '.', '-'")
    files = _package_files(directory)
    if MANIFEST in files or ORIGIN in files:
        files = [f for f in files if f not in (MANIFEST, ORIGIN)]  # an installed copy's own records
    _check_safe(directory, files, trust_code, "publish")
    if store.split("://", 1)[0].lower() in ("http", "https"):
        raise StoreError(f"{store}: an http(s) store is read-only; publish to its folder, S3 or another store")
    fs, root = _filesystem(store)
    target = _join(root, name, version)
    if fs.exists(_join(target, MANIFEST)):
        raise StoreError(f"{store}: {name} {version} is already published ({_join(target, MANIFEST)}); "
                         "a published version never changes: raise info.version in model.yaml")
    manifest = _manifest(directory, name, version, files)
    for rel in files:  # an interrupted publish of an earlier attempt is simply overwritten
        fs.makedirs(_join(target, *rel.split("/")[:-1]), exist_ok=True)
        fs.put_file(str(directory / rel), _join(target, rel))
    manifest_bytes = json.dumps(manifest, indent=1).encode()
    fs.pipe_file(_join(target, MANIFEST), manifest_bytes)
    catalogue = _read_json(fs, _join(root, CATALOGUE), store) or {"format": FORMAT, "models": {}}
    entry = {"manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(), **(info or {})}
    catalogue["models"].setdefault(name, {})[version] = entry
    fs.pipe_file(_join(root, CATALOGUE), json.dumps(catalogue, indent=1, sort_keys=True).encode())
    return manifest


def published(store: str, name: str, version: str) -> bool:
    """Whether ``store`` holds a complete (manifest written) ``name`` ``version``."""
    fs, root = _filesystem(store)
    return fs.exists(_join(root, name, version, MANIFEST))


def list_store(store: str) -> dict[str, dict[str, dict]]:
    """``{name: {version: catalogue entry}}`` of a store (an empty store has no catalogue: ``{}``)."""
    fs, root = _filesystem(store)
    catalogue = _read_json(fs, _join(root, CATALOGUE), store)
    if catalogue is None:
        if not fs.exists(root):
            raise StoreError(f"the store {store} does not exist")
        return {}
    return catalogue.get("models", {})


@dataclass(frozen=True)
class InstallRef:
    """``STORE/NAME[@VERSION]`` split into its parts (version None: the newest)."""

    store: str
    name: str
    version: str | None


def parse_ref(ref: str) -> InstallRef:
    """Split ``STORE/NAME[@VERSION]``."""
    head, _, version = ref.rstrip("/").partition("@")
    store, _, name = head.rpartition("/")
    if not store or not name:
        raise StoreError(f"{ref!r}: expected STORE/NAME[@VERSION], e.g. s3://bucket/zoo/DeepSol@1.0.0")
    if version:
        semver_key(version)
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
    fs.get_file(source, str(target))
    size, digest = target.stat().st_size, file_sha256(target)
    if size != expected["size"] or digest != expected["sha256"]:
        raise StoreError(f"{where}: {expected['path']} fails its check: manifest size {expected['size']}, "
                         f"sha256 {expected['sha256']}; downloaded size {size}, sha256 {digest}; nothing installed")


def install(ref: str, *, trust_code: bool = False) -> Path:
    """Install ``STORE/NAME[@VERSION]`` into the cache (module docstring); returns its directory.

    An installed version is returned as it is (versions never change); no network is touched then.
    """
    r = parse_ref(ref)
    if r.version and (installed_dir(r.name, r.version) / MANIFEST).is_file():
        return installed_dir(r.name, r.version)
    fs, root = _filesystem(r.store)
    catalogue = list_store(r.store)
    versions = catalogue.get(r.name)
    if not versions:
        raise StoreError(f"{r.store} has no model {r.name!r} (it has: {', '.join(sorted(catalogue)) or 'none'})")
    version = r.version or max(versions, key=semver_key)
    if version not in versions:
        raise StoreError(f"{r.store}: {r.name} has no version {version} (published: "
                         f"{', '.join(sorted(versions, key=semver_key))})")
    final = installed_dir(r.name, version)
    final.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(final) + ".lock", timeout=600):
        if (final / MANIFEST).is_file():  # another process installed it meanwhile
            return final
        where = f"{r.store}/{r.name}@{version}"
        source = _join(root, r.name, version)
        try:
            manifest_bytes = fs.cat_file(_join(source, MANIFEST))
        except FileNotFoundError:
            raise StoreError(f"{where}: no {MANIFEST} (an unfinished publish?); nothing installed") from None
        expected_sha = versions[version].get("manifest_sha256")
        if hashlib.sha256(manifest_bytes).hexdigest() != expected_sha:
            raise StoreError(f"{where}: {MANIFEST} has sha256 {hashlib.sha256(manifest_bytes).hexdigest()}, the "
                             f"catalogue says {expected_sha}; nothing installed")
        manifest = json.loads(manifest_bytes)
        files = [_safe_relative(f["path"], where) for f in manifest["files"]]
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=final.parent))
        try:
            for entry in manifest["files"]:
                target = staging / entry["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                _download_verified(fs, _join(source, entry["path"]), target, entry, where)
            _check_safe(staging, files, trust_code, f"install of {where}")
            (staging / MANIFEST).write_bytes(manifest_bytes)
            origin = {"store": r.store, "name": r.name, "version": version, "manifest_sha256": expected_sha}
            (staging / ORIGIN).write_text(json.dumps(origin, indent=1))
            os.rename(staging, final)  # atomic on one file system: the version appears complete
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return final


def origin(directory: str | os.PathLike) -> dict | None:
    """Where an installed package came from (store, name, version, manifest sha256), or None."""
    path = Path(directory) / ORIGIN
    return json.loads(path.read_text()) if path.is_file() else None

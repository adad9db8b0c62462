"""Publishing a model: check it the way ``seqzoo check`` does, then put it in a store.

The store side (layout, manifest, catalogue, install, safety) is ``seqzoo.zoo.stores``; this
module adds what publishing needs beyond it: a model that passes its checks and is complete
(licence, card, labels, reference predictions) and a SemVer ``info.version``.
"""

from __future__ import annotations

import os
from pathlib import Path

from seqzoo.packaging import EXPECT_FILE, check_model_dir
from seqzoo.zoo import stores, trust
from seqzoo.zoo.spec import find_model, load_spec

__all__ = ["PublishError", "publish"]


class PublishError(stores.StoreError):
    """A model that may not be published as it is: the message lists every reason."""


def publish(model: str | os.PathLike, store: str, version: str | None = None, *,
            trust_code: bool = False) -> dict:
    """Check ``model`` (zoo name or directory) and publish it to ``store``; returns the manifest.

    ``version`` must equal the directory's ``info.version`` when given (the package's own
    model.yaml is what installs elsewhere, so it must say the version it is published as).
    """
    directory = find_model(model)
    # Safety first, by the rule check and install apply: nothing below may import code the package
    # names (kipoi would) or read a file it refuses.
    unsafe = trust.package_problems(directory, trust_code=trust_code)
    if unsafe:
        raise stores.UnsafePackageError(f"publish refused: {directory}: " + "; ".join(unsafe)
                                        + ("" if trust_code else " (pass --trust-code to accept code)"))
    info = (trust.load_plain_yaml(directory / "model.yaml") or {}).get("info") or {}
    declared = str(info.get("version", ""))
    problems = []
    try:
        stores.semver_key(declared)
    except ValueError as e:
        problems.append(f"model.yaml info.version: {e}")
    if version is not None and version != declared:
        problems.append(f"--version {version} differs from model.yaml's info.version {declared!r}; "
                        "set info.version there")
    if not info.get("license"):
        problems.append("model.yaml has no info.license (an SPDX identifier, e.g. MIT)")
    for required in ("README.md", EXPECT_FILE):
        if not (directory / required).is_file():
            problems.append(f"missing {required}")
    spec = load_spec(directory)
    if not problems:
        stores.require_unpublished(store, spec.name, declared)  # before the slow checks
    if not spec.labels:
        problems.append("schema.targets has no column_labels file")
    if not problems:
        problems = [f"seqzoo check: {p}" for p in check_model_dir(directory, trust_code=trust_code)]
    if problems:
        raise PublishError(f"{directory} cannot be published: " + "; ".join(problems))
    summary = {"targets": spec.target_shape[-1], "license": str(info["license"]), "modality": spec.modality,
               "doc": spec.doc.split(". ")[0][:200]}
    return stores.put_package(Path(directory), store, spec.name, declared, info=summary, trust_code=trust_code)

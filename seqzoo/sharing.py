"""Publishing a model: check it the way ``seqzoo check`` does, then put it in a store.

The store side (layout, manifest, catalogue, install, safety) is ``seqzoo.zoo.stores``; this
module adds what publishing needs beyond it: a model that passes its checks and is complete
(licence, a model card with the sections ``seqzoo.zoo.cards`` names, labels, reference
predictions) and a SemVer ``info.version``. :func:`publish_problems` are the checks that need no
keras (``seqzoo publish`` runs them before TensorFlow is imported).
"""

from __future__ import annotations

import os
from pathlib import Path

from seqzoo.zoo import stores, trust
from seqzoo.zoo.cards import card_problems
from seqzoo.zoo.spec import EXPECT_FILE, find_model, load_spec

__all__ = ["PublishError", "publish", "publish_problems"]


class PublishError(stores.StoreError):
    """A model that may not be published as it is: the message lists every reason."""


def publish_problems(directory: str | os.PathLike, version: str | None = None) -> list[str]:
    """Why the model directory ``directory`` may not be published as it is, by what needs no
    network and no keras: ``info.version`` (SemVer, equal to ``version`` when given), the
    licence, the model card's sections (:func:`seqzoo.zoo.cards.card_problems`), the reference
    predictions and the labels. An empty list: go on to ``seqzoo check``'s checks."""
    directory = Path(directory)
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
    if not (directory / "README.md").is_file():
        problems.append("missing README.md")
    else:
        problems += card_problems(directory / "README.md", str(info["license"]) if info.get("license") else None)
    if not (directory / EXPECT_FILE).is_file():
        problems.append(f"missing {EXPECT_FILE}")
    if not load_spec(directory).labels:
        problems.append("schema.targets has no column_labels file")
    return problems


def publish(model: str | os.PathLike, store: str, version: str | None = None, *,
            trust_code: bool = False) -> dict:
    """Check ``model`` (zoo name or directory) and publish it to ``store``; returns the manifest.

    ``version`` must equal the directory's ``info.version`` when given (the package's own
    model.yaml is what installs elsewhere, so it must say the version it is published as).
    The model card must have the sections :func:`publish_problems` asks for.
    """
    from seqzoo.packaging import check_model_dir

    directory = find_model(model)
    # Safety first, by the rule check and install apply: nothing below may import code the package
    # names (kipoi would) or read a file it refuses.
    unsafe = trust.package_problems(directory, trust_code=trust_code)
    if unsafe:
        raise stores.UnsafePackageError(f"publish refused: {directory}: " + "; ".join(unsafe)
                                        + ("" if trust_code else " (pass --trust-code to accept code)"))
    problems = publish_problems(directory, version)
    spec = load_spec(directory)
    info = (trust.load_plain_yaml(directory / "model.yaml") or {}).get("info") or {}
    declared = str(info.get("version", ""))
    if not problems:
        stores.require_unpublished(store, spec.name, declared)  # before the slow checks
        problems = [f"seqzoo check: {p}" for p in check_model_dir(directory, trust_code=trust_code)]
    if problems:
        raise PublishError(f"{directory} cannot be published: " + "; ".join(problems))
    summary = {"targets": spec.target_shape[-1], "license": str(info["license"]), "modality": spec.modality,
               "doc": spec.doc.split(". ")[0][:200]}
    return stores.put_package(Path(directory), store, spec.name, declared, info=summary, trust_code=trust_code)

"""``seqzoo`` commands that share models through a store: publish, install (and ``list --source``)."""

import argparse
import sys

from seqzoo.cli import options


def publish_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="zoo model name or model directory (e.g. the output of seqzoo export)")
    p.add_argument("store", help="store URI: a folder, file://, s3://, gs://, hf:// (http(s):// is read-only)")
    p.add_argument("--version", help="the version to publish; must equal model.yaml's info.version")
    options.add_trust_code(p)


def install_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", help="STORE/NAME[@VERSION] (no version: the newest)")
    options.add_trust_code(p)


def check_publish(args) -> None:
    """``publish``'s checks before TensorFlow: the model exists, and its version, licence, card
    (the sections a model card needs), reference predictions and labels are there."""
    from seqzoo.sharing import PublishError, publish_problems
    from seqzoo.zoo.spec import find_model

    directory = find_model(args.model)
    problems = publish_problems(directory, args.version)
    if problems:
        raise PublishError(f"{directory} cannot be published: " + "; ".join(problems))


def check_install(args) -> None:
    """``install``'s check before any download: REF has the form STORE/NAME[@VERSION]."""
    from seqzoo.zoo.stores import parse_ref

    parse_ref(args.ref)


def cmd_publish(args) -> int:
    from seqzoo.sharing import publish

    manifest = publish(args.model, args.store, args.version, trust_code=args.trust_code)
    size = sum(f["size"] for f in manifest["files"])
    print(f"published {manifest['name']} {manifest['version']} to {args.store} "
          f"({len(manifest['files'])} files, {size} bytes, each with its sha256 in manifest.json)")
    print(f"next: seqzoo install {args.store.rstrip('/')}/{manifest['name']}@{manifest['version']}  "
          "(on any machine that reaches the store)", file=sys.stderr)
    return 0


def cmd_install(args) -> int:
    from seqzoo.zoo import stores

    directory = stores.install(args.ref, trust_code=args.trust_code)
    o = stores.origin(directory)
    print(f"installed {o['name']} {o['version']} from {o['store']} into {directory}; "
          f"use it as {o['name']} or {o['name']}@{o['version']}", file=sys.stderr)
    return 0

"""``seqzoo`` commands that share models through a store: publish, install (and ``list --source``)."""

import argparse
import sys

from seqzoo.cli import options


def publish_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="zoo model name or model directory (e.g. the output of seqzoo export-dna)")
    p.add_argument("store", help="store URI: a folder, file://, s3://, gs://, hf:// (http(s):// is read-only)")
    p.add_argument("--version", help="the version to publish; must equal model.yaml's info.version")
    options.add_trust_code(p)


def install_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", help="STORE/NAME[@VERSION] (no version: the newest)")
    options.add_trust_code(p)


def cmd_publish(args) -> int:
    from seqzoo.sharing import publish

    manifest = publish(args.model, args.store, args.version, trust_code=args.trust_code)
    size = sum(f["size"] for f in manifest["files"])
    print(f"published {manifest['name']} {manifest['version']} to {args.store} "
          f"({len(manifest['files'])} files, {size} bytes, each with its sha256 in manifest.json)")
    return 0


def cmd_install(args) -> int:
    from seqzoo.zoo import stores

    directory = stores.install(args.ref, trust_code=args.trust_code)
    o = stores.origin(directory)
    print(f"installed {o['name']} {o['version']} from {o['store']} into {directory}; "
          f"use it as {o['name']} or {o['name']}@{o['version']}", file=sys.stderr)
    return 0

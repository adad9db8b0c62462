"""``seqzoo`` commands about the catalogue: list, info, fetch, check, import-weights, import-kipoi, kipoi-source."""

import argparse
import sys

from seqzoo.cli import options

def list_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default="", help="only names containing this")
    p.add_argument("--source", metavar="STORE", help="list a store's published models instead of the zoo")


def info_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model")


def fetch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+")
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.add_argument("--weights", choices=["published"],
                   help="'published': kipoi's published checkpoint (Basset, DeepSEA), md5 checked, converted")


def check_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", help="model names or directories")
    p.add_argument("--write-expect", action="store_true", help="(re)write test.expect.h5 from the current weights first")
    options.add_trust_code(p)


def import_weights_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="Basset or DeepSEA")
    p.add_argument("checkpoint", help="kipoi's .pth file (pretrained_model_reloaded_th.pth, deepsea_predict.pth)")
    p.add_argument("--unverified-source", action="store_true",
                   help="import a checkpoint whose md5 is not kipoi's published one (recorded as unverified)")


def import_kipoi_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="a local kipoi model directory (model.yaml with type: keras; arch and weights local or "
                   "{url, md5}), or a kipoi model group (model-template.yaml + models.tsv) with --row")
    p.add_argument("-o", "--output", required=True, help="the seqzoo model directory to write (new or empty)")
    p.add_argument("--name", help="name of the weights file and the card (default: the source directory's name)")
    p.add_argument("--row", help="the model of a kipoi group: its name in the column 'model' of models.tsv")
    p.add_argument("--seq-len", type=options.positive_int, metavar="N",
                   help="window length to serve a network that reads sequences of any length (input (None, 4), as "
                   "pwm_HOCOMOCO's) at; recorded in the card. A network or dataloader that fixes its own length "
                   "needs none (a different N is refused)")


def kipoi_source_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="seqzoo", help="the kipoi source's name")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def cmd_list(args) -> int:
    from seqzoo.zoo import stores
    from seqzoo.zoo.spec import find_model, list_models, load_spec
    from seqzoo.zoo.weights import weights_state

    if args.source:
        return _list_store(args.source, args.pattern)
    rows = [["model", "modality", "architecture", "input", "targets", "weights"]]
    problems = []  # models whose description is refused: listed after the table, and exit status 1

    def add(shown: str, directory, weights) -> None:
        try:
            spec = load_spec(directory)
        except ValueError as err:  # ModelSpecError, UnsafeYAMLError
            rows.append([shown, "?", "?", "?", "?", "refused (see below)"])
            problems.append(f"{shown}: {err}")
            return
        rows.append([options.shown(x) for x in (shown, spec.modality, spec.architecture, spec.input_shape,
                                                spec.target_shape[-1], weights(spec))])

    for name in list_models(args.pattern):
        add(name, find_model(name), weights_state)
    for name, versions in stores.list_installed(args.pattern).items():
        for version in versions:
            add(f"{name}@{version}", stores.installed_dir(name, version),
                lambda spec: f"installed from {stores.origin(spec.directory)['store']}")
    print(_table(rows))
    for problem in problems:
        print(options.shown(problem), file=sys.stderr)
    return 1 if problems else 0


def _list_store(store: str, pattern: str) -> int:
    from seqzoo.zoo import stores

    catalogue = stores.read_catalogue(store)
    rows = [["model", "version", "targets", "license", "modality", "installed here"]]
    for name, versions in sorted(catalogue.models.items()):
        if pattern.lower() not in name.lower():
            continue
        here = set(stores.installed_versions(name))
        for version in sorted(versions, key=stores.semver_key):
            v = versions[version]
            # the store's words, escaped: a catalogue may carry terminal control sequences
            rows.append([options.shown(x) for x in (name, version, v.get("targets", ""), v.get("license", ""),
                                                    v.get("modality", ""), "yes" if version in here else "no")])
    print(_table(rows) if len(rows) > 1 else f"{options.shown(store)}: no published models")
    for problem in catalogue.problems:
        print(options.shown(problem), file=sys.stderr)
    return 1 if catalogue.problems else 0


def check_info(args) -> None:
    """The model exists (a suggestion when it does not)."""
    from seqzoo.zoo.spec import find_model

    find_model(args.model)


def cmd_info(args) -> int:
    from seqzoo.zoo import stores
    from seqzoo.zoo.artifacts import cached_path, is_cached
    from seqzoo.zoo.spec import find_model, load_spec
    from seqzoo.zoo.weights import resolve_weights

    spec = load_spec(find_model(args.model))
    print(f"{spec.name}  ({spec.directory})")
    print(f"  {options.shown(spec.doc)}\n")  # an installed package's words: escaped
    print(f"architecture  {spec.architecture} {spec.config or '(the paper sizes)'}")
    print(f"input         {spec.modality}, {spec.input_shape}"
          + (f"; predictions are about the central {spec.prediction_bin} bp (--tile's default step)"
             if spec.prediction_bin else ""))
    print(f"targets       {spec.target_shape[-1]}: {options.shown(', '.join(spec.labels[:5]))}"
          f"{' ...' if len(spec.labels) > 5 else ''}")
    print(f"model card    {spec.directory / 'README.md'}")
    installed_from = stores.origin(spec.directory)
    if installed_from:
        print(f"installed     version {installed_from['version']} from {options.shown(installed_from['store'])} "
              f"(manifest sha256 {installed_from['manifest_sha256']})")
    import yaml

    lineage = (yaml.safe_load((spec.directory / "model.yaml").read_text()).get("info") or {}).get("lineage") or []
    for record in lineage:
        print(options.shown(f"lineage       fine-tuned from {record['base_model']} {record.get('base_version', '')} "
                            f"({record.get('base_store') or 'zoo or local directory'}; base weights sha256 "
                            f"{record['base_weights_sha256'][:12]}...; head {record['head']})"))
    weights = resolve_weights(spec, download=False)
    a = weights.artifact
    if not weights.trained:
        print(f"weights       UNTRAINED (deterministic, seed {a.untrained_seed}): predictions are meaningless")
    else:
        print(f"weights       {weights.source}: {a.file_name}, {a.size} bytes, sha256 {a.sha256}")
        for url in a.urls:
            print(f"  url         {url}")
        print(f"  cache       {cached_path(a)} ({'present, verified' if is_cached(a) else 'not fetched'})")
        print(f"  produced by {a.produced_by}")
    return 0


def check_fetch(args) -> None:
    """Every model named exists, before anything is downloaded or TensorFlow imported."""
    check_check(args)


def cmd_fetch(args) -> int:
    from seqzoo.zoo.artifacts import fetch
    from seqzoo.zoo.spec import find_model, load_spec
    from seqzoo.zoo.weights import resolve_weights

    for name in args.models:
        if args.weights == "published":
            from seqzoo.architectures.published import fetch_published

            spec = load_spec(find_model(name))
            description = fetch_published(spec.name)
            print(f"{name}: the published weights, imported: {fetch(resolve_weights(spec, 'published').artifact)} "
                  f"(described in {description})")
            continue
        weights = resolve_weights(load_spec(find_model(name)), download=False)
        if not weights.trained:
            print(f"{name}: untrained weights, nothing to fetch")
        elif weights.source == "published":
            print(f"{name}: the imported published weights, already in the cache: {fetch(weights.artifact)}")
        else:
            print(f"{name}: {fetch(weights.artifact, force=args.force)}")
    return 0


def check_check(args) -> None:
    """Every model named exists, before TensorFlow is imported."""
    from seqzoo.zoo.spec import find_model

    for name in args.models:
        find_model(name)


def cmd_check(args) -> int:
    from seqzoo.packaging import check_model_dir, write_expect
    from seqzoo.zoo.spec import find_model

    failed = 0
    for name in args.models:
        directory = find_model(name)
        if args.write_expect:
            print(f"{name}: wrote {write_expect(directory, trust_code=args.trust_code)}")
        problems = check_model_dir(directory, trust_code=args.trust_code)
        print(f"{name}: {'OK' if not problems else 'FAILED'}")
        for p in problems:
            print(f"  - {p}")
        failed += bool(problems)
    return 1 if failed else 0


def cmd_kipoi_source(args) -> int:
    from seqzoo.zoo.spec import models_dir
    from seqzoo.zoo.stores import installed_root

    sources = {args.name: models_dir(), f"{args.name}-installed": installed_root()}
    print("# ~/.kipoi/config.yaml: add under model_sources")
    for name, path in sources.items():
        print(f"  {name}:\n    type: local\n    local_path: {path}")
    print("# installed models are named NAME/VERSION there, e.g. "
          f"kipoi.get_model('DeepSol/1.0.0', source='{args.name}-installed')")
    print("\n# or in Python:\nimport kipoi")
    for name, path in sources.items():
        print(f"kipoi.config.add_source({name!r}, kipoi.sources.LocalSource({str(path)!r}))")
    return 0


def check_import_weights(args) -> None:
    """The model and the checkpoint exist, before TensorFlow is imported."""
    from seqzoo.zoo.spec import find_model

    find_model(args.model)
    options.require_inputs(("checkpoint", args.checkpoint))


def cmd_import_weights(args) -> int:
    from seqzoo.architectures.published import import_weights

    description = import_weights(args.model, args.checkpoint, verify_source=not args.unverified_source)
    print(f"{args.model}: imported {args.checkpoint} -> {description}")
    print(f"load it with seqzoo.get_model({args.model!r}, weights='published'), or set "
          f"'weights: published' under args in the model directory's model.yaml for kipoi")
    return 0


def check_import_kipoi(args) -> None:
    """The kipoi model directory exists, before TensorFlow is imported."""
    options.require_inputs(("kipoi model directory", args.source))


def cmd_import_kipoi(args) -> int:
    from seqzoo.kipoi_import import import_kipoi

    output = import_kipoi(args.source, args.output, name=args.name, command=options.command_line(args.argv),
                          row=args.row, seq_len=args.seq_len)
    print(f"{args.source}: imported -> {output}")
    print(f"load it with seqzoo.get_model({str(output)!r}) or kipoi.get_model({str(output)!r}, source='dir')")
    return 0

"""The package's layout holds: light commands import no TensorFlow, keras or kipoi; the CLI hides
TensorFlow's start-up lines; imports between seqzoo's modules flow one way, without cycles;
keras and kipoi are imported only where allowed; and tests using kipoi, Ray or torch say so.

The import rules read the source with ``ast`` (imports inside functions count too), so they hold
for code paths no test runs.
"""

import ast
import fnmatch
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGE = REPOSITORY / "seqzoo"
TESTS = REPOSITORY / "tests"
EXAMPLE = REPOSITORY / "models" / "Basset" / "example"

# ---------------------------------------------------------------------------------------------
# Light commands: run in a fresh interpreter, then list what got imported.

HEAVY = ("tensorflow", "keras", "kipoi")
PROBE = """
import json, sys
{code}
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy})))
"""
CLI = "from seqzoo.cli import main\ntry:\n    code = main({argv!r})\nexcept SystemExit as e:\n    code = e.code\nassert code in (0, None), code"


def heavy_modules_after(code: str, tmp_path: Path) -> tuple[list[str], str]:
    """Run ``code`` in a new Python; the heavy modules it imported and what it printed before."""
    env = dict(os.environ, SEQZOO_CACHE=str(tmp_path / "cache"), HOME=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", PROBE.format(code=code, heavy=set(HEAVY))], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    *printed, modules = result.stdout.strip().splitlines()
    return json.loads(modules), "\n".join(printed)


@pytest.mark.parametrize("code, says", [
    ("import seqzoo; seqzoo.__version__", ""),
    ("import seqzoo; print(seqzoo.list_models())", "'DeepSEA'"),
    (CLI.format(argv=["--help"]), "usage: seqzoo"),
    (CLI.format(argv=["list"]), "DeepSEA_Athaliana265"),
    (CLI.format(argv=["info", "Basset"]), "architecture  basset"),
], ids=["import seqzoo", "seqzoo.list_models()", "seqzoo --help", "seqzoo list", "seqzoo info Basset"])
def test_light_commands_import_no_tensorflow_keras_or_kipoi(code, says, tmp_path):
    modules, printed = heavy_modules_after(code, tmp_path)
    assert says in printed  # the command did run
    assert modules == []


def test_the_probe_sees_heavy_imports(tmp_path):
    modules, _ = heavy_modules_after("import seqzoo.runtime", tmp_path)
    assert "keras" in modules and "tensorflow" in modules


# TensorFlow's C++ start-up lines (absl/glog format), e.g. "I0000 00:00:17.2 8873 port.cc:153] oneDNN ..."
TF_STARTUP = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\]|absl::InitializeLog", re.M)


COMMANDS_RUN = {  # a command's arguments; {out} is its output, written in tmp_path
    "predict": ["predict", "Basset", "--fasta", str(EXAMPLE / "genome.fa"), "--bed", str(EXAMPLE / "intervals.bed"),
                "-o", "{out}.tsv", "--quiet"],
    "explain": ["explain", "DeepSEA_Athaliana265", "--fasta", str(EXAMPLE / "genome.fa"), "--region",
                "chr1:3000-3100", "--target", "ABF2", "--no-ism", "-o", "{out}.png"],
}


def command_stderr(tmp_path: Path, command: str, *extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # conftest sets it
    out = tmp_path / f"p{len(extra)}"
    args = [a.format(out=out) for a in COMMANDS_RUN[command]]
    result = subprocess.run([sys.executable, "-m", "seqzoo", *extra, *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert list(tmp_path.glob(f"{out.name}.*"))
    return result.stderr


@pytest.mark.parametrize("command", COMMANDS_RUN)
def test_commands_hide_tensorflow_start_up_lines_unless_verbose(command, tmp_path):
    verbose = command_stderr(tmp_path, command, "--verbose")
    if not TF_STARTUP.search(verbose):
        pytest.skip("this TensorFlow prints no start-up lines, even with --verbose: nothing to hide")
    quiet = command_stderr(tmp_path, command)
    assert not TF_STARTUP.search(quiet), quiet


# ---------------------------------------------------------------------------------------------
# Imports between seqzoo's modules.

#: Lowest first: a module imports only from layers below its own, or from its own layer where
#: SAME_LAYER allows it.
LAYERS = [
    ("base", ["seqzoo.io", "seqzoo.io.*", "seqzoo.encoding", "seqzoo.version", "seqzoo.suggest"]),
    ("windows", ["seqzoo.windows"]),
    ("zoo", ["seqzoo.zoo", "seqzoo.zoo.*"]),
    ("architectures", ["seqzoo.architectures", "seqzoo.architectures.*"]),
    ("engines", ["seqzoo.batching", "seqzoo.numpy_engine"]),  # no keras: small jobs run without TensorFlow
    ("runtime", ["seqzoo.runtime"]),
    ("features", ["seqzoo.predict_dna", "seqzoo.predict_protein", "seqzoo.distributed", "seqzoo.variants",
                  "seqzoo.interpret", "seqzoo.attribution", "seqzoo.motifs", "seqzoo.plots", "seqzoo.packaging", "seqzoo.kipoi_import",
                  "seqzoo.sharing",
                  "seqzoo.training", "seqzoo.training.*"]),
    ("kipoi", ["seqzoo.kipoi_adapter", "seqzoo.dataloaders"]),
    ("cli", ["seqzoo.cli", "seqzoo.cli.*"]),
    ("entry points", ["seqzoo", "seqzoo.__main__"]),  # the light package root, python -m seqzoo
]

#: Imports within one layer, (importer, imported) patterns, each with its reason. Modules of one
#: package are one unit; features stay independent of one another, except where one is built on
#: another. Cycles are checked separately.
SAME_LAYER = {
    ("seqzoo.io.*", "seqzoo.io.*"): "the readers share io.bed's line reader",
    ("seqzoo.zoo*", "seqzoo.zoo*"): "one package: the spec reads artifacts, the resolver reads both",
    ("seqzoo.architectures*", "seqzoo.architectures*"): "one package: builders share custom layers",
    ("seqzoo.training*", "seqzoo.training*"): "training builds on its data sets and metrics",
    ("seqzoo.training*", "seqzoo.packaging"): "exporting a run writes a model directory (packaging.write_model_dir)",
    ("seqzoo.training*", "seqzoo.predict_protein"): "evaluating a zoo model reads long proteins whole, as prediction does",
    ("seqzoo.distributed", "seqzoo.predict_dna"): "the Ray engine assembles each shard's rows as the local engine does",
    ("seqzoo.attribution", "seqzoo.interpret"): "attributions reuse interpret's backend gradients and target names",
    ("seqzoo.motifs", "seqzoo.attribution"): "motif discovery runs TF-MoDISco on DeepLIFT attributions",
    ("seqzoo.sharing", "seqzoo.packaging"): "publishing runs seqzoo check (check_model_dir) first",
    ("seqzoo.kipoi_import", "seqzoo.packaging"): "an imported kipoi model is written as a model directory (write_model_dir)",
    ("seqzoo.cli*", "seqzoo.cli*"): "one package: commands share the options module",
}

#: Deep-learning frameworks: only from architectures upward (io, windows and zoo stay light).
FRAMEWORKS = {"keras", "tensorflow", "jax", "torch"}
FRAMEWORK_FLOOR = "architectures"
#: kipoi anywhere in these; inside functions only in these (checking a directory runs kipoi test).
KIPOI_MODULES = {"seqzoo.kipoi_adapter", "seqzoo.dataloaders"}
KIPOI_IN_FUNCTIONS = {"seqzoo.packaging"}

#: Violations in files edited elsewhere at the moment: each check stays, failing as expected.
KNOWN: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted module name (a seqzoo submodule when the imported name is one)
    path: Path
    line: int
    in_function: bool

    def where(self) -> str:
        return f"{self.path.relative_to(REPOSITORY)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPOSITORY).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, importer: str | None = None) -> list[Import]:
    """Every import statement of a module (named ``importer``, by default from its path), at any
    depth, with whether it is inside a function."""
    importer = importer or module_name(path)
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend(Import(importer, a.name, path, child.lineno, inside) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: "." is the importer's package, ".." its parent
                    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                for alias in child.names:
                    submodule = f"{base}.{alias.name}"
                    # "from seqzoo import X" imports the package root whatever X is
                    target = submodule if submodule in MODULES and base != "seqzoo" else base
                    found.append(Import(importer, target, path, child.lineno, inside))
            visit(child, inside)

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


IMPORTS = [i for p in MODULES.values() for i in imports_of(p)]
INTERNAL = [i for i in IMPORTS if i.target in MODULES]


def layer(module: str) -> int:
    matches = [n for n, (_, patterns) in enumerate(LAYERS) if any(fnmatch.fnmatchcase(module, p) for p in patterns)]
    assert len(matches) == 1, f"{module} is in {len(matches)} layers of LAYERS; place it in exactly one"
    return matches[0]


def same_layer_allowed(importer: str, target: str) -> bool:
    return any(fnmatch.fnmatchcase(importer, a) and fnmatch.fnmatchcase(target, b) for a, b in SAME_LAYER)


def known(check: str, module: str):
    reason = KNOWN.get((check, module))
    return pytest.param(module, marks=pytest.mark.xfail(strict=True, reason=reason)) if reason else module


def test_every_module_has_one_layer():
    for module in MODULES:
        layer(module)


def test_the_survey_sees_the_imports():
    # The parser finds top-level, function-level and "from package import submodule" imports.
    found = {(i.importer, i.target, i.in_function) for i in INTERNAL}
    assert ("seqzoo.runtime", "seqzoo.zoo.spec", False) in found
    assert ("seqzoo.cli.zoo_commands", "seqzoo.zoo.spec", True) in found
    assert ("seqzoo.cli.train_commands", "seqzoo.cli.options", False) in found


def test_no_module_imports_the_package_root():
    # `import seqzoo` or `from seqzoo import X` runs the root's lazy attribute machinery;
    # modules import what they need from the module that defines it.
    offending = [f"{i.where()} imports the package root" for i in IMPORTS if i.target == "seqzoo"]
    assert offending == []


@pytest.mark.parametrize("module", [known("direction", m) for m in MODULES])
def test_imports_flow_down_the_layers(module):
    wrong = set()
    for i in INTERNAL:
        if i.importer != module:
            continue
        here, there = layer(i.importer), layer(i.target)
        if there > here or (there == here and not same_layer_allowed(i.importer, i.target)):
            wrong.add(f"{i.where()}: {i.importer} ({LAYERS[here][0]}) imports {i.target} ({LAYERS[there][0]})")
    assert sorted(wrong) == []


def import_graph() -> dict[str, set[str]]:
    graph = {m: set() for m in MODULES}
    for i in INTERNAL:
        if i.target != i.importer:
            graph[i.importer].add(i.target)
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


@pytest.mark.parametrize("module", [known("cycle", m) for m in MODULES])
def test_module_is_on_no_import_cycle(module):
    graph = import_graph()
    back = sorted(m for m in graph[module] if module in reachable(graph, m) | {m})
    lines = {f"{i.where()}: {module} imports {i.target}, which imports {module} back"
             for i in INTERNAL if i.importer == module and i.target in back}
    assert sorted(lines) == []


def test_frameworks_only_from_the_architectures_up():
    floor = next(n for n, (name, _) in enumerate(LAYERS) if name == FRAMEWORK_FLOOR)
    wrong = {f"{i.where()}: {i.importer} imports {i.target}" for i in IMPORTS
             if i.target.split(".")[0] in FRAMEWORKS and layer(i.importer) < floor}
    assert sorted(wrong) == []


def test_kipoi_only_in_the_adapters_and_inside_packaging_functions():
    wrong = {f"{i.where()}: {i.importer} imports {i.target}{' inside a function' if i.in_function else ''}"
             for i in IMPORTS if i.target.split(".")[0].startswith("kipoi")
             and i.importer not in KIPOI_MODULES and not (i.importer in KIPOI_IN_FUNCTIONS and i.in_function)}
    assert sorted(wrong) == []


def test_the_rules_catch_violations(tmp_path):
    # The same survey on a module breaking each rule.
    bad = tmp_path / "bad.py"
    bad.write_text("import seqzoo\nimport keras\n\ndef f():\n    from seqzoo.cli import main\n    import kipoi\n")
    found = [(i.target, i.line, i.in_function) for i in imports_of(bad, "seqzoo.io.bad")]
    assert found == [("seqzoo", 1, False), ("keras", 2, False), ("seqzoo.cli", 5, True), ("kipoi", 6, True)]
    assert layer("seqzoo.cli") > layer("seqzoo.io.bad")
    assert not same_layer_allowed("seqzoo.predict_dna", "seqzoo.variants")
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert "a" in reachable(graph, "b") and "d" not in reachable(graph, "a")



# ---------------------------------------------------------------------------------------------
# Markers: a test that needs kipoi, Ray or torch says so, so that `-m "not kipoi"` and the like
# select tests that run without them.

#: seqzoo functions that run kipoi (its dataloaders, kipoi test) when called, though importing
#: them does not. Calls through the command line (main(["check", ...])) are not followed.
KIPOI_CALLS = {("seqzoo.packaging", name) for name in ("example_batch", "check_model_dir", "dataloader_class",
                                                       "write_expect")} | {("seqzoo.sharing", "publish")}


def needs_of_module(target: str) -> set[str]:
    """Markers an import of ``target`` calls for."""
    top = target.split(".")[0]
    if top.startswith("kipoi") or target in KIPOI_MODULES:
        return {"kipoi"}
    return {top} & {"ray", "torch"}


def marks_in(node) -> set[str]:
    """Names X of every ``pytest.mark.X`` in an expression (a decorator, ``pytestmark = ...``)."""
    return {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute)
            and n.value.attr == "mark"}


def direct_needs(node) -> set[str]:
    """What the imports in ``node`` call for: import statements (of a KIPOI_CALLS function too:
    it is imported to be called) and ``importorskip("x")`` / ``import_module("x")`` calls."""
    found = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Import):
            found |= {m for a in n.names for m in needs_of_module(a.name)}
        elif isinstance(n, ast.ImportFrom) and n.module:
            found |= needs_of_module(n.module)
            if node is not n and any((n.module, a.name) in KIPOI_CALLS for a in n.names):
                found.add("kipoi")
        elif isinstance(n, ast.Call) and n.args and isinstance(n.args[0], ast.Constant):
            called = n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
            if called in ("importorskip", "import_module"):
                found |= needs_of_module(n.args[0].value)
    return found


def function_needs(tree: ast.Module, known: dict[str, set[str]]) -> tuple[set[str], dict[str, set[str]]]:
    """The module's own needs (top-level statements) and each top-level function's, following
    the functions and fixtures it names (``known``: needs of names defined elsewhere)."""
    functions = {f.name: f for f in tree.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    top_level = [n for n in tree.body if n.__class__ not in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)]
    module = set().union(*(direct_needs(n) for n in top_level)) if top_level else set()
    imported = {}  # names imported at the top that run kipoi when called
    for n in top_level:
        if isinstance(n, ast.ImportFrom):
            imported.update({a.asname or a.name: {"kipoi"} for a in n.names if (n.module, a.name) in KIPOI_CALLS})
    names = {name: {n.id for n in ast.walk(f) if isinstance(n, ast.Name)} for name, f in functions.items()}
    args = {name: {a.arg for a in f.args.args} for name, f in functions.items()}
    needs = {name: direct_needs(f) for name, f in functions.items()}
    changed = True
    while changed:  # follow helpers and fixtures to a fixed point
        changed = False
        for name in functions:
            more = set().union(
                *(needs[r] for r in (names[name] | args[name]) & needs.keys()),  # this file's functions
                *(known[r] for r in args[name] - needs.keys() if r in known),  # fixtures defined elsewhere
                *(imported[r] for r in names[name] if r in imported))
            if not more <= needs[name]:
                needs[name] |= more
                changed = True
    return module, needs


def conftest_needs() -> dict[str, set[str]]:
    return function_needs(ast.parse((TESTS / "conftest.py").read_text()), {})[1]


def missing_marks(path: Path) -> list[str]:
    """``file:line name needs X`` for each test function lacking a marker it needs."""
    tree = ast.parse(path.read_text(), str(path))
    module_needs, needs = function_needs(tree, conftest_needs())
    module_marks: set[str] = set()
    for n in tree.body:
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets):
            module_marks |= marks_in(n.value)
    missing = []
    for f in tree.body:
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name.startswith("test"):
            marks = module_marks.union(*(marks_in(d) for d in f.decorator_list))
            for need in sorted((module_needs | needs[f.name]) - marks):
                missing.append(f"{path.name}:{f.lineno} {f.name} needs the {need} marker")
    return missing


@pytest.mark.parametrize("path", sorted(TESTS.glob("test_*.py")), ids=lambda p: p.name)
def test_tests_needing_kipoi_ray_or_torch_are_marked(path):
    assert missing_marks(path) == []


def test_the_marker_check_catches_a_missing_marker(tmp_path):
    test_file = tmp_path / "test_example.py"
    test_file.write_text(
        "import pytest\nfrom seqzoo.packaging import example_batch\n\n"
        "def helper():\n    import torch\n\n"
        "@pytest.fixture\ndef loaded():\n    return helper()\n\n"
        "def test_uses_a_fixture(loaded):\n    pass\n\n"
        "@pytest.mark.torch\ndef test_marked(loaded):\n    pass\n\n"
        "def test_reads_examples(batch):\n    pass\n\n"
        "def test_calls_packaging():\n    example_batch(None)\n\n"
        "def test_ray():\n    pytest.importorskip('ray')\n\n"
        "def test_checks_a_directory():\n    from seqzoo.packaging import check_model_dir\n\n"
        "def test_imports_by_name():\n    importlib.import_module('seqzoo.dataloaders')\n")
    assert missing_marks(test_file) == [
        "test_example.py:11 test_uses_a_fixture needs the torch marker",
        "test_example.py:18 test_reads_examples needs the kipoi marker",
        "test_example.py:21 test_calls_packaging needs the kipoi marker",
        "test_example.py:24 test_ray needs the ray marker",
        "test_example.py:27 test_checks_a_directory needs the kipoi marker",
        "test_example.py:30 test_imports_by_name needs the kipoi marker",
    ]
    test_file.write_text("import pytest\n\npytestmark = [pytest.mark.torch, pytest.mark.kipoi, pytest.mark.ray]\n\n"
                         + test_file.read_text().split("\n", 2)[2])
    assert missing_marks(test_file) == []

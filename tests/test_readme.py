"""The README's shell blocks run as written from a fresh copy of the repository (issue 30).

The convention, for README.md and the pages under docs/: every fenced ```bash block runs from the
repository root of a fresh clone, with the set-up venv, on files the repository ships. A block that
cannot run there (it needs data the page names by a placeholder such as ``$GENOME``, the network, or
many minutes) carries ``<!-- not run: REASON -->`` on the line before its opening fence; a marker
without a reason, or one that marks no block, is an error.

How the blocks run: the repository's tracked files are copied into a temporary folder; ``.venv``
there links to the venv running this test (CI made it with the README's test command, .ci/run),
so a command's leading install steps (``python3 -m venv .venv``, ``.venv/bin/pip
install ...``) are skipped. The blocks run in order, each from the copy's root, with the venv's bin
first on PATH, a HOME, a cache and kipoi's configuration of their own, ``SEQZOO_OFFLINE=1``, and
``PYTHONPATH`` at the copy, so that the copy's code runs. Every command must exit with status 0.

The pages under docs/ follow the same convention; their blocks run only with ``SEQZOO_TEST_DOCS=1``
(several minutes; the suite's time in CI stays for the README).
"""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The Markdown the convention covers: the README and the pages under docs/.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = re.compile(r"<!--\s*not run\b:?\s*(.*?)\s*-->")
#: A command's leading install steps, which the test's own venv has already taken.
INSTALL_STEP = re.compile(r"^\s*(python3? -m venv \.venv|\.venv/bin/pip install [^&]*?)\s*(&&\s*|$)")


@dataclass
class Block:
    """A fenced ```bash block: where it starts (1-based line of the fence), its code, and why it
    does not run (``None``: it runs)."""
    line: int
    code: str
    not_run: str | None


def shell_blocks(text: str, name: str = "page") -> list[Block]:
    """The ```bash blocks of a Markdown text, each with the reason of the ``<!-- not run: ... -->``
    marker on the line before it. A marker without a reason, or one not followed by a bash block,
    is a ValueError naming the line."""
    lines = text.split("\n")
    blocks, pending, i = [], None, 0
    while i < len(lines):
        line = lines[i]
        marker = NOT_RUN.fullmatch(line.strip())  # a marker is a line of its own
        if marker:
            if not marker.group(1):
                raise ValueError(f"{name}:{i + 1}: a 'not run' marker without a reason")
            pending = (i + 1, marker.group(1))
        elif line.strip().startswith("```"):
            fence = line.strip()
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
            if end is None:
                raise ValueError(f"{name}:{i + 1}: a code block that is never closed")
            if fence == "```bash":
                blocks.append(Block(i + 1, "\n".join(lines[i + 1:end]), pending[1] if pending else None))
            elif pending:
                raise ValueError(f"{name}:{pending[0]}: a 'not run' marker before a block that is not bash")
            pending, i = None, end
        elif line.strip() and pending:
            raise ValueError(f"{name}:{pending[0]}: a 'not run' marker not followed by a bash block")
        i += 1
    if pending:
        raise ValueError(f"{name}:{pending[0]}: a 'not run' marker not followed by a bash block")
    return blocks


def without_install_steps(code: str) -> str:
    """The code with each line's leading ``python3 -m venv .venv`` and ``.venv/bin/pip install``
    steps removed (a line of nothing else becomes empty)."""
    out = []
    for line in code.split("\n"):
        while (m := INSTALL_STEP.match(line)) and line.strip():
            line = line[m.end():]
        out.append(line)
    return "\n".join(out)


def fresh_copy(target: Path) -> Path:
    """The repository's tracked files (as they are in the working tree) copied into ``target``,
    with ``.venv`` linking to the venv that runs this test."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True,
                                timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"not a git checkout, so no list of tracked files to copy ({e})")
    for name in filter(None, listed):
        src, dst = ROOT / name, target / name
        if not src.exists() and not src.is_symlink():  # deleted in the working tree
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
    (target / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return target


def run_blocks(page: Path, tmp_path: Path) -> list[str]:
    """Run the page's blocks that are not marked, in order, in a fresh copy; the failures."""
    blocks = [b for b in shell_blocks(page.read_text(), page.name) if b.not_run is None]
    assert blocks, f"{page.name} has no block to run"
    copy = fresh_copy(tmp_path / "clone")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEQZOO_", "KIPOI_"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", HOME=str(home),
               SEQZOO_CACHE=str(tmp_path / "cache"), SEQZOO_OFFLINE="1", PYTHONPATH=str(copy),
               MPLBACKEND="Agg")
    failures = []
    for block in blocks:
        script = ("set -eo pipefail\n"
                  "trap 'echo \"exit status $? from: $BASH_COMMAND\" >&2' ERR\n" + without_install_steps(block.code))
        done = subprocess.run(["bash", "-c", script], cwd=copy, env=env, capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            failures.append(f"{page.name}:{block.line} exited {done.returncode}\n{block.code}\n"
                            f"--- stdout (end)\n{done.stdout[-2000:]}\n--- stderr (end)\n{done.stderr[-3000:]}")
    return failures


@pytest.mark.slow
@pytest.mark.kipoi  # the README's kipoi block runs the kipoi command line
def test_every_readme_shell_block_not_marked_runs_from_a_fresh_copy(tmp_path):
    failures = run_blocks(ROOT / "README.md", tmp_path)
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
@pytest.mark.kipoi
@pytest.mark.parametrize("page", [p for p in PAGES if p.parent.name == "docs"], ids=lambda p: p.name)
def test_every_docs_shell_block_not_marked_runs_from_a_fresh_copy(page, tmp_path):
    if os.environ.get("SEQZOO_TEST_DOCS") != "1":
        pytest.skip("the docs pages' blocks run with SEQZOO_TEST_DOCS=1 (several minutes)")
    if all(b.not_run for b in shell_blocks(page.read_text(), page.name)):
        pytest.skip(f"{page.name}: no block that runs without data, the network or minutes")
    failures = run_blocks(page, tmp_path)
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_block_that_does_not_run_says_why(page):
    """Parsing fails on a marker without a reason or without a block; a block that uses a
    placeholder of docs/data.md is marked."""
    for block in shell_blocks(page.read_text(), page.name):
        if block.not_run is None:
            used = re.findall(r"\$(GENOME|PEAKS|MOTIFS|DEEPSOL_TRAIN|DEEPSOL_VALID|STORE)\b", block.code)
            assert not used, f"{page.name}:{block.line} runs, but names ${used[0]}: mark it not run"


def test_the_block_parser_reads_the_convention():
    page = ("# T\n\n```bash\nseqzoo list\n```\n\n<!-- not run: needs $GENOME -->\n```bash\nseqzoo x\n```\n"
            "```python\nimport seqzoo\n```\n```\nplain\n```\n")
    assert shell_blocks(page) == [Block(3, "seqzoo list", None), Block(8, "seqzoo x", "needs $GENOME")]
    for bad, says in [("<!-- not run -->\n```bash\nls\n```\n", "page:1: a 'not run' marker without a reason"),
                      ("<!-- not run: slow -->\ntext\n```bash\nls\n```\n", "page:1: a 'not run' marker not followed"),
                      ("<!-- not run: slow -->\n```python\nx\n```\n", "page:1: a 'not run' marker before a block"),
                      ("```bash\nls\n", "page:1: a code block that is never closed")]:
        with pytest.raises(ValueError, match=re.escape(says)):
            shell_blocks(bad)
    assert without_install_steps("python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/seqzoo list\n"
                                 ".venv/bin/pip install -e .\nseqzoo info DeepSol") == ".venv/bin/seqzoo list\n\nseqzoo info DeepSol"


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", [*PAGES, ROOT / "research" / "README.md"], ids=lambda p: p.name)
def test_every_link_file_and_test_the_docs_name_exists(page):
    """Relative links (and their #anchors), repository paths in backticks, and test names."""
    text = page.read_text()
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            problems.append(f"link to {target}: no such file")
        elif anchor and file.suffix == ".md":
            slugs = {_slug(h) for h in re.findall(r"^#+ (.+)$", file.read_text(), re.M)}
            if anchor not in slugs:
                problems.append(f"link to {target}: no heading with that anchor")
    for path in re.findall(r"`((?:tests|research|benchmarks|seqzoo|models|docs)/[\w./-]+\.(?:py|md|png|vcf|meme|fa))", text):
        if not (ROOT / path).exists():
            problems.append(f"{path}: no such file")
    defined = {m for f in (ROOT / "tests").glob("*.py") for m in re.findall(r"^def (test_\w+)", f.read_text(), re.M)}
    for name in set(re.findall(r"\b(test_\w+)\b", text)) - defined:
        if not (ROOT / "tests" / f"{name}.py").exists():
            problems.append(f"{name}: no such test")
    assert not problems, f"{page.name}: " + "; ".join(sorted(problems))


def test_no_command_names_a_folder_outside_the_clone():
    """``../shared`` (this project's data folder) appears only in docs/data.md's one sentence."""
    found = [f"{p.name}:{i}" for p in PAGES for i, line in enumerate(p.read_text().split("\n"), 1)
             if "../shared" in line and p.name != "data.md"]
    assert not found
    assert (ROOT / "docs" / "data.md").read_text().count("../shared") == 1

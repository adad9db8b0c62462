"""A non-editable install works: the wheel carries the zoo, and seqzoo and kipoi run from it.

The slow test builds the wheel from a copy of this checkout, installs it with
``pip install --no-deps --target T`` and runs, from a temporary working directory with
``PYTHONPATH=T`` and this interpreter (which has the dependencies), what a user would run.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import kipoi
import numpy as np
import pandas as pd
import pytest
import yaml

from seqzoo.zoo.spec import list_models, load_spec

pytestmark = pytest.mark.kipoi  # imports kipoi

ROOT = Path(__file__).resolve().parents[1]
#: The fast model whose example the installed copy predicts (a DNA model: FASTA + BED).
EXAMPLE_MODEL = "Basset_Athaliana265"


def _shipped_sources() -> list[str]:
    """Files of seqzoo/ and models/ that must be in the wheel: the committed ones when this is a
    git checkout, else every file there (bytecode aside)."""
    try:
        out = subprocess.run(["git", "ls-files", "seqzoo", "models"], cwd=ROOT, capture_output=True,
                             text=True, check=True, timeout=60).stdout
        return sorted(out.split())
    except (OSError, subprocess.CalledProcessError):
        return sorted(str(p.relative_to(ROOT)) for d in ("seqzoo", "models") for p in (ROOT / d).rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts)


def _in_wheel(source: str) -> str:
    """Where a checkout file lies in the wheel: models/ becomes seqzoo/zoo/models/ (setup.cfg)."""
    return "seqzoo/zoo/" + source if source.startswith("models/") else source


def _run(args: list[str], cwd: Path, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The wheel, the --target folder it is installed in, and an environment that imports from it."""
    base = tmp_path_factory.mktemp("install")
    # Build from a copy: an in-tree build writes build/ and seqzoo.egg-info/ into the checkout.
    source = base / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "tests", "benchmarks"))
    # No build isolation: setuptools and wheel come from this interpreter, no network needed.
    _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
          "-q", "-w", str(base / "dist")], cwd=base, env=dict(os.environ))
    (wheel,) = (base / "dist").glob("seqzoo-*.whl")
    target = base / "T"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), "-q", str(wheel)],
         cwd=base, env=dict(os.environ))
    cwd = base / "cwd"
    cwd.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target), HOME=str(base / "home"), SEQZOO_CACHE=str(base / "cache"),
               TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("SEQZOO_ZOO", None)
    return {"wheel": wheel, "target": target, "cwd": cwd, "env": env,
            "models": target / "seqzoo" / "zoo" / "models"}


@pytest.mark.slow
def test_wheel_holds_the_package_and_every_model_file(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    missing = [s for s in _shipped_sources() if _in_wheel(s) not in names]
    assert missing == [], f"committed files left out of the wheel (setup.cfg packages / package_data): {missing}"
    assert {"seqzoo/dataloader_specs/DNAIntervals.yaml", "seqzoo/dataloader_specs/Proteins.yaml"} <= names


@pytest.mark.slow
def test_installed_copy_lists_the_zoo_from_any_folder(installed):
    where = _run([sys.executable, "-c", "import seqzoo.zoo.spec as s; print(s.__file__); print(s.models_dir())"],
                 cwd=installed["cwd"], env=installed["env"]).stdout.split()
    # Imported from T, not from the editable install of the checkout, and reading T's models.
    assert where == [str(installed["target"] / "seqzoo" / "zoo" / "spec.py"), str(installed["models"])]
    out = _run([sys.executable, "-m", "seqzoo", "list"], cwd=installed["cwd"], env=installed["env"]).stdout
    listed = [line.split()[0] for line in out.splitlines()[1:]]
    assert listed == list_models() and len(listed) >= 5


@pytest.mark.slow
def test_installed_copy_predicts_its_example_like_the_reference(installed):
    directory = installed["models"] / EXAMPLE_MODEL
    example = directory / "example"
    out = installed["cwd"] / "preds.tsv"
    _run([sys.executable, "-m", "seqzoo", "predict", EXAMPLE_MODEL, "--fasta", str(example / "genome.fa"),
          "--bed", str(example / "intervals.bed"), "-o", str(out), "--quiet"],
         cwd=installed["cwd"], env=installed["env"])
    spec = load_spec(directory)
    table = pd.read_csv(out, sep="\t")
    with h5py.File(directory / "test.expect.h5") as f:
        expected = f["preds"][:]
    assert len(table) == len(expected)
    np.testing.assert_allclose(table[list(spec.columns)].to_numpy(), expected, atol=1e-5)
    # The weights came from the installed directory (a relative URL), copied into the cache.
    assert list(Path(installed["env"]["SEQZOO_CACHE"]).rglob(spec.artifact.file_name))


@pytest.mark.slow
def test_kipoi_test_passes_on_an_installed_model_directory(installed):
    directory = installed["models"] / EXAMPLE_MODEL
    # kipoi's own `kipoi test` (cli_test); it exits non-zero when predictions differ from test.expect.
    # kipoi's command line sets up the logging that reports the comparison; calling it directly, do too.
    code = ("import logging, kipoi.cli.main as m, seqzoo.kipoi_adapter as a; logging.basicConfig(level=logging.INFO); "
            f"assert a.__file__.startswith({str(installed['target'])!r}), a.__file__; "
            f"m.cli_test('test', [{str(directory)!r}, '--source', 'dir', '-e', {str(directory / 'test.expect.h5')!r}])")
    result = _run([sys.executable, "-c", code], cwd=installed["cwd"], env=installed["env"])
    assert "All predictions match" in result.stdout + result.stderr


def test_kipoi_reads_the_dataloader_directories_through_their_links(tmp_path, monkeypatch):
    # dataloaders/<Name>/dataloader.yaml links to seqzoo/dataloader_specs/<Name>.yaml (shipped in the wheel).
    monkeypatch.setenv("HOME", str(tmp_path))  # kipoi writes ~/.kipoi/config.yaml
    for name in ("DNAIntervals", "Proteins"):
        link = ROOT / "dataloaders" / name / "dataloader.yaml"
        assert link.is_symlink() and link.resolve() == ROOT / "seqzoo" / "dataloader_specs" / f"{name}.yaml"
        factory = kipoi.get_dataloader_factory(str(link.parent), source="dir")
        spec = yaml.safe_load(link.read_text())
        assert sorted(factory.args) == sorted(spec["args"])


def test_seqzoo_zoo_overrides_and_is_checked(tmp_path, monkeypatch):
    from seqzoo.zoo.spec import ZOO_ENV, models_dir

    assert models_dir() == ROOT / "models"  # a checkout reads its own models/
    (tmp_path / "models" / EXAMPLE_MODEL).mkdir(parents=True)
    shutil.copy(ROOT / "models" / EXAMPLE_MODEL / "model.yaml", tmp_path / "models" / EXAMPLE_MODEL)
    monkeypatch.setenv(ZOO_ENV, str(tmp_path))
    assert models_dir() == tmp_path.resolve() / "models" and list_models() == [EXAMPLE_MODEL]
    monkeypatch.setenv(ZOO_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=f"{ZOO_ENV}=.*nowhere: no models/ directory"):
        models_dir()

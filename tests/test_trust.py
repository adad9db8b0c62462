"""No code runs unasked (seqzoo.zoo.trust): a model directory's own code, a plugin in the working
directory and YAML tags never run through `seqzoo check` or `seqzoo predict` without --trust-code;
YAML tags are refused even with it. Each attack writes a marker file if it runs."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqzoo.cli import main
from seqzoo.zoo.spec import find_model
from seqzoo.zoo.trust import UnsafeYAMLError, parse_plain_yaml

pytestmark = pytest.mark.kipoi  # seqzoo check loads model directories through kipoi

MODEL = "Basset_Athaliana265"  # small and trained: a real model directory to tamper with
REPO = Path(__file__).resolve().parents[1]


def marker_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')\n"


def marker_tag(marker: Path) -> str:
    return f'x: !!python/object/apply:os.system ["touch {marker}"]\n'


@pytest.fixture
def model_copy(tmp_path):
    return Path(shutil.copytree(find_model(MODEL), tmp_path / "model"))


@pytest.fixture
def kipoi_env(kipoi_home, monkeypatch, tmp_path):
    """A HOME for kipoi and a working directory of the user's own (where plugins would be found)."""
    monkeypatch.setenv("HOME", str(kipoi_home))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def predict_args(directory: Path, out: Path) -> list[str]:
    example = directory / "example"
    return ["predict", str(directory), "--fasta", str(example / "genome.fa"), "--bed", str(example / "intervals.bed"),
            "-o", str(out), "--quiet"]


def test_a_dataloader_module_from_the_working_directory_never_runs(model_copy, kipoi_env, tmp_path):
    """kipoi's load_obj executes <module>.py from the working directory when the module does not import."""
    cwd_marker, dir_marker = tmp_path / "ran_from_cwd", tmp_path / "ran_from_model_dir"
    (kipoi_env / "some_plugin.py").write_text(marker_code(cwd_marker))
    (model_copy / "some_plugin.py").write_text(marker_code(dir_marker))
    yaml_text = (model_copy / "model.yaml").read_text()
    (model_copy / "model.yaml").write_text(yaml_text.replace("defined_as: seqzoo.dataloaders.DNAIntervalDataset",
                                                             "defined_as: some_plugin.Loader"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    # A real process started the way `python -m` starts one: the working directory is on sys.path.
    check = subprocess.run([sys.executable, "-m", "seqzoo", "check", str(model_copy)], cwd=kipoi_env, env=env,
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 1, check.stderr[-2000:]
    assert "default_dataloader 'some_plugin.Loader' is not one of seqzoo's" in check.stdout
    assert "some_plugin.py: a code file" in check.stdout and "--trust-code" in check.stdout
    assert main(predict_args(model_copy, tmp_path / "p.tsv")) == 0  # predict never loads the dataloader
    assert not cwd_marker.exists() and not dir_marker.exists()
    # --trust-code is the one way to let kipoi import it (and kipoi then runs the working directory's file)
    assert main(["check", str(model_copy), "--trust-code"]) == 1
    assert cwd_marker.exists()


def test_check_never_imports_the_model_directorys_own_model_py(model_copy, kipoi_env, tmp_path, capsys):
    marker = tmp_path / "model_py_ran"
    (model_copy / "model.py").write_text(marker_code(marker) + "from seqzoo.kipoi_adapter import KipoiModel as Model\n")
    yaml_text = (model_copy / "model.yaml").read_text()
    (model_copy / "model.yaml").write_text(yaml_text.replace("defined_as: seqzoo.kipoi_adapter.KipoiModel",
                                                             "defined_as: model.Model", 1))
    assert main(["check", str(model_copy)]) == 1
    out = capsys.readouterr().out
    assert "model.py: a code file" in out and "defined_as 'model.Model' is not seqzoo's" in out
    assert not marker.exists()


@pytest.mark.parametrize("file_name", ["model.yaml", "model.yml", "dataloader.yaml", "weights.yaml"])
def test_a_yaml_tag_is_refused_by_check_and_predict_even_with_trust_code(model_copy, kipoi_env, tmp_path, capsys,
                                                                          file_name):
    marker = tmp_path / "tag_ran"
    target = model_copy / file_name
    base = (model_copy / "model.yaml").read_text() if file_name == "model.yml" else (
        target.read_text() if target.exists() else "defined_as: seqzoo.dataloaders.DNAIntervalDataset\n")
    target.write_text(base + marker_tag(marker))  # model.yml: what kipoi reads before model.yaml
    for args in (["check", str(model_copy)], ["check", str(model_copy), "--trust-code"],
                 predict_args(model_copy, tmp_path / "p.tsv")):
        assert main(args) != 0
        said = capsys.readouterr()
        assert f"{target}, line" in said.out + said.err
        assert "the YAML tag '!!python/object/apply:os.system' is refused" in said.out + said.err
    assert not marker.exists() and not (tmp_path / "p.tsv").exists()


def test_a_tag_in_a_dataloader_specification_is_refused_before_kipoi_parses_it(kipoi_home, tmp_path):
    """seqzoo.dataloaders hands its YAML specifications to kipoi's unsafe loader as docstrings."""
    marker = tmp_path / "spec_tag_ran"
    package = tmp_path / "site" / "seqzoo"
    shutil.copytree(REPO / "seqzoo", package, ignore=shutil.ignore_patterns("__pycache__"))
    spec = package / "dataloader_specs" / "DNAIntervals.yaml"
    spec.write_text(spec.read_text() + marker_tag(marker))
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"), HOME=str(kipoi_home))
    result = subprocess.run([sys.executable, "-c", "import seqzoo.dataloaders"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert f"UnsafeYAMLError: {spec}, line" in result.stderr
    assert not marker.exists()


def test_plain_yaml_parses_and_every_tag_and_alias_is_named():
    assert parse_plain_yaml("a: [1, 2.5, x]\nb: &r {c: null}\n", "f.yaml") == {"a": [1, 2.5, "x"], "b": {"c": None}}
    with pytest.raises(UnsafeYAMLError, match=r"f.yaml, line 3: the YAML alias '\*r' is refused"):
        parse_plain_yaml("a: [1, 2.5, x]\nb: &r {c: null}\nd: *r\n", "f.yaml")
    for tag in ("!!python/object/apply:os.system", "!!python/name:os.system", "!custom"):
        with pytest.raises(UnsafeYAMLError, match=f"f.yaml, line 2: the YAML tag '{tag}' is refused"):
            parse_plain_yaml(f"a: 1\nb: {tag} [x]\n", "f.yaml")


def test_list_marks_a_refused_model_and_lists_the_others(tmp_path, monkeypatch, capsys):
    """One model with a tagged YAML neither runs the tag nor hides the rest of the zoo from `seqzoo list`."""
    marker = tmp_path / "list_tag_ran"
    for name in ("Basset_Athaliana265", "Tagged"):
        shutil.copytree(find_model("Basset_Athaliana265"), tmp_path / "zoo" / "models" / name)
    tagged = tmp_path / "zoo" / "models" / "Tagged" / "model.yaml"
    tagged.write_text(tagged.read_text() + marker_tag(marker))
    monkeypatch.setenv("SEQZOO_ZOO", str(tmp_path / "zoo"))
    assert main(["list"]) == 1
    said = capsys.readouterr()
    lines = {line.split()[0]: line for line in said.out.splitlines()[1:] if line.strip()}
    assert "dna" in lines["Basset_Athaliana265"] and "refused" in lines["Tagged"]
    assert f"Tagged: {tagged}, line" in said.err and "is refused" in said.err
    assert not marker.exists()

"""seqzoo.training.leaderboard (``seqzoo leaderboard``): models ranked on the same windows of a
tiny real data set, with bootstrap intervals, motif wins, parameters and rates; and the README's
model table against ``seqzoo list``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model_checks import AUTHORSHIP

from seqzoo.packaging import ModelInfo
from seqzoo.training.baselines import motif_baseline
from seqzoo.training.datasets import build_dataset
from seqzoo.training.dna import evaluate_dna, export_model_dir, train_dna
from seqzoo.training.leaderboard import TABLE_END, TABLE_START, read_board, read_readme_table, readme_table
from seqzoo.zoo.spec import find_model, list_models, load_spec

REPOSITORY = Path(__file__).resolve().parents[1]

MEME = """MEME version 4

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.25 C 0.25 G 0.25 T 0.25

MOTIF M1 TF_A
letter-probability matrix: alength= 4 w= 8 nsites= 20 E= 0
{rows_a}
MOTIF M2 TF_B
letter-probability matrix: alength= 4 w= 6 nsites= 20 E= 0
{rows_b}
"""


def _rows(word: str) -> str:
    return "\n".join(" ".join("0.970000" if base == b else "0.010000" for b in "ACGT") for base in word) + "\n"


@pytest.fixture(scope="module")
def board_inputs(tmp_path_factory, synthetic_peaks):
    """A data set of the synthetic genome (TF_A's peaks carry GACGTCAT), two training runs of
    different families (one exported as a model directory) and the motif baseline's JSON."""
    root = tmp_path_factory.mktemp("board")
    build_dataset(synthetic_peaks / "g.fa", synthetic_peaks / "peaks.bed", root / "ds", seq_len=400,
                  split="blocks:train=0-20000,valid=21000-30000", command="test")
    train_dna(root / "ds", root / "deepsea_run", "deepsea", config={"conv_filters": [4, 4, 4], "dense_units": 4},
              epochs=1, batch_size=16, verbose=False, command="test")
    train_dna(root / "ds", root / "resnet_run", "resnet",
              config={"stem_filters": 4, "stage_filters": [4], "blocks_per_stage": 1, "dense_units": 4},
              epochs=1, batch_size=16, verbose=False, command="test")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQZOO_CACHE", str(root / "cache"))
        export_model_dir(root / "resnet_run", root / "TinyResNet", ModelInfo(doc="tiny", trained_on="synthetic", **AUTHORSHIP),
                         file_name="tiny-resnet.weights.h5")
    (root / "motifs.meme").write_text(MEME.format(rows_a=_rows("GACGTCAT"), rows_b=_rows("TTTAAA")))
    motif_baseline(root / "ds", root / "motifs.meme", tasks=["TF_A", "TF_B"], out_path=root / "baseline.json")
    return root


def seqzoo(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    return subprocess.run([sys.executable, "-m", "seqzoo", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_leaderboard_ranks_runs_and_model_directories_on_the_same_windows(board_inputs, tmp_path):
    root = board_inputs
    result = seqzoo("leaderboard", "--data", root / "ds", "--models", root / "deepsea_run", root / "TinyResNet",
                    "--motif-baseline", root / "baseline.json", "--resamples", "50", "-o", tmp_path / "board.md",
                    cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_board(tmp_path / "board.tsv")
    assert [r["rank"] for r in rows] == [1, 2] and rows[0]["mean_auprc"] >= rows[1]["mean_auprc"]
    baseline = json.loads((root / "baseline.json").read_text())
    for row in rows:
        # the figures are seqzoo evaluate's on the same split, inside their own intervals
        evaluated = evaluate_dna(row["source"], root / "ds", "valid")
        assert row["mean_auroc"] == pytest.approx(evaluated["auroc"]["mean"], abs=1e-6)
        assert row["mean_auprc"] == pytest.approx(evaluated["auprc"]["mean"], abs=1e-6)
        assert row["auroc_low"] <= row["mean_auroc"] <= row["auroc_high"]
        assert row["auprc_low"] <= row["mean_auprc"] <= row["auprc_high"] and row["auprc_low"] < row["auprc_high"]
        wins = sum(evaluated["per_task"][tf]["auprc"] > max(m[s]["auprc"] for s in baseline["scorings"])
                   for tf, m in baseline["per_task"].items())
        assert (row["motif_wins"], row["motif_tfs"]) == (wins, 2)
        assert row["windows_per_second"] > 0 and row["windows"] == evaluated["n"]
    assert {(r["model"], r["architecture"]) for r in rows} == {("deepsea_run", "deepsea"), ("TinyResNet", "resnet")}
    markdown = (tmp_path / "board.md").read_text()
    assert "| rank | model | architecture | parameters |" in markdown and "M1 TF_A" in markdown

    # the same seed draws the same resamples: the same intervals
    again = seqzoo("leaderboard", "--data", root / "ds", "--models", root / "deepsea_run", root / "TinyResNet",
                   "--motif-baseline", root / "baseline.json", "--resamples", "50", "-o", tmp_path / "again.md",
                   cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    same = read_board(tmp_path / "again.tsv")
    assert [(r["auroc_low"], r["auprc_high"]) for r in same] == [(r["auroc_low"], r["auprc_high"]) for r in rows]


PROBE = """
import sys
from seqzoo.cli import main
code = main({argv!r})
print(code, sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')))
"""


@pytest.mark.parametrize("extra, says", [
    (["-o", "board.txt"], "the board is Markdown (.md)"),
    (["--split", "test", "-o", "b.md"], "has no split 'test'"),
    (["--models", "NoSuchModel", "-o", "b.md"], "NoSuchModel"),
    (["--meme", "motifs.meme", "-o", "b.md"], "--meme and --tf go together"),
    (["--motif-baseline", "absent.json", "-o", "b.md"], "absent.json does not exist"),
])
def test_leaderboard_usage_mistakes_are_refused_before_tensorflow(board_inputs, tmp_path, extra, says):
    argv = ["leaderboard", "--data", str(board_inputs / "ds"), *extra]
    result = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], cwd=board_inputs, capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(REPOSITORY)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert says in result.stderr
    assert result.stdout.strip() == "2 []"


def test_leaderboard_without_models_takes_the_zoo_models_of_the_tasks_or_says_there_are_none(board_inputs, tmp_path):
    result = seqzoo("leaderboard", "--data", board_inputs / "ds", "-o", tmp_path / "b.md", cwd=tmp_path)
    assert result.returncode == 2
    assert "no zoo model has the 2 tasks of" in result.stderr


# --- the README's model table ------------------------------------------------------------------

def _listed() -> dict[str, tuple[str, str, str]]:
    """What ``seqzoo list`` says of each zoo model: modality, architecture, number of targets."""
    specs = {name: load_spec(find_model(name)) for name in list_models()}
    return {name: (s.modality, s.architecture, str(s.target_shape[-1])) for name, s in specs.items()}


def _table_says(rows: list[dict]) -> dict[str, tuple[str, str, str]]:
    return {r["model"]: (r["modality"], r["architecture"], r["targets"]) for r in rows}


def test_readme_table_generator_lists_every_zoo_model_with_the_boards_figures(board_inputs, tmp_path):
    board = tmp_path / "board.tsv"
    board.write_text("\t".join(["rank", "model", "source", "architecture", "parameters", "mean_auroc", "auroc_low",
                                "auroc_high", "mean_auprc", "auprc_low", "auprc_high", "motif_wins", "motif_tfs",
                                "windows_per_second", "windows", "split", "data"]) + "\n"
                     + "1\tDeepSEA_Athaliana265\tDeepSEA_Athaliana265\tensemble\t1000\t0.9\t0.89\t0.91\t0.272\t0.26\t"
                       "0.28\t5\t9\t812.4\t19000\tvalid\t/data\n")
    text = readme_table([board])
    assert text.startswith(TABLE_START) and text.rstrip().endswith(TABLE_END)
    rows = read_readme_table(text)
    assert _table_says(rows) == _listed()
    ranked = next(r for r in rows if r["model"] == "DeepSEA_Athaliana265")
    assert ranked["mean AUPRC (95% CI)"] == "0.2720 [0.2600, 0.2800]" and ranked["windows/s"] == "812"
    assert next(r for r in rows if r["model"] == "DeepSol")["mean AUPRC (95% CI)"] == "-"


def test_readme_model_table_agrees_with_seqzoo_list():
    # The README's table lies between the marker lines (seqzoo.training.leaderboard.TABLE_START/END);
    # regenerate it with `seqzoo leaderboard --readme-table BOARD.tsv ...` when a model comes or goes.
    readme = REPOSITORY / "README.md"
    rows = read_readme_table(readme.read_text(), where=str(readme))
    assert _table_says(rows) == _listed(), "README.md's model table and `seqzoo list` disagree"

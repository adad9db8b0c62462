"""The seqzoo command line and trained-weight artifacts served over real HTTP, end to end."""

import functools
import os
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import kipoi
import numpy as np
import pandas as pd
import pytest

import seqzoo
from seqzoo.zoo.artifacts import ArtifactError, WeightsArtifact
from seqzoo.cli import main
from seqzoo.zoo.spec import find_model, load_spec

from conftest import random_inputs

pytestmark = pytest.mark.kipoi  # imports kipoi

EXAMPLE = find_model("Basset") / "example"


def test_predict_writes_labelled_rows_in_input_order(tmp_path, caplog):
    out = tmp_path / "basset.tsv"
    assert main(["predict", "Basset", "--fasta", str(EXAMPLE / "genome.fa"), "--bed",
                 str(EXAMPLE / "intervals.bed"), "-o", str(out), "--batch-size", "3", "--quiet"]) == 0
    untrained = [r for r in caplog.records if "UNTRAINED" in r.getMessage()]
    assert len(untrained) == 1 and untrained[0].levelname == "WARNING"  # said once, by the loader
    table = pd.read_csv(out, sep="\t")
    bed = pd.read_csv(EXAMPLE / "intervals.bed", sep="\t", header=None)
    assert list(table.columns[:7]) == ["chrom", "start", "end", "name", "strand", "padded", "note"]
    assert list(table.columns[7:]) == list(seqzoo.get_model("Basset").labels)
    assert list(table["name"]) == list(bed[3]) and list(table["start"]) == list(bed[1])
    assert table.loc[table["name"] == "chrom_start", "padded"].item() > 0
    assert not list(tmp_path.glob("*.partial"))


def test_predict_matches_the_reference_predictions(tmp_path):
    import h5py

    out = tmp_path / "deepsol.tsv"
    example = find_model("DeepSol") / "example" / "proteins.fa"
    assert main(["predict", "DeepSol", "--fasta", str(example), "-o", str(out), "--quiet"]) == 0
    table = pd.read_csv(out, sep="\t")
    with h5py.File(find_model("DeepSol") / "test.expect.h5") as f:
        np.testing.assert_allclose(table["soluble"].to_numpy(), f["preds"][:, 0], atol=1e-6)


def test_protein_rows_that_cannot_be_predicted_have_a_reason_and_no_value(tmp_path):
    fasta = tmp_path / "p.fa"
    fasta.write_text(">good\nMKVLAAGIVALLLAAGCSS\n>bad\nMKXV\n>empty\n")
    out = tmp_path / "p.tsv"
    assert main(["predict", "DeepSol", "--fasta", str(fasta), "-o", str(out), "--quiet"]) == 0
    table = pd.read_csv(out, sep="\t", keep_default_na=False, na_values=["nan"])
    assert list(table["id"]) == ["good", "bad", "empty"]
    assert list(table["valid"]) == [1, 0, 0]
    assert table["soluble"].isna().tolist() == [False, True, True]
    assert table.loc[1, "reason"].startswith("non-standard residue 'X'")


def test_bad_bed_fails_cleanly_and_leaves_no_output(tmp_path, capsys):
    bed = tmp_path / "bad.bed"
    bed.write_text("chr1\t100\t200\nchr1\t300\tabc\n")
    out = tmp_path / "out.tsv"
    assert main(["predict", "Basset", "--fasta", str(EXAMPLE / "genome.fa"), "--bed", str(bed),
                 "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.bed, line 2" in err
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_unknown_model_suggests_the_right_name(capsys):
    assert main(["info", "basset"]) == 2
    assert "did you mean 'Basset'" in capsys.readouterr().err


def test_list_and_info(capsys):
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    for name in seqzoo.list_models():
        assert name in listing
    assert "UNTRAINED" in listing
    assert main(["info", "DeepSEA"]) == 0
    assert "919" in capsys.readouterr().out


def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "seqzoo")  # beside this Python
    result = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and seqzoo.__version__ in result.stdout


# --- a model directory whose weights are a real artifact served over HTTP -------------------

@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def served_model(tmp_path, http_root, monkeypatch):
    """A copy of models/DeepSol whose weights.yaml names a .weights.h5 on the local server."""
    root, url = http_root
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SEQZOO_MIRROR", raising=False)
    model = seqzoo.get_model("DeepSol", device="cpu")
    model.keras_model.set_weights([w * 0.5 for w in model.keras_model.get_weights()])
    weights = root / "deepsol-test.weights.h5"
    model.keras_model.save_weights(weights)
    directory = tmp_path / "DeepSol"
    shutil.copytree(find_model("DeepSol"), directory)
    WeightsArtifact.describe(weights, urls=[f"{url}/{weights.name}"], produced_by="tests").to_yaml(directory / "weights.yaml")
    return directory, model, weights


def test_kipoi_loads_weights_fetched_over_http(served_model):
    directory, reference, _ = served_model
    x = random_inputs(reference.spec, 6)
    loaded = kipoi.get_model(str(directory), source="dir")
    assert loaded.model.trained and loaded.model.weights_path.is_file()
    assert str(loaded.model.weights_path).startswith(os.environ["SEQZOO_CACHE"])
    np.testing.assert_allclose(loaded.predict_on_batch(x), reference.predict_on_batch(x), atol=1e-7)


def test_corrupted_served_weights_are_refused(served_model):
    directory, _, weights = served_model
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ArtifactError, match="sha256"):
        seqzoo.get_model(directory)


def test_fetch_command_and_cache_state(served_model, capsys):
    directory, _, _ = served_model
    assert main(["info", str(directory)]) == 0
    assert "not fetched" in capsys.readouterr().out
    assert main(["fetch", str(directory)]) == 0
    assert main(["info", str(directory)]) == 0
    assert "present, verified" in capsys.readouterr().out


def test_get_model_with_a_local_weights_file(served_model):
    _, reference, weights = served_model
    local = seqzoo.get_model("DeepSol", weights=weights, device="cpu")
    assert local.trained and local.weights_path == weights
    x = random_inputs(reference.spec, 3)
    np.testing.assert_array_equal(local.predict_on_batch(x), reference.predict_on_batch(x))


# --- verbs that dispatch on the model's kind ---------------------------------------------------

def test_verb_help_lists_every_kind_and_a_model_help_its_own(capsys):
    for verb in ("train", "evaluate", "export"):
        with pytest.raises(SystemExit) as exit_:
            main([verb, "--help"])
        assert exit_.value.code == 0
        out = capsys.readouterr().out
        assert "--- DNA models ---" in out and "--- protein models ---" in out
    with pytest.raises(SystemExit):
        main(["train", "DeepSol", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: seqzoo train DeepSol") and "--valid" in out and "--data" not in out
    with pytest.raises(SystemExit):
        main(["train", "basset", "--help"])  # an architecture name: the DNA kind
    out = capsys.readouterr().out
    assert "--data" in out and "--valid" not in out


@pytest.mark.parametrize("name, replacement", [
    ("train-dna", "seqzoo train MODEL --data DIR -o RUN ..."),
    ("evaluate-dna", "seqzoo evaluate MODEL|RUN --data DIR -o METRICS.json ..."),
    ("export-dna", "seqzoo export RUN... MODEL_DIR ..."),
])
def test_a_removed_command_name_exits_2_naming_the_command_that_replaces_it(name, replacement, capsys):
    from seqzoo.cli import COMMANDS

    assert name not in COMMANDS
    for args in ([name, "DeepSEA", "--data", "ds", "-o", "run"], [name, "--help"], ["--verbose", name]):
        with pytest.raises(SystemExit) as exit_:
            main(args)
        said = capsys.readouterr()
        assert exit_.value.code == 2 and said.out == ""
        assert said.err == f"seqzoo: error: `{name}` was removed in seqzoo 0.1.0; use `{replacement}`\n"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert name not in capsys.readouterr().out  # not listed among the commands


def test_a_verb_names_an_unknown_model(capsys):
    assert main(["evaluate", "deepsol", "--data", "x.tsv", "-o", "m.json"]) == 2
    assert "did you mean 'DeepSol'" in capsys.readouterr().err


def test_export_refuses_runs_of_two_kinds(tmp_path, capsys):
    dna, protein = find_model("DeepSEA_Athaliana265"), find_model("DeepSol")
    assert main(["export", str(dna), str(protein), str(tmp_path / "Mixed"), "--doc", "d", "--trained-on", "t"]) == 2
    assert f"{protein} is protein, {dna} is dna: export one kind at a time" in capsys.readouterr().err
    assert not (tmp_path / "Mixed").exists()


# --- a newcomer's first minutes: errors in a fraction of a second, readable warnings, pipes ---------

REPOSITORY = find_model("Basset").parents[1]


def seqzoo_process(args: list[str], cwd, *, python_flags: tuple[str, ...] = (), pythonpath: tuple = (),
                   **kwargs) -> subprocess.CompletedProcess:
    """``python -m seqzoo ARGS`` in a new process, with this checkout first on the path."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # conftest sets it: "show"
    env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), str(REPOSITORY), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, *python_flags, "-m", "seqzoo", *args], cwd=cwd, env=env,
                          text=True, timeout=300, **kwargs)


USAGE_MISTAKES = {  # id: (arguments, what the error says); {example}, {missing}, {existing} are filled in
    "unknown model": (["predict", "DeepSEA_Athaliana", "--fasta", "{example}/genome.fa", "--bed",
                       "{example}/intervals.bed", "-o", "out.tsv"],
                      "no model named 'DeepSEA_Athaliana' in the zoo"),
    "a model in the wrong case": (["predict", "deepsea_athaliana265", "--fasta", "{example}/genome.fa", "--bed",
                                   "{example}/intervals.bed", "-o", "out.tsv"],
                                  "did you mean 'DeepSEA_Athaliana265'?"),
    "missing FASTA": (["predict", "Basset", "--fasta", "{missing}.fa", "--bed", "{example}/intervals.bed",
                       "-o", "out.tsv"], "the FASTA (--fasta) {missing}.fa does not exist"),
    "missing BED": (["attribute", "Basset", "--fasta", "{example}/genome.fa", "--bed", "{missing}.bed",
                     "--target", "0", "-o", "out.npz"], "the BED (--bed) {missing}.bed does not exist"),
    "motifs: a missing motif database": (["motifs", "DeepSEA_Athaliana265", "--target", "ABF2", "--fasta",
                                          "{example}/genome.fa", "--bed", "{example}/intervals.bed", "--motifs",
                                          "{missing}.meme", "-o", "report"],
                                         "the motif database (--motifs) {missing}.meme does not exist"),
    "leaderboard: a board that is not Markdown": (["leaderboard", "--data", "{dataset}", "-o", "board.txt"],
                                                  "the board is Markdown (.md)"),
    "missing VCF": (["variants", "Basset", "--fasta", "{example}/genome.fa", "--vcf", "{missing}.vcf",
                     "-o", "out.vcf.gz"], "the VCF (--vcf) {missing}.vcf does not exist"),
    "existing output": (["predict", "Basset", "--fasta", "{example}/genome.fa", "--bed", "{example}/intervals.bed",
                         "-o", "{existing}"], "{existing} exists; pass --force to replace it"),
    "unsupported output": (["predict", "Basset", "--fasta", "{example}/genome.fa", "--bed",
                            "{example}/intervals.bed", "-o", "out.xlsx"], "out.xlsx: unknown output extension"),
    "target in the wrong case": (["explain", "DeepSEA_Athaliana265", "--fasta", "{example}/genome.fa", "--region",
                                  "chr1:3000-3100", "--target", "abf2", "-o", "out.png"],
                                 "no target named 'abf2'; did you mean 'ABF2'?"),
    "unknown command": (["predcit", "Basset"], "no command 'predcit'; did you mean 'predict'?"),
    # every other command: its own early check ({tsv}: a labelled protein TSV, {run}: a DNA run
    # directory, {carded}: a model directory whose card lacks sections)
    "list: a store that is not there": (["list", "--source", "{missing}"], "the store {missing} does not exist"),
    "info: a model name cut short": (["info", "DeepSEA_Athaliana"], "did you mean 'DeepSEA_Athaliana265'?"),
    "fetch: a model in the wrong case": (["fetch", "basset", "--weights", "published"], "did you mean 'Basset'?"),
    "check: a missing directory": (["check", "{missing}"], "no model named '{missing}'"),
    "import-weights: a missing checkpoint": (["import-weights", "Basset", "{missing}.pth"],
                                             "the checkpoint {missing}.pth does not exist"),
    "import-kipoi: a missing source": (["import-kipoi", "{missing}", "-o", "out"],
                                       "the kipoi model directory {missing} does not exist"),
    "kipoi-source: a misspelt option": (["kipoi-source", "--nmae", "zoo"], "unrecognized arguments: --nmae"),
    "publish: a card without the sections of a model card": (
        ["publish", "{carded}", "{missing}"], "README.md lacks what a model card needs: what the model predicts; "
                                              "training data; evaluation with figures; limitations; licence"),
    "install: a store that is not there": (["install", "{missing}/Basset"], "the store {missing} does not exist"),
    "learned-motifs: a missing MEME file": (["learned-motifs", "Basset", "--fasta", "{example}/genome.fa", "--bed",
                                            "{example}/intervals.bed", "--meme", "{missing}.meme", "-o", "out.tsv"],
                                           "the MEME file (--meme) {missing}.meme does not exist"),
    "dataset: a missing FASTA": (["dataset", "--fasta", "{missing}.fa", "--peaks", "{example}/intervals.bed",
                                  "--design", "deepsea", "--out", "out"], "the FASTA (--fasta) {missing}.fa does not exist"),
    "train: a missing data set": (["train", "DeepSEA", "--data", "{missing}", "-o", "out"],
                                  "the data set (--data) {missing} does not exist"),
    "train: --config that is not JSON": (["train", "DeepSol", "--train", "{tsv}", "--valid", "{tsv}", "-o", "out",
                                          "--config", "{{conv: 1"], "--config is not JSON"),
    "train-dna: removed": (["train-dna", "DeepSEA", "--data", "{missing}", "-o", "out"],
                           "`train-dna` was removed in seqzoo 0.1.0; use `seqzoo train MODEL --data DIR -o RUN ...`"),
    "finetune: an ensemble": (["finetune", "DeepSEA_Athaliana265", "--data", "{missing}", "-o", "out"],
                              "DeepSEA_Athaliana265 is an ensemble of 2 networks (0: deepsea, 1: deepsea); "
                              "fine-tuning starts from one of them: pass --member 0"),
    "ensemble: a missing run": (["ensemble", "DeepSol", "{missing}", "--valid", "{tsv}", "-o", "out"],
                                "the run {missing} does not exist"),
    "evaluate: an existing output": (["evaluate", "DeepSol", "--data", "{tsv}", "-o", "{existing}"],
                                     "{existing} exists; pass --force to replace it"),
    "evaluate: a model name cut short": (["evaluate", "DeepSEA_Athaliana", "--data", "{missing}", "-o",
                                          "out.json"], "did you mean 'DeepSEA_Athaliana265'?"),
    "evaluate-dna: removed": (["evaluate-dna", "DeepSEA_Athaliana265", "--data", "{missing}", "-o", "out.json"],
                              "`evaluate-dna` was removed in seqzoo 0.1.0; use `seqzoo evaluate MODEL|RUN"),
    "motif-baseline: a missing data set": (["motif-baseline", "--data", "{missing}", "--meme", "{missing}.meme",
                                            "--tf", "ABF2", "-o", "out.json"], "the data set (--data) {missing} does not exist"),
    "motif-baseline: a task in the wrong case": (["motif-baseline", "--data", "{dataset}", "--meme", "{tsv}", "--tf",
                                                  "wrky24_summit", "-o", "out.json"],
                                                 "has no task 'wrky24_summit'; did you mean 'WRKY24_summit'?"),
    "evaluate: a split misspelt": (["evaluate", "DeepSEA_Athaliana265", "--data", "{dataset}", "--split", "vaild",
                                    "-o", "out.json"], "has no split 'vaild'; did you mean 'valid'?"),
    "export: no licence or authors": (["export", "{run}", "out", "--doc", "d", "--trained-on", "t"],
                                      "--license SPDX (e.g. MIT, Apache-2.0, CC-BY-4.0) and --authors NAME"),
    "export: a missing run": (["export", "{missing}", "out", "--doc", "d", "--trained-on", "t"],
                              "the run {missing} does not exist"),
    "export-dna: removed": (["export-dna", "{missing}", "out", "--doc", "d", "--trained-on", "t"],
                            "`export-dna` was removed in seqzoo 0.1.0; use `seqzoo export RUN... MODEL_DIR ...`"),
}


def test_every_command_has_a_usage_mistake_checked_without_tensorflow():
    from seqzoo.cli import COMMANDS, REMOVED

    assert {args[0] for args, _ in USAGE_MISTAKES.values()} == set(COMMANDS) | set(REMOVED) | {"predcit"}


@pytest.mark.parametrize("mistake", USAGE_MISTAKES)
def test_usage_mistakes_are_reported_with_tensorflow_and_keras_not_importable(mistake, tmp_path):
    blocked = tmp_path / "blocked"  # `import tensorflow` or `import keras` here fails
    for name in ("tensorflow", "keras"):
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(f"raise ImportError('{name} is not importable in this test')\n")
    existing = tmp_path / "existing.tsv"
    existing.write_text("kept\n")
    tsv = tmp_path / "proteins.tsv"
    tsv.write_text("sequence\tlabel\nMKVLAAGIVLLA\t1\nMSTNPKPQRKTK\t0\n")
    run = tmp_path / "run"  # a DNA run directory, as `seqzoo train` leaves it, recording no licence
    run.mkdir()
    (run / "training.json").write_text("{}\n")
    carded = tmp_path / "Carded"  # a complete model directory whose card is a title only
    shutil.copytree(find_model("Basset"), carded, ignore=shutil.ignore_patterns("*.fai"))
    (carded / "README.md").write_text("# Carded\n")
    names = dict(example=find_model("Basset") / "example", missing=tmp_path / "missing", existing=existing,
                 tsv=tsv, run=run, carded=carded, dataset=tmp_path / "dataset")
    args, says = USAGE_MISTAKES[mistake]
    if "{dataset}" in args:  # a data set of the example genome, its tasks the example intervals' names
        from seqzoo.training.datasets import build_dataset

        build_dataset(names["example"] / "genome.fa", names["example"] / "intervals.bed", names["dataset"],
                      seq_len=600, split="blocks:train=0-6000,valid=6000-12000")
    # -X warn_default_encoding: Python warns at every open() without an encoding, so the warnings
    # of every command's own code show how they print
    done = seqzoo_process([a.format(**names) for a in args], tmp_path,
                          python_flags=("-X", "importtime", "-X", "warn_default_encoding"),
                          pythonpath=(blocked,), capture_output=True)
    # -X importtime lists every module whose import began, a blocked one too
    imported = {line.rpartition("|")[2].strip().split(".")[0] for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert not imported & {"tensorflow", "keras", "kipoi"}
    lines = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    message = "\n".join(line for line in lines if not line.startswith(("seqzoo: warning: ", "usage: ")))
    assert done.returncode == 2 and says.format(**names) in message, message
    assert message.count("\n") == 0 and "Traceback" not in message  # one line: the error
    assert not [line for line in lines if ".py:" in line or "Warning:" in line], lines  # warnings as lines
    assert existing.read_text() == "kept\n" and not list(tmp_path.glob("out*"))


def test_the_commands_shown_in_the_docs_and_model_cards_exist():
    """Every ``seqzoo COMMAND`` line of a code block in the README, docs/ and the model cards
    names a command of today's table (a removed name would exit 2 for the reader who copies it)."""
    import re

    from seqzoo.cli import COMMANDS

    pages = [REPOSITORY / "README.md", *sorted(REPOSITORY.glob("docs/*.md")),
             *sorted(REPOSITORY.glob("models/*/README.md"))]
    shown = {}
    for page in pages:
        for block in re.findall(r"^```[^\n]*\n(.*?)^```", page.read_text(encoding="utf-8"), re.M | re.S):
            for name in re.findall(r"^\s*seqzoo (?:--verbose )?([^\s\[]\S*)", block, re.M):
                shown.setdefault(name, []).append(page.relative_to(REPOSITORY).as_posix())
    assert {"train", "evaluate", "export"} <= set(shown)
    assert {name: where for name, where in shown.items() if name not in COMMANDS} == {}


def test_one_helper_suggests_model_target_and_command_names():
    from seqzoo.cli import COMMANDS
    from seqzoo.suggest import did_you_mean, nearest

    models = seqzoo.list_models()
    assert nearest("DeepSEA_Athaliana", models) == nearest("deepsea_athaliana265", models) == ["DeepSEA_Athaliana265"]
    assert nearest("basset", models) == ["Basset"]
    assert nearest("zzz", models) == [] and did_you_mean("zzz", models) == ""
    assert did_you_mean("abf2", ["ABF1", "ABF2", "WRKY3"]) == "; did you mean 'ABF2'?"
    assert did_you_mean("expain", COMMANDS) == "; did you mean 'explain'?"
    spec = load_spec(find_model("DeepSEA_Athaliana265"))
    with pytest.raises(ValueError, match=r"no target named 'abf2'; did you mean 'ABF2'\?"):
        spec.column_index("abf2")
    with pytest.raises(ValueError, match=r"no target named 'abf9'; did you mean 'ABF2', .*\?"):
        spec.select_columns("abf9")


def test_choices_declared_without_keras_equal_the_libraries_own():
    from seqzoo.attribution import ATTRIBUTE_FORMATS, ATTRIBUTION_METHODS, DELTA_FLOOR
    from seqzoo.cli import attribute_commands, predict_commands
    from seqzoo.interpret import ATTRIBUTION_METHODS as EXPLAIN_METHODS

    assert attribute_commands.ATTRIBUTE_FORMATS == ATTRIBUTE_FORMATS
    assert attribute_commands.DELTA_FLOOR == DELTA_FLOOR
    assert set(attribute_commands.METHODS) == set(ATTRIBUTION_METHODS)
    assert predict_commands.EXPLAIN_METHODS == EXPLAIN_METHODS


def test_warnings_and_log_records_are_lines_a_person_reads(tmp_path):
    example = find_model("Basset") / "example"
    genome = "".join(line.strip() for line in (example / "genome.fa").read_text().splitlines()[1:])
    records = [f"chr1\t{pos}\tv{pos}\t{genome[pos - 1]}\t{'A' if genome[pos - 1] != 'A' else 'C'}\t.\tPASS\t.\n"
               for pos in (5000, 4000)]  # unsorted: the output cannot be indexed, a Python warning says so
    vcf = tmp_path / "unsorted.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=12000>\n"
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "".join(records))
    done = seqzoo_process(["variants", "Basset", "--fasta", str(example / "genome.fa"), "--vcf", str(vcf),
                           "-o", "out.vcf.gz", "--targets", load_spec(example.parent).columns[0], "--quiet"], tmp_path, capture_output=True)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stderr.splitlines()
    assert any(line.startswith("seqzoo: warning: Basset: weights are UNTRAINED") for line in lines), lines  # logging
    assert any(line.startswith("seqzoo: warning: ") and "not indexed" in line for line in lines), lines  # warnings
    assert not [line for line in lines if "Warning:" in line or "WARNING" in line or ".py:" in line], lines


@pytest.mark.parametrize("args", [["info", "Basset"], ["list"]], ids=" ".join)
def test_a_closed_pipe_ends_the_command_quietly(args, tmp_path):
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the first line is written (`seqzoo list | head -1`)
    try:
        done = seqzoo_process(args, tmp_path, stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == ""  # 128 + SIGPIPE, as a shell tool killed by it


@pytest.mark.parametrize("args, defaults", [
    (["train", "DeepSEA"], ["sooner) (default: 10)", "(default: 3)", "Adam's learning rate (default: 0.001)"]),
    (["train", "DeepSol"], ["maximum epochs (early stopping ends sooner) (default: 20)"]),
    (["finetune"], ["(default: 10)", "sequences per batch (default 128)"]),
    (["ensemble"], ["weights file base name (default: deepsol-ensemble)"]),
    (["dataset"], ["labels it (default: 200)", "seeds the sampled negatives (default: 0)"]),
], ids=["train DeepSEA", "train DeepSol", "finetune", "ensemble", "dataset"])
def test_training_commands_show_their_defaults_in_help(args, defaults, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines where it likes
    for default in defaults:
        assert default in out, out
    assert "(default: None)" not in out and "(default: False)" not in out

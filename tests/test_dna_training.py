"""seqzoo.training.dna and seqzoo.training.metrics: tiny training runs, resume, evaluation, metrics."""

import json
import re
import subprocess
import sys
import math

import numpy as np
import pytest

from seqzoo.architectures import build
from seqzoo.architectures.registry import families
from seqzoo.training.datasets import GenomeWindowDataset, build_dataset
from seqzoo.training.metrics import auprc, auroc, bootstrap_task_metrics, per_task_metrics
from seqzoo.cli import main
from seqzoo.packaging import ModelInfo
from seqzoo.training.dna import evaluate_dna, train_dna
from seqzoo.training.baselines import log_odds, scan_scores

import model_checks

TINY = {"conv_filters": [4, 4, 4], "dense_units": 4}


# --- metrics against hand-computed values ---------------------------------------------------

def test_auroc_hand_computed():
    # positives 0.35, 0.8; negatives 0.1, 0.4: pairs won 3 of 4
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auroc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)  # a tie counts one half
    assert auroc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert auroc([0, 1, 0, 1, 0], [0.3, 0.3, 0.3, 0.9, 0.1]) == pytest.approx((0.5 + 0.5 + 1 + 3) / 6)  # 0.3 ties two negatives
    assert math.isnan(auroc([0, 0, 0], [0.1, 0.2, 0.3]))


def test_auprc_hand_computed():
    # ranked: 0.8 (+), 0.4 (-), 0.35 (+), 0.1 (-): precision 1 at recall 1/2, 2/3 at recall 1
    assert auprc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # tied scores form one threshold: all four at once, precision 1/2 at recall 1
    assert auprc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)
    assert auprc([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3]) == 1.0
    assert math.isnan(auprc([0, 0], [0.1, 0.2]))
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        auprc([0, 2], [0.1, 0.2])


def test_per_task_metrics_summary():
    y = np.array([[0, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0]])
    s = np.array([[0.1, 0.9, 0.1], [0.8, 0.2, 0.2], [0.9, 0.3, 0.3], [0.2, 0.4, 0.4]])
    m = per_task_metrics(y, s, ["a", "b", "c"], n_worst=1)
    # task b: positives 0.9, 0.3 against negatives 0.2, 0.4 win 3 of 4 pairs
    assert m["per_task"]["a"]["auroc"] == 1.0 and m["per_task"]["b"]["auroc"] == pytest.approx(0.75)
    assert m["auroc"]["n_undefined"] == 1 and m["auroc"]["mean"] == pytest.approx(0.875)
    assert m["auroc"]["worst"] == [["b", pytest.approx(0.75)]]
    assert m["per_task"]["c"]["positives"] == 0 and math.isnan(m["per_task"]["c"]["auroc"])


def test_bootstrap_task_metrics_are_the_metrics_of_each_resample():
    rng = np.random.default_rng(3)
    y = (rng.random((80, 3)) < 0.2).astype(np.uint8)
    y[:, 2] = 0
    y[:2, 2] = 1  # few positives: some resamples draw none (NaN)
    scores = np.round(rng.random((80, 3)) + 0.3 * y, 1)  # rounded: tied scores within and across classes
    counts = rng.multinomial(80, np.full(80, 1 / 80), size=40)
    roc, prc = bootstrap_task_metrics(y, scores, counts)
    assert roc.shape == prc.shape == (40, 3) and np.isnan(roc[:, 2]).any()
    for b in range(40):
        rows = np.repeat(np.arange(80), counts[b])  # resample b's windows
        for t in range(3):
            np.testing.assert_allclose([roc[b, t], prc[b, t]], [auroc(y[rows, t], scores[rows, t]),
                                                                auprc(y[rows, t], scores[rows, t])], atol=1e-12)


def test_motif_scan_matches_direct_sum():
    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 30))]
    pwm = log_odds(rng.dirichlet(np.ones(4), 6))
    s = scan_scores(x, pwm)
    assert s.shape == (3, 2, 25)
    i, j = 1, 7
    assert s[i, 0, j] == pytest.approx(sum(x[i, j + k] @ pwm[k] for k in range(6)), abs=1e-5)
    rc = x[i, ::-1, ::-1]  # the reverse strand, scored forward, gives the reverse scores mirrored
    assert s[i, 1, j] == pytest.approx(sum(rc[30 - 6 - j + k] @ pwm[k] for k in range(6)), abs=1e-5)


# --- tiny training runs ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("dna")
    rng = np.random.default_rng(0)
    seq = np.array(list("ACGT"))[rng.integers(0, 4, 30000)]
    summits = rng.integers(500, 29500, 60)
    for s in summits[:30]:  # TF_A's peaks carry a motif at the summit
        seq[s - 4:s + 4] = list("GACGTCAT")
    with open(root / "g.fa", "w") as f:
        f.write(">chr1\n" + "".join(seq) + "\n")
    with open(root / "peaks.bed", "w") as f:
        for i, s in enumerate(summits):
            f.write(f"chr1\t{s - 250}\t{s + 250}\t{'TF_A' if i < 30 else 'TF_B'}\n")
    build_dataset(root / "g.fa", root / "peaks.bed", root / "ds", seq_len=400,
                  split="blocks:train=0-20000,valid=21000-30000", command="test")
    return root


def test_tiny_training_writes_a_loadable_artifact(data, tmp_path):
    out = tmp_path / "run"
    info = train_dna(data / "ds", out, "DeepSEA", config=TINY, epochs=1, batch_size=16, verbose=False,
                     command="test")
    assert info["epochs_done"] == 1 and info["config"]["seq_len"] == 400 and info["config"]["n_tasks"] == 2
    for name in ("checkpoint.keras", "state.json", "train.log", "training.json", "valid_metrics.json",
                 info["weights_file"]):
        assert (out / name).is_file(), name
    model = build("deepsea", **info["config"])
    model.load_weights(out / info["weights_file"])
    valid = GenomeWindowDataset(data / "ds", "valid")
    preds = np.asarray(model.predict_on_batch(valid.x(np.arange(8))))
    assert preds.shape == (8, 2) and np.isfinite(preds).all()
    result = evaluate_dna(out, data / "ds", "valid", out_path=tmp_path / "m.json", command="test")
    assert result["auroc"]["mean"] == pytest.approx(info["valid"]["mean_auroc"], abs=1e-6)
    assert json.loads((tmp_path / "m.json").read_text())["n"] == len(valid)


@pytest.mark.parametrize("valid, problem", [("29900-30000", "has no windows"),
                                            ("21000-30000", "tasks have no positive (or no negative) window")])
def test_a_split_without_windows_or_positives_warns_and_training_refuses_to_start(data, tmp_path, valid, problem,
                                                                                    caplog, capsys):
    peaks = tmp_path / "train_peaks.bed"  # peaks in the training region only: the validation region has none
    peaks.write_text("".join(line + "\n" for line in (data / "peaks.bed").read_text().splitlines()
                             if int(line.split("\t")[2]) < 20000))
    ds = tmp_path / "ds"
    with caplog.at_level("WARNING", logger="seqzoo.training.datasets"):
        manifest = build_dataset(data / "g.fa", peaks, ds, seq_len=400, split=f"blocks:train=0-20000,valid={valid}")
    said = [r.getMessage() for r in caplog.records if "'valid'" in r.getMessage()]
    assert len(said) == 1 and problem in said[0] and str(ds) in said[0]
    assert manifest["warnings"] == said
    assert main(["train", "DeepSEA", "--data", str(ds), "-o", str(tmp_path / "run"), "--config", json.dumps(TINY),
                 "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{ds}: " in err and "validation split 'valid'" in err and "HDF5" not in err and "h5" not in err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_resume_continues_from_the_checkpoint(data, tmp_path):
    out = tmp_path / "run"
    train_dna(data / "ds", out, "basset", config={"conv_filters": [4, 4, 4], "dense_units": [4, 4]},
              epochs=1, batch_size=16, verbose=False, command="first")
    with pytest.raises(FileExistsError, match="use --resume"):
        train_dna(data / "ds", out, "basset", epochs=2, verbose=False)
    info = train_dna(data / "ds", out, "basset", epochs=2, batch_size=16, resume=True, verbose=False, lr_decay=0.5,
                     command="second")
    assert info["epochs_done"] == 2 and [h["epoch"] for h in info["history"]] == [1, 2]
    assert info["commands"] == ["first", "second"]
    assert info["config"]["dense_units"] == [4, 4]  # the sizes come from the checkpointed run
    with pytest.raises(FileNotFoundError, match="no checkpoint.keras"):
        train_dna(data / "ds", tmp_path / "empty", "basset", resume=True, verbose=False)


def test_resume_in_a_fresh_process_loads_a_checkpoint_with_seqzoos_own_layers(data, tmp_path):
    # The motif head's TaskwiseLinear is registered only when seqzoo's layers module is imported; a new
    # process that resumes must import it before load_model (it did not, and resume failed).
    out = tmp_path / "run"
    config = dict(families()["basenji"].small["task_motifs"], seq_len=400, n_tasks=2)
    train_dna(data / "ds", out, "basenji", config=config, epochs=1, batch_size=16, steps_per_epoch=2, verbose=False)
    done = subprocess.run([sys.executable, "-m", "seqzoo", "train", "basenji", "--data", str(data / "ds"), "-o",
                           str(out), "--resume", "--epochs", "2", "--batch-size", "16", "--steps-per-epoch", "2",
                           "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out / "state.json").read_text())["epochs_done"] == 2


def test_warm_start_copies_matching_layers(data, tmp_path):
    first = train_dna(data / "ds", tmp_path / "a", "DeepSEA", config=TINY, epochs=1, batch_size=16, verbose=False)
    wider = dict(TINY, dense_units=TINY["dense_units"] * 2)
    info = train_dna(data / "ds", tmp_path / "b", "DeepSEA", config=wider, epochs=1, batch_size=16, verbose=False,
                     init_from=tmp_path / "a", steps_per_epoch=1, learning_rate=1e-9)
    copied = info["initialized_from"]["layers"]
    assert copied == ["conv1", "conv2", "conv3"]  # dense1 and output changed shape
    donor = build("deepsea", **first["config"])
    donor.load_weights(tmp_path / "a" / first["weights_file"])
    model = build("deepsea", **info["config"])
    model.load_weights(tmp_path / "b" / info["weights_file"])
    # one step at a learning rate of 1e-9: the copied kernels are (to rounding) the donor's
    np.testing.assert_allclose(model.get_layer("conv2").get_weights()[0], donor.get_layer("conv2").get_weights()[0],
                               atol=1e-6)


def test_export_writes_a_model_directory_that_loads(data, tmp_path, monkeypatch):
    import seqzoo
    from seqzoo.training.dna import export_model_dir

    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    info = train_dna(data / "ds", run, "DeepSEA", config=TINY, epochs=1, batch_size=16, verbose=False, command="t")
    export_model_dir(run, tmp_path / "Tiny", ModelInfo(doc="tiny", cite_as="x", trained_on="synthetic", **model_checks.AUTHORSHIP),
                     targets_doc="t", file_name="tiny-v1.weights.h5", rc_average=True)
    model = seqzoo.get_model(tmp_path / "Tiny", device="cpu")
    assert model.trained and model.labels == ("TF_A", "TF_B")
    x = GenomeWindowDataset(data / "ds", "valid").x(np.arange(4))
    net = build("deepsea", **info["config"])
    net.load_weights(run / info["weights_file"])
    both = (np.asarray(net.predict_on_batch(x)) + np.asarray(net.predict_on_batch(x[:, ::-1, ::-1].copy()))) / 2
    np.testing.assert_allclose(model.predict_on_batch(x), both, atol=1e-6)  # rc_average served


def test_export_refuses_an_existing_model_directory_without_force_and_swaps_it_whole_with_force(data, tmp_path,
                                                                                                  monkeypatch, capsys):
    from seqzoo.training.dna import export_model_dir

    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    train_dna(data / "ds", run, "DeepSEA", config=TINY, epochs=1, batch_size=16, verbose=False, command="t")
    target = tmp_path / "Tiny"
    export_model_dir(run, target, ModelInfo(doc="tiny", cite_as="x", trained_on="synthetic", **model_checks.AUTHORSHIP), file_name="old.weights.h5")
    (target / "README.md").write_text("# the author's card\n")
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    argv = ["export", str(run), str(target), "--doc", "new", "--trained-on", "synthetic", "--cite-as", "x",
            "--file-name", "new.weights.h5", *model_checks.AUTHORSHIP_ARGS]
    assert main(argv) == 2  # without --force: refused before anything is written
    assert f"{target} exists and is not empty" in capsys.readouterr().err
    # --force with a failure half-way (an example directory without the example files): the old directory stays
    (tmp_path / "bad_example").mkdir()
    assert main(argv + ["--force", "--example", str(tmp_path / "bad_example")]) != 0
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    with pytest.raises(ValueError, match="is where .* is read from"):  # replacing a run would delete it
        export_model_dir(run, run, ModelInfo(doc="d", cite_as="x", trained_on="t", **model_checks.AUTHORSHIP), overwrite=True)
    assert main(argv + ["--force"]) == 0
    assert sorted(p.name for p in target.iterdir()) == ["README.md", "model.yaml", "new.weights.h5",
                                                        "target_labels.txt", "weights.yaml"]  # old weights gone
    assert (target / "README.md").read_text() == "# the author's card\n"
    assert "doc: new" in (target / "model.yaml").read_text()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staged or old directory left


def test_export_of_several_runs_is_their_float16_ensemble(data, tmp_path, monkeypatch):
    import seqzoo
    from seqzoo.training.dna import export_model_dir

    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    infos = [train_dna(data / "ds", tmp_path / f"run{i}", "DeepSEA", config=dict(TINY, dense_units=4 + 4 * i),
                       epochs=1, batch_size=16, seed=i, verbose=False, command="t") for i in range(2)]
    export_model_dir([tmp_path / "run0", tmp_path / "run1"], tmp_path / "Pair", ModelInfo("pair", "synthetic", **model_checks.AUTHORSHIP),
                     file_name="pair-v1.weights.h5", float16=True)
    model = seqzoo.get_model(tmp_path / "Pair", device="cpu")
    assert model.spec.architecture == "ensemble" and model.trained
    x = GenomeWindowDataset(data / "ds", "valid").x(np.arange(8))
    singles = []
    for i, info in enumerate(infos):
        net = build("deepsea", **info["config"])
        net.load_weights(tmp_path / f"run{i}" / info["weights_file"])
        singles.append(np.asarray(net.predict_on_batch(x)))
    np.testing.assert_allclose(model.predict_on_batch(x), np.mean(singles, axis=0), atol=1e-3)  # float16 storage
    import h5py

    with h5py.File(tmp_path / "Pair" / "pair-v1.weights.h5") as f:
        arrays = []
        f.visititems(lambda name, obj: arrays.append(obj) if isinstance(obj, h5py.Dataset) else None)
        kernels = {a.dtype for a in arrays if a.ndim >= 2}
        vectors = {a.dtype for a in arrays if a.ndim == 1}
    assert kernels == {np.dtype(np.float16)} and vectors == {np.dtype(np.float32)}  # see seqzoo.training.storage


def test_export_grows_an_ensemble_from_a_model_directory_and_a_new_run(data, tmp_path, monkeypatch):
    import seqzoo
    from seqzoo.training.dna import export_model_dir

    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    infos = [train_dna(data / "ds", tmp_path / f"run{i}", "DeepSEA", config=dict(TINY, dense_units=4 + 4 * i),
                       epochs=1, batch_size=16, seed=i, verbose=False, command=f"t{i}") for i in range(3)]
    export_model_dir([tmp_path / "run0", tmp_path / "run1"], tmp_path / "Pair", ModelInfo("pair", "synthetic", **model_checks.AUTHORSHIP),
                     file_name="pair-v1.weights.h5", rc_average=True)
    export_model_dir([tmp_path / "Pair", tmp_path / "run2"], tmp_path / "Trio", ModelInfo("trio", "synthetic", **model_checks.AUTHORSHIP),
                     file_name="trio-v1.weights.h5", rc_average=True)
    trio = seqzoo.get_model(tmp_path / "Trio", device="cpu")
    assert [m["config"]["dense_units"] for m in trio.spec.config["members"]] == [4, 8, 12]
    assert all(m["config"]["rc_average"] for m in trio.spec.config["members"])
    x = GenomeWindowDataset(data / "ds", "valid").x(np.arange(8))
    singles = []
    for i, info in enumerate(infos):
        net = build("deepsea", **dict(info["config"], rc_average=True))
        net.load_weights(tmp_path / f"run{i}" / info["weights_file"])
        singles.append(np.asarray(net.predict_on_batch(x)))
    np.testing.assert_allclose(trio.predict_on_batch(x), np.mean(singles, axis=0), atol=1e-6)
    # provenance: the grown members keep their training commands, and say where they came from
    produced_by = trio.spec.artifact.produced_by
    assert "the 2 members of Pair (pair-v1.weights.h5" in produced_by
    assert all(produced_by.count(f"t{i}; best epoch 1 of 1") == 1 for i in range(3))  # the command as run
    assert "train-dna" not in produced_by


# --- the command line: train, evaluate, export for DNA models ------------------------------

def _example(data, directory):
    """A model example of the synthetic genome: the FASTA and a few intervals."""
    directory.mkdir()
    (directory / "genome.fa").write_text((data / "g.fa").read_text())
    (directory / "intervals.bed").write_text("chr1\t0\t200\tstart\nchr1\t5000\t5200\tmiddle\nchr1\t29900\t30000\tend\n")
    return directory


@pytest.mark.kipoi
def test_train_evaluate_export_verbs_for_a_dna_model(data, tmp_path, monkeypatch, capsys):
    import yaml

    from seqzoo.packaging import check_model_dir
    from seqzoo.zoo.spec import load_spec

    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    assert main(["train", "DeepSEA", "--data", str(data / "ds"), "-o", str(run), "--config", json.dumps(TINY),
                 "--epochs", "1", "--batch-size", "16", "--quiet"]) == 0
    info = json.loads((run / "training.json").read_text())
    assert info["architecture"] == "deepsea" and info["config"]["conv_filters"] == [4, 4, 4]
    # paths outside the working directory are recorded by name (seqzoo.zoo.provenance)
    assert info["commands"] == ["seqzoo train DeepSEA --data ds -o run --config '" + json.dumps(TINY)
                                + "' --epochs 1 --batch-size 16 --quiet"]
    assert info["data"]["dir"] == "ds" and str(tmp_path) not in (run / "training.json").read_text()

    out = tmp_path / "evaluate.json"
    assert main(["evaluate", str(run), "--data", str(data / "ds"), "-o", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["auroc"]["mean"] == pytest.approx(info["valid"]["mean_auroc"], abs=1e-6)
    assert result["command"].startswith("seqzoo evaluate run --data ds ") and result["data"] == "ds"

    model_dir = tmp_path / "TinyTF"
    assert main(["export", str(run), str(model_dir), "--doc", "Tiny test network.", "--trained-on",
                 "a synthetic genome", "--tags", "transcription factor binding", "Synthetica testii",
                 "--file-name", "tiny-v1.weights.h5", "--example", str(_example(data, tmp_path / "example")),
                 *model_checks.AUTHORSHIP_ARGS]) == 0
    said = capsys.readouterr()
    assert f"write {model_dir}/README.md, the model card" in said.err
    assert "it/s" not in said.err and "|" not in said.err  # no progress bar while writing test.expect.h5
    assert f"next: seqzoo check {model_dir}\nthen: seqzoo publish {model_dir} <STORE>" in said.err
    description = yaml.safe_load((model_dir / "model.yaml").read_text())
    assert description["info"]["tags"] == ["transcription factor binding", "Synthetica testii"]
    assert description["info"]["trained_on"] == "a synthetic genome"
    assert description["info"]["cite_as"] == "https://doi.org/10.1038/nmeth.3547"  # DeepSEA's paper
    assert description["schema"]["inputs"]["special_type"] == "DNASeq"
    assert description["default_dataloader"]["default_args"] == {"seq_len": 400}
    assert "Arabidopsis" not in (model_dir / "model.yaml").read_text()
    spec = load_spec(model_dir)
    assert spec.modality == "dna" and spec.labels == ("TF_A", "TF_B") and spec.artifact.file_name == "tiny-v1.weights.h5"
    assert check_model_dir(model_dir) == ["missing README.md"]  # the one file that is the author's
    (model_dir / "README.md").write_text("# TinyTF\n")
    assert check_model_dir(model_dir) == []


def test_train_takes_a_family_name_in_any_case_and_refuses_what_it_cannot_train(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "basset", "--data", str(data / "ds"), "-o", str(run), "--config",
                 json.dumps({"conv_filters": [4, 4, 4], "dense_units": [4, 4]}), "--epochs", "1",
                 "--batch-size", "16", "--quiet"]) == 0
    info = json.loads((run / "training.json").read_text())
    assert info["architecture"] == "basset" and info["commands"][0].startswith("seqzoo train basset --data ")
    # a DNA model trains its own architecture; an ensemble has no single recipe
    assert main(["train", "DeepSEA_Athaliana265", "--data", str(data / "ds"), "-o", str(tmp_path / "y")]) == 2
    assert "no training recipe for DeepSEA_Athaliana265 (ensemble)" in capsys.readouterr().err
    # the DNA kind's parser: protein arguments are not its own
    with pytest.raises(SystemExit) as exit_:
        main(["train", "Basset", "--train", "t.tsv", "--valid", "v.tsv", "-o", str(tmp_path / "z")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "seqzoo train Basset: error:" in err and "--data" in err


# --- fine-tuning from a shared model ---------------------------------------------------------

@pytest.fixture(scope="module")
def base_dir(data, tmp_path_factory):
    """A tiny trained Basset-like model directory (tasks TF_A, TF_B) to fine-tune from."""
    from seqzoo.training.dna import export_model_dir

    root = tmp_path_factory.mktemp("base")
    train_dna(data / "ds", root / "run", "basset", config={"conv_filters": [4, 4, 4], "dense_units": [4, 4]},
              epochs=1, batch_size=16, verbose=False, command="base")
    export_model_dir(root / "run", root / "TinyBase", ModelInfo(doc="tiny base", trained_on="synthetic", version="1.2.0", **model_checks.AUTHORSHIP))
    return root / "TinyBase"


@pytest.fixture(scope="module")
def data_one_task(data):
    """The same genome with TF_A's peaks only: other tasks than the base's, so a new head."""
    peaks = [line for line in (data / "peaks.bed").read_text().splitlines() if line.endswith("TF_A")]
    (data / "peaks_a.bed").write_text("\n".join(peaks) + "\n")
    build_dataset(data / "g.fa", data / "peaks_a.bed", data / "ds_a", seq_len=400,
                  split="blocks:train=0-20000,valid=21000-30000", command="test one task")
    return data / "ds_a"


def _network(directory_or_run, info=None):
    from seqzoo.runtime import get_model

    if info is None:
        return get_model(directory_or_run, device="cpu").keras_model
    net = build(info["architecture"], **info["config"])
    net.load_weights(directory_or_run / info["weights_file"])
    return net


def test_finetune_copies_the_trunk_and_records_the_lineage(data, base_dir, data_one_task, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    info = train_dna(data_one_task, tmp_path / "ft", base=base_dir, epochs=1, batch_size=16, verbose=False,
                     steps_per_epoch=1, learning_rate=1e-9, command="ft")
    lineage = info["lineage"]
    assert info["config"]["n_tasks"] == 1 and info["config"]["conv_filters"] == [4, 4, 4]  # the base's sizes
    assert lineage["head"] == "new" and "output" not in lineage["layers_copied"] and "conv1" in lineage["layers_copied"]
    assert (lineage["base_model"], lineage["base_version"]) == ("TinyBase", "1.2.0")
    from seqzoo.zoo.artifacts import file_sha256

    assert lineage["base_weights_sha256"] == file_sha256(next(base_dir.glob("*.weights.h5")))
    assert lineage["data_manifest"]["tasks"] == ["TF_A"] and len(lineage["data_manifest"]["sha256"]) == 64
    base, tuned = _network(base_dir), _network(tmp_path / "ft", info)
    np.testing.assert_allclose(tuned.get_layer("conv1").get_weights()[0], base.get_layer("conv1").get_weights()[0],
                               atol=1e-6)  # a step at 1e-9: the trunk is the base's

    same = train_dna(data / "ds", tmp_path / "same", base=base_dir, epochs=1, batch_size=16, verbose=False, steps_per_epoch=1,
                     learning_rate=1e-9)
    assert same["lineage"]["head"] == "kept" and "output" in same["lineage"]["layers_copied"]


def test_finetune_with_a_frozen_trunk_trains_the_head_only(base_dir, data_one_task, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    info = train_dna(data_one_task, tmp_path / "ft", base=base_dir, freeze_trunk=True, epochs=1, batch_size=16,
                     verbose=False, learning_rate=0.05)
    base, tuned = _network(base_dir), _network(tmp_path / "ft", info)
    for layer in ("conv1", "conv2_bn", "dense1", "dense2"):
        for a, b in zip(tuned.get_layer(layer).get_weights(), base.get_layer(layer).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert info["lineage"]["frozen_trunk"] is True
    with pytest.raises(ValueError, match="needs a base model"):
        train_dna(data_one_task, tmp_path / "x", "basset", freeze_trunk=True, verbose=False)


@pytest.mark.kipoi
def test_finetune_cli_export_carries_the_lineage(base_dir, data_one_task, tmp_path, monkeypatch, kipoi_home):
    import yaml

    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    run, out = tmp_path / "ft", tmp_path / "Tuned"
    assert main(["finetune", str(base_dir), "--data", str(data_one_task), "-o", str(run), "--epochs", "1",
                 "--batch-size", "16", "--quiet"]) == 0
    assert main(["export", str(run), str(out), "--doc", "tuned", "--trained-on", "synthetic TF_A",
                 *model_checks.AUTHORSHIP_ARGS]) == 0
    lineage = yaml.safe_load((out / "model.yaml").read_text())["info"]["lineage"]
    recorded = json.loads((run / "training.json").read_text())["lineage"]
    assert lineage[0]["base_model"] == "TinyBase" and lineage[0]["base_weights_sha256"] == recorded["base_weights_sha256"]
    card = (out / "README.md").read_text()
    assert "## Lineage" in card and "TinyBase" in card and recorded["base_weights_sha256"] in card
    monkeypatch.setenv("HOME", str(kipoi_home))
    import kipoi

    x = GenomeWindowDataset(data_one_task, "valid").x(np.arange(3))
    assert kipoi.get_model(str(out), source="dir").predict_on_batch(x).shape == (3, 1)  # kipoi accepts info.lineage


# --- what the training commands say: epochs, the next step, an ensemble's members ------------

def test_keras_counts_the_runs_epochs_when_training_and_resuming_and_the_next_step_is_printed(data, tmp_path,
                                                                                              capsys):
    run = tmp_path / "run"
    common = ["--data", str(data / "ds"), "-o", str(run), "--config", json.dumps(TINY), "--batch-size", "16",
              "--steps-per-epoch", "2", "--patience", "5"]
    assert main(["train", "DeepSEA", *common, "--epochs", "2"]) == 0
    said = capsys.readouterr()
    assert re.findall(r"Epoch \d+/\d+", said.out) == ["Epoch 1/2", "Epoch 2/2"]  # was "Epoch 1/1", "Epoch 2/2"
    assert f"next: seqzoo export {run} models/<NAME> --doc ... --trained-on ... --license <SPDX> --authors ..." \
           in said.err and f"  or: seqzoo evaluate {run} --data {data / 'ds'} -o <METRICS.json>" in said.err
    assert main(["train", "DeepSEA", *common, "--epochs", "4", "--resume"]) == 0
    assert re.findall(r"Epoch \d+/\d+", capsys.readouterr().out) == ["Epoch 3/4", "Epoch 4/4"]  # was 3/3, 4/4


def test_finetune_of_an_ensemble_names_its_members_and_starts_from_the_one_chosen(data, base_dir, data_one_task,
                                                                                   tmp_path, monkeypatch, capsys):
    from seqzoo.training.dna import export_model_dir

    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    other = train_dna(data / "ds", tmp_path / "other", "DeepSEA", config=TINY, epochs=1, batch_size=16,
                      steps_per_epoch=2, verbose=False)
    pair = tmp_path / "Pair"
    export_model_dir([base_dir, tmp_path / "other"], pair, ModelInfo("pair", "synthetic", **model_checks.AUTHORSHIP))
    assert main(["finetune", str(pair), "--data", str(data_one_task), "-o", str(tmp_path / "ft")]) == 2
    assert ("Pair is an ensemble of 2 networks (0: basset, 1: deepsea); fine-tuning starts from one of them: "
            "pass --member 0 (or another of 0-1") in capsys.readouterr().err
    assert not (tmp_path / "ft").exists()
    assert main(["finetune", str(pair), "--member", "1", "--data", str(data_one_task), "-o", str(tmp_path / "ft"),
                 "--epochs", "1", "--steps-per-epoch", "1", "--learning-rate", "1e-9", "--quiet",
                 *["--batch-size", "16"]]) == 0
    said = capsys.readouterr()
    assert "fine-tuned Pair member 1 1.0.0" in said.out and f"next: seqzoo export {tmp_path / 'ft'} " in said.err
    info = json.loads((tmp_path / "ft" / "training.json").read_text())
    assert info["architecture"] == "deepsea" and info["lineage"]["base_member"] == 1
    np.testing.assert_allclose(_network(tmp_path / "ft", info).get_layer("conv1").get_weights()[0],
                               _network(tmp_path / "other", other).get_layer("conv1").get_weights()[0], atol=1e-6)

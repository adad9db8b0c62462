"""DeepSol training (seqzoo.training): metrics, split, length buckets and a tiny end-to-end run."""

import json
import shutil

import numpy as np
import pytest
import yaml

import seqzoo
import keras

from seqzoo.architectures import build, build_deepsol
from seqzoo.zoo.artifacts import WeightsArtifact
from seqzoo.cli import main
from seqzoo.encoding import PROTEIN_ALPHABET
from seqzoo.training.protein_batches import LengthBucketBatches, fit_logistic, predict_tokens, set_composition_statistics
from seqzoo.training.proteins import LabelledProteins, read_labelled_tsv, split_validation
from seqzoo.training.metrics import accuracy, auprc, auroc, binary_metrics, confusion_counts, mcc
from seqzoo.zoo.spec import find_model
from protein_data import write_labelled_tsv

import model_checks

TINY = {"embedding_dim": 4, "kernels": {"2": 3, "3": 3, "5": 4}, "dense_units": 4, "dropout": 0.1}

# --- metrics against hand-computed values ----------------------------------------------------

Y = [1, 0, 1, 1, 0, 0]
P = [0.9, 0.8, 0.7, 0.3, 0.2, 0.1]


def test_metrics_by_hand():
    predicted = [int(p >= 0.5) for p in P]  # 1 1 1 0 0 0
    assert confusion_counts(Y, predicted) == {"tp": 2, "fp": 1, "tn": 2, "fn": 1}
    assert accuracy(Y, predicted) == pytest.approx(4 / 6)
    assert mcc(Y, predicted) == pytest.approx((2 * 2 - 1 * 1) / 9)
    assert auroc(Y, P) == pytest.approx(7 / 9)  # 7 of the 9 (positive, negative) pairs are ordered
    assert auprc(Y, P) == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3 + 1 / 3 * 3 / 4)
    m = binary_metrics(Y, P)
    assert (m["n"], m["n_positive"], m["threshold"]) == (6, 3, 0.5)
    assert m["accuracy"] == pytest.approx(4 / 6) and m["auroc"] == pytest.approx(7 / 9)


def test_metrics_with_ties_and_degenerate_cases():
    assert auroc([1, 0], [0.5, 0.5]) == 0.5
    assert auprc([1, 0, 1], [0.5, 0.5, 0.1]) == pytest.approx(1 / 2 * 1 / 2 + 1 / 2 * 2 / 3)
    assert mcc([1, 0, 1], [1, 1, 1]) == 0.0  # no negative prediction: MCC undefined, reported 0
    assert mcc([1, 0, 1, 0], [1, 0, 1, 0]) == 1.0 and mcc([1, 0], [0, 1]) == -1.0
    assert np.isnan(auroc([1, 1], [0.2, 0.3])) and np.isnan(auprc([0, 0], [0.2, 0.3]))
    with pytest.raises(ValueError, match="0 or 1"):
        accuracy([2, 0], [1, 0])


def test_metrics_match_scikit_learn_when_installed():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300) * 0.5 + y * 0.3, 2)  # rounded: many ties
    assert auroc(y, p) == pytest.approx(sklearn_metrics.roc_auc_score(y, p))
    assert auprc(y, p) == pytest.approx(sklearn_metrics.average_precision_score(y, p))
    assert mcc(y, p >= 0.5) == pytest.approx(sklearn_metrics.matthews_corrcoef(y, p >= 0.5))


# --- data, split, length buckets ------------------------------------------------------------

def test_split_is_stratified_seeded_and_disjoint():
    labels = np.array([0] * 60 + [1] * 40)
    moved, held = split_validation(labels, 0.25, seed=3)
    assert len(moved) == 25 and labels[moved].sum() == 10  # round(0.25 * 60) + round(0.25 * 40)
    assert not set(moved) & set(held) and len(moved) + len(held) == 100
    again, _ = split_validation(labels, 0.25, seed=3)
    other, _ = split_validation(labels, 0.25, seed=4)
    np.testing.assert_array_equal(moved, again)
    assert not np.array_equal(moved, other)
    assert len(split_validation(labels, 0.0, seed=0)[0]) == 0


def test_read_labelled_tsv_names_bad_lines(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("sequence\tlabel\nmkv*\t1\nMKXV\t0\n")
    with pytest.raises(ValueError, match=r"d.tsv, line 3: non-standard residue 'X'"):
        read_labelled_tsv(path)
    path.write_text("seq\tlab\nMKV\t1\n")
    with pytest.raises(ValueError, match="line 1: expected the header"):
        read_labelled_tsv(path)
    path.write_text("sequence\tlabel\nmkv*\t1\n")
    data = read_labelled_tsv(path)
    assert data.tokens[0].tolist() == [PROTEIN_ALPHABET.index(c) + 1 for c in "MKV"]


@pytest.mark.parametrize("composition", [False, True])
def test_bucketed_training_model_equals_the_shipped_model(composition):
    """Padding each batch to its longest protein + the largest kernel gives the same
    probabilities as padding every protein to max_len (global max pooling; the composition
    features ignore padding)."""
    rng = np.random.default_rng(0)
    tokens = [rng.integers(1, 21, n).astype("int32") for n in (3, 17, 40, 90, 250)]
    data = LabelledProteins(tokens, np.array([0, 1, 0, 1, 1]), np.arange(5))
    batches = LengthBucketBatches(data, batch_size=2, min_pad=5, max_len=1200, shuffle=False)
    config = {**TINY, "composition": composition}
    variable = build_deepsol(max_len=None, **config)
    if composition:
        set_composition_statistics(variable, data, max_len=1200)
    shipped = build_deepsol(max_len=1200, **config)
    shipped.set_weights(variable.get_weights())
    bucketed = []
    for i in range(len(batches)):
        x, y = batches[i]
        assert x.shape[1] % 32 == 0 and x.shape[1] >= max(len(tokens[j]) for j in batches.batches[i]) + 5
        bucketed.append(np.asarray(variable.predict_on_batch(x))[:, 0])
    order = np.concatenate(batches.batches)
    np.testing.assert_allclose(np.concatenate(bucketed), predict_tokens(shipped, tokens, 1200)[order], atol=1e-6)


@pytest.mark.parametrize("pair_gaps", [(0,), (0, 1)])
def test_composition_features_count_residues_and_residue_pairs(pair_gaps):
    sequence = "MKKLEKKWKL"
    tokens = np.array([PROTEIN_ALPHABET.index(c) + 1 for c in sequence], dtype="int32")
    model = build("protein_composition", max_len=None, pair_gaps=pair_gaps)
    features_of = keras.Model(model.input, model.get_layer("composition").output)
    for width in (len(sequence), 40, 1200):  # padding changes nothing
        x = np.zeros((1, width), dtype="int32")
        x[0, : len(tokens)] = tokens
        features = np.asarray(features_of.predict_on_batch(x))[0]
        assert features.shape == (20 + 400 * len(pair_gaps) + 1,)
        for i, a in enumerate(PROTEIN_ALPHABET):
            assert features[i] == pytest.approx(sequence.count(a) / len(sequence))
        for g, k in enumerate(pair_gaps):
            pairs = features[20 + 400 * g : 20 + 400 * (g + 1)].reshape(20, 20)
            n_pairs = len(sequence) - k - 1
            for i, a in enumerate(PROTEIN_ALPHABET):
                for j, b in enumerate(PROTEIN_ALPHABET):
                    expected = sum(sequence[p] + sequence[p + k + 1] == a + b for p in range(n_pairs)) / n_pairs
                    assert pairs[i, j] == pytest.approx(expected), (k, a, b)
        assert features[-1] == pytest.approx(np.log(len(sequence)))
    # DeepSol's composition branch is the same layer with dipeptides only.
    branch = build_deepsol(max_len=None, **TINY, composition=True).get_layer("composition")
    assert branch.pair_gaps == (0,)


def test_composition_statistics_standardize_the_training_features():
    rng = np.random.default_rng(1)
    tokens = [rng.integers(1, 21, n).astype("int32") for n in rng.integers(20, 300, 50)]
    data = LabelledProteins(tokens, np.zeros(50, dtype=int), np.arange(50))
    model = build_deepsol(max_len=None, **TINY, composition=True)
    returned = set_composition_statistics(model, data, max_len=1200)
    standardized = keras.Model(model.input, model.get_layer("composition_standardize").output)
    batches = LengthBucketBatches(data, 8, 5, 1200, shuffle=False)
    z = np.concatenate([np.asarray(standardized.predict_on_batch(batches[i][0])) for i in range(len(batches))])
    order = np.concatenate(batches.batches)
    np.testing.assert_allclose(z, returned[order], atol=1e-4)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-4)
    seen = z.std(axis=0) > 0  # a dipeptide absent from all 50 proteins keeps scale 1
    np.testing.assert_allclose(z.std(axis=0)[seen], 1, atol=1e-3)
    assert seen[:20].all() and seen[420]


def test_fit_logistic_finds_the_penalised_optimum():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20000, 3))
    true = np.array([1.5, -1.0, 0.0])
    y = (rng.random(20000) < 1 / (1 + np.exp(-(x @ true + 0.5)))).astype(int)
    w, b = fit_logistic(x, y, np.ones(len(y)), l2=0.0)
    np.testing.assert_allclose(w, true, atol=0.08)
    assert b == pytest.approx(0.5, abs=0.08)
    # With a penalty and unequal weights, the gradient of the objective vanishes at the result.
    s = rng.uniform(0.5, 2.0, len(y))
    w, b = fit_logistic(x, y, s, l2=0.05)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    np.testing.assert_allclose(x.T @ (s * (p - y)) / s.sum() + 0.1 * w, 0, atol=1e-8)
    assert np.sum(s * (p - y)) / s.sum() == pytest.approx(0, abs=1e-8)
    assert np.all(np.abs(w) < np.abs(fit_logistic(x, y, s, l2=0.0)[0]) + 1e-12)  # shrunk


# --- a tiny end-to-end run ------------------------------------------------------------------

def _write_tsv(path, n, seed, long_one=False):
    """Short proteins (30-159 residues); with ``long_one`` the first has 1300."""
    write_labelled_tsv(path, n, seed, lambda i, rng: 1300 if long_one and i == 0 else int(rng.integers(30, 160)))


def test_tiny_training_run_writes_a_loadable_artifact(tmp_path):
    train, valid, out = tmp_path / "train.tsv", tmp_path / "valid.tsv", tmp_path / "run"
    _write_tsv(train, 40, seed=1)
    _write_tsv(valid, 24, seed=2, long_one=True)
    assert main(["train", "DeepSol", "--train", str(train), "--valid", str(valid), "-o", str(out),
                 "--name", "tiny", "--config", json.dumps(TINY), "--epochs", "2", "--batch-size", "8",
                 "--seed", "5", "--quiet"]) == 0

    metrics = json.loads((out / "metrics.json").read_text())
    held = metrics["held_out_metrics"]
    for key in ("accuracy", "mcc", "auroc", "auprc", "confusion", "n", "threshold"):
        assert key in held
    assert set(held["confusion"]) == {"tp", "fp", "tn", "fn"}
    assert metrics["seed"] == 5 and metrics["keras_version"]
    assert metrics["command"].startswith("seqzoo train DeepSol --train ") and "--epochs 2" in metrics["command"]
    assert metrics["split"]["valid_rows_moved_to_training"] == 12
    assert metrics["split"]["valid_rows_held_out"] == 12 == len(metrics["split"]["held_out_rows"])
    assert metrics["held_out_not_predictable"] == (0 in metrics["split"]["held_out_rows"])
    assert held["n"] == 12 - metrics["held_out_not_predictable"]
    assert "default_rng(5)" in metrics["split"]["rule"]
    assert 1 <= metrics["recipe"]["epochs_run"] <= 2

    # The artifact describes the weights file beside it, by a relative URL.
    artifact = WeightsArtifact.from_yaml(out / "weights.yaml")
    assert artifact.file_name == "tiny.weights.h5" and artifact.urls[0].startswith("file://")
    assert artifact.size == (out / "tiny.weights.h5").stat().st_size
    assert "held-out validation" in artifact.produced_by
    assert yaml.safe_load((out / "weights.yaml").read_text())["urls"] == ["tiny.weights.h5"]

    # A model directory with this config and artifact loads through seqzoo.get_model.
    directory = tmp_path / "DeepSolTiny"
    shutil.copytree(find_model("DeepSol"), directory)
    spec = yaml.safe_load((directory / "model.yaml").read_text())
    spec["args"]["architecture"], spec["args"]["config"] = "deepsol", TINY
    (directory / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    for name in ("tiny.weights.h5", "weights.yaml"):
        shutil.copy(out / name, directory / name)
    model = seqzoo.get_model(directory, device="cpu")
    assert model.trained
    x = np.zeros((2, 1200), dtype="int32")
    x[:, :50] = np.random.default_rng(0).integers(1, 21, (2, 50))
    probs = model.predict_on_batch(x)
    assert probs.shape == (2, 1) and np.all((probs >= 0) & (probs <= 1))


def test_ensemble_of_runs_averages_them_on_their_shared_held_out_rows(tmp_path, capsys):
    train, valid = tmp_path / "train.tsv", tmp_path / "valid.tsv"
    _write_tsv(train, 40, seed=1)
    _write_tsv(valid, 24, seed=2)
    # A DeepSol network with composition features, the composition logistic regression, and a
    # network that held out other rows.
    runs = [(1, 7, "deepsol", {**TINY, "composition": True}), (2, 7, "protein_composition", {"l2": 1e-3}),
            (3, 8, "deepsol", TINY)]
    for seed, split_seed, architecture, config in runs:
        assert main(["train", "DeepSol", "--train", str(train), "--valid", str(valid), "-o", str(tmp_path / f"r{seed}"),
                     "--name", f"r{seed}", "--architecture", architecture, "--config", json.dumps(config),
                     "--epochs", "1", "--batch-size", "8", "--seed", str(seed), "--split-seed", str(split_seed),
                     "--quiet"]) == 0
    runs = [tmp_path / "r1", tmp_path / "r2"]
    assert main(["ensemble", "DeepSol", *map(str, runs), "--valid", str(valid), "-o", str(tmp_path / "ens"),
                 "--weights", "1", "3", "--name", "ens"]) == 0
    metrics = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    assert [m["seed"] for m in metrics["members"]] == [1, 2] and metrics["split"]["seed"] == 7
    assert [m["architecture"] for m in metrics["config"]["members"]] == ["deepsol", "protein_composition"]
    assert "Newton" in json.loads((tmp_path / "r2" / "metrics.json").read_text())["recipe"]["optimizer"]
    assert metrics["command"].startswith("seqzoo ensemble DeepSol ")

    # The ensemble's held-out metrics are those of the members' (weighted) average probabilities.
    held = read_labelled_tsv(valid).subset(np.array(metrics["split"]["held_out_rows"]))
    probabilities = []
    for run in runs:
        info = json.loads((run / "metrics.json").read_text())
        net = build(info["recipe"]["architecture"], **info["recipe"]["config"])
        net.load_weights(run / info["weights_file"])
        probabilities.append(predict_tokens(net, held.tokens, 1200))
    averaged = 0.25 * probabilities[0] + 0.75 * probabilities[1]
    expected = binary_metrics(held.labels, averaged)
    for key in ("accuracy", "auroc", "auprc", "mcc"):
        assert metrics["held_out_metrics"][key] == pytest.approx(expected[key], abs=1e-6)

    # It loads as a model directory of architecture "ensemble"; seqzoo train still finds the recipe.
    directory = tmp_path / "DeepSolEnsemble"
    shutil.copytree(find_model("DeepSol"), directory)
    spec = yaml.safe_load((directory / "model.yaml").read_text())
    spec["args"]["architecture"], spec["args"]["config"] = "ensemble", metrics["config"]
    (directory / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    for name in ("ens.weights.h5", "weights.yaml"):
        shutil.copy(tmp_path / "ens" / name, directory / name)
    model = seqzoo.get_model(directory, device="cpu")
    x = np.zeros((len(held), 1200), dtype="int32")
    for i, t in enumerate(held.tokens):
        x[i, : len(t)] = t
    np.testing.assert_allclose(model.predict_on_batch(x)[:, 0], averaged, atol=1e-6)

    capsys.readouterr()
    assert main(["ensemble", "DeepSol", str(runs[0]), str(tmp_path / "r3"), "--valid", str(valid),
                 "-o", str(tmp_path / "x")]) == 2
    assert "r3 held out other validation rows than" in capsys.readouterr().err


def test_train_refuses_a_protein_model_without_a_recipe(tmp_path, capsys):
    directory = tmp_path / "Composition"
    shutil.copytree(find_model("DeepSol"), directory)
    spec = yaml.safe_load((directory / "model.yaml").read_text())
    spec["args"]["architecture"], spec["args"]["config"] = "protein_composition", {"max_len": 1200}
    (directory / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assert main(["train", str(directory), "--train", "t", "--valid", "v", "-o", str(tmp_path / "run")]) == 2
    assert "no training recipe for Composition (protein_composition)" in capsys.readouterr().err
    # the protein kind's parser: a DNA data set directory is not its argument
    with pytest.raises(SystemExit) as exit_:
        main(["train", "DeepSol", "--data", "ds", "-o", str(tmp_path / "run")])
    assert exit_.value.code == 2 and "seqzoo train DeepSol: error:" in capsys.readouterr().err


# --- the command line: evaluate and export for protein models -------------------------------

@pytest.mark.kipoi
def test_evaluate_and_export_verbs_for_a_protein_run(tmp_path, capsys):
    from seqzoo.packaging import check_model_dir
    from seqzoo.zoo.spec import load_spec

    train, valid, run = tmp_path / "train.tsv", tmp_path / "valid.tsv", tmp_path / "run"
    _write_tsv(train, 40, seed=1)
    _write_tsv(valid, 24, seed=2, long_one=True)
    assert main(["train", "DeepSol", "--train", str(train), "--valid", str(valid), "-o", str(run), "--name", "tiny",
                 "--config", json.dumps(TINY), "--epochs", "1", "--batch-size", "8", "--quiet"]) == 0
    trained = json.loads((run / "metrics.json").read_text())
    assert trained["labels"] == ["soluble"]  # the zoo model's, recorded for export

    # evaluate a run on the rows it held out: its own figures again
    assert main(["evaluate", str(run), "--data", str(valid), "--held-out", "-o", str(tmp_path / "held.json")]) == 0
    held = json.loads((tmp_path / "held.json").read_text())
    for key in ("n", "accuracy", "mcc", "auroc", "auprc", "confusion"):
        assert held["metrics"][key] == pytest.approx(trained["held_out_metrics"][key], abs=1e-6), key
    assert held["not_predictable"] == trained["held_out_not_predictable"]
    assert held["command"].startswith("seqzoo evaluate run --data valid.tsv ")  # paths by name
    # ... and on every row of a file, by hand
    assert main(["evaluate", str(run), "--data", str(train), "-o", str(tmp_path / "all.json")]) == 0
    data = read_labelled_tsv(train)
    net = build("deepsol", **trained["recipe"]["config"])
    net.load_weights(run / "tiny.weights.h5")
    expected = binary_metrics(data.labels, predict_tokens(net, data.tokens, 1200))
    everything = json.loads((tmp_path / "all.json").read_text())["metrics"]
    assert everything["n"] == 40 and everything["auroc"] == pytest.approx(expected["auroc"], abs=1e-6)
    # a zoo model is evaluated the same way; --held-out needs a run
    assert main(["evaluate", "DeepSol", "--data", str(train), "-o", str(tmp_path / "zoo.json")]) == 0
    assert json.loads((tmp_path / "zoo.json").read_text())["metrics"]["n"] == 40
    capsys.readouterr()
    assert main(["evaluate", "DeepSol", "--data", str(valid), "--held-out", "-o", str(tmp_path / "x.json")]) == 2
    assert "DeepSol is a model, not a seqzoo train or ensemble run" in capsys.readouterr().err

    # export: a model directory that passes the checks once its README is written
    model_dir = tmp_path / "DeepSolTiny"
    assert main(["export", str(run), str(model_dir), "--doc", "A tiny solubility test network.",
                 "--trained-on", "synthetic proteins", "--tags", "Protein solubility",
                 "--targets-name", "solubility", "--file-name", "deepsol-tiny-v1.weights.h5",
                 "--example", str(find_model("DeepSol") / "example"), *model_checks.AUTHORSHIP_ARGS]) == 0
    description = yaml.safe_load((model_dir / "model.yaml").read_text())
    assert description["schema"]["inputs"]["modality"] == "protein"
    assert "special_type" not in description["schema"]["inputs"]
    assert description["default_dataloader"] == {"defined_as": "seqzoo.dataloaders.ProteinDataset",
                                                 "default_args": {"max_len": 1200}}
    assert description["info"]["cite_as"] == "https://doi.org/10.1093/bioinformatics/bty166"  # DeepSol's paper
    assert (model_dir / "deepsol-tiny-v1.weights.h5").read_bytes() == (run / "tiny.weights.h5").read_bytes()
    assert json.loads((model_dir / "metrics.json").read_text()) == trained
    spec = load_spec(model_dir)
    assert spec.modality == "protein" and spec.labels == ("soluble",) and spec.architecture == "deepsol"
    assert "held-out validation" in spec.artifact.produced_by
    (model_dir / "README.md").write_text("# DeepSolTiny\n")
    assert check_model_dir(model_dir) == []
    model = seqzoo.get_model(model_dir, device="cpu")
    x = np.zeros((2, 1200), dtype="int32")
    x[:, :60] = np.random.default_rng(3).integers(1, 21, (2, 60))
    np.testing.assert_allclose(model.predict_on_batch(x), net.predict_on_batch(x), atol=1e-6)


def test_export_of_several_protein_runs_is_their_ensemble(tmp_path):
    train, valid = tmp_path / "train.tsv", tmp_path / "valid.tsv"
    _write_tsv(train, 40, seed=1)
    _write_tsv(valid, 24, seed=2)
    runs = []
    for seed in (1, 2):
        runs.append(tmp_path / f"r{seed}")
        assert main(["train", "DeepSol", "--train", str(train), "--valid", str(valid), "-o", str(runs[-1]),
                     "--name", f"r{seed}", "--config", json.dumps(TINY), "--epochs", "1", "--batch-size", "8",
                     "--seed", str(seed), "--quiet"]) == 0
    model_dir = tmp_path / "Pair"
    assert main(["export", *map(str, runs), str(model_dir), "--doc", "pair", "--trained-on", "synthetic",
                 "--label", "soluble_in_test", *model_checks.AUTHORSHIP_ARGS]) == 0
    model = seqzoo.get_model(model_dir, device="cpu")
    assert model.spec.architecture == "ensemble" and model.labels == ("soluble_in_test",)
    assert not (model_dir / "test.expect.h5").exists()
    # The unmeasured average records its members (and the lockbox they share: none here).
    recorded = json.loads((model_dir / "metrics.json").read_text())
    assert recorded["held_out_metrics"] is None and recorded["lockbox"] is None
    assert [m["run"] for m in recorded["members"]] == [r.name for r in runs]  # by name: tmp_path is elsewhere
    held = read_labelled_tsv(valid)
    singles = []
    for run in runs:
        info = json.loads((run / "metrics.json").read_text())
        net = build("deepsol", **info["recipe"]["config"])
        net.load_weights(run / info["weights_file"])
        singles.append(predict_tokens(net, held.tokens, 1200))
    np.testing.assert_allclose(predict_tokens(model, held.tokens, 1200), np.mean(singles, axis=0), atol=1e-6)

"""The lockbox, the folds and the length reweighting of DeepSol training, and the figures
measured on the lockbox (issue 21)."""

import json

import numpy as np
import pytest

from seqzoo.cli import main
from protein_data import write_labelled_tsv
from seqzoo.training.metrics import binary_metrics, bootstrap_intervals, reliability
from seqzoo.training.protein_evaluation import evaluate_proteins
from seqzoo.training.proteins import (
    LENGTH_BANDS,
    band_name,
    length_band,
    read_labelled_tsv,
    stratified_folds,
    stratified_split,
    training_weights,
    validation_plan,
    weight_summary,
)

TINY = {"embedding_dim": 4, "kernels": {"2": 3, "3": 3, "5": 4}, "dense_units": 4, "dropout": 0.1}


def _labels_and_lengths(n=400, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.choice([50, 180, 200, 201, 350, 500, 501, 900, 1200, 1201, 1500], n)
    labels = (rng.random(n) < 0.4).astype(int)
    return labels, lengths


def test_length_bands():
    assert length_band([1, 200, 201, 500, 501, 1200, 1201]).tolist() == [0, 0, 1, 1, 2, 2, 3]
    assert [band_name(b) for b in range(len(LENGTH_BANDS) + 1)] == ["1-200", "201-500", "501-1200", ">1200"]


def test_lockbox_is_stratified_by_label_and_length_and_seeded():
    labels, lengths = _labels_and_lengths()
    box, rest = stratified_split(labels, lengths, 0.3, seed=4)
    assert np.array_equal(np.sort(np.r_[box, rest]), np.arange(len(labels)))
    for label in (0, 1):
        for band in range(4):
            n = np.sum((labels == label) & (length_band(lengths) == band))
            assert np.sum((labels[box] == label) & (length_band(lengths[box]) == band)) == round(0.3 * n)
    again, _ = stratified_split(labels, lengths, 0.3, seed=4)
    other, _ = stratified_split(labels, lengths, 0.3, seed=5)
    assert np.array_equal(box, again) and not np.array_equal(box, other)
    with pytest.raises(ValueError, match="fraction"):
        stratified_split(labels, lengths, 1.0, seed=0)


def test_folds_partition_every_stratum_evenly():
    labels, lengths = _labels_and_lengths()
    folds = stratified_folds(labels, lengths, 5, seed=1)
    assert np.array_equal(np.sort(np.concatenate(folds)), np.arange(len(labels)))
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    bands = length_band(lengths)
    for label in (0, 1):
        for band in range(4):
            counts = [np.sum((labels[f] == label) & (bands[f] == band)) for f in folds]
            assert max(counts) - min(counts) <= 1
    with pytest.raises(ValueError, match="at least 2"):
        stratified_folds(labels, lengths, 1, seed=0)


def test_training_weights_match_the_target_length_distribution_and_balance_classes():
    labels, lengths = _labels_and_lengths(600, seed=2)
    lengths = np.where(np.arange(600) < 450, 100, lengths)  # training biased towards short proteins
    target = np.array([100] * 30 + [300] * 50 + [800] * 15 + [1300] * 5)
    w = training_weights(labels, lengths, class_weight=False, target_lengths=target)
    bands = length_band(lengths)
    for band, share in enumerate([0.30, 0.50, 0.15, 0.05]):
        assert w[bands == band].sum() / w.sum() == pytest.approx(share)
    w = training_weights(labels, lengths, class_weight=True, target_lengths=target)
    assert w.mean() == pytest.approx(1.0)
    assert w[labels == 1].sum() == pytest.approx(w[labels == 0].sum())
    # Balancing the classes last moves the bands' shares a little off the target; the summary
    # records what the weights reach.
    summary = weight_summary(labels, lengths, w, target)
    assert summary["class_share"] == {"0": pytest.approx(0.5), "1": pytest.approx(0.5)}
    assert summary["target_band_share"] == {"1-200": 0.3, "201-500": 0.5, "501-1200": 0.15, ">1200": 0.05}
    assert sum(summary["band_share"].values()) == pytest.approx(1.0)
    for band, share in summary["band_share"].items():
        assert share == pytest.approx(summary["target_band_share"][band], abs=0.05)
    # A base weight (validation rows moved into training) is where reweighting starts.
    base = np.where(np.arange(600) >= 500, 3.0, 1.0)
    w = training_weights(labels, lengths, class_weight=True, target_lengths=target, base_weight=base)
    assert w.mean() == pytest.approx(1.0) and w[labels == 1].sum() == pytest.approx(w[labels == 0].sum())
    same_band = (bands == 0) & (labels == 0)
    assert w[same_band & (base == 3)][0] == pytest.approx(3 * w[same_band & (base == 1)][0])
    # Without a target, class weights equal scikit-learn's "balanced".
    plain = training_weights(labels, lengths, class_weight=True)
    assert plain[labels == 1][0] == pytest.approx(len(labels) / (2 * labels.sum()))
    with pytest.raises(ValueError, match="no target protein is >1200"):
        training_weights(labels, lengths, class_weight=True, target_lengths=np.array([100, 300, 800]))


def _write_tsv(path, n, seed):
    """Labelled proteins of every length band."""
    write_labelled_tsv(path, n, seed, lambda i, rng: [60, 150, 320, 700, 1250][i % 5 if i % 7 else 0])


def test_validation_plan_never_moves_or_holds_out_a_lockbox_row(tmp_path):
    _write_tsv(tmp_path / "valid.tsv", 60, seed=3)
    valid = read_labelled_tsv(tmp_path / "valid.tsv")
    held, boxes = [], []
    for fold in range(3):
        plan = validation_plan(valid, lockbox=0.25, lockbox_seed=0, split_seed=1, valid_to_train=0.5,
                               folds=3, fold=fold)
        box = set(plan["lockbox"]["rows"])
        boxes.append(box)
        assert not box & set(plan["moved"]) and not box & set(plan["held_out"])
        assert len(box) + len(plan["moved"]) + len(plan["held_out"]) == len(valid)
        held.append(plan["held_out"])
    assert boxes[0] == boxes[1] == boxes[2]
    assert np.array_equal(np.sort(np.concatenate(held)), np.setdiff1d(np.arange(len(valid)), sorted(box)))
    plain = validation_plan(valid, lockbox=0.0, lockbox_seed=0, split_seed=1, valid_to_train=0.5)
    assert plain["lockbox"] is None and len(plain["moved"]) + len(plain["held_out"]) == len(valid)
    with pytest.raises(ValueError, match="fold must be in 0..2"):
        validation_plan(valid, lockbox=0.25, lockbox_seed=0, split_seed=1, valid_to_train=0.5, folds=3, fold=3)
    with pytest.raises(ValueError, match="without a number of folds"):
        validation_plan(valid, lockbox=0.25, lockbox_seed=0, split_seed=1, valid_to_train=0.5, fold=1)


def test_cross_validated_runs_share_a_lockbox_measured_last(tmp_path, capsys):
    train, valid = tmp_path / "train.tsv", tmp_path / "valid.tsv"
    _write_tsv(train, 40, seed=1)
    _write_tsv(valid, 50, seed=2)
    common = ["--train", str(train), "--valid", str(valid), "--epochs", "2", "--batch-size", "8", "--quiet",
              "--lockbox", "0.3", "--folds", "2", "--split-seed", "0", "--length-weight"]
    runs = []
    for fold, architecture, config in [(0, "deepsol", TINY), (1, "deepsol", TINY), (0, "protein_composition", {})]:
        out = tmp_path / f"{architecture}_f{fold}"
        assert main(["train", "DeepSol", *common, "--fold", str(fold), "-o", str(out), "--name", out.name,
                     "--architecture", architecture, "--config", json.dumps(config), "--seed", str(fold),
                     "--monitor", "auroc"]) == 0
        runs.append(out)
    infos = [json.loads((run / "metrics.json").read_text()) for run in runs]
    box = infos[0]["lockbox"]["rows"]
    assert len(box) == 15 and all(info["lockbox"]["rows"] == box for info in infos)
    assert not set(box) & set(infos[0]["split"]["held_out_rows"]) and not set(box) & set(infos[1]["split"]["held_out_rows"])
    assert infos[0]["recipe"]["monitor"] == "held-out auroc" and infos[0]["recipe"]["length_weight"]
    # The held-out predictions are recorded, one per held-out row, so folds can be compared.
    assert len(infos[0]["split"]["held_out_predictions"]) == len(infos[0]["split"]["held_out_rows"])

    assert main(["ensemble", "DeepSol", *map(str, runs), "--valid", str(valid), "-o", str(tmp_path / "ens"),
                 "--weights", "1", "1", "2", "--name", "ens"]) == 0
    ensemble = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    assert ensemble["held_out_metrics"] is None and ensemble["lockbox"]["rows"] == box
    assert "seqzoo evaluate --lockbox" in capsys.readouterr().err

    # The lockbox, measured: the same probabilities as the ensemble's on those rows, with intervals.
    result = evaluate_proteins(tmp_path / "ens", valid, tmp_path / "lockbox.json", lockbox=True)
    assert result["rows"] == "the lockbox" and result["metrics"]["n"] + result["not_predictable"] == 15
    report = result["report"]
    for k in ("accuracy", "auroc"):
        low, high = report["interval_95"][k]
        assert low <= result["metrics"][k] <= high
    assert sum(b["n"] for b in report["by_length"].values()) == result["metrics"]["n"]
    assert sum(b["n"] for b in report["reliability"]) == result["metrics"]["n"]

    # A run trained with another lockbox cannot join; --held-out and --lockbox exclude each other.
    other = tmp_path / "other"
    assert main(["train", "DeepSol", "--train", str(train), "--valid", str(valid), "--quiet", "--lockbox", "0.3",
                 "--lockbox-seed", "9", "--folds", "2", "--fold", "0", "-o", str(other),
                 "--architecture", "protein_composition", "--config", "{}"]) == 0
    assert main(["ensemble", "DeepSol", str(runs[0]), str(other), "--valid", str(valid), "-o", str(tmp_path / "x")]) == 2
    assert "set aside different lockboxes" in capsys.readouterr().err
    # Nor can a fold of another cut of the same rows (another --split-seed), nor an ensemble run.
    reseeded = tmp_path / "reseeded"
    assert main(["train", "DeepSol", *common, "--fold", "1", "--split-seed", "5", "-o", str(reseeded),
                 "--architecture", "protein_composition", "--config", "{}"]) == 0
    assert main(["ensemble", "DeepSol", str(runs[0]), str(reseeded), "--valid", str(valid), "-o", str(tmp_path / "x")]) == 2
    assert "not folds of one split" in capsys.readouterr().err
    assert main(["ensemble", "DeepSol", str(runs[0]), str(tmp_path / "ens"), "--valid", str(valid),
                 "-o", str(tmp_path / "x")]) == 2
    assert "not a seqzoo train DeepSol run" in capsys.readouterr().err
    with pytest.raises(ValueError, match="measure it with --lockbox"):
        evaluate_proteins(tmp_path / "ens", valid, held_out=True)
    with pytest.raises(ValueError, match="give one"):
        evaluate_proteins(runs[0], valid, lockbox=True, held_out=True)
    with pytest.raises(ValueError, match="not the validation file"):
        evaluate_proteins(runs[0], train, lockbox=True)


def test_bootstrap_intervals_and_reliability():
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.5).astype(int)
    p = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, 400), 0.001, 0.999)
    point = binary_metrics(y, p)
    wide, narrow = bootstrap_intervals(y[:100], p[:100], n_boot=300), bootstrap_intervals(y, p, n_boot=300)
    for k in ("accuracy", "mcc", "auroc", "auprc"):
        assert narrow[k][0] <= point[k] <= narrow[k][1]
        assert wide[k][1] - wide[k][0] > narrow[k][1] - narrow[k][0]
    assert bootstrap_intervals(y, p, n_boot=50, seed=3) == bootstrap_intervals(y, p, n_boot=50, seed=3)
    curve = reliability([0, 0, 1, 1, 1], [0.05, 0.15, 0.12, 0.95, 1.0])
    assert curve == [{"bin": [0.0, 0.1], "n": 1, "mean_predicted": 0.05, "observed": 0.0},
                     {"bin": [0.1, 0.2], "n": 2, "mean_predicted": pytest.approx(0.135), "observed": 0.5},
                     {"bin": [0.9, 1.0], "n": 2, "mean_predicted": pytest.approx(0.975), "observed": 1.0}]

"""Motif discovery (seqzoo.motifs, ``seqzoo motifs``): DeepLIFT/SHAP -> TF-MoDISco -> TOMTOM on a
small real run. A DeepSEA-layout model whose only signal is a motif branch holding a planted
motif's log-odds reads a random genome with that motif planted in 300 windows; TF-MoDISco must
find it and TOMTOM must match it, among 40 decoys, to the planted motif."""

import os
import subprocess
import sys

import numpy as np
import pytest

from model_checks import AUTHORSHIP

from seqzoo.motifs import q_values

pytest.importorskip("modiscolite")
pytest.importorskip("memelite")

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENGTH, WINDOWS, WIDTH = 200, 300, 10
PLANTED = "TGAGTCACGA"


def planted_ppm() -> np.ndarray:
    ppm = np.full((WIDTH, 4), 0.05)
    ppm[np.arange(WIDTH), ["ACGT".index(b) for b in PLANTED]] = 0.85
    return ppm


def write_meme(path, motifs: dict[str, np.ndarray]) -> None:
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
             "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for i, (name, ppm) in enumerate(motifs.items()):
        lines += [f"MOTIF MA{9000 + i}.1 {name}", f"letter-probability matrix: alength= 4 w= {len(ppm)}"]
        lines += [" ".join(f"{v:.4f}" for v in row) for row in ppm] + [""]
    path.write_text("\n".join(lines))


def planted_model(directory, tmp_path):
    """A DeepSEA-layout model directory (real weights file, model.yaml) whose logit is the best
    log-odds score of the planted motif in the window (every other weight 0)."""
    import keras

    from seqzoo.architectures import build
    from seqzoo.packaging import ModelInfo, TargetsInfo, write_model_dir

    config = {"seq_len": LENGTH, "n_tasks": 1, "conv_filters": [4, 4, 4], "dense_units": 4, "task_motifs": 1,
              "task_motif_width": WIDTH, "task_motif_region": LENGTH}
    net = build("deepsea", **config)
    for variable in net.weights:
        variable.assign(np.zeros(variable.shape, "float32"))
    log_odds = np.log2(planted_ppm() / 0.25).astype("float32")
    net.get_layer("task_motif_conv").kernel.assign(log_odds[:, :, None])
    logit = net.get_layer("task_motif_logit")
    logit.weights[0].assign(np.ones(logit.weights[0].shape, "float32"))
    logit.weights[1].assign(np.full(logit.weights[1].shape, -8.0, "float32"))
    weights = tmp_path / "planted.weights.h5"
    net.save_weights(weights)
    assert keras.ops.convert_to_numpy(net(np.zeros((1, LENGTH, 4), "float32"))).shape == (1, 1)
    write_model_dir(directory, architecture="deepsea", config=config, weights_file=weights, produced_by="a test",
                    modality="dna", input_length=LENGTH, targets=TargetsInfo(("PLANT",)),
                    info=ModelInfo(doc="planted motif", trained_on="nothing: weights set by hand", **AUTHORSHIP))


def planted_genome(tmp_path):
    """A random genome of 300 windows, each with one sampled copy of the motif near its centre."""
    rng = np.random.default_rng(0)
    bases = np.array(list("ACGT"))
    genome = rng.choice(bases, WINDOWS * LENGTH)
    ppm = planted_ppm()
    lines = []
    for w in range(WINDOWS):
        start = w * LENGTH + int(rng.integers(50, 140))
        genome[start:start + WIDTH] = [bases[rng.choice(4, p=row)] for row in ppm]
        lines.append(f"chr1\t{w * LENGTH}\t{(w + 1) * LENGTH}\tw{w}\t0\t+\n")
    text = "".join(genome)
    (tmp_path / "genome.fa").write_text(">chr1\n" + "\n".join(text[i:i + 60] for i in range(0, len(text), 60)) + "\n")
    (tmp_path / "planted.bed").write_text("".join(lines))
    decoys = {f"DECOY{i}": rng.dirichlet(np.full(4, 0.4), size=int(rng.integers(8, 15))) for i in range(40)}
    write_meme(tmp_path / "db.meme", {"PLANTED": ppm, **decoys})


def run_seqzoo(*args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPOSITORY] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.run([sys.executable, "-m", "seqzoo", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def test_q_values_are_benjamini_hochberg_per_row():
    p = np.array([[0.01, 0.04, 0.03, 0.5], [1.0, 0.001, 0.2, 0.2]])
    # sorted p times n / rank, then the running minimum from the largest down
    expected = np.array([[0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5], [1.0, 0.004, 0.2 * 4 / 3, 0.2 * 4 / 3]])
    np.testing.assert_allclose(q_values(p), expected)


def test_seqzoo_motifs_finds_the_planted_motif_and_tomtom_matches_it(tmp_path):
    planted_model(tmp_path / "Planted", tmp_path)
    planted_genome(tmp_path)
    args = ["motifs", str(tmp_path / "Planted"), "--target", "PLANT", "--fasta", str(tmp_path / "genome.fa"),
            "--bed", str(tmp_path / "planted.bed"), "--motifs", str(tmp_path / "db.meme"), "--references", "5",
            "--leiden-runs", "4", "-o", str(tmp_path / "report")]
    done = run_seqzoo(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = tmp_path / "report"
    rows = [line.split("\t") for line in (report / "motifs.tsv").read_text().splitlines()]
    header, strongest = rows[0], dict(zip(rows[0], rows[1]))
    assert header[:8] == ["pattern", "sign", "seqlets", "consensus", "match_1", "match_id_1", "p_1", "q_1"]
    assert strongest["pattern"] == "pos_patterns.pattern_0" and int(strongest["seqlets"]) >= 100
    assert strongest["match_1"] == "PLANTED" and float(strongest["q_1"]) < 0.05, strongest
    assert PLANTED in strongest["consensus"].upper() or PLANTED in reverse_complement(strongest["consensus"].upper())
    text = (report / "report.md").read_text()
    assert "## pos_patterns.pattern_0" in text and "| PLANTED | MA9000.1 |" in text
    for image in ("logos/pos_patterns.pattern_0.cwm.png", "logos/MA9000.1.png"):
        assert (report / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (report / "modisco_results.h5").exists()
    arrays = np.load(report / "attributions.npz")
    assert arrays["hypothetical"].shape == (WINDOWS, 1, LENGTH, 4)
    assert np.abs(arrays["deltas"]).max() < 1e-4  # absolute: a window whose references tie its logit has 0/0
    # the report folder is not overwritten without --force; a usage mistake stops before keras
    done = run_seqzoo(*args, cwd=tmp_path)
    assert done.returncode == 2 and "exists and is not empty" in done.stderr


def reverse_complement(text: str) -> str:
    return text[::-1].translate(str.maketrans("ACGT", "TGCA"))


@pytest.mark.parametrize("change, message", [
    (("--target", "NOPE"), "NOPE"),
    (("--motifs", "missing.meme"), "motif database (--motifs) missing.meme does not exist"),
    (("--region", "300-1200"), "need 0 <= START < END <= 1000"),
])
def test_seqzoo_motifs_checks_its_usage_before_keras(change, message, tmp_path):
    example = os.path.join(REPOSITORY, "models", "DeepSEA_Athaliana265", "example")
    (tmp_path / "db.meme").write_text("MEME version 4\n\nMOTIF A a\nletter-probability matrix: w= 1\n1 0 0 0\n")
    args = {"--target": "ABF2", "--motifs": str(tmp_path / "db.meme"), "--region": "300-700"}
    args[change[0]] = change[1]
    argv = ["motifs", "DeepSEA_Athaliana265", "--fasta", os.path.join(example, "genome.fa"), "--bed",
            os.path.join(example, "intervals.bed"), "-o", str(tmp_path / "r")] + [a for kv in args.items() for a in kv]
    probe = ("import sys\nfrom seqzoo.cli import main\ncode = main(sys.argv[1:])\n"
             "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules\nsys.exit(code)")
    env = dict(os.environ, PYTHONPATH=REPOSITORY)
    done = subprocess.run([sys.executable, "-c", probe, *argv], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "r").exists()

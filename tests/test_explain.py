"""Interpretation: ISM equals direct predictions of the mutants, gradients agree between backends
and with finite differences, and on the trained DeepSEA-like model the ABF2 motif (ACGTG core) in
bound validation windows drives ABF2's prediction and is learned by ABF2's own motif filters."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyfaidx
import pytest

import seqzoo
from seqzoo.cli import main
from seqzoo.encoding import one_hot_dna
from seqzoo.interpret import (attributions, explain_region, filter_pwms, first_convolution, in_silico_mutagenesis,
                            input_gradients, motif_similarity, target_index, trim_pwm)
from seqzoo.io.meme import read_meme
from seqzoo.zoo.spec import find_model

from model_checks import random_inputs

DATA = Path(__file__).parent / "data"
ABF2_SITES = DATA / "abf2_validation_sites.fa"
CORE = re.compile("(?=ACGTG|CACGT)")


def test_ism_equals_direct_predictions_of_the_mutants(dna_model):
    x = random_inputs(dna_model.spec.input_shape, 1, seed=3)[0]
    effects = in_silico_mutagenesis(dna_model, x, start=10, end=14)
    assert effects.shape == (4, 4, len(dna_model.columns))
    reference = dna_model.predict_on_batch(x[None])[0]
    for i in range(4):
        for b in range(4):
            mutant = x.copy()
            mutant[10 + i] = np.eye(4)[b]
            expected = dna_model.predict_on_batch(mutant[None])[0] - reference
            np.testing.assert_allclose(effects[i, b], expected, atol=2e-6)
    assert (effects[x[10:14] == 1] == 0).all()


def test_gradients_match_finite_differences(dna_model):
    x = random_inputs(dna_model.spec.input_shape, 2, seed=5)
    target = len(dna_model.columns) // 2
    grads = attributions(dna_model, x, target, method="saliency")
    assert grads.shape == x.shape
    np.testing.assert_array_equal(attributions(dna_model, x, target), grads * x)
    # central differences on the three inputs with the largest gradient
    eps = 1e-2
    for n, i, b in zip(*np.unravel_index(np.argsort(-np.abs(grads).ravel())[:3], x.shape)):
        step = np.zeros_like(x[n:n + 1])
        step[0, i, b] = eps
        up, down = dna_model.predict_on_batch(x[n:n + 1] + step), dna_model.predict_on_batch(x[n:n + 1] - step)
        numeric = (float(up[0, target]) - float(down[0, target])) / (2 * eps)
        assert numeric == pytest.approx(float(grads[n, i, b]), rel=0.05), (n, i, b)


TORCH_SIDE = """
import sys, numpy as np, keras
assert keras.backend.backend() == "torch"
import seqzoo
from seqzoo.interpret import attributions
model = seqzoo.get_model(sys.argv[1], device="cpu")
np.save(sys.argv[3], attributions(model, np.load(sys.argv[2]), int(sys.argv[4]), method="saliency"))
"""


@pytest.mark.torch
def test_gradients_agree_under_torch(tmp_path):
    pytest.importorskip("torch")
    model = seqzoo.get_model("DeepSEA_Athaliana265", device="cpu")
    x = random_inputs(model.spec.input_shape, 3, seed=7)
    np.save(tmp_path / "x.npy", x)
    target = model.columns.index("ABF2")
    result = subprocess.run([sys.executable, "-c", TORCH_SIDE, model.name, str(tmp_path / "x.npy"),
                             str(tmp_path / "g.npy"), str(target)], env=dict(os.environ, KERAS_BACKEND="torch"),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    ours = attributions(model, x, target, method="saliency")
    scale = np.abs(ours).max()
    np.testing.assert_allclose(np.load(tmp_path / "g.npy"), ours, atol=1e-4 * scale, rtol=0)


@pytest.fixture(scope="module")
def athaliana():
    return seqzoo.get_model("DeepSEA_Athaliana265", device="cpu")


@pytest.fixture(scope="module")
def abf2_windows():
    """The 1,000 bp windows centred on ABF2 DAP-seq summits of the validation block (fixture README),
    with the position of the single ACGTG/CACGT core within 100 bp of the summit."""
    windows, cores = [], []
    with pyfaidx.Fasta(str(ABF2_SITES)) as fasta:
        for name in fasta.keys():
            sequence = str(fasta[name][100:1100])
            central = [m.start() for m in CORE.finditer(sequence.upper(), 400, 600)]
            assert len(central) == 1, name
            windows.append(one_hot_dna(sequence))
            cores.append(central[0])
    return np.stack(windows), np.array(cores)


def test_destroying_the_abf2_core_lowers_abf2(athaliana, abf2_windows):
    x, cores = abf2_windows
    abf2 = athaliana.columns.index("ABF2")
    destroyed = x.copy()
    for i, core in enumerate(cores):
        destroyed[i, core:core + 5] = one_hot_dna("TTTTT")
    before = athaliana.predict_on_batch(x)[:, abf2]
    after = athaliana.predict_on_batch(destroyed)[:, abf2]
    assert (after < before).all(), np.c_[before, after]
    assert np.median(after / before) < 0.5
    # and ISM of the core agrees: the largest single-base losses of ABF2 in the central 200 bp fall on it
    for i in range(3):
        effects = in_silico_mutagenesis(athaliana, x[i], 400, 600)[:, :, abf2]
        assert 400 + effects.min(axis=1).argmin() in range(cores[i], cores[i] + 5)


def test_attribution_peaks_on_the_abf2_motif(athaliana, abf2_windows):
    x, cores = abf2_windows
    scores = np.abs(attributions(athaliana, x, athaliana.columns.index("ABF2")).sum(axis=2))
    peaks = scores.argmax(axis=1)  # over the whole 1,000 bp window
    on_motif = (peaks >= cores - 1) & (peaks < cores + 6)  # the 5 bp core and one flanking base each side
    assert on_motif.all(), list(zip(peaks, cores))


ABRE_BZIPS = ["ABF1", "ABF2", "ABF3", "ABF4", "ABI5", "DPBF3"]  # ABF2's family: group A bZIPs


def test_abf2s_own_motif_filters_match_the_abf2_family_better_than_shuffled_filters(athaliana, abf2_windows):
    x, _ = abf2_windows
    with pyfaidx.Fasta(str(find_model("DeepSEA_Athaliana265") / "example" / "genome.fa")) as fasta:
        genome = str(fasta["chr1"][:])
    x = np.concatenate([x, np.stack([one_hot_dna(genome[s:s + 1000]) for s in range(0, 29000, 500)])])
    pwms, sites = filter_pwms(athaliana, x)
    assert pwms.shape[0] == first_convolution(athaliana)[0].filters
    np.testing.assert_allclose(pwms.sum(axis=2), 1, atol=1e-6)
    # the motif branch: filters t*k .. t*k+k-1 are task t's own
    task_pwms, _ = filter_pwms(athaliana, x, layer="task_motif_conv")
    np.testing.assert_allclose(task_pwms.sum(axis=2), 1, atol=1e-6)
    per_task = task_pwms.shape[0] // len(athaliana.columns)
    abf2 = athaliana.columns.index("ABF2")
    motifs = read_meme(DATA / "jaspar2024_plants_excerpt.meme")
    family = [motifs[name][1] for name in ABRE_BZIPS]

    def best(filters):
        return max(motif_similarity(f, motif) for f in filters for motif in family)

    filters = [trim_pwm(p) for p in task_pwms[abf2 * per_task:(abf2 + 1) * per_task]]
    learned = best(filters)
    # the null: the same filters with their columns shuffled (same content, order destroyed), 20 times
    rng = np.random.default_rng(0)
    shuffled = [best([f[rng.permutation(len(f))] for f in filters]) for _ in range(20)]
    assert learned > max(shuffled), (learned, sorted(shuffled))
    with pytest.raises(ValueError, match="no convolution named 'conv9'"):
        filter_pwms(athaliana, x[:2], layer="conv9")


def test_motif_similarity_properties():
    motifs = read_meme(DATA / "jaspar2024_plants_excerpt.meme")
    abf2, wrky = motifs["ABF2"][1], motifs["WRKY33"][1]
    assert motif_similarity(abf2, abf2) == pytest.approx(1.0)
    assert motif_similarity(abf2[::-1, ::-1], abf2) == pytest.approx(1.0)  # either strand
    assert motif_similarity(abf2, wrky) < 0.5
    uniform = np.full((8, 4), 0.25)
    assert motif_similarity(uniform, abf2) == 0.0


def test_gradient_backend_function_on_a_plain_keras_model():
    import keras

    inputs = keras.Input((5, 4))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype(np.float32)
    kernel = model.layers[-1].kernel.numpy()
    np.testing.assert_allclose(input_gradients(model, x, 1), np.broadcast_to(kernel[:, 1].reshape(5, 4), x.shape),
                               rtol=1e-6)


def test_explain_region_and_cli(athaliana, tmp_path, capsys):
    fasta = find_model("DeepSEA_Athaliana265") / "example" / "genome.fa"
    r = explain_region(athaliana, fasta, "chr1:13,400-13,600", "ABF2")
    assert r["attribution"].shape == r["ism"].shape == (200, 4)
    assert r["window_start"] == 13500 - 500
    with pyfaidx.Fasta(str(fasta)) as f:
        x = one_hot_dna(str(f["chr1"][13000:14000]))
    np.testing.assert_allclose(r["prediction"], athaliana.predict_on_batch(x[None])[0, athaliana.columns.index("ABF2")],
                               rtol=1e-5)
    for suffix in ("png", "svg"):
        out = tmp_path / f"fig.{suffix}"
        assert main(["explain", "DeepSEA_Athaliana265", "--fasta", str(fasta), "--region", "chr1:13400-13600",
                     "--target", "ABF2", "-o", str(out), "--arrays", str(tmp_path / "a.npz"), "--device", "cpu",
                     "--force"]) == 0  # the second run replaces a.npz
        assert out.stat().st_size > 10_000
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "fig.svg").read_bytes()[:500]
    arrays = np.load(tmp_path / "a.npz")
    np.testing.assert_allclose(arrays["attribution"], r["attribution"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(arrays["ism"], r["ism"], rtol=1e-5, atol=1e-9)
    assert main(["explain", "DeepSEA_Athaliana265", "--fasta", str(fasta), "--region", "chr1:13600-13400",
                 "--target", "ABF2", "-o", str(tmp_path / "x.png")]) == 2
    assert main(["explain", "DeepSEA_Athaliana265", "--fasta", str(fasta), "--region", "chr2:1-100",
                 "--target", "ABF2", "-o", str(tmp_path / "x.png")]) == 2
    assert main(["explain", "DeepSEA_Athaliana265", "--fasta", str(fasta), "--region", "chr1:1000-1100",
                 "--target", "NOSUCHTF", "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "START < END" in err and "'chr2' is not in" in err and "no target named 'NOSUCHTF'" in err
    assert not (tmp_path / "x.png").exists()


def test_target_index_names_repeated_labels():
    model = seqzoo.get_model("DeepSEA", device="cpu")
    repeated = next(label for label in model.labels if list(model.labels).count(label) > 1)
    with pytest.raises(ValueError, match="several columns"):
        target_index(model, repeated)
    column = next(c for c in model.columns if c.startswith(repeated + "#"))
    assert model.columns[target_index(model, column)] == column
    assert target_index(model, "3") == 3


def test_variants_and_learned_motifs_cli(tmp_path):
    fasta = find_model("DeepSEA_Athaliana265") / "example" / "genome.fa"
    with pyfaidx.Fasta(str(fasta)) as f:
        base = str(f["chr1"][4999:5000])
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"chr1\t5000\trs1\t{base}\t{'A' if base.upper() != 'A' else 'C'}\t.\t.\t.\n")
    assert main(["variants", "DeepSEA_Athaliana265", "--fasta", str(fasta), "--vcf", str(vcf), "-o",
                 str(tmp_path / "v.tsv"), "--scores", "diff", "--quiet", "--device", "cpu"]) == 0
    header = (tmp_path / "v.tsv").read_text().splitlines()[0].split("\t")
    assert header[:7] == ["chrom", "pos", "id", "ref", "alt", "line", "note"] and header[7] == "diff:ABF2"
    bed = tmp_path / "tiles.bed"
    bed.write_text("".join(f"chr1\t{s}\t{s + 200}\n" for s in range(1000, 28000, 1000)))
    assert main(["learned-motifs", "DeepSEA_Athaliana265", "--fasta", str(fasta), "--bed", str(bed),
                 "--meme", str(DATA / "jaspar2024_plants_excerpt.meme"), "--top", "2", "-o", str(tmp_path / "m.tsv"),
                 "--meme-out", str(tmp_path / "m.meme"), "--device", "cpu"]) == 0
    assert main(["learned-motifs", "DeepSEA_Athaliana265", "--fasta", str(fasta), "--bed", str(bed),
                 "--max-windows", "5", "-o", str(tmp_path / "n.tsv"), "--device", "cpu"]) == 2
    assert not (tmp_path / "n.tsv").exists()
    rows = (tmp_path / "m.tsv").read_text().splitlines()
    assert rows[0].split("\t") == ["filter", "sites", "information_bits", "motif_1", "motif_id_1", "similarity_1",
                                   "motif_2", "motif_id_2", "similarity_2"]
    n_filters = first_convolution(seqzoo.get_model("DeepSEA_Athaliana265", device="cpu"))[0].filters
    assert len(rows) == 1 + n_filters
    written = read_meme(tmp_path / "m.meme")
    assert len(written) == n_filters and all(np.allclose(p.sum(axis=1), 1, atol=1e-5) for _, p in written.values())


def test_the_figure_labels_genome_coordinates_in_full(tmp_path):
    import matplotlib

    from seqzoo.plots import explain_figure

    rng = np.random.default_rng(0)
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text in the SVG
        explain_figure(tmp_path / "f.svg", rng.normal(size=(60, 4)), rng.normal(size=(60, 4)), 129_370)
    labels = [s for s in re.findall(r"<text[^>]*>([^<]*)</text>", (tmp_path / "f.svg").read_text()) if re.search(r"\d", s)]
    ticks = [int(label.replace(",", "")) for label in labels if re.fullmatch(r"\d{1,3}(,\d{3})+", label)]
    assert len(ticks) >= 4 and all(129_370 <= t < 129_430 for t in ticks), labels
    assert not [label for label in labels if re.search(r"\de|^\+|×", label)], labels  # no offset notation

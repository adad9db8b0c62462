"""What a DNA model has learned: in-silico mutagenesis, gradient attributions, first-layer motifs.

* :func:`in_silico_mutagenesis` predicts every single-base substitution of a window and returns
  the change of every target's prediction against the unmutated window.
* :func:`attributions` differentiates one target's prediction with respect to the one-hot input:
  ``"saliency"`` is the gradient itself, ``"input_x_gradient"`` the gradient times the input (so
  only the observed base of each position carries a value). Gradients are taken by the active
  Keras backend (tensorflow, torch or jax), so the same call works on a GPU machine without
  tensorflow.
* :func:`filter_pwms` turns each first-layer convolution filter into a position probability
  matrix from the subsequences that activate it most (Kelley et al. 2016, Basset: positions whose
  activation exceeds half the filter's maximum over the data), and :func:`motif_similarity`
  compares such matrices with a motif database (see its docstring for the measure).
"""

from __future__ import annotations

import os

import keras
import numpy as np

from seqzoo.io.genome import Genome
from seqzoo.io.bed import Interval, centered_window
from seqzoo.batching import predict_batch
from seqzoo.runtime import ZooModel
from seqzoo.windows import encode_windows, require_chromosome, parse_region

__all__ = [
    "ATTRIBUTION_METHODS", "attributions", "best_matches", "explain_region", "filter_pwms", "first_convolution",
    "in_silico_mutagenesis", "information_content", "input_gradients", "motif_similarity", "parse_region",
    "target_index", "trim_pwm",
]

ATTRIBUTION_METHODS = ("input_x_gradient", "saliency")
_BATCH = 256


def in_silico_mutagenesis(model: ZooModel, x: np.ndarray, start: int = 0, end: int | None = None,
                          rc: bool = False) -> np.ndarray:
    """Effect of every single-base substitution in ``x[start:end]`` on every target.

    ``x`` is one one-hot window ``(L, 4)``. Returns ``(end - start, 4, n_targets)``: entry
    ``[i, b, t]`` is target ``t``'s prediction with base ``b`` (ACGT) at position ``start + i``
    minus its prediction for ``x``; zero where ``b`` is the window's own base.
    """
    x = np.asarray(x, dtype=np.float32)
    end = len(x) if end is None else end
    if x.ndim != 2 or x.shape[1] != 4 or not 0 <= start < end <= len(x):
        raise ValueError(f"expected one window (L, 4) and 0 <= start < end <= L; got {x.shape}, {start}, {end}")
    positions = np.repeat(np.arange(start, end), 4)
    bases = np.tile(np.arange(4), end - start)
    reference = predict_batch(model, x[None], rc=rc)[0]
    effects = np.empty((len(positions),) + reference.shape, dtype=np.float32)
    for lo in range(0, len(positions), _BATCH):
        pos, base = positions[lo:lo + _BATCH], bases[lo:lo + _BATCH]
        mutants = np.repeat(x[None], len(pos), axis=0)
        mutants[np.arange(len(pos)), pos] = np.eye(4, dtype=np.float32)[base]
        effects[lo:lo + len(pos)] = predict_batch(model, mutants, rc=rc) - reference
    effects = effects.reshape(end - start, 4, -1)
    effects[x[start:end] == 1] = 0.0  # the window's own base: no change (exactly, not round-off)
    return effects


def input_gradients(keras_model: keras.Model, x: np.ndarray, target: int) -> np.ndarray:
    """d(prediction of ``target``)/d(input) for a batch ``x``, by the active Keras backend."""
    x = np.asarray(x, dtype=np.float32)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        inputs = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            output = keras_model(inputs, training=False)[:, target]
        return tape.gradient(output, inputs).numpy()
    if backend == "torch":
        inputs = keras.ops.convert_to_tensor(x)
        inputs.requires_grad_(True)
        keras_model(inputs, training=False)[:, target].sum().backward()
        return inputs.grad.detach().cpu().numpy()
    if backend == "jax":
        import jax

        trainable = [v.value for v in keras_model.trainable_variables]
        fixed = [v.value for v in keras_model.non_trainable_variables]

        def total(inputs):
            outputs, _ = keras_model.stateless_call(trainable, fixed, inputs, training=False)
            return outputs[:, target].sum()

        return np.asarray(jax.grad(total)(x))
    raise NotImplementedError(f"gradients under the {backend!r} Keras backend")


def attributions(model: ZooModel, x: np.ndarray, target: int, method: str = "input_x_gradient") -> np.ndarray:
    """Attribution maps ``(N, L, 4)`` of ``target`` for one-hot windows ``x`` ``(N, L, 4)``."""
    if method not in ATTRIBUTION_METHODS:
        raise ValueError(f"method must be one of {', '.join(ATTRIBUTION_METHODS)}; got {method!r}")
    x = np.asarray(x, dtype=np.float32)
    with keras.device(model.device):
        grads = np.concatenate([input_gradients(model.keras_model, x[lo:lo + _BATCH], target)
                                for lo in range(0, len(x), _BATCH)])
    return grads * x if method == "input_x_gradient" else grads


def first_convolution(model: ZooModel, layer: str = "conv1"):
    """The convolution named ``layer`` (default the first, ``conv1``) and the layers up to its
    activation (batch norm, ReLU or floor, where it has them); for an ensemble, those of its
    first member that has that layer. ``task_motif_conv`` is a DeepSEA motif branch's per-task
    filters (linear: their scores are the activations)."""
    def search(net):
        layers = {layer.name: layer for layer in net.layers}
        if layer in layers:
            return [layers[layer]] + [layers[f"{layer}{suffix}"] for suffix in ("_bn", "_relu", "_threshold")
                                      if f"{layer}{suffix}" in layers]
        for sub in net.layers:
            if isinstance(sub, keras.Model) and (chain := search(sub)):
                return chain
        return None

    chain = search(model.keras_model)
    if chain is None:
        raise ValueError(f"{model.name} has no convolution named {layer!r}")
    return chain[0], chain


def filter_pwms(model: ZooModel, x: np.ndarray, threshold: float = 0.5,
                layer: str = "conv1") -> tuple[np.ndarray, np.ndarray]:
    """Position probability matrices of the filters of convolution ``layer`` (default the first
    layer; see :func:`first_convolution`) from windows ``x`` ``(N, L, 4)``.

    For each filter, every position of ``x`` whose activation (after the filter's batch norm and
    ReLU) exceeds ``threshold`` times the filter's maximum over ``x`` contributes the subsequence
    it covers; the matrix is the base frequencies of those subsequences (N counts a quarter to
    each base). Returns ``(pwms (F, width, 4), sites (F,))``; a filter never active has uniform
    rows and 0 sites.
    """
    conv, chain = first_convolution(model, layer)
    if conv.kernel.shape[1] != 4:
        raise ValueError(f"{layer!r} reads {conv.kernel.shape[1]} channels, not the 4 bases of the input")
    width, n_filters = conv.kernel.shape[0], conv.kernel.shape[2]
    x = np.asarray(x, dtype=np.float32)

    def activations(batch):
        with keras.device(model.device):
            out = batch
            for layer in chain:
                out = layer(out, training=False) if "bn" in layer.name else layer(out)
            return keras.ops.convert_to_numpy(out)

    maxima = np.zeros(n_filters, dtype=np.float32)
    for lo in range(0, len(x), _BATCH):
        maxima = np.maximum(maxima, activations(x[lo:lo + _BATCH]).max(axis=(0, 1)))
    cutoff = np.where(maxima > 0, threshold * maxima, np.inf)
    counts = np.zeros((n_filters, width, 4))
    sites = np.zeros(n_filters, dtype=np.int64)
    for lo in range(0, len(x), _BATCH):
        batch = x[lo:lo + _BATCH]
        active = (activations(batch) > cutoff).astype(np.float32)  # (B, L - width + 1, F)
        sites += active.sum(axis=(0, 1)).astype(np.int64)
        for k in range(width):
            counts[:, k] += np.einsum("blf,blc->fc", active, batch[:, k:k + active.shape[1]])
    with np.errstate(invalid="ignore"):
        pwms = np.where(sites[:, None, None] > 0, counts / np.maximum(sites, 1)[:, None, None], 0.25)
    return pwms, sites


def information_content(pwm: np.ndarray) -> np.ndarray:
    """Bits per column of a probability matrix ``(width, 4)``."""
    p = np.clip(pwm, 1e-9, 1)
    return 2 + (p * np.log2(p)).sum(axis=1)


def trim_pwm(pwm: np.ndarray, min_bits: float = 0.3) -> np.ndarray:
    """``pwm`` without its flanking columns below ``min_bits`` of information (at least one column kept)."""
    informative = np.flatnonzero(information_content(pwm) >= min_bits)
    if len(informative) == 0:
        return pwm[:1]
    return pwm[informative[0]:informative[-1] + 1]


def _centred_columns(pwm: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit length, so dot products are Pearson correlations
    (a column without information becomes zeros: correlation 0)."""
    centred = pwm - pwm.mean(axis=1, keepdims=True)
    norm = np.sqrt((centred * centred).sum(axis=1, keepdims=True))
    return np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 1e-12)


def _best_alignment(query: np.ndarray, strands: tuple[np.ndarray, np.ndarray], longest: int, needed: int) -> float:
    """Best diagonal sum of the column-correlation matrix over both strands (see motif_similarity)."""
    best = -1.0
    m = len(query)
    for strand in strands:
        correlations = query @ strand.T  # (m, n): correlation of query column i and target column j
        diagonal = (np.arange(strand.shape[0])[None, :] - np.arange(m)[:, None] + m - 1).ravel()
        sums = np.bincount(diagonal, correlations.ravel())
        overlaps = np.bincount(diagonal)
        best = max(best, float(sums[overlaps >= needed].max()) / longest)
    return best


def motif_similarity(query: np.ndarray, target: np.ndarray, min_overlap: int = 5) -> float:
    """Similarity of two position probability matrices ``(width, 4)`` (ACGT).

    Each ungapped alignment of ``query`` against ``target`` or its reverse complement that
    overlaps by at least ``min(min_overlap, shorter width)`` columns is scored by the sum of the
    Pearson correlations of its aligned columns divided by the longer width (so partial overlaps
    score less than full ones, and a column without information contributes 0); the similarity is
    the best alignment's score, in [-1, 1]. This is the column-correlation measure of motif
    comparison tools (Pietrokovski 1996; Gupta et al. 2007, Tomtom), without p-values.
    """
    query, target = np.asarray(query, dtype=float), np.asarray(target, dtype=float)
    needed = min(min_overlap, len(query), len(target))
    strands = (_centred_columns(target), _centred_columns(target[::-1, ::-1]))
    return _best_alignment(_centred_columns(query), strands, max(len(query), len(target)), needed)


def best_matches(pwms: np.ndarray, motifs: dict[str, tuple[str, np.ndarray]], min_bits: float = 0.3,
                 top: int = 1) -> list[list[tuple[str, str, float]]]:
    """For each filter matrix, the ``top`` motifs of ``motifs`` (as :func:`seqzoo.training.baselines.read_meme`
    returns) with the highest :func:`motif_similarity` after :func:`trim_pwm`:
    ``[[(motif name, id, similarity), ...], ...]``."""
    database = [(name, motif_id, len(prob), (_centred_columns(prob), _centred_columns(prob[::-1, ::-1])))
                for name, (motif_id, prob) in motifs.items()]
    result = []
    for pwm in pwms:
        query = trim_pwm(pwm, min_bits)
        centred = _centred_columns(query)
        scored = sorted(((_best_alignment(centred, strands, max(len(query), width), min(5, len(query), width)),
                          name, motif_id) for name, motif_id, width, strands in database), reverse=True)
        result.append([(name, motif_id, score) for score, name, motif_id in scored[:top]])
    return result


def target_index(model: ZooModel, target: str | int) -> int:
    """Column index of a target given by label (or ``NAME#i`` column name) or by 0-based index
    (``ModelSpec.column_index``)."""
    return model.spec.column_index(target)


def explain_region(model: ZooModel, fasta: str | os.PathLike, region: str, target: str | int,
                   method: str = "input_x_gradient", ism: bool = True, strand: str = ".",
                   out_of_bounds: str = "pad") -> dict:
    """Attributions and ISM of one target over a genome region.

    The model's input window is centred on the region (which must not be longer than it) and
    built by :mod:`seqzoo.windows` under the rules of ``seqzoo predict``: an unknown chromosome is
    an error naming the FASTA (and both spellings where only a ``chr`` prefix differs); a window
    past a chromosome end is padded with N (``"padded"`` in the result counts the positions) or,
    with ``out_of_bounds="refuse"``, an error; a window holding characters that are not DNA is an
    error naming the region. With ``strand="-"`` the model sees the reverse complement of the
    window; the maps are still given in genome orientation (position ``start`` first, columns ACGT
    of the ``+`` strand), so they line up with the region whatever the strand.

    Returns ``{"chrom", "start", "end", "strand", "window_start", "padded", "target", "method",
    "prediction", "attribution" (R, 4), "ism" (R, 4) or None}`` for the region's R positions.
    """
    chrom, start, end = parse_region(region)
    if strand not in ("+", "-", "."):
        raise ValueError(f"strand must be '+', '-' or '.'; got {strand!r}")
    seq_len = model.spec.input_shape[0]
    if end - start > seq_len:
        raise ValueError(f"region {region} is {end - start} bp, longer than {model.name}'s {seq_len} bp input")
    index = target_index(model, target)
    interval = Interval(chrom, start, end, strand=strand)
    with Genome(fasta) as genome:
        require_chromosome(genome, chrom, f"region {region}")
        batch = encode_windows(genome, [interval], seq_len, out_of_bounds)
    if batch.refused[0]:
        raise ValueError(f"region {region}: {batch.notes[0]}")
    x = batch.x[0]
    window_start = centered_window(interval, seq_len)[0]
    lo, hi = start - window_start, end - window_start  # the region in the window, genome orientation
    minus = strand == "-"
    if minus:  # x is the reverse complement: the region is at [L - hi, L - lo) of it
        lo, hi = seq_len - hi, seq_len - lo
    attribution = attributions(model, x[None], index, method)[0, lo:hi]
    ism_map = in_silico_mutagenesis(model, x, lo, hi)[:, :, index] if ism else None
    if minus:  # back to genome orientation: reverse the positions, complement the bases
        attribution = attribution[::-1, ::-1].copy()
        ism_map = ism_map[::-1, ::-1].copy() if ism_map is not None else None
    return {
        "chrom": chrom, "start": start, "end": end, "strand": strand, "window_start": window_start,
        "padded": int(batch.padded[0]), "target": model.columns[index], "method": method,
        "prediction": float(model.predict_on_batch(x[None])[0, index]),
        "attribution": attribution, "ism": ism_map,
    }

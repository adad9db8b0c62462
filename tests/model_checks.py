"""The checks every model passes, whatever its architecture or size: one helper for the registered
models (tests/test_model_checks.py) and the architectures' small configurations
(tests/test_architectures.py). Import it as ``from model_checks import ...`` (pytest puts tests/ on
``sys.path``); fixtures stay in conftest.py.
"""

import inspect
import socket
from collections.abc import Sequence

import keras
import numpy as np

from seqzoo.architectures.registry import (BUILDER_ARGUMENTS, FIRST_CONVOLUTION, INPUT_LAYER, OUTPUT_LAYER, Family,
                                           float32_layers)
from seqzoo.runtime import mixed_bfloat16, resolve_device

#: Batch sizes whose predictions must give the same rows (as tangermeme's tests do).
BATCH_SIZES = (1, 8, 64)
#: Largest |bfloat16 - float32| difference of an output allowed on random inputs. Each model's
#: deviation on real sequences is measured and recorded in its weights.yaml (bfloat16_deviation:
#: 3.5e-4 to 8.7e-3 on the zoo's models; research/bfloat16_deviation.py).
BFLOAT16_ATOL = 1e-2
#: Rows may differ by float32 rounding between batch sizes (other kernels' blockings), no more.
BATCH_ATOL = 1e-6


def random_inputs(input_shape: Sequence[int], n: int, seed: int = 0) -> np.ndarray:
    """``n`` valid random inputs of one example's ``input_shape``: one-hot DNA ``(L, 4)``
    (float32) or amino-acid tokens ``(L,)`` (int32, 0 = padding, 1-20 the residues)."""
    rng = np.random.default_rng(seed)
    input_shape = tuple(input_shape)
    if len(input_shape) == 1:
        return rng.integers(0, 21, (n,) + input_shape).astype("int32")
    if input_shape[-1:] != (4,):
        raise ValueError(f"random_inputs: input shape {input_shape} is neither (L,) tokens nor (L, 4) DNA")
    return np.eye(4, dtype="float32")[rng.integers(0, 4, (n,) + input_shape[:-1])]


def call(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The model called directly (inference mode), as a NumPy array on the host."""
    return keras.ops.convert_to_numpy(model(x, training=False))


def check_output_shape(name: str, model: keras.Model, x: np.ndarray, preds: np.ndarray,
                       output_shape: tuple | None) -> None:
    """Predictions have one row per input and the declared shape (the model's own if None)."""
    expected = tuple(output_shape) if output_shape is not None else tuple(model.output_shape[1:])
    assert tuple(model.output_shape[1:]) == expected, \
        f"{name}: the model's output shape {model.output_shape[1:]} is not the declared {expected}"
    assert preds.shape == (len(x),) + expected, \
        f"{name}: predictions of {len(x)} inputs have shape {preds.shape}, expected {(len(x),) + expected}"
    assert np.isfinite(preds).all(), f"{name}: predictions hold NaN or infinity"


def check_batch_sizes(name: str, model: keras.Model, x: np.ndarray, preds: np.ndarray,
                      batch_sizes: Sequence[int] = BATCH_SIZES) -> None:
    """Predicting ``x`` in batches of each size gives the rows of predicting it at once."""
    for size in batch_sizes:
        if size >= len(x):
            continue  # that is ``preds`` itself
        parts = np.concatenate([model.predict_on_batch(x[i:i + size]) for i in range(0, len(x), size)])
        worst = float(np.abs(parts - preds).max())
        assert worst <= BATCH_ATOL, f"{name}: batches of {size} differ from one batch of {len(x)} by {worst:.2e}"


def check_config_round_trip(name: str, model: keras.Model, x: np.ndarray) -> None:
    """``from_config(get_config())`` with the same weights gives the same predictions, exactly."""
    clone = model.__class__.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    # Called directly, not by predict_on_batch: a model that has predicted batches of several
    # sizes runs a re-traced graph whose float32 rounding differs (3e-8 seen) from a fresh one's.
    before, after = call(model, x), call(clone, x)
    assert np.array_equal(after, before), \
        f"{name}: the get_config/from_config clone predicts differently (max |diff| {np.abs(after - before).max():.2e})"


def check_bfloat16(name: str, model: keras.Model, x: np.ndarray) -> None:
    """The bfloat16 copy (``seqzoo.runtime.mixed_bfloat16``) computes every layer, nested models'
    (an ensemble's members) included, in bfloat16 except those kept float32 by name
    (the family records' ``float32_layers``); it is within BFLOAT16_ATOL of float32, and not identical to it unless
    every layer is kept float32 (it must really compute in bfloat16)."""
    fast = mixed_bfloat16(model)
    policies = _layer_policies(fast)
    kept = float32_layers()
    wrong = [n for n, p in policies if p != ("float32" if n in kept else "mixed_bfloat16")
             and not n.startswith(("dna", "tokens", "inputs"))]
    assert not wrong, f"{name}: layers not in the bfloat16 rule: {wrong}"
    diff = float(np.abs(call(fast, x).astype("float32") - call(model, x)).max())
    assert diff <= BFLOAT16_ATOL, f"{name}: bfloat16 differs from float32 by {diff:.2e} > {BFLOAT16_ATOL}"
    if any(p == "mixed_bfloat16" for _, p in policies):
        assert diff > 0, f"{name}: bfloat16 predictions equal float32 bit for bit; bfloat16 was not applied"
    else:  # nothing of it is worth bfloat16 (e.g. DeepSol's composition regression)
        assert diff == 0, f"{name}: every layer is float32, yet the predictions differ by {diff:.2e}"


def _layer_policies(model: keras.Model) -> list[tuple[str, str]]:
    """(name, dtype policy) of every layer, inside nested models too."""
    out = []
    for layer in model.layers:
        out += _layer_policies(layer) if isinstance(layer, keras.Model) else [(layer.name, layer.dtype_policy.name)]
    return out


def check_layer_contract(name: str, model: keras.Model, family: Family) -> None:
    """The layer-name contract of ``family``'s modality (seqzoo.architectures.registry's
    docstring): the builder's arguments, the input layer's name, ``conv1`` (DNA) the first
    convolution reading the one-hot input, and ``output`` the last Dense layer. Families without
    a modality (ensembles, Keras JSON files) keep their members' contract: nothing to check here."""
    if family.modality is None:
        return
    parameters = inspect.signature(family.builder).parameters
    missing = [a for a in BUILDER_ARGUMENTS[family.modality] if a not in parameters]
    assert not missing, f"{name}: the builder {family.builder.__name__} takes no {', '.join(missing)}"
    inputs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.InputLayer)]
    assert inputs == [INPUT_LAYER[family.modality]], \
        f"{name}: a {family.modality} model's input layer is {INPUT_LAYER[family.modality]!r}, got {inputs}"
    dense = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense and dense[-1] == OUTPUT_LAYER, \
        f"{name}: the last Dense layer must be named {OUTPUT_LAYER!r}; the Dense layers are {dense}"
    if family.modality == "dna":
        assert model.get_layer(OUTPUT_LAYER).units == model.output_shape[-1], \
            f"{name}: {OUTPUT_LAYER!r} has {model.get_layer(OUTPUT_LAYER).units} units, " \
            f"the model {model.output_shape[-1]} outputs"
        convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]
        assert convolutions and convolutions[0].name == FIRST_CONVOLUTION and convolutions[0].input.shape[-1] == 4, \
            f"{name}: the first convolution must be {FIRST_CONVOLUTION!r}, reading the one-hot input; the " \
            f"convolutions are {[c.name for c in convolutions]}"


CHECKS = ("output_shape", "batch_sizes", "config_round_trip", "bfloat16")


def run_model_checks(model: keras.Model, *, device: str = "cpu", output_shape: tuple | None = None,
                     inputs: np.ndarray | None = None, batch_sizes: Sequence[int] = BATCH_SIZES,
                     checks: Sequence[str] = CHECKS, seed: int = 0, name: str | None = None,
                     family: Family | None = None) -> None:
    """The checks of a model with its weights (all of CHECKS unless ``checks`` names fewer):
    output shape, batch-size invariance, get_config/from_config round trip, and bfloat16 within
    BFLOAT16_ATOL of float32; given the model's ``family`` record, its layer-name contract first.

    ``device`` is ``"cpu"`` or ``"gpu"`` (the ``device`` fixture); build the model under it.
    ``output_shape`` is one example's declared output shape (a model directory's targets).
    The shape and batch checks predict ``max(batch_sizes)`` random inputs; the round trip and
    bfloat16 use ``inputs`` (real examples, few: both run the model twice more) or else the
    first 8 of those. Raises AssertionError naming the model and what differs.
    """
    unknown = set(checks) - set(CHECKS)
    if unknown:
        raise ValueError(f"run_model_checks: unknown checks {sorted(unknown)}; known: {', '.join(CHECKS)}")
    name = name or model.name
    x = random_inputs(model.input_shape[1:], max(batch_sizes), seed)
    few = x[:8] if inputs is None else np.asarray(inputs)
    if family is not None:
        check_layer_contract(name, model, family)
    with keras.device(resolve_device(device)):
        if "output_shape" in checks or "batch_sizes" in checks:
            preds = np.asarray(model.predict_on_batch(x))
            check_output_shape(name, model, x, preds, output_shape)
        if "batch_sizes" in checks:
            check_batch_sizes(name, model, x, preds, batch_sizes)
        if "config_round_trip" in checks:
            check_config_round_trip(name, model, few)
        if "bfloat16" in checks:
            check_bfloat16(name, model, few)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- what a test says about a model it exports or publishes ----------------------------------

#: The licence and authors of a model a test exports: seqzoo assumes none (``seqzoo export`` asks).
AUTHORSHIP = {"license": "MIT", "authors": ("seqzoo tests",)}
#: The same as ``seqzoo export`` arguments.
AUTHORSHIP_ARGS = ["--license", "MIT", "--authors", "seqzoo tests"]


def model_card(name: str, note: str = "") -> str:
    """A model card (README.md) with every section ``seqzoo publish`` asks for
    (``seqzoo.zoo.cards.CARD_SECTIONS``), for the MIT-licensed models tests make; ``note``
    tells cards apart (e.g. which of several publishers wrote it)."""
    return (f"# {name}\n\nA test model: it predicts its targets from sequence. {note}\n\n"
            "## Training data\nSynthetic sequences made by the test.\n\n"
            "## Evaluation\nValidation AUROC 0.5 (not measured; a test model).\n\n"
            "## Limitations\nA test model: its predictions mean nothing.\n\n"
            "## Licence\nMIT\n")

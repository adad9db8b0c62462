"""Every registered model passes the shared model checks (model_checks.run_model_checks) with
its own weights, on each device; and each of those checks fails on a model that breaks it."""

import h5py
import keras
import numpy as np
import pytest

from model_checks import CHECKS, run_model_checks
from seqzoo.architectures.registry import Family, families
from seqzoo.packaging import EXPECT_FILE
from seqzoo.runtime import get_model
from seqzoo.zoo.spec import find_model, list_models

def example_inputs(name: str) -> np.ndarray:
    """The model directory's example inputs as kipoi test reads them (10 rows; no kipoi needed)."""
    with h5py.File(find_model(name) / EXPECT_FILE) as f:
        return f["inputs"][:]


def test_registered_model_checks(model_name, device):
    model = get_model(model_name, device=device)
    run_model_checks(model.keras_model, device=device, output_shape=model.spec.target_shape,
                     inputs=example_inputs(model_name), checks=[c for c in CHECKS if c != "bfloat16"],
                     name=model_name, family=families()[model.spec.architecture])


@pytest.mark.parametrize("name", list_models())
def test_registered_model_bfloat16_is_close_to_float32(name, device):
    model = get_model(name, device=device)
    run_model_checks(model.keras_model, device=device, inputs=example_inputs(name), checks=["bfloat16"], name=name)


# --- the checks can fail ----------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="seqzoo_tests")
class Scale(keras.layers.Layer):
    """Multiplies by ``factor``; ``forget_factor`` leaves it out of get_config, as a bug would."""

    def __init__(self, factor=1.0, forget_factor=False, **kwargs):
        super().__init__(**kwargs)
        self.factor, self.forget_factor = factor, forget_factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        config = super().get_config()
        if not self.forget_factor:
            config.update(factor=self.factor)
        return config


@keras.saving.register_keras_serializable(package="seqzoo_tests")
class CentreOnBatch(keras.layers.Layer):
    """Subtracts the batch mean: each row depends on the other rows of its batch."""

    def call(self, x):
        return x - keras.ops.mean(x, axis=0, keepdims=True)


@keras.saving.register_keras_serializable(package="seqzoo_tests")
class LargeOffset(keras.layers.Layer):
    """Adds and removes 256: nearly exact in float32, but bfloat16 (8-bit mantissa) rounds
    numbers near 256 to steps of 2, losing the values."""

    def call(self, x):
        return (x + 256.0) - 256.0


def tiny(*middle, output_name="output", units=2):
    inputs = keras.Input((20, 4), name="dna")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for layer in middle:
        x = layer(x)
    outputs = keras.layers.Dense(units, activation="sigmoid", name=output_name)(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(-0.3, 0.3, w.shape).astype("float32") for w in model.get_weights()])
    return model


def test_a_healthy_model_passes_every_check():
    run_model_checks(tiny(keras.layers.Dense(16, activation="relu", name="hidden")), output_shape=(2,))


def test_wrong_output_shape_fails():
    with pytest.raises(AssertionError, match=r"output shape \(2,\) is not the declared \(3,\)"):
        run_model_checks(tiny(), output_shape=(3,), checks=["output_shape"])


def test_batch_dependent_rows_fail():
    with pytest.raises(AssertionError, match="batches of 1 differ from one batch of 64"):
        run_model_checks(tiny(CentreOnBatch(name="centre")), checks=["batch_sizes"])


def test_a_config_that_loses_an_argument_fails():
    run_model_checks(tiny(Scale(3.0, name="scale")), checks=["config_round_trip"])
    with pytest.raises(AssertionError, match="get_config/from_config clone predicts differently"):
        run_model_checks(tiny(Scale(3.0, forget_factor=True, name="scale")), checks=["config_round_trip"])


def test_bfloat16_beyond_the_tolerance_fails():
    with pytest.raises(AssertionError, match=r"bfloat16 differs from float32 by .* > 0.01"):
        run_model_checks(tiny(keras.layers.Dense(16, name="hidden"), LargeOffset(name="offset")), checks=["bfloat16"])


def test_bfloat16_that_changes_nothing_fails():
    # Only the float32 output layer computes (registry.float32_layers()): nothing ran in bfloat16.
    with pytest.raises(AssertionError, match="bfloat16 was not applied"):
        run_model_checks(tiny(), checks=["bfloat16"])


def _convolutional(first_name="conv1", output_name="output", input_name="dna"):
    inputs = keras.Input((20, 4), name=input_name)
    x = keras.layers.Conv1D(3, 5, name=first_name)(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(2, activation="sigmoid", name=output_name)(x)
    return keras.Model(inputs, outputs)


def test_a_model_breaking_the_layer_name_contract_fails():
    def build_tiny(seq_len=20, n_tasks=2):
        return _convolutional()

    record = Family(name="tiny", builder=build_tiny, modality="dna", small={"": {}})
    run_model_checks(_convolutional(), family=record, checks=["output_shape"])
    for model, says in [(_convolutional(first_name="motifs"), "the first convolution must be 'conv1'"),
                        (_convolutional(output_name="logits"), "the last Dense layer must be named 'output'"),
                        (_convolutional(input_name="seq"), "input layer is 'dna'")]:
        with pytest.raises(AssertionError, match=says):
            run_model_checks(model, family=record, checks=["output_shape"])
    with pytest.raises(ValueError, match="must take n_tasks"):  # the record itself refuses
        Family(name="tiny", builder=lambda seq_len=20: None, modality="dna", small={"": {}})


def test_unknown_check_is_refused():
    with pytest.raises(ValueError, match="unknown checks"):
        run_model_checks(tiny(), checks=["bfloat61"])

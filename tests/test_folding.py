"""Batch normalization folded into the layer before it (seqzoo.architectures.folding): what a zoo
model predicts with agrees with the model as built, every foldable normalization is folded, the
folded graph follows the model's weights, and what must not fold does not."""

import keras
import numpy as np
import pytest

import seqzoo
from model_checks import random_inputs
from seqzoo.architectures.folding import Folded, FoldedLinear, folded_batchnorm


def leaf_layers(model):
    for layer in model.layers:
        yield from leaf_layers(layer) if isinstance(layer, keras.Model) else [layer]


def test_every_dna_model_predicts_what_its_keras_model_does(dna_model):
    predicting = dna_model._predicting
    normalizations = [layer for layer in leaf_layers(dna_model.keras_model)
                      if isinstance(layer, keras.layers.BatchNormalization)]
    # every zoo family puts its normalization right after a linear convolution or dense layer
    assert sum(isinstance(layer, Folded) for layer in leaf_layers(predicting)) == len(normalizations)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in leaf_layers(predicting))
    for n in (1, 7, 64):
        x = random_inputs(dna_model.spec.input_shape, n, seed=n)
        np.testing.assert_allclose(dna_model.predict_on_batch(x), dna_model.keras_model.predict_on_batch(x),
                                   atol=1e-5, rtol=0)


def test_the_folded_graph_predicts_with_the_models_current_weights():
    model = seqzoo.get_model("Basset_Athaliana265", device="cpu")
    x = random_inputs(model.spec.input_shape, 8, seed=3)
    before = model.predict_on_batch(x)
    bn = model.keras_model.get_layer("conv2_bn")
    bn.moving_mean.assign(bn.moving_mean + 0.5)  # as fine-tuning or set_weights would
    dense = model.keras_model.get_layer("dense1")
    dense.kernel.assign(dense.kernel * 1.5)
    after = model.predict_on_batch(x)
    assert np.abs(after - before).max() > 1e-2
    np.testing.assert_allclose(after, model.keras_model.predict_on_batch(x), atol=1e-5, rtol=0)
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.keras_model.layers)


def net(normalized: str):
    """A small network whose normalization follows ``normalized``: a linear convolution (folds),
    one with a ReLU, one whose output also feeds another branch, or a sum (none of which fold)."""
    inputs = keras.Input((50, 4))
    conv = keras.layers.Conv1D(6, 5, activation="relu" if normalized == "relu" else None, use_bias=False)
    h = conv(inputs)
    other = keras.layers.Conv1D(6, 5)(inputs)
    if normalized == "sum":
        h = keras.layers.Add()([h, other])
    bn = keras.layers.BatchNormalization()
    y = bn(h)
    if normalized == "shared":
        y = keras.layers.Add()([y, h])
    y = keras.layers.Dense(3, activation="sigmoid")(keras.layers.GlobalMaxPooling1D()(y))
    model = keras.Model(inputs, y)
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 2, 6), rng.normal(size=6), rng.normal(size=6), rng.uniform(0.5, 2, 6)])
    return model


@pytest.mark.parametrize("normalized, folds", [("linear", True), ("relu", False), ("sum", False), ("shared", False)])
def test_only_a_normalization_of_a_linear_layers_own_output_folds(normalized, folds):
    model = net(normalized)
    folded = folded_batchnorm(model)
    assert any(isinstance(layer, FoldedLinear) for layer in folded.layers) == folds
    assert (folded is model) == (not folds)
    x = random_inputs((50, 4), 16, seed=1)
    np.testing.assert_allclose(folded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6, rtol=0)


def test_bfloat16_and_int8_predict_with_the_model_as_converted():
    # their recorded deviations from float32 were measured without folding
    for precision in ("bfloat16", "int8"):
        model = seqzoo.get_model("Basset_Athaliana265", device="cpu", precision=precision, validate_int8=True)
        assert model._predicting is model.keras_model, precision

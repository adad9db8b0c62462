"""int8 (Keras' ``quantize("int8")``: Dense and Embedding layers) against float32 for a zoo DNA model:
bare ``predict_on_batch`` rate on 128 random one-hot windows, best of three, float32 and int8 alternating;
then each Dense layer alone (compiled, its real input shape, best of three rounds of 30 calls) in
float32 and int8, and the Dense layers' share of the float32 model's time: the most int8 of these
layers could ever gain.

    python benchmarks/int8_rate.py DeepSEA_Athaliana265
"""
import sys
import time

import keras
import numpy as np

import seqzoo
from seqzoo.runtime import quantized_int8

name = sys.argv[1]
length = seqzoo.get_model(name, device="cpu").spec.input_shape[0]
x = np.eye(4, dtype="float32")[np.random.default_rng(0).integers(0, 4, (128, length))]
def rate(model) -> float:
    """Windows per second of ``model.predict_on_batch(x)``, best of three after a warm-up call."""
    model.predict_on_batch(x)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - start)
    return len(x) / min(times)


for precision in ("float32", "int8", "float32", "int8"):
    # validate_int8: measure int8 although the weights record no validation (prediction refuses it)
    model = seqzoo.get_model(name, device="cpu", precision=precision, validate_int8=precision == "int8")
    print(f"{name} {precision}: {rate(model):.0f} windows/s", flush=True)


def leaf_layers(model):
    for layer in model.layers:
        yield from leaf_layers(layer) if isinstance(layer, keras.Model) else [layer]


def seconds_per_call(layer, inputs: np.ndarray, calls: int = 30) -> float:
    import tensorflow as tf  # the comparison is of TensorFlow's kernels

    run = tf.function(lambda a: layer(a))
    run(inputs)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            run(inputs)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


built = seqzoo.get_model(name, device="cpu").keras_model
quantized = {layer.name: layer for layer in leaf_layers(quantized_int8(built))}
whole = len(x) / rate(built)
dense = 0.0
for layer in leaf_layers(built):
    if isinstance(layer, keras.layers.Dense):
        # a layer called on both strands (a strand-averaging model) sees twice the batch
        rows = len(x) * len(layer._inbound_nodes)
        inputs = np.random.default_rng(1).normal(size=(rows, *layer._inbound_nodes[0].input_tensors[0].shape[1:]))
        inputs = inputs.astype("float32")
        float32, int8 = seconds_per_call(layer, inputs), seconds_per_call(quantized[layer.name], inputs)
        dense += float32
        print(f"  {layer.name} {inputs.shape} -> {layer.units}: float32 {float32 * 1e3:.2f} ms, int8 {int8 * 1e3:.2f} ms "
              f"({float32 / int8:.2f}x)", flush=True)
print(f"{name}: Dense layers {dense * 1e3:.1f} ms of the float32 model's {whole * 1e3:.1f} ms per batch ({dense / whole:.0%}): "
      f"int8 Dense layers could make it at most {whole / (whole - dense):.2f}x faster")

"""int8 (Keras' ``quantize("int8")``: Dense and Embedding layers) against float32 for a zoo DNA model:
bare ``predict_on_batch`` rate on 128 random one-hot windows, best of three, float32 and int8 alternating.

    python benchmarks/int8_rate.py DeepSEA_Athaliana265
"""
import sys
import time

import numpy as np

import seqzoo

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

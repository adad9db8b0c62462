"""Which runtime should serve each zoo model: TensorFlow (Keras' ``predict_on_batch``) against the
model exported to OpenVINO (``keras.Model.export(format="openvino")``), float32, on the CPU.

For every model of the zoo: the rate of each runtime on the same random inputs (batch
``--batch-size``, best of ``--rounds``, alternating) and the largest |OpenVINO - TensorFlow|
difference at batch sizes 1, 7 and 128 (the tolerance for adopting a runtime is 1e-5).
OpenVINO computes in float32 here (``INFERENCE_PRECISION_HINT``); ``--precision bf16`` gives it
its default on CPUs with bfloat16 units, to compare with TensorFlow's ``--precision bfloat16``.

    pip install openvino scipy   # scipy: Keras' OpenVINO export of some layers
    python benchmarks/runtimes.py [--batch-size 128] [--rounds 3]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--batches", type=int, default=8, help="batches per timed round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32", help="OpenVINO's inference precision")
    args = p.parse_args()

    import openvino as ov

    import seqzoo
    from seqzoo.runtime import cpu_description
    from seqzoo.zoo.spec import list_models

    cpu, bf16 = cpu_description()
    print(f"CPU: {cpu} (bfloat16 units: {bf16}); openvino {ov.__version__}", flush=True)
    core = ov.Core()
    for name in list_models():
        model = seqzoo.get_model(name, device="cpu")
        network = model.keras_model
        shape = model.spec.input_shape
        rng = np.random.default_rng(0)
        if len(shape) == 1:  # protein tokens
            x = rng.integers(1, 21, (args.batch_size, *shape)).astype("int32")
        else:
            x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (args.batch_size, shape[0]))]
        with tempfile.TemporaryDirectory() as tmp:
            try:
                network.export(str(Path(tmp) / "model.xml"), format="openvino", verbose=False)
                compiled = core.compile_model(str(Path(tmp) / "model.xml"), "CPU",
                                              {"PERFORMANCE_HINT": "LATENCY",
                                               # float32: its default is bfloat16 on CPUs with bfloat16 units
                                               "INFERENCE_PRECISION_HINT": args.precision})
            except Exception as e:  # noqa: BLE001 - report and go on with the next model
                print(f"{name}: export to OpenVINO failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
                continue

            def run_ov(batch):
                return np.asarray(compiled(batch)[0])

            deviation = max(float(np.abs(run_ov(x[:n]) - np.asarray(model.predict_on_batch(x[:n]))).max())
                            for n in (1, 7, len(x)))
            contenders = {"tensorflow": model.predict_on_batch, "openvino": run_ov}
            if args.precision == "bf16":
                contenders["tensorflow bf16"] = seqzoo.get_model(name, device="cpu", precision="bfloat16").predict_on_batch
            for fn in contenders.values():
                fn(x)
            times = {k: [] for k in contenders}
            for _ in range(args.rounds):
                for k, fn in contenders.items():
                    start = time.perf_counter()
                    for _ in range(args.batches):
                        fn(x)
                    times[k].append(time.perf_counter() - start)
            rate = {k: args.batches * len(x) / min(v) for k, v in times.items()}
            bf16 = (f"   tensorflow bf16 {rate['tensorflow bf16']:8,.0f}/s "
                    f"(openvino {rate['openvino'] / rate['tensorflow bf16']:.2f}x of it)") if len(rate) > 2 else ""
            print(f"{name:22s} tensorflow {rate['tensorflow']:8,.0f}/s   openvino {args.precision} {rate['openvino']:8,.0f}/s "
                  f"({rate['openvino'] / rate['tensorflow']:.2f}x){bf16}   max |openvino - tensorflow| at batch "
                  f"1, 7, {len(x)}: {deviation:.1e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

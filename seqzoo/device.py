"""Choosing where a model runs: ``device="auto" | "cpu" | "gpu"`` on any Keras backend."""

import platform
from pathlib import Path

import keras

DEVICES = ("auto", "cpu", "gpu")
# x86 CPU flags of native bfloat16 arithmetic; without them bfloat16 is emulated and slower
# than float32 (measured on an AVX2-only AMD EPYC: 0.8x of float32 for Basset).
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def visible_gpus() -> int:
    """Number of GPUs the current Keras backend can use."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if backend == "torch":
        import torch

        return torch.cuda.device_count()
    if backend == "jax":
        import jax

        return sum(d.platform == "gpu" for d in jax.devices())
    return 0


def resolve_device(device: str = "auto") -> str:
    """Turn ``auto``/``cpu``/``gpu`` into a Keras device name (``"cpu"`` or ``"gpu:0"``).

    ``auto`` means the first GPU when one is visible, else the CPU. Asking for ``gpu`` where
    none is visible is an error rather than a silent fall-back to the CPU.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    if device == "cpu":
        # "cpu", not "cpu:0": under the torch backend Keras 3.15 mis-creates integer
        # variables (dropout seeds) inside a "cpu:0" scope.
        return "cpu"
    gpus = visible_gpus()
    if device == "gpu" and gpus == 0:
        raise RuntimeError(
            f"device='gpu' was requested but the Keras {keras.backend.backend()} backend sees no GPU; "
            "use device='cpu' or 'auto'"
        )
    return "gpu:0" if gpus else "cpu"


def cpu_description(cpuinfo: str | Path = "/proc/cpuinfo") -> tuple[str, bool | None]:
    """The CPU's model name and whether it has native bfloat16 units (None: unknown, not Linux x86)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return platform.processor() or platform.machine(), None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    if "flags" not in fields:  # not x86 (aarch64 reports "Features")
        return fields.get("model name", platform.machine()), None
    flags = set(fields["flags"].split())
    return fields.get("model name", platform.machine()), any(f in flags for f in BFLOAT16_CPU_FLAGS)

"""seqzoo: a Keras 3 model zoo for DNA and protein sequences, compatible with kipoi.

>>> import seqzoo
>>> seqzoo.list_models()
['Basset', 'Basset_Athaliana265', 'DeepSEA', 'DeepSEA_Athaliana265', 'DeepSol']
>>> model = seqzoo.get_model("Basset")
>>> model.predict_on_batch(x)  # x: (N, 600, 4) one-hot DNA

Importing the package is light: ``get_model`` and ``ZooModel`` (which need keras) and every
submodule are imported on first use (PEP 562), so ``seqzoo list`` and ``seqzoo --help`` start
without TensorFlow.
"""

import importlib

from seqzoo.version import __version__

# Public name -> the module that defines it, imported on first access.
_LAZY = {
    "ZooModel": "seqzoo.runtime",
    "get_model": "seqzoo.runtime",
    "list_models": "seqzoo.zoo.spec",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    # kipoi resolves "seqzoo.kipoi_adapter.KipoiModel" by importing "seqzoo" and then reading
    # attributes, so submodules must be reachable as attributes without an explicit import.
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = ["ZooModel", "get_model", "list_models", "__version__"]

"""seqzoo: a Keras 3 model zoo for DNA and protein sequences, compatible with kipoi.

>>> import seqzoo
>>> seqzoo.list_models()
['Basset', 'DeepSEA', 'DeepSol']
>>> model = seqzoo.get_model("Basset")
>>> model.predict_on_batch(x)  # x: (N, 600, 4) one-hot DNA
"""

import importlib

__version__ = "0.1.0"

from seqzoo.predictor import ZooModel, get_model  # noqa: E402
from seqzoo.zoo import list_models  # noqa: E402


def __getattr__(name: str):
    # kipoi resolves "seqzoo.kipoi_adapter.KipoiModel" by importing "seqzoo" and then reading
    # attributes, so submodules must be reachable as attributes without an explicit import.
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


__all__ = ["ZooModel", "get_model", "list_models", "__version__"]

"""The class kipoi instantiates for a seqzoo model directory (``defined_as`` in model.yaml).

kipoi constructs it with the directory's ``args`` while the working directory is the model
directory, so relative paths there resolve against it. Living in the installed ``seqzoo``
package (not a ``model.py`` beside model.yaml) gives it a unique module path: two zoo models
load side by side in one process.
"""

import os

import numpy as np
from kipoi.model import BaseModel

from seqzoo.encoding import no_sequence_rows
from seqzoo.runtime import ZooModel
from seqzoo.zoo.spec import load_spec


class KipoiModel(BaseModel):
    """kipoi model backed by a seqzoo :class:`~seqzoo.runtime.ZooModel`."""

    MODEL_PACKAGE = "seqzoo"

    def __init__(self, weights: str, architecture: str, config: dict | None = None, device: str = "auto"):
        # The weights description sits in the model directory ("published", for the imported
        # published weights, resolves there too: kipoi constructs this class inside it). Reading that directory's whole
        # model.yaml (which holds these same args) makes kipoi and seqzoo.get_model build the
        # same model by the same code.
        del architecture, config
        self.model = ZooModel(load_spec(os.path.dirname(os.path.abspath(weights))), device=device)

    def predict_on_batch(self, x: np.ndarray) -> np.ndarray:
        """The model's predictions; NaN for the rows the zoo's dataloaders mark as holding no
        sequence (``seqzoo.encoding.no_sequence_rows``), which ``seqzoo predict`` gives no value."""
        x = np.asarray(x)
        missing = no_sequence_rows(x)
        if not missing.any():
            return self.model.predict_on_batch(x)
        preds = np.full((len(x),) + self.model.spec.target_shape, np.nan, dtype=np.float32)
        preds[~missing] = self.model.predict_on_batch(x[~missing])
        return preds

"""An ensemble: several networks read the same input and their predictions are averaged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from seqzoo.architectures.registry import Family, build

if TYPE_CHECKING:
    import keras


def build_ensemble(members: Sequence[Mapping], weights: Sequence[float] | None = None,
                   calibration: Sequence[float] | None = None) -> keras.Model:
    """Average the outputs of ``members``, each ``{"architecture": name, "config": {sizes}}``
    (any architecture of ``seqzoo.architectures``; all must take the same input and give the
    same output shape). Member ``i`` is the nested model ``member{i}``, whose layers keep the
    names its builder gives them, so one member's trained weights load into it unchanged.
    ``weights`` (one per member, positive; normalised to sum to 1) make it a weighted average.
    ``calibration`` (``[slope, intercept]``, slope positive) recalibrates the averaged
    probabilities (:class:`~seqzoo.architectures.layers.PlattScaling`, layer ``calibration``).
    """
    import keras
    from keras import layers

    from seqzoo.architectures.layers import PlattScaling, WeightedAverage

    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members; got {len(members)}")
    nets = []
    for i, member in enumerate(members):
        net = build(member["architecture"], **member.get("config", {}))
        nets.append(keras.Model(net.input, net.output, name=f"member{i}"))
    shapes = {(tuple(n.input_shape[1:]), tuple(n.output_shape[1:])) for n in nets}
    if len(shapes) != 1:
        raise ValueError(f"ensemble members differ in input or output shape: {sorted(shapes)}")
    inputs = keras.Input(nets[0].input_shape[1:], dtype=nets[0].inputs[0].dtype, name="inputs")
    outputs = [net(inputs) for net in nets]
    if weights is None:
        outputs = layers.Average(name="ensemble_average")(outputs)
    else:
        if len(weights) != len(nets) or min(weights) <= 0:
            raise ValueError(f"an ensemble of {len(nets)} members needs {len(nets)} positive weights; got {list(weights)}")
        outputs = WeightedAverage(weights, name="ensemble_average")(outputs)
    if calibration is not None:
        if len(calibration) != 2 or not calibration[0] > 0:
            raise ValueError(f"calibration is [slope, intercept] with a positive slope; got {list(calibration)}")
        outputs = PlattScaling(*calibration, name="calibration")(outputs)
    return keras.Model(inputs, outputs, name="ensemble")


_MEMBERS = [
    {"architecture": "deepsea", "config": dict(seq_len=200, n_tasks=5, conv_filters=(8, 8, 8), dense_units=16)},
    {"architecture": "deepsea", "config": dict(seq_len=200, n_tasks=5, conv_filters=(4, 8, 8), conv_width=(9, 5, 5),
                                               pool_size=(6, 3), dense_units=8, rc_average=True)},
]

# Its modality and citation are its members'; seqzoo export builds it from runs, nothing trains it.
FAMILY = Family(
    name="ensemble", builder=build_ensemble, modality=None,
    small={"": dict(members=_MEMBERS), "weighted": dict(members=_MEMBERS, weights=[2.0, 1.0])},
    float32_layers=("ensemble_average", "calibration"),
)

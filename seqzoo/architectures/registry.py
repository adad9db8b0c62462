"""The architectures' registry: every family is one file declaring its record, and the registry
finds the files.

**A family** is a module ``seqzoo/architectures/<family>.py`` (or ``seqzoo_families/<family>.py``
anywhere on ``sys.path``, see below) holding a builder function and, at module level, its record::

    FAMILY = Family(name="danq", builder=build_danq, modality="dna", trains="dna",
                    citation="https://doi.org/10.1093/nar/gkw226",
                    small={"": dict(seq_len=200, n_tasks=5, ...)})

(``FAMILIES = (Family(...), ...)`` where one file builds several). The record says everything the
rest of the package needs to know about the family: the trainers (``seqzoo train``), the CLI's
choices, packaging's citation, protein prediction's whole-sequence rule, the bfloat16 rule, the
published-weight import and the tests all read it; nothing else is keyed by the family's name.
Adding a family is one architecture file (plus, to ship it, one model directory).

**Finding the files.** :func:`families` imports every module of this package except the
:data:`SHARED` ones, and every module of the namespace package ``seqzoo_families`` (:data:`PLUGINS`:
any directory on ``sys.path`` holding a ``seqzoo_families/`` folder contributes its files, so a
family can live outside seqzoo). A family module imports keras inside its builder, not at the
top, so that listing the families (the CLI's choices and early checks) imports no keras.

**The layer-name contract** (weights files, fine-tuning, published imports and interpretation
find layers by these names; ``tests/model_checks.py`` checks it for every family):

- a DNA family (``modality="dna"``): the builder takes ``seq_len`` (window length) and
  ``n_tasks`` (outputs); the input layer is ``dna``, one-hot ``(seq_len, 4)`` in ACGT order; the
  first convolution is ``conv1``; the last Dense layer of the trunk is ``output`` (sigmoid
  probabilities, or logits where a head adds more before the sigmoid), ``n_tasks`` wide;
- a protein family (``modality="protein"``): the builder takes ``max_len``; the input layer is
  ``tokens`` (int32, 0 = padding); the last Dense layer is ``output``;
- families whose input comes from their configuration (``modality=None``: an ensemble of other
  families, a Keras 3 JSON file) keep the contract of what they hold.

Every layer is named by its builder (never Keras' automatic ``dense_1``), so weights map by name.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from seqzoo.zoo.spec import MODALITIES

if TYPE_CHECKING:
    import keras

#: Modules of this package that are shared code, not families (never imported to find records).
SHARED = frozenset({"registry", "heads", "layers", "legacy", "published", "untrained"})
#: The namespace package whose modules are families too, wherever on ``sys.path`` they lie.
PLUGINS = "seqzoo_families"
#: Which trainer fits a family (see :class:`Family`); the modalities are seqzoo.zoo.spec.MODALITIES.
TRAINERS = ("dna", "protein")
#: Arguments a family's builder takes, per modality (the contract above).
BUILDER_ARGUMENTS = {"dna": ("seq_len", "n_tasks"), "protein": ("max_len",)}
#: Layer names of the contract, per modality.
INPUT_LAYER = {"dna": "dna", "protein": "tokens"}
OUTPUT_LAYER = "output"
FIRST_CONVOLUTION = "conv1"


@dataclass(frozen=True)
class PublishedLayout:
    """How a published PyTorch checkpoint of ``nn.Sequential`` maps onto the family's layers
    (``seqzoo.architectures.published``): Keras layer name -> the module index holding its
    weights, and the base order of the published network's input channels."""

    layers: Mapping[str, str]
    input_order: str = "ACGT"


@dataclass(frozen=True, eq=False)
class Family:
    """One architecture family: everything the package needs to know about it.

    Attributes:
        name: the name model.yaml files and training runs give (``args.architecture``).
        builder: the function building the network from size arguments (all with defaults).
        modality: ``"dna"`` or ``"protein"`` (the contract above), or None when the input comes
            from the configuration (an ensemble's members, a Keras 3 JSON file).
        trains: which trainer fits it from scratch: ``"dna"`` (``seqzoo train`` on a ``seqzoo
            dataset`` directory), ``"protein"`` (labelled sequences), or None (not trained).
        citation: the paper to cite for a model of this family (a DOI URL), unless its author
            says otherwise.
        small: small configurations for the tests, by variant (``""`` the plain one,
            ``"task_motifs"`` -> test id ``danq+task_motifs``); every family with a modality has one.
        float32_layers: layer names kept in float32 when the model computes in bfloat16
            (besides ``output``: small differences that bfloat16's 8 bits would lose).
        published: the layer map of the published PyTorch weights, where seqzoo imports them.
        length_free: no weight depends on the input length (global pooling, frequencies), so a
            longer input is read whole by the same weights (protein prediction).
    """

    name: str
    builder: Callable[..., keras.Model]
    modality: str | None
    trains: str | None = None
    citation: str | None = None
    small: Mapping[str, Mapping] = field(default_factory=dict)
    float32_layers: tuple[str, ...] = ()
    published: PublishedLayout | None = None
    length_free: bool = False

    def __post_init__(self):
        where = f"family {self.name!r} ({getattr(self.builder, '__module__', '?')})"
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"{where}: a family's name is a lower-case identifier")
        if self.modality not in (*MODALITIES, None):
            raise ValueError(f"{where}: modality must be one of {MODALITIES} or None, got {self.modality!r}")
        if self.trains not in (*TRAINERS, None):
            raise ValueError(f"{where}: trains must be one of {TRAINERS} or None, got {self.trains!r}")
        if self.trains is not None and self.trains != self.modality:
            raise ValueError(f"{where}: a {self.modality} family cannot be trained as {self.trains}")
        parameters = inspect.signature(self.builder).parameters
        missing = [a for a in BUILDER_ARGUMENTS.get(self.modality, ()) if a not in parameters]
        if missing:
            raise ValueError(f"{where}: the builder {self.builder.__name__} of a {self.modality} family must take "
                             f"{', '.join(missing)}")
        if self.modality is not None and not self.small:
            raise ValueError(f"{where}: give at least one small test configuration (small={{'': {{...}}}})")

    def small_configurations(self) -> dict[str, dict]:
        """The small test configurations by test id: ``name`` or ``name+variant``."""
        return {self.name + (f"+{variant}" if variant else ""): dict(config) for variant, config in self.small.items()}


def _build_keras_json(file: str, sha256: str | None = None) -> keras.Model:
    """A model defined by a Keras 3 JSON configuration file (imported kipoi models); see
    :func:`seqzoo.architectures.legacy.build_from_json`."""
    from seqzoo.architectures.legacy import build_from_json

    return build_from_json(file, sha256)


#: Not a family of its own: a Keras 3 JSON file in the model directory (seqzoo.zoo.spec.KERAS_JSON,
#: written by ``seqzoo import-kipoi``); its configuration holds the architecture. Its small
#: configuration is a file an import writes, so its tests live in tests/test_legacy.py.
KERAS_JSON = Family(name="keras_json", builder=_build_keras_json, modality=None)


def _family_modules() -> list[str]:
    """Dotted names of the modules that may declare families: this package's (not SHARED) and
    the ``seqzoo_families`` namespace package's."""
    package = importlib.import_module("seqzoo.architectures")
    names = [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)
             if m.name not in SHARED and not m.name.startswith("_")]
    try:
        plugins = importlib.import_module(PLUGINS)
    except ModuleNotFoundError:
        return names
    return names + [f"{PLUGINS}.{m.name}" for m in pkgutil.iter_modules(plugins.__path__) if not m.name.startswith("_")]


def _records(module_name: str) -> list[Family]:
    module = importlib.import_module(module_name)
    declared = getattr(module, "FAMILIES", None) or ([module.FAMILY] if hasattr(module, "FAMILY") else [])
    wrong = [r for r in declared if not isinstance(r, Family)]
    if wrong:
        raise TypeError(f"{module_name}: FAMILY/FAMILIES must be seqzoo.architectures.registry.Family records, "
                        f"got {wrong!r}")
    return list(declared)


_found: dict[tuple[str, ...], dict[str, Family]] = {}


def families() -> dict[str, Family]:
    """Every family's record by name, sorted (found again when ``sys.path`` changes)."""
    key = tuple(sys.path)
    if key not in _found:
        found, where = {KERAS_JSON.name: KERAS_JSON}, {KERAS_JSON.name: __name__}
        for module_name in _family_modules():
            for record in _records(module_name):
                if record.name in found:
                    raise ValueError(f"family {record.name!r} is declared twice: in {where[record.name]} and "
                                     f"in {module_name}")
                found[record.name], where[record.name] = record, module_name
        _found.clear()
        _found[key] = dict(sorted(found.items()))
    return _found[key]


def family(name: str) -> Family:
    """The record of family ``name``; a clear error naming the known ones."""
    known = families()
    if name not in known:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(known)}")
    return known[name]


def trained_by(trainer: str) -> tuple[str, ...]:
    """Names of the families ``trainer`` (``"dna"`` or ``"protein"``) trains from scratch."""
    return tuple(name for name, f in families().items() if f.trains == trainer)


def float32_layers() -> tuple[str, ...]:
    """Layer names computed in float32 in a bfloat16 model: ``output`` and every family's own."""
    names = [OUTPUT_LAYER]
    for f in families().values():
        names += [n for n in f.float32_layers if n not in names]
    return tuple(names)


def builder(architecture: str) -> Callable[..., keras.Model]:
    """The builder function of ``architecture`` (a family's name)."""
    return family(architecture).builder


def build(architecture: str, **config) -> keras.Model:
    """Build ``architecture`` with the given size arguments."""
    make = builder(architecture)
    try:
        return make(**config)
    except TypeError as e:
        raise ValueError(f"bad configuration for architecture {architecture!r}: {e}") from None


__all__ = ["BUILDER_ARGUMENTS", "FIRST_CONVOLUTION", "Family", "INPUT_LAYER", "KERAS_JSON", "OUTPUT_LAYER", "PLUGINS",
           "PublishedLayout", "SHARED", "TRAINERS", "build", "builder", "families", "family", "float32_layers",
           "trained_by"]

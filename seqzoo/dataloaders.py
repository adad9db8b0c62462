"""kipoi dataloaders of the zoo, specified by the YAML files in ``seqzoo/dataloader_specs/``.

Each class here takes its kipoi description (arguments, docs, output schema) from its
``seqzoo/dataloader_specs/<Name>.yaml``, shipped inside the package (``dataloaders/<Name>/
dataloader.yaml`` in the repository links to it, for kipoi's dataloader directories), and computes the exact input shape of its output schema
from its own constructor defaults, which a model directory's ``default_args`` set. kipoi uses
them both ways: by ``defined_as`` from a model.yaml, and as dataloader directories.
"""

import copy
import inspect
import warnings
from pathlib import Path

import numpy as np
from kipoi.data import Dataset, kipoi_dataloader
from kipoi.metadata import GenomicRanges

from seqzoo.encoding import NO_SEQUENCE_TOKEN, encode_protein
from seqzoo.io.proteins import iter_fasta
from seqzoo.windows import BEDWindows, NoPredictionWarning
from seqzoo.zoo.trust import parse_plain_yaml


def _from_spec(directory: str, length_arg: str, trailing: tuple):
    """Class decorator: kipoi description from ``seqzoo/dataloader_specs/<directory>.yaml``.

    The YAML leaves the sequence length free; ``get_output_schema`` fills it in from the
    class's default for ``length_arg``, so the schema equals the model's exactly.
    """

    def wrap(cls):
        path = Path(__file__).parent / "dataloader_specs" / f"{directory}.yaml"
        text = path.read_text(encoding="utf-8")
        # kipoi parses the docstring with PyYAML's unsafe loader: refuse any tag before it does
        parse_plain_yaml(text, path)
        cls.__doc__ = text
        cls = kipoi_dataloader()(cls)

        @classmethod
        def get_output_schema(klass):
            schema = copy.deepcopy(klass.output_schema)
            length = inspect.signature(klass.__init__).parameters[length_arg].default
            schema.inputs.shape = (length,) + trailing
            return schema

        cls.get_output_schema = get_output_schema
        return cls

    return wrap


class _ZooDataset(Dataset):
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # kipoi subclasses a dataloader per model (override_default_kwargs) and then writes the
        # model's example paths into `args`; give each subclass its own copy so one model's
        # examples never leak into another's.
        if "args" not in cls.__dict__ and getattr(cls, "args", None) is not None:
            cls.args = copy.deepcopy(cls.args)
        # kipoi also sets `source_dir` (where examples resolve) on the class it loaded, e.g. a
        # dataloader directory; a subclass made for a model must not inherit another's.
        if "source_dir" not in cls.__dict__:
            cls.source_dir = None


@_from_spec("DNAIntervals", "seq_len", (4,))
class DNAIntervalDataset(_ZooDataset):
    # The windows and every rule for bad rows are seqzoo.windows' (BEDWindows), the same as
    # `seqzoo predict`: an unknown chromosome fails here; a row predict leaves without a
    # prediction keeps its place with an all-NaN input and predict's note in "note" (a raise
    # would stop the whole of kipoi's pipeline.predict).
    def __init__(self, intervals_file, fasta_file, seq_len=1000, out_of_bounds="pad"):
        self.windows = BEDWindows(str(intervals_file), fasta_file, int(seq_len), out_of_bounds)

    def __len__(self):
        return len(self.windows)

    def __getitem__(self, idx):
        x, padded, note = self.windows.window(idx)
        interval = self.windows.intervals[idx]
        if note:  # kipoi's pipeline.predict keeps no metadata: say here why the row's prediction is NaN
            warnings.warn(f"{self.windows.bed}, line {interval.line}: {note}; its prediction is NaN",
                          NoPredictionWarning, stacklevel=2)
        ranges = GenomicRanges(interval.chrom, interval.start, interval.end, interval.name, interval.strand)
        return {"inputs": x, "metadata": {"ranges": ranges, "padded": padded, "note": note}}


@_from_spec("Proteins", "max_len", ())
class ProteinDataset(_ZooDataset):
    def __init__(self, fasta_file, max_len=1200):
        self.fasta_file = fasta_file
        self.max_len = int(max_len)
        # kipoi needs random access and a length, so the records are read up front.
        self.records = list(iter_fasta(fasta_file))

    def __len__(self):
        return len(self.records)

    def __getitem__(self, idx):
        record = self.records[idx]
        tokens, reason = encode_protein(record.sequence, self.max_len)
        valid = tokens is not None
        if not valid:  # marked, not padding: KipoiModel predicts NaN for it, as predict gives no value
            tokens = np.full(self.max_len, NO_SEQUENCE_TOKEN, dtype=np.int32)
            warnings.warn(f"{self.fasta_file}, line {record.line}: record {record.id!r}: {reason}; its prediction "
                          "is NaN", NoPredictionWarning, stacklevel=2)
        metadata = {"id": record.id, "length": len(record.sequence), "valid": int(valid), "reason": reason or ""}
        return {"inputs": tokens, "metadata": metadata}

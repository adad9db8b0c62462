"""kipoi dataloaders of the zoo, specified by the YAML files in ``seqzoo/dataloader_specs/``.

Each class here takes its kipoi description (arguments, docs, output schema) from its
``seqzoo/dataloader_specs/<Name>.yaml``, shipped inside the package (``dataloaders/<Name>/
dataloader.yaml`` in the repository links to it, for kipoi's dataloader directories), and computes the exact input shape of its output schema
from its own constructor defaults, which a model directory's ``default_args`` set. kipoi uses
them both ways: by ``defined_as`` from a model.yaml, and as dataloader directories.
"""

import copy
import inspect
from pathlib import Path

import numpy as np
from kipoi.data import Dataset, kipoi_dataloader
from kipoi.metadata import GenomicRanges

from seqzoo.encoding import encode_protein, one_hot_dna, reverse_complement_one_hot
from seqzoo.io.genome import ChromosomeNotFound, Genome
from seqzoo.io.bed import centered_window, read_bed
from seqzoo.io.proteins import iter_fasta


def _from_spec(directory: str, length_arg: str, trailing: tuple):
    """Class decorator: kipoi description from ``seqzoo/dataloader_specs/<directory>.yaml``.

    The YAML leaves the sequence length free; ``get_output_schema`` fills it in from the
    class's default for ``length_arg``, so the schema equals the model's exactly.
    """

    def wrap(cls):
        cls.__doc__ = (Path(__file__).parent / "dataloader_specs" / f"{directory}.yaml").read_text()
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


@_from_spec("DNAIntervals", "seq_len", (4,))
class DNAIntervalDataset(_ZooDataset):
    def __init__(self, intervals_file, fasta_file, seq_len=1000, out_of_bounds="pad"):
        if out_of_bounds not in ("pad", "refuse"):
            raise ValueError(f"out_of_bounds must be 'pad' or 'refuse'; got {out_of_bounds!r}")
        self.intervals_file = str(intervals_file)
        self.seq_len = int(seq_len)
        self.intervals = read_bed(intervals_file)
        self.genome = Genome(fasta_file)
        # Check every interval before the first batch: a bad row fails now, naming its line.
        sizes = self.genome.chrom_sizes
        for interval in self.intervals:
            if interval.chrom not in sizes:
                missing = ChromosomeNotFound(interval.chrom, fasta_file, sizes)
                raise ValueError(f"{self.intervals_file}, line {interval.line}: {missing}")
            start, end = centered_window(interval, self.seq_len)
            if out_of_bounds == "refuse" and (start < 0 or end > sizes[interval.chrom]):
                raise ValueError(
                    f"{self.intervals_file}, line {interval.line}: the {self.seq_len} bp window "
                    f"{interval.chrom}:{start}-{end} reaches past the chromosome (length "
                    f"{sizes[interval.chrom]}); use out_of_bounds='pad' to fill it with N"
                )

    def __len__(self):
        return len(self.intervals)

    def __getitem__(self, idx):
        interval = self.intervals[idx]
        start, end = centered_window(interval, self.seq_len)
        codes, n_padded = self.genome.fetch_codes(interval.chrom, start, end)
        x = one_hot_dna(codes)
        if interval.strand == "-":
            x = reverse_complement_one_hot(x)
        ranges = GenomicRanges(interval.chrom, interval.start, interval.end, interval.name, interval.strand)
        return {"inputs": x, "metadata": {"ranges": ranges, "padded": n_padded}}


@_from_spec("Proteins", "max_len", ())
class ProteinDataset(_ZooDataset):
    def __init__(self, fasta_file, max_len=1200):
        self.max_len = int(max_len)
        # kipoi needs random access and a length, so the records are read up front.
        self.records = list(iter_fasta(fasta_file))

    def __len__(self):
        return len(self.records)

    def __getitem__(self, idx):
        record = self.records[idx]
        tokens, reason = encode_protein(record.sequence, self.max_len)
        valid = tokens is not None
        if not valid:
            tokens = np.zeros(self.max_len, dtype=np.int32)
        metadata = {"id": record.id, "length": len(record.sequence), "valid": int(valid), "reason": reason or ""}
        return {"inputs": tokens, "metadata": metadata}

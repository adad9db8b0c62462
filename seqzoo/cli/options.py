"""Options shared by several ``seqzoo`` commands, declared once, and the one way a command line is
recorded (``command_line``)."""

import argparse
import shlex

DEVICES = ("auto", "cpu", "gpu")
PRECISIONS = ("float32", "bfloat16")


def command_line(argv: list[str]) -> str:
    """The exact command as run, quoted for a shell: what training runs and exports record."""
    return shlex.join(["seqzoo", *argv])


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="auto: a GPU when one is visible; gpu where none is visible is an error")


def add_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", default="float32", choices=PRECISIONS,
                   help="bfloat16: faster where the hardware has bfloat16 units, within 1e-2 of float32")


def add_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", help="weights to run instead of the model directory's own: a .weights.h5 "
                                     "file, or 'published' for the published weights imported by "
                                     "`seqzoo import-weights`")


def add_rc(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rc", action="store_true", help="average forward and reverse-complement predictions")


def add_batch_size(p: argparse.ArgumentParser, default: int, what: str = "sequences") -> None:
    p.add_argument("--batch-size", type=int, default=default, help=f"{what} per batch (default {default})")


def add_quiet(p: argparse.ArgumentParser, help: str = "no progress bar") -> None:
    p.add_argument("--quiet", action="store_true", help=help)


def add_table_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True,
                   help="output table: .parquet, .h5/.hdf5, or anything else for TSV")


def add_model_run(p: argparse.ArgumentParser) -> None:
    """What every command that loads a model for prediction takes: weights, device, precision."""
    add_weights(p)
    add_device(p)
    add_precision(p)


def add_out_of_bounds(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out-of-bounds", default="pad", choices=["pad", "refuse"],
                   help="windows past a chromosome end: pad with N (counted in 'padded') or refuse the row (kept, "
                        "with a note and no values); a window with no base A, C, G or T is never predicted")


def add_targets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--targets", metavar="NAME,...", help="output only these targets: names or glob patterns "
                                                         "(e.g. ABF2,WRKY*); default all")


def add_trust_code(p: argparse.ArgumentParser) -> None:
    """The one ``--trust-code`` flag (check, publish, install): see ``seqzoo.zoo.trust``."""
    p.add_argument("--trust-code", action="store_true",
                   help="import and run code a model directory names or carries (a model class or dataloader "
                        "other than seqzoo's, .py files) and accept pickles or full Keras models; refused by "
                        "default. Hashes and YAML tags are checked either way")

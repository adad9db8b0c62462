"""Options shared by several ``seqzoo`` commands, declared once, and the one way a command line is
recorded (``command_line``).

Every numeric option is checked by the parser with one of the types below (``positive_int``,
``fraction``, ...), so ``--batch-size 0`` is an argparse error naming the option, never a run that
writes nothing and reports success.
"""

import argparse
import math
from pathlib import Path
from typing import Callable

DEVICES = ("auto", "cpu", "gpu")
PRECISIONS = ("float32", "bfloat16", "int8")  # seqzoo.runtime.PRECISIONS, without keras


def command_line(argv: list[str]) -> str:
    """The command as run, quoted for a shell: what training runs and exports record. Paths in
    it are written as ``seqzoo.zoo.provenance.portable_path`` writes them (relative to the data
    root or the working directory, else by name), never as this machine's folders."""
    from seqzoo.zoo.provenance import portable_command

    return portable_command(["seqzoo", *argv])


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that ends each option's line with its default, ``(default: 20)``, unless the help
    already says one or there is none to say (no value, a flag that is off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        nothing = default is None or default is False or default is argparse.SUPPRESS or default in ([], "")
        if "default" in text or nothing or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


class RawDefaultsFormatter(DefaultsFormatter, argparse.RawDescriptionHelpFormatter):
    """:class:`DefaultsFormatter` keeping the description and epilog as written."""


def _number(kind: type, what: str, ok: Callable[[float], bool]) -> Callable[[str], int | float]:
    """An argparse ``type``: ``kind`` parsed from the text, refused unless finite and ``ok``."""
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(value) or not ok(value):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


#: argparse types of numeric options.
positive_int = _number(int, "a positive integer", lambda v: v >= 1)
non_negative_int = _number(int, "a non-negative integer", lambda v: v >= 0)
positive_float = _number(float, "a positive number", lambda v: v > 0)
non_negative_float = _number(float, "a non-negative number", lambda v: v >= 0)
fraction = _number(float, "a number from 0 to 1", lambda v: 0 <= v <= 1)
#: A factor that may shrink but not grow, nor reach 0 (a learning-rate decay).
decay = _number(float, "a number above 0 and at most 1", lambda v: 0 < v <= 1)


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="auto: a GPU when one is visible; gpu where none is visible is an error")


def add_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", default="float32", choices=PRECISIONS,
                   help="bfloat16: faster where the hardware has bfloat16 units, within 1e-2 of float32; int8: "
                        "Keras' int8 quantization, only for models whose card validates it (others say why)")


def add_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", help="weights to run instead of the model directory's own: a .weights.h5 "
                                     "file, or 'published' for the published weights imported by "
                                     "`seqzoo import-weights`")


def add_rc(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rc", action="store_true", help="average forward and reverse-complement predictions")


def add_batch_size(p: argparse.ArgumentParser, default: int, what: str = "sequences") -> None:
    p.add_argument("--batch-size", type=positive_int, default=default, help=f"{what} per batch (default {default})")


def add_quiet(p: argparse.ArgumentParser, help: str = "no progress bar") -> None:
    p.add_argument("--quiet", action="store_true", help=help)


TABLE_HELP = "output table: .tsv (or .txt), .tsv.gz, .csv, .csv.gz, .parquet, .h5/.hdf5"


def add_table_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, help=TABLE_HELP)


def add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="replace outputs that exist (without it they are refused before any work); "
                        "an input is never overwritten")


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


def require_inputs(*inputs: tuple[str, str | None]) -> None:
    """Refuse, before any work, an input that does not exist: ``inputs`` are ``(what, path)``
    pairs, e.g. ``("FASTA (--fasta)", args.fasta)``; a None path is an input not given."""
    for what, path in inputs:
        if path is not None and not Path(path).exists():
            raise FileNotFoundError(f"the {what} {path} does not exist")


def shown(text: object) -> str:
    """``text`` safe to print to a terminal: control and other unprintable characters (an escape
    sequence that clears the screen or sets the window title, a fake newline) written as ``\\x1b``,
    ``\\n``, ``\\u202e``. For every text that comes from a store or a package."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))

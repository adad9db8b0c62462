"""The ``seqzoo`` command line: a Keras 3 model zoo for DNA and protein sequences.

``COMMANDS`` is the whole command table: each command's module and one-line help. Only the
command being run has its module imported and its arguments declared, and every module here is
light at import (handlers import what they need when they run), so ``seqzoo --help``,
``seqzoo list``, ``info`` and ``fetch`` start without TensorFlow, keras or kipoi.

In a command module, command ``motif-baseline`` is declared by ``motif_baseline_arguments(parser)``
and run by ``cmd_motif_baseline(args)``; an optional ``check_motif_baseline(args)`` checks, before
TensorFlow is imported, what needs no network (the model's name, input files, outputs), so a usage
mistake is reported in a fraction of a second. A name in ``REMOVED`` (a command removed before 1.0)
exits with status 2 and names the command that replaced it.

Messages are lines a person reads: ``seqzoo CMD: error: ...`` for errors, and log records and
Python warnings as ``seqzoo: warning: ...`` (no source paths). A closed pipe on the output
(``seqzoo list | head -1``) ends the command quietly with status 141, as for any Unix tool.

While a command runs, SIGTERM (what batch schedulers and ``kill`` send) and SIGHUP (a closed
terminal) raise :class:`Terminated`, a ``KeyboardInterrupt`` like Ctrl-C's, so every ``with``
block unwinds: unfinished outputs are deleted, and the command exits with 128 + the signal's
number (143 for SIGTERM, 130 for Ctrl-C).
"""

import argparse
import contextlib
import importlib
import logging
import os
import select
import signal
import sys
import threading
import warnings

from seqzoo.cli.options import DefaultsFormatter

# name -> (module of its arguments and handler, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("zoo_commands", "list the zoo's models"),
    "info": ("zoo_commands", "model card summary, inputs, targets, weights and cache state"),
    "fetch": ("zoo_commands", "download and verify models' weights into the cache"),
    "check": ("zoo_commands", "check model directories the way kipoi test does, and more strictly"),
    "import-weights": ("zoo_commands", "convert kipoi's published PyTorch weights (Basset, DeepSEA)"),
    "import-kipoi": ("zoo_commands", "convert a kipoi Keras 1/2 model directory into a seqzoo model directory"),
    "kipoi-source": ("zoo_commands", "print how to register the zoo as a kipoi model source"),
    "publish": ("share_commands", "check a model and publish it to a store (folder, S3, GCS, HF hub)"),
    "install": ("share_commands", "install a published model version from a store, every file verified"),
    "predict": ("predict_commands", "predict on BED intervals of a FASTA genome, or on a protein FASTA"),
    "variants": ("predict_commands", "score the alleles of a VCF: ref/alt predictions and their differences"),
    "explain": ("predict_commands", "attribution logo and in-silico mutagenesis heat map of a region"),
    "attribute": ("attribute_commands", "DeepLIFT/SHAP, ISM or gradient attributions of targets' logits over "
                                        "windows, to .npz/.h5 arrays or .bw tracks"),
    "motifs": ("attribute_commands", "motif discovery: DeepLIFT/SHAP, TF-MoDISco and TOMTOM against a MEME file, "
                                     "as a report with logos"),
    "learned-motifs": ("predict_commands", "convolution filters as PWMs, matched to a motif database"),
    "dataset": ("train_commands", "build labelled genome windows (DeepSEA/Basset designs) from a FASTA and peaks"),
    "train": ("train_commands", "train a model: DNA (DeepSEA, Basset) on a `seqzoo dataset` directory, "
                                "protein (DeepSol) on labelled sequences"),
    "finetune": ("train_commands", "train a DNA model on a data set's tasks starting from a shared model's weights"),
    "ensemble": ("train_commands", "average several `seqzoo train` runs of a protein model (DeepSol) into one model"),
    "evaluate": ("train_commands", "metrics of a model or run: per-task AUROC/AUPRC on a data set split (DNA), "
                                   "accuracy/MCC/AUROC/AUPRC on a labelled TSV (protein)"),
    "motif-baseline": ("train_commands", "score windows by a TF's known motif (PWM) and report AUROC/AUPRC"),
    "leaderboard": ("board_commands", "rank models on a data set's windows: mean AUROC/AUPRC with bootstrap "
                                      "intervals, wins over the motif baseline, parameters, windows/s"),
    "export": ("train_commands", "write a model directory (model.yaml, weights, labels) from training runs"),
}

# Command names removed before 1.0 -> (the version without them, the command that does their work);
# typing one is a usage mistake that names its replacement, not an unknown command.
REMOVED: dict[str, tuple[str, str]] = {
    "train-dna": ("0.1.0", "seqzoo train MODEL --data DIR -o RUN ..."),
    "evaluate-dna": ("0.1.0", "seqzoo evaluate MODEL|RUN --data DIR -o METRICS.json ..."),
    "export-dna": ("0.1.0", "seqzoo export RUN... MODEL_DIR ..."),
}


# Commands that never load a network: they run without importing keras at all.
KERAS_FREE = {"list", "info", "fetch", "kipoi-source", "install", "dataset", "motif-baseline"}


@contextlib.contextmanager
def _stderr_silenced():
    """Send file descriptor 2 to /dev/null: TensorFlow 2.20+ writes its start-up lines from C++
    before any log level applies (TF_CPP_MIN_LOG_LEVEL no longer hides them)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _import_keras_quietly() -> None:
    if "keras" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's later C++ messages
    with _stderr_silenced():
        import keras  # noqa: F401  (imports the backend, TensorFlow by default)


def _module(command: str):
    return importlib.import_module(f"{__name__}.{COMMANDS[command][0]}")


def _attribute(command: str, prefix: str = "", suffix: str = ""):
    return getattr(_module(command), prefix + command.replace("-", "_") + suffix)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``seqzoo`` parser; only ``command``'s arguments are declared (all commands are listed)."""
    from seqzoo.version import __version__

    parser = argparse.ArgumentParser(prog="seqzoo", description="A Keras 3 model zoo for DNA and protein sequences, compatible with kipoi.")
    parser.add_argument("--version", action="version", version=f"seqzoo {__version__}")
    parser.add_argument("--verbose", action="store_true",
                        help="show log messages, TensorFlow's start-up lines among them")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=DefaultsFormatter)
        if name == command:
            _attribute(name, suffix="_arguments")(p)
    return parser


def _chosen_command(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so that it cleans up as it does for Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def _signals_raise():
    """SIGTERM and SIGHUP raise :class:`Terminated` inside the block (main thread only: signals
    reach it alone), unless they are ignored; the previous handlers come back after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # a signal set to be ignored (SIGHUP under nohup) stays ignored
    previous = {s: signal.signal(s, _raise_terminated) for s in (signal.SIGTERM, signal.SIGHUP)
                if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class _Formatter(logging.Formatter):
    """``seqzoo: warning: message``: a log record as a line a person reads."""

    def format(self, record: logging.LogRecord) -> str:
        return f"seqzoo: {record.levelname.lower()}: {record.getMessage()}"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` while a command runs: a Python warning is a log record of the
    warning's words, without the source path and line."""
    logging.getLogger("seqzoo").warning("%s", message)


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone (``| head -1``)."""
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0))
    except (OSError, ValueError, AttributeError):  # no file descriptor (captured), no poll
        return False


def _unknown_command(command: str | None) -> None:
    """Exit 2 for a command that is not one: the replacement of a removed name (``REMOVED``),
    else the nearest names (argparse only lists them)."""
    from seqzoo.suggest import did_you_mean

    if command in REMOVED:
        version, replacement = REMOVED[command]
        print(f"seqzoo: error: `{command}` was removed in seqzoo {version}; use `{replacement}`", file=sys.stderr)
        raise SystemExit(2)
    if command is not None and command not in COMMANDS:
        print(f"seqzoo: error: no command {command!r}{did_you_mean(command, COMMANDS)} "
              "(`seqzoo --help` lists them)", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``seqzoo`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    with warnings.catch_warnings():
        # from the first line on, for every command: Python warnings are lines a person reads
        warnings.showwarning = _show_warning
        handler = logging.StreamHandler()
        handler.setFormatter(_Formatter())
        logging.basicConfig(level=logging.INFO if "--verbose" in argv else logging.WARNING, handlers=[handler])
        return _run(argv)


def _run(argv: list[str]) -> int:
    """``main`` once warnings and log records print as lines: parse, check, import keras, run."""
    command = _chosen_command(argv)
    _unknown_command(command)
    if command == "predict":
        # Before NumPy loads (the command's module imports it): one OpenBLAS thread for the NumPy
        # engine's small jobs (seqzoo.numpy_engine). Its spinning worker threads made a matmul 10-100x
        # slower beside any other busy process on a 2-core machine; TensorFlow does not use OpenBLAS.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    quiet = not args.verbose and "TF_CPP_MIN_LOG_LEVEL" not in os.environ  # the variable says "show"
    needs_keras = args.command not in KERAS_FREE or getattr(args, "weights", None) == "published"  # converts
    args.argv = argv  # recorded by training and export commands (options.command_line)
    try:
        with _signals_raise():
            check = getattr(_module(args.command), "check_" + args.command.replace("-", "_"), None)
            if check is not None:
                check(args)  # before TensorFlow: usage mistakes in a fraction of a second
            # a check may find the command runs without keras (predict's NumPy engine: args.model_run)
            if quiet and needs_keras and getattr(args, "model_run", None) is None:
                _import_keras_quietly()
            code = _attribute(args.command, prefix="cmd_")(args)
            sys.stdout.flush()  # here, so that a closed pipe is seen here
            return code
    except BrokenPipeError as e:
        if not _stdout_closed():
            print(f"seqzoo {args.command}: error: {e}", file=sys.stderr)
            return 2
        # the reader of our output has gone (`| head -1`): end quietly, as SIGPIPE would, and keep
        # Python's own final flush from failing again (the recipe of the signal module's docs)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except (ValueError, LookupError, OSError, RuntimeError) as e:
        print(f"seqzoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: the with blocks deleted unfinished outputs
        signum = getattr(e, "signum", signal.SIGINT)
        print(f"seqzoo {args.command}: stopped by {signal.Signals(signum).name}; unfinished outputs were removed",
              file=sys.stderr)
        return 128 + signum


__all__ = ["COMMANDS", "REMOVED", "build_parser", "main"]

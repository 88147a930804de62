"""Entry point of the ``deeprnn`` command.

Each sub-command is a module in this package exposing ``add_parser(subparsers)``; the parser it
adds sets ``func`` to a callable taking the parsed arguments and returning an exit code.
Adding a command is one module plus one line in ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pickle
import signal
import sys
from contextlib import contextmanager

from deeprnn import __version__
from deeprnn.cli.help import HelpFormatter, examples

COMMAND_MODULES = [
    "deeprnn.cli.data_cmd",
    "deeprnn.cli.train_cmd",
    "deeprnn.cli.diagnose_cmd",
    "deeprnn.cli.sample_cmd",
    "deeprnn.cli.report_cmd",
    "deeprnn.cli.gradflow_cmd",
    "deeprnn.cli.sweep_cmd",
    "deeprnn.cli.reproduce_cmd",
]


# Exit codes (docs/training.md): 1 = the command ran but some of its work failed (a sweep point, a data file);
# the rest below. Expected failures print one line, ``deeprnn: error: ...``; anything else is a bug and shows
# its traceback.
EXIT_ERROR = 2  # bad input or settings, a file that cannot be read or written (full disk), a refused file
EXIT_DIVERGED = 3  # a training run diverged (summary.json says "stopped: diverged: ..." when it has one)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM; an interrupted run resumes with --resume
EXIT_BROKEN_PIPE = 128 + 13  # the reader of the output went away (``deeprnn data info | head -1``): as SIGPIPE

# Library errors carry messages written for users; OSError and the unpickling errors name the file.
EXPECTED_ERRORS = (ValueError, OSError, KeyError, RuntimeError, OverflowError, pickle.UnpicklingError)


class CLIError(Exception):
    """An error with a message meant for the user; printed as one line, exit code 2."""


def error_line(exc: BaseException) -> str:
    """The one line that tells the user what went wrong (the file and, where known, the line are in it)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        names = f"{exc.filename} -> {exc.filename2}" if exc.filename2 is not None else f"{exc.filename}"
        return f"{names}: {exc.strerror}"
    if isinstance(exc, UnicodeDecodeError):  # the readers name the file; this one escaped them
        return f"not UTF-8 text: {exc}"
    return str(exc).replace("\n", " ") or type(exc).__name__


class Parser(argparse.ArgumentParser):
    """argparse's parser with deeprnn's help layout; sub-command parsers are of the same class."""

    def __init__(self, *args, formatter_class=HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="deeprnn",
        description="Build, train and analyse deep recurrent neural networks "
        "(Pascanu et al., ICLR 2014) on polyphonic music and text benchmarks. "
        "'deeprnn COMMAND --help' describes each command, its defaults and examples.",
        epilog=examples("deeprnn data info jsb", "deeprnn train configs/demo.toml --run-dir runs/demo --overwrite",
                        "deeprnn evaluate runs/demo"),
    )
    parser.add_argument("--version", action="version", version=f"deeprnn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextmanager
def sigterm_interrupts():
    """SIGTERM (``kill``, a batch system's stop) stops a command as Ctrl-C does: with a message and exit 130, a
    training run resumable from its last finished epoch. Only the main thread can set handlers; elsewhere (a
    command run from a thread) SIGTERM keeps its meaning."""
    try:
        previous = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _quiet_broken_pipe() -> int:
    """The reader of standard output has gone: stop quietly as Unix tools do, the rest of the output (and Python's
    flush of it at exit) going nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a stdout without a file descriptor (tests): nothing to redirect
        pass
    return EXIT_BROKEN_PIPE


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        with sigterm_interrupts():
            code = int(args.func(args) or 0)
            sys.stdout.flush()  # a reader that left shows here, not in Python's flush at exit
            return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        print("deeprnn: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CLIError, *EXPECTED_ERRORS) as exc:
        print(f"deeprnn: error: {error_line(exc)}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_ERROR)  # TrainingDiverged has EXIT_DIVERGED


if __name__ == "__main__":
    sys.exit(main())

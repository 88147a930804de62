"""Entry point of the ``deeprnn`` command.

Each sub-command is a module in this package exposing ``add_parser(subparsers)``; the parser it
adds sets ``func`` to a callable taking the parsed arguments and returning an exit code.
Adding a command is one module plus one line in ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from deeprnn import __version__
from deeprnn.cli.help import HelpFormatter, examples

COMMAND_MODULES = [
    "deeprnn.cli.data_cmd",
    "deeprnn.cli.train_cmd",
    "deeprnn.cli.sample_cmd",
    "deeprnn.cli.report_cmd",
    "deeprnn.cli.gradflow_cmd",
    "deeprnn.cli.sweep_cmd",
    "deeprnn.cli.reproduce_cmd",
]


class CLIError(Exception):
    """An error with a message meant for the user; printed as one line, exit code 2."""


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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("deeprnn: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, FileNotFoundError, KeyError, RuntimeError) as exc:
        # Library errors carry messages written for users; show them as one line, not a traceback.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"deeprnn: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""What every sub-command's ``--help`` has: each option with its default, and examples that work from the
repository root (tests/test_cli_help.py checks both and runs the examples)."""

from __future__ import annotations

import argparse

EXAMPLES_HEADER = "examples (from the repository root"


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that an epilog of examples is printed as written: one command a line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(EXAMPLES_HEADER):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def examples(*commands: str, after: str = "") -> str:
    """An epilog listing ``commands``; ``after`` says what they need first (e.g. the README's demo run)."""
    header = f"{EXAMPLES_HEADER}{', ' + after if after else ''}):"
    return "\n".join([header, *(f"  {command}" for command in commands)])


AFTER_DEMO = "after the README's first command made runs/demo"
DATA_DIR_HELP = "data directory (default: $DEEPRNN_DATA, else ~/.cache/deeprnn/data)"
RUN_DATA_DIR_HELP = ("where to read the run's dataset (default: the run's data.data_dir, else $DEEPRNN_DATA, else "
                     "the directory the run recorded in its env.json, else ~/.cache/deeprnn/data)")
PROCESS_DATA_DIR_HELP = ("data directory, as $DEEPRNN_DATA (default: $DEEPRNN_DATA, else ~/.cache/deeprnn/data); "
                         "recorded in each run's env.json, not in its config, so runs still match those made "
                         "on other machines")

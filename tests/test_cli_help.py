"""Every command's --help: each option states its default, the help ends with examples, and the examples work
from the repository root (run here on a tiny budget, except those that need the network or long training)."""

from __future__ import annotations

import argparse
import shlex
import shutil
from pathlib import Path

import pytest

from deeprnn.cli.help import EXAMPLES_HEADER
from deeprnn.cli.main import build_parser, main

REPO_ROOT = Path(__file__).resolve().parents[1]
NOT_RUN = {"data fetch": "downloads", "sweep": "trains a grid", "reproduce": "trains a table"}
# Appended to an example's own arguments (later flags win): the budget of each command that trains or measures.
TINY_BUDGET = {
    "train": ["--set=train.epochs=1", "--set=train.max_batches_per_epoch=2", "--set=train.threads=1", "--no-progress"],
    "gradflow": ["--hidden=8", "--batch-size=2", "--lengths=5,10", "--no-progress"],
    "diagnose": ["--batches=2", "--set=model.hidden_size=8", "--set=train.threads=1", "--no-progress"],
    "sample": ["--steps=8"],
    "report": ["--no-figures"],
}


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("deeprnn",)):
    """(command words, parser) of ``deeprnn`` and of every sub-command below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


COMMANDS = {" ".join(path[1:]) or "deeprnn": parser for path, parser in commands(build_parser())}


def help_examples(parser: argparse.ArgumentParser) -> list[str]:
    """The commands listed under the help's examples header, one a line (comments dropped)."""
    lines = parser.format_help().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(EXAMPLES_HEADER)]
    if not starts:
        return []
    return [shlex.join(shlex.split(line, comments=True)) for line in lines[starts[-1] + 1 :] if line.strip()]


def options(parser: argparse.ArgumentParser):
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(
            action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
        ):
            continue
        yield action, formatter._expand_help(action) if action.help else ""


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_a_help_line_with_its_default(name):
    for action, text in options(COMMANDS[name]):
        label = f"deeprnn {name} {'/'.join(action.option_strings) or action.dest}"
        assert text, f"{label}: no help"
        if action.option_strings or action.nargs in ("?", "*"):  # positionals that may be left out too
            assert "default" in text, f"{label}: the help does not state the default: {text!r}"
        if action.default not in (None, False, [], argparse.SUPPRESS):
            assert str(action.default) in text, f"{label}: default {action.default!r} not in {text!r}"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_help_ends_with_examples(name):
    help_text = COMMANDS[name].format_help()
    examples = help_examples(COMMANDS[name])
    assert examples, f"deeprnn {name} --help has no '{EXAMPLES_HEADER}...' section"
    assert shlex.split(help_text.rstrip().splitlines()[-1], comments=True) == shlex.split(examples[-1])
    words = name.split() if name != "deeprnn" else []
    for example in examples:
        argv = shlex.split(example)
        assert "deeprnn" in argv, example
        assert name == "deeprnn" or argv[argv.index("deeprnn") + 1] in ("train", *words[:1]), example


@pytest.fixture(scope="module")
def repo_root_copy(tmp_path_factory):
    """What the examples see from the repository root after the README's first command: configs/ and results/
    (copies, so no example can change the repository's own) and runs/demo, trained on the tiny budget."""
    root = tmp_path_factory.mktemp("repo")
    for folder in ("configs", "results"):
        shutil.copytree(REPO_ROOT / folder, root / folder)
    return root


def run_example(example: str) -> int:
    argv = shlex.split(example, comments=True)
    assert argv[0] == "deeprnn", f"{example}: an example to run starts with 'deeprnn'"
    return main(argv[1:] + TINY_BUDGET.get(argv[1], []))


@pytest.fixture(scope="module")
def after_demo(repo_root_copy):
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repo_root_copy)
        assert run_example("deeprnn train configs/demo.toml --run-dir runs/demo --overwrite") == 0
    return repo_root_copy


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in COMMANDS if name.split()[0] not in NOT_RUN and name not in NOT_RUN])
def test_the_help_examples_work_from_the_repository_root(name, after_demo, monkeypatch, capsys):
    monkeypatch.chdir(after_demo)
    for example in help_examples(COMMANDS[name]):
        code = run_example(example)
        assert code == 0, f"{example} exited with {code}: {capsys.readouterr().err}"


def test_the_data_help_lists_every_benchmark():
    from deeprnn.cli.data_cmd import BENCHMARKS
    from deeprnn.data import DATASETS

    assert BENCHMARKS == tuple(DATASETS)  # written out in the CLI so that its help does not import torch

"""Deep against shallow on equal terms: every setting a benchmark's searches varied for DT(S)- or DOT(S)-RNN is
varied for the RNN and the sRNN too (deeprnn.reports.tuning, read from the committed search runs).

``PENDING`` lists the gaps the committed searches still leave, benchmark by benchmark: the test fails when a new
search opens a gap and when one closes (then delete it here). Equal terms are reached when it is empty. JSB's
were closed by configs/recipes/jsb/search9.toml, MuseData's by musedata/search3.toml, PTB char's and PTB word's by
their search4.toml.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deeprnn.reports.tuning import gaps, searched, tuning_lines

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
PENDING = {
    "jsb": {"rnn": [], "srnn": []},
    "nottingham": {"rnn": [], "srnn": []},
    "musedata": {"rnn": [], "srnn": []},
    "pianomidi": {"rnn": [], "srnn": []},
    "ptb-char": {"rnn": [], "srnn": []},
    "ptb-word": {"rnn": [], "srnn": []},
    "brown-lm": {"rnn": [], "srnn": []},
}


def _searches(benchmark: str) -> list[str]:
    return sorted(path.name for path in RESULTS.iterdir() if path.name.startswith(f"{benchmark}-search"))


@pytest.mark.slow
@pytest.mark.parametrize("benchmark", sorted(PENDING))
def test_the_committed_searches_leave_exactly_the_pending_gaps(benchmark):
    assert gaps(RESULTS, _searches(benchmark)) == PENDING[benchmark]


def _write_run(root: Path, table: str, index: int, model: dict, optim: dict) -> None:
    run = root / table / f"run{index}"
    run.mkdir(parents=True)
    config = {"model": model, "data": {"name": "jsb", "batch_size": 1}, "optim": optim, "train": {"seed": index}}
    (run / "config.json").write_text(json.dumps(config))
    (run / "summary.json").write_text(json.dumps({"valid": {"nll": 8.0}, "test": {}}))  # a finished run


def test_a_gap_is_a_setting_varied_for_a_deep_model_and_not_for_a_baseline(tmp_path):
    """By hand: the deep models vary lr and their transition gain, the RNN only its dropout."""
    runs = [({"name": "dts-rnn", "transition_gain": 0.6}, {"lr": 0.1}), ({"name": "dts-rnn", "transition_gain": None},
            {"lr": 1.0}), ({"name": "rnn", "dropout": 0.0}, {"lr": 0.1}), ({"name": "rnn", "dropout": 0.5},
            {"lr": 0.1}), ({"name": "srnn"}, {"lr": 0.1}), ({"name": "srnn"}, {"lr": 1.0})]
    for index, (model, optim) in enumerate(runs):
        _write_run(tmp_path, "jsb-search", index, model, optim)
    assert searched(tmp_path, ["jsb-search"]) == {"dts-rnn": {"model.transition_gain", "optim.lr"},
                                                  "rnn": {"model.dropout"}, "srnn": {"optim.lr"}}
    # the gain is no gap: the RNN and sRNN have no deep transition to scale
    assert gaps(tmp_path, ["jsb-search"]) == {"rnn": ["optim.lr"], "srnn": []}
    assert any(line.startswith("Varied for DT(S)- or DOT(S)-RNN but not for the baseline: RNN: optim.lr.")
               for line in tuning_lines(tmp_path, ["jsb-search"]))


def test_a_key_an_older_run_lacks_takes_what_it_meant_then(tmp_path):
    # Two RNN runs: one from before data.music_transpose existed (no key: no transposition, 0), one with 3.
    import json

    def run(name: str, **data):
        folder = tmp_path / "x-search" / name
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"model": {"name": "rnn"}, "data": data}))
        (folder / "summary.json").write_text("{}")
    run("old")
    run("new", music_transpose=3, bptt=None)
    (tmp_path / "tables.json").write_text(json.dumps({"tables": [], "absent": {"data.music_transpose": 0,
                                                                              "data.bptt": None}}))
    assert searched(tmp_path, ["x-search"]) == {"rnn": {"data.music_transpose"}}
    (tmp_path / "tables.json").write_text(json.dumps({"tables": [], "absent": {"data.music_transpose": 3}}))
    assert searched(tmp_path, ["x-search"]) == {"rnn": {"data.bptt"}}  # absent from the snapshot: "absent"

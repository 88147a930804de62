"""Reports refuse summaries whose metrics cannot be right (not numbers, not finite, out of range) and never mark
a diverged run best."""

from __future__ import annotations

import json

import pytest

from deeprnn.cli.main import main
from deeprnn.reports import build_table, load_runs, to_markdown
from deeprnn.reports.runs import metric_problem
from test_report import write_run


def _edit_summary(run_dir, **changes):
    summary = json.loads((run_dir / "summary.json").read_text())
    for key, value in changes.items():
        split, _, name = key.partition("__")
        if name:
            summary[split][name] = value
        else:
            summary[split] = value
    (run_dir / "summary.json").write_text(json.dumps(summary))


@pytest.mark.parametrize(("name", "value"), [
    ("nll", True), ("nll", -1e308), ("nll", float("nan")), ("nll", "8.5"), ("ppl", 0.5), ("acc", 1.5),
    ("frame_acc", -0.1), ("bpc", -1.0), ("loss", float("inf")), ("nll", None),
])  # fmt: skip
def test_a_value_a_metric_cannot_take_is_a_problem(name, value):
    assert metric_problem(name, value)


@pytest.mark.parametrize(("name", "value"), [("nll", 0.0), ("ppl", 1.0), ("acc", 1.0), ("frame_acc", 0), ("bpc", 1.3)])
def test_values_in_range_are_fine(name, value):
    assert metric_problem(name, value) is None


@pytest.mark.parametrize("impossible", [True, -1e308, float("nan"), float("-inf")])
def test_an_impossible_summary_is_named_and_never_shown_as_best(tmp_path, capsys, impossible):
    write_run(tmp_path / "runs" / "rnn", "rnn", 100)
    write_run(tmp_path / "runs" / "lstm", "lstm", 100)  # the honest best: fake_nll is lowest for the LSTM
    write_run(tmp_path / "runs" / "dts", "dts-rnn", 100)
    _edit_summary(tmp_path / "runs" / "rnn", valid__nll=impossible)
    warnings = []
    runset = load_runs([tmp_path / "runs"], warn=warnings.append)
    assert any("rnn/summary.json" in w and "valid.nll" in w for w in warnings), warnings
    table = build_table(runset, "valid.nll", warn=lambda *_: None)
    assert "rnn" not in table.rows[0].values and table.rows[0].best == "lstm"
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    assert "rnn/summary.json: not reported, impossible values: valid.nll" in capsys.readouterr().err


def test_a_diverged_run_is_never_marked_best(tmp_path):
    write_run(tmp_path / "runs" / "rnn", "rnn", 100)
    write_run(tmp_path / "runs" / "lstm", "lstm", 100)
    summary = json.loads((tmp_path / "runs" / "lstm" / "summary.json").read_text())
    summary["stopped"] = "diverged: validation nll 1e+09 is above 120 (2 x the trivial model's)"
    (tmp_path / "runs" / "lstm" / "summary.json").write_text(json.dumps(summary))
    table = build_table(load_runs([tmp_path / "runs"], warn=lambda *_: None), "valid.nll", warn=lambda *_: None)
    row = table.rows[0]
    assert row.values["lstm"] < row.values["rnn"] and row.best == "rnn"
    assert "**" not in to_markdown(table).split("lstm")[-1].split("\n")[2].split("|")[1]

"""deeprnn report on fake but structurally real run directories (config.json, metrics.jsonl, summary.json)."""

from __future__ import annotations

import csv
import json

import pytest

from deeprnn.cli.main import main
from deeprnn.reports import build_table, load_runs, to_csv, to_latex, to_markdown
from deeprnn.reports.report import write_report

MODELS = ("rnn", "dts-rnn", "lstm")
HIDDEN = (50, 10, 200)  # deliberately unsorted: rows must come out sorted


def fake_nll(model: str, hidden: int, epoch: int) -> float:
    """A distinct, non-round value per run and epoch, so a mix-up between cells would show."""
    offset = {"rnn": 0.0, "dts-rnn": 0.1, "lstm": 0.2, "srnn": 0.3}[model]
    return 9.0 - 0.001 * hidden - offset - 0.05 * epoch + 1e-7 * hidden * epoch


def write_run(run_dir, model, hidden, epochs=3, finished=True, data_dir="/somewhere/absolute"):
    run_dir.mkdir(parents=True)
    config = {
        "model": {"name": model, "hidden_size": hidden, "transition_depth": 2, "num_layers": None},
        "data": {"name": "jsb", "task": None, "batch_size": 32, "data_dir": data_dir},
        "optim": {"name": "adam", "lr": 0.001},
        "train": {"epochs": epochs, "seed": 0, "device": "cpu"},
    }
    (run_dir / "config.json").write_text(json.dumps(config))
    records = []
    for epoch in range(1, epochs + 1):
        nll = fake_nll(model, hidden, epoch)
        records.append({"epoch": epoch, "lr": 0.001, "train": {"loss": nll + 0.3},
                        "valid": {"nll": nll, "frame_acc": nll / 20, "bce_mean": nll / 88}, "wall_time_s": 1.0})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if finished:
        best = records[-1]["valid"]
        summary = {"best_epoch": epochs, "epochs": epochs, "params": 1000 + hidden, "wall_time_s": 3.0,
                   "task": "music", "model": model, "dataset": "jsb", "valid": best,
                   "test": {k: v + 0.5 for k, v in best.items()}}
        (run_dir / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "sweeps" / "jsb-hidden"
    root.mkdir(parents=True)
    grid = {"model.name": list(MODELS), "model.hidden_size": list(HIDDEN)}
    (root / "sweep.json").write_text(json.dumps({"grid": grid}))
    for model in MODELS:
        for hidden in HIDDEN:
            write_run(root / f"{model}-h{hidden}", model, hidden)
    return root


def read_csv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_report_on_sweep_writes_table_csv_and_curves(sweep, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["report", str(sweep), "--out", str(out)]) == 0
    assert "report written to" in capsys.readouterr().out
    for name in ("report.md", "table_valid.nll.md", "table_valid.nll.csv", "table_valid.nll.tex"):
        assert (out / name).is_file(), name
    for model in MODELS:
        assert (out / f"curves_model.hidden_size_{model}.png").stat().st_size > 1000
        assert (out / f"curves_model.hidden_size_{model}.svg").is_file()
    report = (out / "report.md").read_text()
    assert "(table_valid.nll.csv)" in report and "(curves_model.hidden_size_dts-rnn.png)" in report

    # The table's numbers are the runs' summary.json values, exactly (CSV keeps full precision).
    rows = read_csv(out / "table_valid.nll.csv")
    assert [row["model.hidden_size"] for row in rows] == ["10", "50", "200"]
    for row in rows:
        hidden = int(row["model.hidden_size"])
        for model in MODELS:
            summary = json.loads((sweep / f"{model}-h{hidden}" / "summary.json").read_text())
            assert float(row[model]) == summary["valid"]["nll"]
        assert row["best"] == min(MODELS, key=lambda m: float(row[m]))  # lower nll is better


def test_markdown_and_latex_mark_the_best_cell(sweep):
    runset = load_runs([sweep])
    nll = build_table(runset, "valid.nll")
    markdown = to_markdown(nll)
    best = f"**{fake_nll('lstm', 200, 3):.4f}**"  # lstm has the lowest fake nll in every row
    assert best in markdown and markdown.count("**") == 2 * 3
    assert rf"\textbf{{{fake_nll('lstm', 200, 3):.4f}}}" in to_latex(nll)
    assert [c for c in nll.columns] == list(MODELS)  # the paper's column order

    accuracy = build_table(runset, "valid.frame_acc")  # higher is better: rnn has the highest fake accuracy
    assert all(row.best == "rnn" for row in accuracy.rows)


def test_epoch_takes_values_from_metrics_jsonl(sweep):
    table = build_table(load_runs([sweep]), "valid.nll", epoch=2)
    row = next(r for r in table.rows if r.label == "50")
    assert row.values["dts-rnn"] == fake_nll("dts-rnn", 50, 2)
    assert table.stem == "table_valid.nll_epoch2"


def test_list_of_runs_infers_swept_keys_and_skips_unfinished(tmp_path):
    dirs = [tmp_path / f"run{i}" for i in range(4)]
    write_run(dirs[0], "rnn", 100, data_dir="/a")
    write_run(dirs[1], "rnn", 300, data_dir="/b")  # data_dir differs too, but is not a hyper-parameter
    write_run(dirs[2], "srnn", 100)
    write_run(dirs[3], "srnn", 300, finished=False)
    warnings = []
    runset = load_runs(dirs, warn=warnings.append)
    assert runset.swept == ["model.hidden_size"]
    assert len(runset.runs) == 3 and "run3" in warnings[0]
    text = to_csv(build_table(runset, "valid.nll"))
    assert text.splitlines()[0] == "model.hidden_size,rnn,srnn,best,source"
    assert text.splitlines()[2].startswith("300,") and ",," in text.splitlines()[2]  # missing srnn cell


def test_published_numbers_are_labelled_with_their_source(tmp_path):
    root = tmp_path / "sweep"
    root.mkdir()
    for hidden in (10, 50):
        write_run(root / f"rnn-{hidden}", "rnn", hidden)
    runset = load_runs([root])
    from deeprnn.reports import get_published

    table = build_table(runset, "valid.bce_mean", epoch=10, published=(get_published("replication-table2"),))
    labels = [row.label for row in table.rows]
    assert labels[:4] == ["10", "10 Cristea et al. 2025 †", "50", "50 Cristea et al. 2025 †"]
    markdown = to_markdown(table)
    assert "0.2479" in markdown and "0.6947" in markdown  # quoted as printed
    rows = read_csv_text(to_csv(table))
    quoted = [row for row in rows if row["source"]]
    assert all("quoted, not measured here" in row["source"] for row in quoted)
    assert quoted[0]["gru"] == "0.2495" and quoted[0]["best"] == ""
    assert any("Cristea et al. 2025, Table 2" in note for note in table.notes)


def read_csv_text(text):
    return list(csv.DictReader(text.splitlines()))


def test_outputs_are_deterministic_and_free_of_absolute_paths(sweep, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    write_report([sweep], first, figures=False, warn=lambda _: None)
    write_report([sweep], second, figures=False, warn=lambda _: None)
    for path in sorted(first.iterdir()):
        text = path.read_text()
        assert text == (second / path.name).read_text(), path.name
        assert str(tmp_path) not in text and "/somewhere" not in text


def test_unknown_published_set_and_bad_metric_are_errors(sweep, tmp_path, capsys):
    assert main(["report", str(sweep), "--published", "nope", "--out", str(tmp_path / "x"), "--no-figures"]) == 2
    assert "unknown published set" in capsys.readouterr().err
    with pytest.raises(ValueError, match="best checkpoint only"):
        build_table(load_runs([sweep]), "test.nll", epoch=1)


def test_learning_curves_tick_whole_epochs(sweep, tmp_path, monkeypatch):
    from deeprnn.reports import curves

    ticks = []

    def keep_ticks(fig, stem):
        ticks.extend(tick for axis in fig.axes for tick in axis.get_xticks() if 1 <= tick <= 3)
        return save_figure(fig, stem)

    save_figure = curves.save_figure
    monkeypatch.setattr(curves, "save_figure", keep_ticks)
    curves.plot_learning_curves(load_runs([sweep]), tmp_path)  # 3 epochs: matplotlib's own ticks are 1, 1.25, ...
    assert ticks and all(float(tick).is_integer() for tick in ticks), ticks

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
    assert all(row.best == "rnn" for row in accuracy.rows) and accuracy.best_of == "row"


def test_a_table_of_one_model_marks_its_best_row_only(tmp_path):
    for hidden in HIDDEN:
        write_run(tmp_path / f"rnn-h{hidden}", "rnn", hidden)
    table = build_table(load_runs(sorted(tmp_path.iterdir())), "valid.nll")
    # the fake nll falls with the hidden size: the widest row is the best, and the only one marked
    assert [row.best for row in table.rows] == [None, None, "rnn"] and table.best_of == "column"
    assert to_markdown(table).count("**") == 2 and f"**{fake_nll('rnn', 200, 3):.4f}**" in to_markdown(table)
    accuracy = build_table(load_runs(sorted(tmp_path.iterdir())), "valid.frame_acc")  # higher is better
    assert [row.best for row in accuracy.rows] == ["rnn", None, None]


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


def six_key_sweep(root):
    """A sweep varying six keys besides the model, with the long values of a real search."""
    grid = {"model.hidden_size": [100, 300], "model.dropout": [0.3, 0.5], "optim.lr": [0.001, 0.003],
            "optim.weight_noise": [0.0, 0.02], "data.batch_size": [1, 16], "model.transition_gain": [None, 0.6]}
    root.mkdir(parents=True)
    (root / "sweep.json").write_text(json.dumps({"grid": {"model.name": ["dts-rnn"], **grid}}))
    for index in range(4):
        run = root / f"point-{index}"
        write_run(run, "dts-rnn", 100 + index)
        config = json.loads((run / "config.json").read_text())
        for key, values in grid.items():
            section, name = key.split(".")
            config[section][name] = values[index % 2] if index < 2 else values[(index + 1) % 2]
        config["model"]["hidden_size"] = grid["model.hidden_size"][index % 2]
        (run / "config.json").write_text(json.dumps(config))
    return root


def test_a_sweep_of_six_keys_keeps_its_legend_off_the_panels(tmp_path, monkeypatch):
    from deeprnn.reports import curves

    drawn = []

    def keep_figure(fig, stem):
        fig.canvas.draw()  # lay it out as it is saved
        renderer = fig.canvas.get_renderer()
        legends = [legend.get_window_extent(renderer).frozen() for legend in fig.legends]
        panels = [axis.get_window_extent(renderer).frozen() for axis in fig.axes if axis.get_visible()]
        labels = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
        drawn.append((legends, panels, labels))
        return save_figure(fig, stem)

    save_figure = curves.save_figure
    monkeypatch.setattr(curves, "save_figure", keep_figure)
    sweep = six_key_sweep(tmp_path / "six")
    runset = load_runs([sweep])
    curves.plot_learning_curves(runset, tmp_path / "out")
    [(legends, panels, labels)] = drawn
    assert len(legends) == 1 and len(labels) == 4
    assert not any(legends[0].overlaps(panel) for panel in panels)
    for label in labels:  # the six keys that vary, by their short names, and nothing that does not vary
        flat = label.replace("\n", " ")
        for key in ("hidden_size=", "dropout=", "lr=", "weight_noise=", "batch_size=", "transition_gain="):
            assert key in flat, flat
        assert "epochs=" not in flat and "transition_depth" not in flat
    assert len(set(labels)) == 4


def test_runs_of_two_models_give_one_comparison_figure(tmp_path, monkeypatch):
    from deeprnn.reports import curves

    titles = []

    def keep_title(fig, stem):
        titles.append((stem.name, fig._suptitle.get_text(), [t.get_text() for t in fig.legends[0].get_texts()]))
        return save_figure(fig, stem)

    save_figure = curves.save_figure
    monkeypatch.setattr(curves, "save_figure", keep_title)
    write_run(tmp_path / "runs" / "a", "rnn", 100)
    write_run(tmp_path / "runs" / "b", "dts-rnn", 100)
    out = tmp_path / "out"
    assert main(["report", str(tmp_path / "runs" / "a"), str(tmp_path / "runs" / "b"), "--out", str(out)]) == 0
    compared = [entry for entry in titles if entry[0].startswith("compare_")]
    assert len(compared) == 1 and compared[0][0] == "compare_rnn+dts-rnn"
    assert compared[0][2] == ["rnn", "dts-rnn"]  # nothing but the model differs: the model names them
    assert (out / "compare_rnn+dts-rnn.png").stat().st_size > 1000
    assert "(compare_rnn+dts-rnn.png)" in (out / "report.md").read_text()


def test_the_default_output_is_under_runs_not_the_current_folder(sweep, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(sweep), "--no-figures"]) == 0
    assert (tmp_path / "runs" / "report" / "jsb-hidden" / "report.md").is_file()
    assert not (sweep / "report").exists() and not (tmp_path / "report").exists()

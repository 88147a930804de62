"""The typed table specs of RESULTS.md (deeprnn.reports.table_specs) and the numbers of a recipe table
(results_sections.recipe_rows), computed by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from deeprnn.experiments.reproduce import load_tables, snapshot
from deeprnn.reports.results_sections import recipe_rows
from deeprnn.reports.runs import Run
from deeprnn.reports.table_specs import (
    SNAPSHOT,
    GradflowTable,
    GridTable,
    RecipeTable,
    TableError,
    table_from_json,
    table_from_toml,
)

REPO = Path(__file__).resolve().parents[1]


def test_the_committed_snapshot_loads_and_writes_back_unchanged():
    entries = json.loads((REPO / "results" / SNAPSHOT).read_text())["tables"]
    tables = [table_from_json(entry) for entry in entries]
    assert {type(t) for t in tables} == {RecipeTable, GridTable, GradflowTable}
    assert [json.loads(json.dumps(t.to_json())) for t in tables] == entries  # tuples back to lists


def test_a_snapshot_keeps_no_local_paths_and_no_key_the_toml_left_out():
    tables = load_tables(REPO / "configs" / "recipes" / "tables.toml")
    entries = {entry["name"]: entry for entry in snapshot(tables)["tables"]}
    assert "base" not in entries["jsb"] and "columns" not in entries["jsb"] and "baseline" not in entries["jsb"]
    assert entries["brown-pos"]["columns"] == ["test.acc_known", "test.acc_unknown"]
    assert entries["brown-pos"]["targets"] == {} and entries["musedata"]["notes"] == ""  # defaults are written
    assert "beat_rnn" not in entries["jsb"] and entries["ptb-word"]["beat_rnn"] == ["dts-rnn", "srnn", "dots-rnn"]
    assert "epoch" not in entries["jsb-search"] and entries["replication-table1"]["epoch"] == 7
    assert isinstance(tables["replication-table1"].points, tuple) and tables["replication-table1"].cpu_hours == 19
    fig1 = entries["replication-fig1"]
    assert fig1["kind"] == "gradflow" and fig1["trained"] == "replication-fig1-musedata" and "base" not in fig1


def test_a_gradflow_table_round_trips_through_the_snapshot(tmp_path):
    raw = {"kind": "gradflow", "title": "Fig 1", "depths": [2, 4], "lengths": [10, 25], "dataset": "musedata"}
    table = table_from_toml("fig1", raw, tmp_path, "tables.toml [fig1]")
    assert isinstance(table, GradflowTable) and table.models == ("rnn", "dts-rnn", "dots-rnn", "srnn", "lstm", "gru")
    entry = json.loads(json.dumps(table.to_json()))
    assert table_from_json(entry) == table and "base" not in entry  # no local paths
    assert "trained" not in entry and "cpu_hours" not in entry  # left out of the TOML: out of the snapshot
    assert (entry["hidden"], entry["batch_size"], entry["seed"], entry["depths"]) == (200, 32, 0, [2, 4])
    assert table.pairs == 1 + 5 * 2 and table.music_dataset == "musedata"
    assert table_from_json({**entry, "dataset": "none"}).music_dataset is None
    with pytest.raises(TableError, match=r"tables.toml \[fig1\]: unknown key\(s\) sweep; valid keys: kind, title"):
        table_from_toml("fig1", {**raw, "sweep": "x.toml"}, tmp_path, "tables.toml [fig1]")
    with pytest.raises(TableError, match=r"tables.toml \[fig1\]: a gradflow table needs 'lengths'"):
        table_from_toml("fig1", {"kind": "gradflow", "depths": [2]}, tmp_path, "tables.toml [fig1]")
    with pytest.raises(TableError, match=r"\[fig1\]: unknown key\(s\) points"):
        table_from_json({**entry, "points": []})


def test_a_table_read_from_the_snapshot_has_no_files():
    table = table_from_json({"name": "t", "kind": "recipes", "recipes": ["jsb/rnn"], "metric": "test.nll"})
    assert table.recipe_names == ("rnn",) and table.seeds == 1
    with pytest.raises(TableError, match="no recipe files"):
        _ = table.recipe_paths
    with pytest.raises(TableError, match="unknown key.*seed"):
        table_from_json({"name": "t", "kind": "recipes", "recipes": [], "metric": "test.nll", "seed": 3})


def run(recipe: str, seed: int, test_nll: float | None, valid_nll: float, wall: float, gpu: bool = False,
        metric: str = "nll"):
    summary = {"valid": {metric: valid_nll}, "test": {} if test_nll is None else {metric: test_nll},
               "wall_time_s": wall, "params": 10, "best_epoch": 1, "epochs": 2}
    path = Path(recipe) / f"seed-{seed}"
    return (path.as_posix(), Run(path, path.as_posix(), {"train.seed": seed}, summary),
            {"cuda_device": "GPU"} if gpu else {})


def test_recipe_rows_by_hand():
    table = RecipeTable("jsb", recipes=("jsb/rnn", "jsb/gru", "jsb/lstm"), seeds=3, metric="test.nll",
                        target_each=8.5, targets={"gru": 8.0}, target_best=8.1)
    runs = [run("rnn", 2, 8.0, 7.5, 30.0), run("rnn", 0, 8.2, 7.9, 10.0, gpu=True), run("rnn", 1, 8.4, 8.0, 20.0),
            run("gru", 0, 8.3, 7.0, 5.0), run("gru", 1, None, 7.2, 7.0)]  # gru seed 1: no test metric
    numbers = recipe_rows(table, runs)
    rnn, gru, lstm = numbers.rows
    # RNN: mean of 8.2, 8.4, 8.0 = 8.2; sample std sqrt((0 + 0.04 + 0.04) / 2) = 0.2; valid mean 23.4 / 3 = 7.8
    assert [r.config["train.seed"] for r in rnn.runs] == [0, 1, 2]
    assert rnn.mean == pytest.approx(8.2) and rnn.std == pytest.approx(0.2) and rnn.seeds_run == 3
    assert rnn.valid_mean == pytest.approx(7.8) and rnn.wall_s == pytest.approx(20.0) and rnn.on_gpu == 1
    assert rnn.target == 8.5 and rnn.met is True
    # GRU: one run with the metric of two: mean 8.3, no std; its own target 8.0 is missed; valid mean 7.1
    assert (gru.mean, gru.std, gru.seeds_run, gru.target, gru.met) == (8.3, None, 1, 8.0, False)
    assert gru.valid_mean == pytest.approx(7.1) and gru.wall_s == pytest.approx(6.0)
    # LSTM: not run, its target open
    assert (lstm.mean, lstm.runs, lstm.met, lstm.target) == (None, (), None, 8.5)
    # best: the RNN (8.2 < 8.3), against 8.1: missed
    assert numbers.best is rnn and numbers.best_met is False
    assert numbers.counts() == {"targets": 4, "met": 1, "open": 1, "runs": 5}


def test_recipe_rows_of_a_table_without_runs_or_targets():
    numbers = recipe_rows(RecipeTable("t", recipes=("a/rnn",), metric="test.acc"), [])
    assert numbers.best is None and numbers.best_met is None and numbers.rows[0].met is None
    assert numbers.counts() == {"targets": 0, "met": 0, "open": 0, "runs": 0}
    assert math.isnan(numbers.rows[0].valid_mean)


def test_the_papers_claim_line_by_hand():
    from deeprnn.reports.results_sections import claim_lines

    table = RecipeTable("jsb", recipes=("jsb/rnn", "jsb/dts-rnn", "jsb/lstm"), seeds=2, metric="test.nll",
                        published=("jsb-test",))
    # RNN 8.0, 8.4: mean 8.2, std 0.4 / sqrt(2); DT(S) 7.9, 8.1: mean 8.0, std 0.2 / sqrt(2)
    runs = [run("rnn", 0, 8.0, 8.0, 1.0), run("rnn", 1, 8.4, 8.0, 1.0),
            run("dts-rnn", 0, 7.9, 8.0, 1.0), run("dts-rnn", 1, 8.1, 8.0, 1.0), run("lstm", 0, 1.0, 1.0, 1.0)]
    [line, blank] = claim_lines(table, recipe_rows(table, runs))
    # the gap 0.2 is below the spreads 0.4 / sqrt(2) + 0.2 / sqrt(2) = 0.42; the LSTM (1.0) is no deep RNN
    assert blank == ""
    assert "holds here by 0.200, less than the seed spread (0.424): DT(S)-RNN 8.000 against the RNN's 8.200" in line
    runs[2:4] = [run("dts-rnn", 0, 7.0, 8.0, 1.0), run("dts-rnn", 1, 7.2, 8.0, 1.0)]  # 7.1: gap 1.1 > 0.42
    assert "holds here by 1.100, more than the seed spread (0.424): DT(S)-RNN 7.100" in claim_lines(
        table, recipe_rows(table, runs))[0]
    runs[2:4] = [run("dts-rnn", 0, 9.0, 8.0, 1.0)]  # one seed, worse than the RNN
    assert "**does not hold** here (one seed): DT(S)-RNN 9.000 against the RNN's 8.200" in claim_lines(
        table, recipe_rows(table, runs))[0]
    runs[2:3] = [run("dts-rnn", 0, 7.5, 8.0, 1.0)]  # one seed, better by 0.7
    assert "holds here by 0.700 (one seed): DT(S)-RNN 7.500" in claim_lines(table, recipe_rows(table, runs))[0]
    matched = RecipeTable("jsb", recipes=("jsb/rnn", "jsb/dts-rnn", "jsb/rnn-matched"), seeds=1, metric="test.nll",
                          published=("jsb-test",))
    runs.append(run("rnn-matched", 0, 7.4, 8.0, 1.0))  # the parameter-matched RNN beats DT(S)-RNN's 7.5
    assert claim_lines(matched, recipe_rows(matched, runs))[0].endswith(
        "(the RNN recipe). Against the parameter-matched RNN (7.400): **does not hold** (one seed).")
    text = RecipeTable("conll2000-lm", recipes=("conll2000-lm/rnn", "conll2000-lm/dts-rnn"), seeds=1,
                       metric="test.ppl", beat_rnn=("dts-rnn",))  # no published numbers: ours, "beat the RNN"
    runs = [run("rnn", 0, 150.0, 1.0, 1.0, metric="ppl"), run("dts-rnn", 0, 140.0, 1.0, 1.0, metric="ppl")]
    assert "holds here by 10.0 (one seed)" in claim_lines(text, recipe_rows(text, runs))[0]
    assert claim_lines(RecipeTable("t", recipes=("a/rnn", "a/dts-rnn"), metric="test.nll"),
                       recipe_rows(table, runs)) == []  # no published numbers: no claim to check


def test_an_extension_is_labelled_and_left_out_of_the_claim():
    from deeprnn.reports.results_sections import claim_lines, label

    table = RecipeTable("jsb", recipes=("jsb/rnn", "jsb/dts-rnn", "jsb/rhn"), seeds=1, metric="test.nll",
                        published=("jsb-test",))
    # the RHN (7.0) beats both, but it is no deep RNN of the paper: the claim compares DT(S)-RNN (8.5) with the RNN
    runs = [run("rnn", 0, 8.2, 8.0, 1.0), run("dts-rnn", 0, 8.5, 8.0, 1.0), run("rhn", 0, 7.0, 7.0, 1.0)]
    [line, _] = claim_lines(table, recipe_rows(table, runs))
    assert "**does not hold** here (one seed): DT(S)-RNN 8.500 against the RNN's 8.200" in line
    assert line.endswith("RHN (extension): a deep transition published after the paper: reported beside it, "
                         "not part of its claim.")
    assert label("rhn") == "RHN (extension)" and label("dts-rnn") == "DT(S)-RNN"


def test_targets_against_the_rnn_by_hand():
    from deeprnn.reports.results_sections import recipe_table, target_lines

    table = RecipeTable("ptb-char", recipes=("c/rnn", "c/dts-rnn", "c/dots-rnn", "c/srnn", "c/lstm"),
                        metric="test.nll", targets={"dots-rnn": 1.39}, beat_rnn=("dts-rnn", "dots-rnn", "srnn"),
                        target_source="ours, for the test")
    runs = [run("rnn", 0, 1.5, 1.0, 1.0), run("dts-rnn", 0, 1.4, 1.0, 1.0), run("dots-rnn", 0, 1.45, 1.0, 1.0),
            run("lstm", 0, 1.3, 1.0, 1.0)]
    numbers = recipe_rows(table, runs)
    rnn, dts, dots, srnn, lstm = numbers.rows
    # DT(S) 1.4 < 1.5: met; DOT(S) 1.45 < 1.5 but > 1.39: missed; sRNN not run: open; the RNN and LSTM: no target
    assert (dts.beat_rnn, dts.met) == (True, True) and (dots.beat_rnn, dots.met) == (True, False)
    assert (srnn.beat_rnn, srnn.met) == (True, None) and not rnn.beat_rnn and rnn.met is None and lstm.met is None
    assert numbers.counts() == {"targets": 3, "met": 1, "open": 1, "runs": 4}
    rendered = "\n".join(recipe_table(table, numbers, Path("no-baseline.json")))
    assert "| ≤ 1.39, < RNN | **no** |" in rendered and "| < RNN | yes |" in rendered
    assert "| < RNN | not run yet |" in rendered
    lines = target_lines(table, numbers)
    assert lines[0] == "Where the targets come from: ours, for the test."
    assert "DOT(S)-RNN: 1.450, target ≤ 1.39, < RNN (1.500)" in "\n".join(lines)
    # equal to the RNN is not better; without the RNN's runs nothing is judged
    numbers = recipe_rows(table, [run("rnn", 0, 1.5, 1.0, 1.0), run("dts-rnn", 0, 1.5, 1.0, 1.0)])
    assert numbers.rows[1].met is False
    numbers = recipe_rows(table, [run("dts-rnn", 0, 1.4, 1.0, 1.0)])
    assert numbers.rows[1].met is None and numbers.counts()["open"] == 3


def test_beat_rnn_targets_are_checked(tmp_path):
    with pytest.raises(TableError, match="targets for recipes not in it: gru"):
        RecipeTable.from_toml("t", {"recipes": ["a/rnn"], "metric": "test.nll", "beat_rnn": ["gru"]}, tmp_path, "t")
    with pytest.raises(TableError, match="beat_rnn needs the recipe 'rnn'"):
        RecipeTable.from_toml("t", {"recipes": ["a/gru"], "metric": "test.nll", "beat_rnn": ["gru"]}, tmp_path, "t")
    table = RecipeTable.from_toml("t", {"recipes": ["a/rnn", "a/gru"], "metric": "test.acc", "beat_rnn": ["gru"]},
                                  tmp_path, "t")
    assert table_from_json(table.to_json()) == table and table.to_json()["beat_rnn"] == ["gru"]


def test_tried_is_a_line_or_one_bullet_per_item(tmp_path):
    from deeprnn.reports.results_sections import tried_text

    raw = {"recipes": ["a/rnn"], "metric": "test.nll", "tried": ["First: Adam.", "Second: SGD."]}
    table = RecipeTable.from_toml("t", raw, tmp_path, "t")
    assert table_from_json(json.loads(json.dumps(table.to_json()))) == table
    assert tried_text(table.tried) == ["What was tried:", "", "- First: Adam.", "- Second: SGD.", ""]
    assert tried_text("Adam.") == ["What was tried: Adam.", ""]
    assert tried_text(None) == ["What was tried: nothing beyond the recipes above yet.", ""]


def test_accuracy_targets_are_shown_in_percent():
    from deeprnn.reports.results_sections import bound

    assert bound("test.acc", 0.9418) == "≥ 94.18%" and bound("test.nll", 8.44) == "≤ 8.44"


def budget_run(recipe: str, seed: int, valid: list[float], stopped: str, patience: int | None):
    """A run whose validation NLL per epoch is ``valid``; its best epoch is the lowest one's."""
    best = valid.index(min(valid)) + 1
    summary = {"valid": {"nll": min(valid)}, "test": {"nll": 1.0}, "wall_time_s": 1.0, "params": 10,
               "best_epoch": best, "epochs": len(valid), "stopped": stopped}
    epochs = [{"epoch": i + 1, "valid": {"nll": v}} for i, v in enumerate(valid)]
    path = Path(recipe) / f"seed-{seed}"
    return (path.as_posix(), Run(path, path.as_posix(), {"train.seed": seed, "train.patience": patience}, summary,
                                 epochs), {})


def test_runs_stopped_by_their_budget_by_hand():
    from deeprnn.reports.results_sections import budget_lines

    table = RecipeTable("t", recipes=("a/rnn", "a/dts-rnn", "a/lstm"), metric="test.nll")
    done = "completed all epochs"
    runs = [
        budget_run("rnn", 0, [3.0, 2.5, 2.4], done, 10),  # best at the last epoch: still improving, by -0.1
        budget_run("rnn", 1, [3.0, 2.5, 2.6, 2.7], done, 3),  # best 2 of 4, patience 3: cut before it could stop
        budget_run("dts-rnn", 0, [3.0, 2.5, 2.6, 2.7], done, 2),  # 2 bad epochs, patience 2: early stopping was due
        budget_run("dts-rnn", 1, [3.0, 2.9], "early stopping: no validation improvement for 10 epochs", 10),
        budget_run("lstm", 0, [3.0, 2.0], "reached train.max_steps=100", None),  # no patience: cut at its best
        budget_run("lstm", 1, [3.0, 2.0, 2.1], done, None),  # no patience, best not last: not cut
    ]
    [line, blank] = budget_lines(table, recipe_rows(table, runs))
    assert blank == "" and line.startswith("**Stopped by the budget before early stopping**")
    assert line.endswith(": RNN seed 0 (still improving: best epoch 3 of 3, its last epoch's change -0.1000); "
                         "RNN seed 1 (best epoch 2 of 4, none better in its last 2 epochs); "
                         "LSTM seed 0 (still improving: best epoch 2 of 2, its last epoch's change -1.0000).")
    assert budget_lines(table, recipe_rows(table, runs[2:4])) == []


def test_runs_stopped_by_the_learning_rate_floor_by_hand():
    from deeprnn.reports.results_sections import budget_lines, rate_floor_lines

    table = RecipeTable("t", recipes=("a/rnn", "a/dts-rnn"), metric="test.nll")
    floor = "learning rate 8.04e-07 below train.min_lr=1e-06"
    runs = [
        budget_run("rnn", 0, [3.0, 2.5, 2.45], floor, 3),  # its last epoch moved 2.5 -> 2.45
        budget_run("dts-rnn", 0, [3.0, 2.5, 2.6], floor, 3),  # best 2 of 3: the floor came after a worse epoch
        budget_run("dts-rnn", 1, [3.0, 2.9], "early stopping: no validation improvement for 3 epochs", 3),
    ]
    [line, blank] = rate_floor_lines(table, recipe_rows(table, runs))
    assert blank == "" and line.startswith("**Stopped by the learning-rate floor**")
    assert line.endswith(": RNN seed 0 (after epoch 3, its last epoch's change -0.0500); "
                         "DT(S)-RNN seed 0 (after epoch 3, its last epoch's change +0.1000).")
    assert budget_lines(table, recipe_rows(table, runs)) == []  # the floor is not the epoch budget
    assert rate_floor_lines(table, recipe_rows(table, runs[2:])) == []


def test_search_points_stopped_by_their_budget_are_named_by_hand():
    from deeprnn.reports.results_sections import grid_budget_lines

    points = ({"model.name": "dts-rnn", "model.transition_gain": 0.6},
              {"model.name": "dts-rnn", "model.transition_gain": None},
              {"model.name": "dots-rnn", "model.activation": "lp", "model.output_activation": "maxout",
               "model.dropout": 0.5, "model.transition_gain": 0.6},
              {"model.name": "dots-rnn", "model.dropout": 0.3, "model.transition_gain": 0.6},
              {"model.name": "dots-rnn", "model.dropout": 0.5, "model.transition_gain": 0.6})
    table = GridTable("s", sweep="s.toml", metrics=("valid.nll",), row_keys=("model.transition_gain",),
                      points=points)
    done = "completed all epochs"

    def grid_run(model: str, valid: list[float], stopped: str, **config):
        _, run, _ = budget_run(model, 0, valid, stopped, 10)
        run.config.update({"model.name": model, **config})  # as grid_section sees it: DOT(S)-RNN* by its column
        return run

    runs = [
        grid_run("dts-rnn", [3.0, 2.5], done, **{"model.transition_gain": 0.6}),  # still improving
        grid_run("dts-rnn", [3.0, 2.9], "early stopping: no validation improvement for 10 epochs",
                 **{"model.transition_gain": None}),
        grid_run("dots-rnn-star", [3.0, 2.0, 2.5], done, **{"model.transition_gain": 0.6}),  # best 2 of 3
        grid_run("dots-rnn", [3.0, 2.75], done, **{"model.transition_gain": 0.6, "model.dropout": 0.3}),
    ]
    [line, blank] = grid_budget_lines(table, runs)
    assert blank == "" and line.startswith("**Stopped by the budget before early stopping**")
    # DT(S)-RNN's and DOT(S)-RNN*'s points differ only in their row; DOT(S)-RNN's also in dropout
    assert line.endswith(": DT(S)-RNN at transition_gain 0.6 (still improving: best epoch 2 of 2, its last epoch's "
                         "change -0.5000); DOT(S)-RNN* at transition_gain 0.6 (best epoch 2 of 3, none better in its "
                         "last epoch); DOT(S)-RNN at transition_gain 0.6, dropout 0.3 (still improving: best epoch 2 "
                         "of 2, its last epoch's change -0.2500).")
    assert grid_budget_lines(table, runs[1:2]) == []
    assert grid_budget_lines(GridTable("s", sweep="s.toml", metrics=("test.nll",), points=points), runs) == []

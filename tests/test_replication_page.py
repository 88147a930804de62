"""The replication report's page: each verdict rule against runs whose numbers decide it by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deeprnn.reports import replication
from deeprnn.reports.replication import FAILS, HOLDS, NOT_RUN, Item, Results, verdict_of
from deeprnn.reports.table_specs import GridTable


def write_run(table_dir: Path, name: str, config: dict, last: dict, epochs: int = 3) -> None:
    """A finished run whose last epoch has the metrics ``last`` ({"valid": {...}, "train": {...}})."""
    run = table_dir / name
    run.mkdir(parents=True)
    nested: dict = {}
    for key, value in config.items():
        section, _, field = key.partition(".")
        nested.setdefault(section, {})[field] = value
    (run / "config.json").write_text(json.dumps(nested))
    records = [{"epoch": e, "valid": {"nll": 99.0, "ppl": 999.0, "acc": 0.0}, "train": {"acc": 0.0}}
               for e in range(1, epochs)] + [{"epoch": epochs, **last}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run / "summary.json").write_text(json.dumps({"best_epoch": 1, "epochs": epochs, "params": 10, "model":
                                                  config["model.name"], "valid": {}}))


def grid(tmp_path: Path, table: str, model: str, key: str, values: dict, split: str = "valid",
         metric: str = "nll") -> None:
    for point, value in values.items():
        write_run(tmp_path / table, f"{model}_{point}", {"model.name": model, key: point},
                  {split: {metric: value}})


def results(tmp_path: Path, *names: str) -> Results:
    tables = {name: GridTable(name=name, title=f"Replication {name}: JSB Chorales, a grid", sweep="x.toml",
                              metrics=("valid.nll",)) for name in names}
    return Results(tmp_path, tables)


def test_an_effect_counts_beyond_the_seed_noise_at_the_default_point_where_measured(tmp_path):
    # DT(S)-RNN gains 0.10 nats from size 10 to 600, above the 0.05 without a seed spread; seeds at 8.0, 8.1 and
    # 8.2 (standard deviation 0.1) set the margin to 2.77 x 0.1 (95% of the difference of two runs): no longer.
    grid(tmp_path, "a", "dts-rnn", "model.transition_size", {10: 9.0, 600: 8.90})
    rule = replication.larger_helps(("a",), "model.transition_size", "valid.nll", ("dts-rnn",))
    assert rule(results(tmp_path, "a")).word == HOLDS
    grid(tmp_path, "replication-seeds-jsb", "dts-rnn", "train.seed", {0: 8.0, 1: 8.1, 2: 8.2})
    found = results(tmp_path, "a", "replication-seeds-jsb")
    verdict = rule(found)
    assert verdict.word == FAILS and "is 0.100 nats, so a difference of two runs counts beyond 0.277" in verdict.because


def test_best_at_names_the_best_point_and_decides_by_it(tmp_path):
    grid(tmp_path, "a", "dts-rnn", "model.transition_depth", {2: 0.30, 4: 0.25, 8: 0.10}, metric="acc")
    grid(tmp_path, "b", "dts-rnn", "model.transition_depth", {2: 0.20, 4: 0.31, 8: 0.10}, metric="acc")
    found = results(tmp_path, "a", "b")
    holds = replication.best_at("a", "model.transition_depth", "valid.acc", 2)(found)
    fails = replication.best_at("b", "model.transition_depth", "valid.acc", 2)(found)
    assert holds.word == HOLDS and "at transition depth 2" in holds.because and "30.00%" in holds.because
    assert fails.word == FAILS and "at transition depth 4" in fails.because
    assert holds.because.endswith("(one seed; an effect counts from 1%)")


def test_best_at_counts_a_best_within_the_margin_as_the_reports_and_checks_its_collapsed_points(tmp_path):
    # Depth 3 beats depth 2 by 0.5% of 0.300 (under the 1% margin): a tie, so the report's best point holds.
    # Depth 8 fell to 0.100 (worse by 67%), depth 4 to 0.299 (worse by 0.3%, so it did not fall).
    grid(tmp_path, "a", "dts-rnn", "model.transition_depth", {2: 0.2985, 3: 0.300, 4: 0.299, 8: 0.10}, metric="acc")
    grid(tmp_path, "b", "dts-rnn", "model.transition_depth", {2: 0.290, 3: 0.300, 8: 0.10}, metric="acc")  # 3.3%
    found = results(tmp_path, "a", "b")
    tie = replication.best_at("a", "model.transition_depth", "valid.acc", 2)(found)
    assert tie.word == HOLDS and "at transition depth 3, within the margin of 2" in tie.because
    assert replication.best_at("b", "model.transition_depth", "valid.acc", 2)(found).word == FAILS
    fell = replication.best_at("a", "model.transition_depth", "valid.acc", 2, collapsed=(8,))(found)
    assert fell.word == HOLDS and "worse than at 2 by the margin wherever the report's fell" in fell.because
    kept = replication.best_at("a", "model.transition_depth", "valid.acc", 2, collapsed=(4, 8))(found)
    assert kept.word == FAILS and "not worse than at 2 by the margin at transition depth 4," in kept.because


def test_an_effect_counts_only_from_the_margin(tmp_path):
    # DT(S)-RNN gains 0.10 nats from the smallest to the largest size, DOT(S)-RNN 0.02 (< 0.05): "helps DT(S),
    # not DOT(S)" holds; in table c DOT(S)-RNN gains 0.06 as well, so it does not.
    grid(tmp_path, "a", "dts-rnn", "model.transition_size", {10: 9.0, 200: 8.95, 600: 8.90})
    grid(tmp_path, "a", "dots-rnn", "model.transition_size", {10: 9.0, 200: 8.99, 600: 8.98})
    grid(tmp_path, "c", "dts-rnn", "model.transition_size", {10: 9.0, 600: 8.90})
    grid(tmp_path, "c", "dots-rnn", "model.transition_size", {10: 9.0, 600: 8.94})
    found = results(tmp_path, "a", "c")
    rule = {t: replication.larger_helps((t,), "model.transition_size", "valid.nll", ("dts-rnn",), ("dots-rnn",))
            for t in "ac"}
    assert rule["a"](found).word == HOLDS
    assert rule["c"](found).word == FAILS
    assert "DOT(S)-RNN (JSB Chorales) 9.000 at 10, 8.940 at 600" in rule["c"](found).because


def test_more_layers_hurt_needs_every_model_worse_by_the_margin(tmp_path):
    grid(tmp_path, "a", "srnn", "model.num_layers", {2: 8.5, 8: 8.7})
    grid(tmp_path, "a", "lstm", "model.num_layers", {2: 8.5, 8: 8.53})
    found = results(tmp_path, "a")
    assert replication.larger_helps(("a",), "model.num_layers", "valid.nll", ("srnn",), hurts=True)(found).word \
        == HOLDS
    assert replication.larger_helps(("a",), "model.num_layers", "valid.nll", ("srnn", "lstm"),
                                    hurts=True)(found).word == FAILS


@pytest.mark.parametrize("ppl, word", [((100.0, 100.5, 100.9), HOLDS), ((100.0, 101.5, 100.2), FAILS)])
def test_insensitive_is_a_relative_range_below_one_percent(tmp_path, ppl, word):
    grid(tmp_path, "a", "dts-rnn", "model.transition_size", dict(zip((100, 300, 700), ppl)), metric="ppl")
    rule = replication.insensitive(("a",), "model.transition_size", "valid.ppl", ("dts-rnn",))
    assert rule(results(tmp_path, "a")).word == word


def test_training_accuracy_must_rise_at_every_step(tmp_path):
    grid(tmp_path, "a", "rnn", "model.hidden_size", {100: 0.20, 300: 0.22, 600: 0.25}, split="train", metric="acc")
    grid(tmp_path, "b", "rnn", "model.hidden_size", {100: 0.20, 300: 0.26, 600: 0.25}, split="train", metric="acc")
    found = results(tmp_path, "a", "b")
    assert replication.training_accuracy_rises("a", "model.hidden_size", "rnn")(found).word == HOLDS
    assert replication.training_accuracy_rises("b", "model.hidden_size", "rnn")(found).word == FAILS


def test_gradient_ratio_reads_the_synthetic_rows(tmp_path):
    def write(dts: float) -> Results:
        rows = ["source,model,depth,hidden,length,loss,grad_h1,grad_hT,param_grad_norm,layer_grad_norms,"
                "vanishing,exploding"]
        for model, norm in (("dts-rnn", dts), ("srnn", 0.02), ("dots-rnn", 0.03), ("dts-rnn", 1e3)):
            source = "musedata-init" if norm == 1e3 else "synthetic"  # a music row must not count
            rows += [f"{source},{model},2,200,{T},1,1,1,{norm},,false,false" for T in (10, 200)]
        for model, norm in (("dts-rnn", 0.5), ("srnn", 0.25)):  # after training: stated, not judged
            rows += [f"musedata-run-trained,{model},2,200,{T},1,1,1,{norm},,false,false" for T in (10, 200)]
        (tmp_path / "g").mkdir(exist_ok=True)
        (tmp_path / "g" / "gradflow.csv").write_text("\n".join(rows) + "\n")
        return results(tmp_path, "g")
    high = replication.gradient_ratio("g")(write(0.12))
    assert high.word == HOLDS  # 6x sRNN, 4x DOT(S)
    assert "after 10 epochs on MuseData (depth 2), 2 times sRNN's over T 10-200" in high.because
    low = replication.gradient_ratio("g")(write(0.06))  # 3x sRNN, 2x DOT(S)
    assert low.word == FAILS and "2 times DOT(S)-RNN's" in low.because


def test_an_item_without_runs_is_not_run_and_names_its_command(tmp_path):
    item = Item("Figure 9", "x", ("a",), "valid.nll", "quote", lambda found: pytest.fail("judged without runs"))
    tables = {"a": GridTable(name="a", title="A", sweep="x.toml", metrics=("valid.nll",), cpu_hours=0.3)}
    verdict = verdict_of(item, Results(tmp_path, tables))
    assert verdict.word == NOT_RUN and verdict.because == "`deeprnn reproduce a` (0.3 CPU-hours)"


def test_an_item_over_two_grids_shows_the_figure_of_each_that_has_one(tmp_path):
    figures = tmp_path / "figures"
    figures.mkdir()
    item = Item("Figure 10", "layers", ("a", "b"), "valid.nll", "quote", lambda found: None)
    found = results(tmp_path, "a", "b")
    verdict = replication.Verdict(HOLDS, "because")

    def images() -> list[str]:
        lines = replication.item_section(item, verdict, found, figures, tmp_path / "docs")
        return [line for line in lines if line.startswith("![")]

    (figures / "a_valid_nll.png").write_bytes(b"png")
    assert images() == ["![Replication a: JSB Chorales, a grid](../figures/a_valid_nll.png)"]
    (figures / "b_valid_nll.png").write_bytes(b"png")
    assert images() == ["![Replication a: JSB Chorales, a grid](../figures/a_valid_nll.png)",
                        "![Replication b: JSB Chorales, a grid](../figures/b_valid_nll.png)"]


def test_every_item_names_tables_of_tables_toml():
    from deeprnn.experiments.reproduce import load_tables

    tables = set(load_tables(Path(__file__).parents[1] / "configs" / "recipes" / "tables.toml"))
    assert {t for item in replication.ITEMS for t in item.tables} <= tables


def test_a_part_run_grid_is_not_judged_until_four_values_with_both_ends_have_run(tmp_path):
    item = Item("Figure 2", "x", ("a",), "valid.nll", "quote",
                lambda found: replication.Verdict(HOLDS, "judged"))
    points = tuple({"model.name": "rnn", "model.hidden_size": size} for size in (100, 200, 300, 400, 500, 600))
    tables = {"a": GridTable(name="a", title="A", sweep="x.toml", metrics=("valid.nll",), cpu_hours=4,
                             points=points)}
    grid(tmp_path, "a", "rnn", "model.hidden_size", {100: 3.0, 200: 2.9})
    verdict = verdict_of(item, Results(tmp_path, tables))
    assert verdict.word == NOT_RUN
    assert verdict.because == ("`deeprnn reproduce a` (4 CPU-hours), run so far at RNN hidden size 100, 200 of "
                               "100, 200, 300, 400, 500, 600 (a sweep is judged from 4 of its values, both ends "
                               "included)")
    grid(tmp_path, "a", "rnn", "model.hidden_size", {300: 2.8, 500: 2.7})  # four values, not the top end
    assert verdict_of(item, Results(tmp_path, tables)).word == NOT_RUN
    grid(tmp_path, "a", "rnn", "model.hidden_size", {600: 2.6})
    assert verdict_of(item, Results(tmp_path, tables)) == replication.Verdict(HOLDS, "judged")

"""deeprnn reproduce and RESULTS.md: table definitions, the real recipes, a tiny end-to-end table, rendering."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from deeprnn.cli.main import main
from deeprnn.experiments.reproduce import load_tables, reproduce, table_points, write_baseline
from deeprnn.reports.results_md import code_versions, mean_std, render_all
from deeprnn.reports.table_specs import GradflowTable, GridTable, RecipeTable
from deeprnn.training.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
TABLES = REPO / "configs" / "recipes" / "tables.toml"


# --- the committed recipes and tables -----------------------------------------------------------


@pytest.mark.slow
def test_every_table_and_recipe_builds(tmp_path):
    tables = load_tables(TABLES)
    assert {"jsb", "nottingham", "musedata", "pianomidi", "ptb-char", "ptb-word", "brown-lm", "brown-pos",
            "conll2000-lm", "conll2000-pos", "replication-table1", "replication-table2"} <= set(tables)
    for table in tables.values():
        if isinstance(table, GradflowTable):  # no runs; what it measures is trained by its grid table
            assert table_points(table, tmp_path) == [] and isinstance(tables[table.trained], GridTable)
            continue
        points = table_points(table, tmp_path)  # builds and validates every run's config
        assert points and len({p.run_dir for p in points}) == len(points)
        if isinstance(table, RecipeTable):
            assert len(points) == len(table.recipes) * table.seeds
            seeds = {p.spec.point_config(p.spec.points()[0]).train.seed for p in points}
            assert seeds == set(range(table.seeds))


def test_recipes_state_their_cost_and_how_they_were_chosen():
    recipes = [p for p in (REPO / "configs" / "recipes").rglob("*.toml")
               if p.name not in ("tables.toml", "common.toml") and "grid" not in p.read_text()]
    assert len(recipes) >= 60
    for path in recipes:
        header = path.read_text().split("extends")[0]
        assert re.search(r"CPU-hours: [0-9.?]+", header), path
        assert "Chosen on validation" in header or "Not yet tuned" in header, path


def test_star_recipes_are_the_papers_best_variant():
    for path in (REPO / "configs" / "recipes").rglob("dots-rnn-star.toml"):
        table = RecipeTable("t", recipes=(f"{path.parent.name}/dots-rnn-star",), base=path.parents[1])
        model = table_points(table, Path("unused"))[0].spec.base_config["model"]
        assert (model["name"], model["activation"], model["output_activation"]) == ("dots-rnn", "lp", "maxout")
        assert model["dropout"] > 0


def test_list_shows_each_tables_runs_and_cost(capsys):
    assert main(["reproduce", "--list", "--tables", str(TABLES)]) == 0
    rows = {line.split()[0]: line.split()[1:3] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["jsb"] == ["10x3", "5.2"]  # 10 recipes x 3 seeds, the cost tables.toml states
    assert rows["replication-table1"] == ["28", "19"]  # 4 models x 7 hidden sizes, one run each
    assert rows["replication-table2"][0] == "42"  # 6 models x 7 hidden sizes
    # no runs: its measurements, 21 (model, depth) pairs x 5 lengths, synthetic and MuseData, and 6 trained runs
    # each at init and trained x 5 lengths
    assert rows["replication-fig1"][0] == str((21 * 2 + 6 * 2) * 5)


def test_table_errors_are_clear(tmp_path):
    path = tmp_path / "tables.toml"
    path.write_text('[t]\nrecipes = ["a"]\nmetric = "test.nll"\nseed = 3\n')
    with pytest.raises(ConfigError, match="unknown key.*seed"):
        load_tables(path)
    path.write_text('[t]\nrecipes = ["a"]\nmetric = "test.nll"\ntargets = { b = 1.0 }\n')
    with pytest.raises(ConfigError, match="not in it: b"):
        load_tables(path)
    path.write_text('[t]\nkind = "grid"\n')
    with pytest.raises(ConfigError, match="needs 'sweep'"):
        load_tables(path)
    # A grid table's cost is its sweep preset's, stated once there.
    path.write_text('[t]\nkind = "grid"\nsweep = "x.toml"\nmetrics = ["valid.nll"]\ncpu_hours = 2\n')
    with pytest.raises(ConfigError, match="unknown key.*cpu_hours"):
        load_tables(path)
    with pytest.raises(ConfigError, match="unknown table 'nope'"):
        reproduce("nope", tables_file=TABLES, out_root=tmp_path)


# --- a tiny table, end to end -------------------------------------------------------------------

TINY_RECIPE = """\
# tiny: CPU-hours: 0. Not yet tuned.
[model]
name = "{model}"
hidden_size = 4
[data]
name = "jsb"
batch_size = 64
[optim]
name = "adam"
lr = 0.01
[train]
epochs = 1
max_batches_per_epoch = 1
threads = 1
"""


@pytest.fixture
def tiny(tmp_path, data_dir):
    recipes = tmp_path / "recipes"
    (recipes / "tiny").mkdir(parents=True)
    for model in ("rnn", "gru"):
        (recipes / "tiny" / f"{model}.toml").write_text(TINY_RECIPE.format(model=model))
    (recipes / "tables.toml").write_text(
        '[tiny]\ntitle = "Tiny JSB"\nrecipes = ["tiny/rnn", "tiny/gru"]\nseeds = 2\nmetric = "test.nll"\n'
        'published = ["jsb-test"]\ntarget_each = 100.0\ntarget_best = 1.0\ntried = "nothing much."\n')
    return tmp_path


def run_tiny(root: Path, *extra: str) -> int:
    return main(["reproduce", "tiny", "--tables", str(root / "recipes" / "tables.toml"), "--out", str(root / "runs"),
                 "--results", str(root / "results"), "--results-md", str(root / "RESULTS.md"), *extra])


@pytest.mark.slow
def test_reproduce_runs_collects_and_regenerates(tiny, capsys):
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn") == 0
    assert (tiny / "results" / "tiny" / "rnn" / "seed-0" / "summary.json").is_file()
    first = (tiny / "RESULTS.md").read_text()
    assert "1/2" in first and "not run yet" in first  # seed 1 of rnn and all of gru are missing
    capsys.readouterr()

    assert run_tiny(tiny) == 0  # the full table: only the missing runs train
    log = capsys.readouterr().out
    assert log.count("finished earlier") == 0 and log.count("training {") == 3
    # a recipe table's runs are its results: their reports show the test metric the table reports
    header = next(line for line in log.splitlines() if line.startswith("run "))
    assert header.split()[-4:] == ["valid", "nll", "test", "nll"]
    kept = sorted(p.relative_to(tiny / "results").as_posix() for p in (tiny / "results").rglob("*") if p.is_file())
    figures = ["figures/headline.png", "figures/headline.svg", "figures/tiny.png", "figures/tiny.svg"]
    index = ["README.md", *figures, "runs.csv", "tables.json"]
    assert kept == index + [f"tiny/{m}/seed-{s}/{f}" for m in ("gru", "rnn") for s in (0, 1)
                            for f in ("config.json", "env.json", "metrics.jsonl", "summary.json")]
    text = (tiny / "RESULTS.md").read_text()
    page = (tiny / "docs" / "results" / "tiny.md").read_text()
    assert "not run yet" not in text and "2/2" in text
    assert "**Targets not reached:** best model" in text and "What was tried: nothing much." in page
    assert "7.92 | Gulcehre et al. 2014" in page  # published, labelled with its source
    assert "G14 8.01, B18 8.91" in text  # and the RNN's in the headline, tagged by their sources
    assert "![Tiny JSB](results/figures/tiny.png)" in text and "(docs/results/tiny.md)" in text
    assert "![Tiny JSB](../../results/figures/tiny.png)" in page and "(../../RESULTS.md#tiny-jsb)" in page
    figure = (tiny / "results" / "figures" / "tiny.png").read_bytes()

    assert run_tiny(tiny) == 0  # nothing left to train; the same file again
    assert "training {" not in capsys.readouterr().out
    assert (tiny / "RESULTS.md").read_text() == text
    assert main(["report", str(tiny / "results"), "--results-md", str(tiny / "again.md")]) == 0
    assert (tiny / "again.md").read_text() == text
    assert (tiny / "results" / "figures" / "tiny.png").read_bytes() == figure  # byte-reproducible too


def test_a_changed_recipe_is_not_collected_with_old_runs(tiny, capsys):
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn") == 0
    recipe = tiny / "recipes" / "tiny" / "rnn.toml"
    recipe.write_text(recipe.read_text().replace("lr = 0.01", "lr = 0.02"))
    for path in (tiny / "results").rglob("*.json*"):
        path.unlink()
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn", "--no-train") == 0
    assert "made for another config" in capsys.readouterr().out
    assert not (tiny / "results" / "tiny" / "rnn" / "seed-0" / "summary.json").exists()

    shutil.rmtree(tiny / "runs" / "tiny" / "rnn-seed0")  # as the message says: delete it to rerun
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn") == 0
    log = capsys.readouterr().out
    assert "training {" in log and "made for another config" not in log
    kept = json.loads((tiny / "results" / "tiny" / "rnn" / "seed-0" / "config.json").read_text())
    assert kept["optim"]["lr"] == 0.02


def test_an_adopted_run_of_a_changed_recipe_is_not_collected(tiny, capsys):
    # --no-train --reuse copies runs into run directories without a sweep.json (no sweep ran there), so the
    # check must be the run's own config: a stale copy must not be reported under the changed recipe.
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn") == 0
    shutil.copytree(tiny / "results" / "tiny", tiny / "kept")
    shutil.rmtree(tiny / "runs")
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn", "--no-train", "--reuse", str(tiny / "kept")) == 0
    assert "adopted the finished run" in capsys.readouterr().out
    assert not list((tiny / "runs").rglob("sweep.json"))
    recipe = tiny / "recipes" / "tiny" / "rnn.toml"
    recipe.write_text(recipe.read_text().replace("lr = 0.01", "lr = 0.02"))
    shutil.rmtree(tiny / "results" / "tiny")
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn", "--no-train") == 0
    log = capsys.readouterr().out
    assert "made for another config" in log and "optim.lr 0.01 -> 0.02" in log
    assert not (tiny / "results" / "tiny" / "rnn" / "seed-0" / "summary.json").exists()


# --- rendering, on fake run files ---------------------------------------------------------------


def fake_run(run_dir: Path, model: str, seed: int, test_nll: float, hidden: int = 300, **model_keys) -> None:
    run_dir.mkdir(parents=True)
    config = {"model": {"name": model, "hidden_size": hidden, **model_keys}, "data": {"name": "jsb"},
              "train": {"seed": seed}}
    (run_dir / "config.json").write_text(json.dumps(config))
    valid = {"nll": test_nll - 0.1, "bce_mean": (test_nll - 0.1) / 88}
    epochs = [{"epoch": e, "valid": {"nll": test_nll + 1 / e, "bce_mean": (test_nll + 1 / e) / 88}}
              for e in range(1, 11)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in epochs))
    summary = {"best_epoch": 8 + seed, "epochs": 10 + seed, "params": 1234, "wall_time_s": 30.0, "task": "music",
               "model": model, "dataset": "jsb", "valid": valid, "test": {"nll": test_nll}}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    env = {"deeprnn": "0.1.0", "torch": "2.x", "platform": "Linux-x86_64", "processor": "x86_64", "cpu_count": 2,
           "torch_threads": 1, "git_commit": "0123456789abcdef"}
    (run_dir / "env.json").write_text(json.dumps(env))


def render(results: Path, figures: tuple[Path, Path] | None = None) -> str:
    """RESULTS.md and its pages, one text (the details of a table are on its benchmark's page)."""
    rendered = render_all(results, figures)
    return "\n".join([rendered.text, *rendered.pages.values()])


def write_snapshot(results: Path, tables: list[dict]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / "tables.json").write_text(json.dumps({"tables": tables}))


def test_recipe_table_mean_std_targets_and_missing(tmp_path):
    results = tmp_path / "results"
    write_snapshot(results, [{"name": "jsb", "kind": "recipes", "title": "JSB Chorales", "metric": "test.nll",
                              "recipes": ["jsb/rnn", "jsb/gru", "jsb/lstm"], "seeds": 3, "published": ["jsb-test"],
                              "targets": {"gru": 8.0}, "target_each": 8.45, "target_best": 7.92}])
    for seed, value in enumerate((8.1, 8.2, 8.3)):
        fake_run(results / "jsb" / "rnn" / f"seed-{seed}", "rnn", seed, value)
    fake_run(results / "jsb" / "gru" / "seed-0", "gru", 0, 8.25)  # no tie with the RNN's mean: no float luck
    text = render(results)
    rnn = next(line for line in text.splitlines() if line.startswith("| RNN |"))
    assert "8.200 ± 0.100" in rnn and "3/3" in rnn and "| 8–10 |" in rnn and "| yes |" in rnn
    gru = next(line for line in text.splitlines() if line.startswith("| GRU |"))
    assert "8.250 |" in gru and "1/3" in gru and "≤ 8 " in gru and "**no**" in gru  # its own target
    assert next(line for line in text.splitlines() if line.startswith("| LSTM |")).count("not run yet") == 2
    assert "Best of ours: RNN, 8.200" in text and "**missed**" in text
    assert "Not run yet: LSTM." in text
    headline = next(line for line in text.splitlines() if line.startswith("| [JSB Chorales](#jsb-chorales) |"))
    # the RNN's target met, the GRU's missed, the LSTM's not judged yet; no deep RNN: no claim to check
    assert headline.endswith("| 8.200 ± 0.100 ✓ · G14 8.01, B18 8.91 | 8.250 ✗ · B18 8.43 "
                             "| not run yet · B18 8.45 | – |")

    assert "2 CPUs (x86_64), torch 2.x, 1 thread" in text and "commit 0123456" in text
    assert mean_std([1.0]) == (1.0, None)


def test_runs_made_on_a_gpu_are_marked_in_their_row_and_the_machine_line(tmp_path):
    results = tmp_path / "results"
    write_snapshot(results, [{"name": "jsb", "kind": "recipes", "title": "JSB Chorales", "metric": "test.nll",
                              "recipes": ["jsb/rnn", "jsb/gru", "jsb/lstm"], "seeds": 2, "published": [],
                              "targets": {}, "target_each": 8.45}])
    for model, seed in (("rnn", 0), ("gru", 0), ("gru", 1), ("lstm", 0)):
        fake_run(results / "jsb" / model / f"seed-{seed}", model, seed, 8.0)
    for run in ("gru/seed-1", "lstm/seed-0"):
        env_file = results / "jsb" / run / "env.json"
        env_file.write_text(json.dumps({**json.loads(env_file.read_text()), "cuda_device": "NVIDIA H100 80GB HBM3"}))
    rows = {line.split(" | ")[0]: line for line in render(results).splitlines() if line.startswith("| ")}
    assert "GPU" not in rows["| RNN"] and "| 30 s (1 of 2 on GPU) |" in rows["| GRU"]
    assert "| 30 s (GPU) |" in rows["| LSTM"]
    assert "NVIDIA H100 80GB HBM3, torch 2.x" in render(results) and "2 CPUs (x86_64), torch 2.x" in render(results)


def test_tagging_table_shows_the_baseline_row_and_more_columns(tmp_path):
    results = tmp_path / "results"
    write_snapshot(results, [{"name": "pos", "kind": "recipes", "title": "POS", "metric": "test.acc",
                              "recipes": ["pos/rnn", "pos/lstm"], "seeds": 2, "published": [], "targets": {},
                              "columns": ["test.acc_known", "test.acc_unknown"], "baseline": "toy"}])
    for model, seed, acc in (("rnn", 0, 0.91), ("lstm", 0, 0.95), ("lstm", 1, 0.97)):
        run = results / "pos" / model / f"seed-{seed}"
        fake_run(run, model, seed, 0.0)
        summary = json.loads((run / "summary.json").read_text())
        summary.update(task="tagging", valid={"acc": acc - 0.01}, test={"acc": acc})
        if model == "lstm":  # made after acc_known / acc_unknown existed; the RNN's run before
            summary["test"].update(acc_known=acc + 0.01, acc_unknown=acc - 0.5)
        (run / "summary.json").write_text(json.dumps(summary))
    baseline = {"baseline": "most-frequent-tag", "valid": {"acc": 0.9, "acc_known": 0.93, "acc_unknown": 0.25},
                "test": {"acc": 0.9012, "acc_known": 0.9345, "acc_unknown": float("nan")}}
    (results / "pos" / "baseline.json").write_text(json.dumps(baseline))
    lines = render(results).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| model |"))
    assert lines[header] == ("| model | ours test.acc | test.acc_known | test.acc_unknown | seeds | valid.acc | params "
                             "| initialisation | best epoch | epochs | wall time / run | target | met? |")
    baseline_row = "| most-frequent-tag baseline | 90.12% | 93.45% | – | – | 90.00% | – | – | – | – | – | – | – |"
    assert lines[header + 2] == baseline_row
    assert lines[header + 3].startswith("| RNN | 91.00% | – | – | 1/2 | 90.00% |")
    assert lines[header + 4].startswith("| LSTM | 96.00% ± 1.41% | 97.00% | 46.00% | 2/2 | 95.00% |")
    assert "Best of ours: LSTM" not in render(results)  # no target_best: no line; the baseline is never "ours"
    (results / "pos" / "baseline.json").unlink()
    assert not any(line.startswith("| most-frequent-tag") for line in render(results).splitlines())


def test_the_baseline_file_of_a_table(tmp_path):
    conll = tmp_path / "conll"
    conll.mkdir()
    for split, text in (("train", "the DT\ncat NN\nsat VB\n\nthe DT\ncat VB\n"), ("valid", "the DT\ndog NN\n"),
                        ("test", "The DT\ncat NN\n")):
        (conll / f"{split}.txt").write_text(text)
    write_baseline(RecipeTable("pos", baseline=f"conll:{conll}"), tmp_path / "results", log=lambda *_: None)
    written = json.loads((tmp_path / "results" / "pos" / "baseline.json").read_text())
    # lexicon: the -> DT, cat -> NN (tie NN/VB: alphabetical); unknown words -> the most frequent tag, DT (2)
    assert written["valid"] == {"acc": 0.5, "acc_known": 1.0, "acc_unknown": 0.0, "tokens": 2, "unknown_tokens": 1}
    assert written["test"]["acc"] == 1.0 and written["test"]["unknown_tokens"] == 1  # 'The' -> DT
    assert written["unknown_word_tag"] == "DT"


def test_grid_table_puts_theirs_beside_ours(tmp_path):
    results = tmp_path / "results"
    write_snapshot(results, [{"name": "rep", "kind": "grid", "title": "Replication Table 2", "sweep": "x.toml",
                              "metrics": ["valid.nll", "valid.bce_mean"], "epoch": 10,
                              "row_keys": ["model.hidden_size"], "published": ["replication-table2"],
                              "notes": "How to read it."},
                             {"name": "none", "kind": "grid", "title": "Nothing yet", "sweep": "y.toml",
                              "metrics": ["valid.ppl"], "epoch": 7, "published": ["replication-table1"]}])
    fake_run(results / "rep" / "a", "rnn", 0, 8.5, hidden=10)
    fake_run(results / "rep" / "b", "dots-rnn", 0, 8.4, hidden=10, activation="lp", output_activation="maxout")
    text = render(results)
    assert "DOT(S)-RNN*" in text  # the starred variant has a column of its own
    assert "| 10 Cristea et al. 2025 †" in text and "0.2479" in text  # theirs, in the BCE table only
    assert text.count("Cristea et al. 2025 †") == 7 + 0  # one row per hidden size, not in the NLL table
    assert "How to read it." in text and "Not run yet." in text and "2.4248" in text
    assert "better than theirs in 1 of the 1 cells" in text  # DOT(S)-RNN* is not their DOT(S)-RNN
    assert "![" not in text  # figures only when asked for

    with_figures = render(results, (tmp_path / "md" / "fig", tmp_path / "md"))
    assert with_figures.count("![Replication Table 2: valid.") == 2  # one line plot per metric
    # on the page under docs/results/ beside RESULTS.md
    assert "(../../fig/rep_valid_nll.png)" in with_figures and "(../../fig/rep_valid_bce_mean.png)" in with_figures
    assert (tmp_path / "md" / "fig" / "rep_valid_nll.png").stat().st_size > 1000
    assert not list((tmp_path / "md" / "fig").glob("none*"))  # no runs, no figure


def test_a_partly_run_grid_table_lists_the_points_not_run_yet(tmp_path):
    points = [{"model.name": m, "model.hidden_size": h} for m in ("rnn", "dts-rnn") for h in (10, 20)]
    points += [{"model.name": "srnn", "model.num_layers": 2, "model.hidden_size": 10}]
    results = tmp_path / "results"
    write_snapshot(results, [{"name": "rep", "kind": "grid", "title": "Rep", "sweep": "x.toml",
                              "metrics": ["valid.nll"], "epoch": 10, "row_keys": ["model.hidden_size"],
                              "published": [], "points": points}])
    fake_run(results / "rep" / "a", "rnn", 0, 8.5, hidden=10)
    fake_run(results / "rep" / "b", "dts-rnn", 0, 8.4, hidden=20)
    fake_run(results / "rep" / "c", "srnn", 0, 8.4, hidden=10, num_layers=3)  # not a point of this table
    text = render(results)
    assert ("Not run yet: 3 of 5 points: RNN at hidden_size 20; DT(S)-RNN at hidden_size 10; "
            "sRNN, num_layers 2 at hidden_size 10.") in text
    assert "[Rep](docs/results/rep.md#rep): 3 runs." in text

    fake_run(results / "rep" / "d", "rnn", 0, 8.5, hidden=20)
    fake_run(results / "rep" / "e", "dts-rnn", 0, 8.4, hidden=10)
    fake_run(results / "rep" / "f", "srnn", 0, 8.4, hidden=10, num_layers=2)
    assert "Not run yet" not in render(results) and "[Rep](docs/results/rep.md#rep): 6 runs." in render(results)


def test_a_grid_points_values_are_read_as_a_runs_config_stores_them(tmp_path):
    # "none" in a preset is null in config.json: a run made from it counts as that point, not as one not run yet
    (tmp_path / "base.toml").write_text('[model]\nname = "dts-rnn"\n[data]\nname = "jsb"\n')
    (tmp_path / "grid.toml").write_text('base = "base.toml"\ncpu_hours = 1\n'
                                        '[grid]\n"model.transition_gain" = ["none", 0.6]\n')
    (tmp_path / "tables.toml").write_text('[g]\nkind = "grid"\nsweep = "grid.toml"\nmetrics = ["valid.nll"]\n'
                                          'row_keys = ["model.transition_gain"]\n')
    table = load_tables(tmp_path / "tables.toml")["g"]
    assert table.points == ({"model.transition_gain": None}, {"model.transition_gain": 0.6})
    results = tmp_path / "results"
    write_snapshot(results, [{**table.to_json(), "name": "g"}])
    fake_run(results / "g" / "a", "dts-rnn", 0, 8.5, transition_gain=None)
    assert "Not run yet: 1 of 2 points: all at transition_gain 0.6." in render(results)
    fake_run(results / "g" / "b", "dts-rnn", 0, 8.4, transition_gain=0.6)
    render(results, (tmp_path / "fig", tmp_path))  # None beside a number: a categorical axis, not a crash
    assert (tmp_path / "fig" / "g_valid_nll.png").stat().st_size > 1000
    shutil.rmtree(results / "g" / "b")
    (results / "g" / "a" / "config.json").write_text(json.dumps({"model": {"name": "dts-rnn", "transition_gain": 0.6}}))
    assert "Not run yet: 1 of 2 points: all at transition_gain default." in render(results)  # as its row


def test_a_tables_run_count_is_singular_for_one_run(tmp_path):
    results = tmp_path / "results"
    write_snapshot(results, [{"name": "rep", "kind": "grid", "title": "Rep", "sweep": "x.toml",
                              "metrics": ["valid.nll"], "epoch": 10, "row_keys": ["model.hidden_size"],
                              "published": []}])
    fake_run(results / "rep" / "a", "rnn", 0, 8.5, hidden=10)
    assert "\n1 run; " in render(results) and "1 runs" not in render(results)
    fake_run(results / "rep" / "b", "rnn", 1, 8.5, hidden=20)
    assert "\n2 runs; " in render(results)


def test_the_snapshot_carries_each_grid_tables_points():
    from deeprnn.experiments.reproduce import snapshot

    entry = next(t for t in snapshot(load_tables(TABLES))["tables"] if t["name"] == "replication-table1")
    assert len(entry["points"]) == 28 and "sweep_path" not in entry
    assert {"model.name": "srnn", "model.num_layers": 2, "model.hidden_size": 700} in entry["points"]


def test_a_finished_run_with_the_same_config_is_adopted_not_retrained(tiny, capsys):
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn") == 0
    capsys.readouterr()
    assert run_tiny(tiny, "--seeds", "1", "--out", str(tiny / "elsewhere"), "--reuse", str(tiny / "runs")) == 0
    log = capsys.readouterr().out
    assert "rnn/seed-0: adopted" in log and "finished earlier" in log
    assert log.count("training {") == 1  # only gru's seed 0


def test_a_fresh_clone_adopts_the_committed_results_instead_of_retraining(tiny, capsys):
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn") == 0
    shutil.rmtree(tiny / "runs")  # what a clone has: results/ (no checkpoints), no runs/, no study storage
    capsys.readouterr()
    assert run_tiny(tiny, "--seeds", "1", "--reuse", str(tiny / "results" / "tiny")) == 0
    log = capsys.readouterr().out
    assert "rnn/seed-0: adopted" in log and log.count("training {") == 1  # only gru trains
    assert "tiny: 2 of 2 runs finished" in log


def test_a_run_made_on_another_device_is_adopted_and_nothing_else_differs(tiny, capsys):
    assert run_tiny(tiny, "--seeds", "1") == 0
    for config_file in (tiny / "runs").rglob("config.json"):  # as if made with --set train.device=cuda
        config = json.loads(config_file.read_text())
        config["train"]["device"] = "cuda"
        config["train"]["prefetch"] = True  # when its batches were made is not what it computes either
        config["train"]["cuda_graph"] = True  # nor how its steps were launched
        if config["model"]["name"] == "gru":
            config["train"]["seed"] = 5  # another seed is another run
        config_file.write_text(json.dumps(config))
    capsys.readouterr()
    assert run_tiny(tiny, "--seeds", "1", "--out", str(tiny / "elsewhere"), "--reuse", str(tiny / "runs")) == 0
    log = capsys.readouterr().out
    assert "rnn/seed-0: adopted" in log and "gru/seed-0: adopted" not in log and log.count("training {") == 1
    adopted = json.loads(next((tiny / "elsewhere").rglob("rnn-seed0/*/config.json")).read_text())
    assert adopted["train"]["device"] == "cuda"  # kept as it was made


def test_a_run_made_before_a_config_key_was_added_is_adopted(tiny, capsys):
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn") == 0
    for config_file in (tiny / "runs").rglob("config.json"):  # as written by an older version
        config = json.loads(config_file.read_text())
        del config["data"]["music_bptt"]
        config_file.write_text(json.dumps(config))
    capsys.readouterr()
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn", "--out", str(tiny / "elsewhere"),
                    "--reuse", str(tiny / "runs")) == 0
    log = capsys.readouterr().out
    assert "rnn/seed-0: adopted" in log and "training {" not in log


def test_code_versions_list_each_commit_once_per_version():
    envs = [{"deeprnn": "0.1.0", "git_commit": "bbbbbbb123"}, {"deeprnn": "0.1.0", "git_commit": "aaaaaaa999"},
            {"deeprnn": "0.1.0", "git_commit": "bbbbbbb123"}, {"deeprnn": "0.2.0"}]
    assert code_versions(envs) == "deeprnn 0.1.0 at commits aaaaaaa, bbbbbbb; deeprnn 0.2.0"
    assert code_versions(envs[:1]) == "deeprnn 0.1.0 at commit bbbbbbb"


@pytest.mark.slow
def test_a_shorter_finished_run_is_adopted_and_goes_on_to_the_longer_budget(tiny, capsys):
    """A recipe given more epochs resumes its earlier run (checkpoints kept) instead of starting again, and ends
    where a run trained straight to the new budget ends: every logged number equal (CPU, exact resume)."""
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn") == 0  # 1 epoch
    recipe = tiny / "recipes" / "tiny" / "rnn.toml"
    recipe.write_text(recipe.read_text().replace("epochs = 1", "epochs = 3"))
    capsys.readouterr()
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn", "--out", str(tiny / "longer"),
                    "--reuse", str(tiny / "runs")) == 0
    log = capsys.readouterr().out
    assert "adopted the finished 1-epoch run" in log and "to go on to 3 epochs" in log
    assert "resuming" in log and "training {" not in log
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn", "--out", str(tiny / "straight")) == 0

    def logged(root):
        run = next((tiny / root).rglob("metrics.jsonl"))
        lines = [json.loads(line) for line in run.read_text().splitlines()]
        for line in lines:
            line.pop("wall_time_s")
            line["train"] = {k: v for k, v in line["train"].items() if not k.endswith("_per_s")}
        return lines

    assert [line["epoch"] for line in logged("longer")] == [1, 2, 3]
    assert logged("longer") == logged("straight")
    run_dir = next((tiny / "longer").rglob("summary.json")).parent
    assert json.loads((run_dir / "summary.json").read_text())["epochs"] == 3
    assert json.loads((run_dir / "config.json").read_text())["train"]["epochs"] == 3


def test_a_shorter_run_without_checkpoints_is_not_extended(tiny, capsys):
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn") == 0
    recipe = tiny / "recipes" / "tiny" / "rnn.toml"
    recipe.write_text(recipe.read_text().replace("epochs = 1", "epochs = 2"))
    capsys.readouterr()
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn", "--out", str(tiny / "longer"),
                    "--reuse", str(tiny / "results" / "tiny")) == 0  # results/ keeps no checkpoints
    log = capsys.readouterr().out
    assert "adopted" not in log and log.count("training {") == 1


def test_the_data_directory_is_recorded_per_run_and_kept_out_of_results(tiny, data_dir, monkeypatch):
    alias = tiny / "my-data"  # another machine's path to the same files
    alias.symlink_to(data_dir)
    monkeypatch.delenv("DEEPRNN_DATA")
    assert run_tiny(tiny, "--seeds", "1", "--only", "rnn", "--data-dir", str(alias)) == 0
    assert "DEEPRNN_DATA" not in os.environ  # the flag held for the command only
    run = next((tiny / "runs").rglob("summary.json")).parent
    assert json.loads((run / "env.json").read_text())["data_dir"] == str(alias)
    assert json.loads((run / "config.json").read_text())["data"]["data_dir"] is None  # not the run's identity
    kept = [p for p in (tiny / "results").rglob("*") if p.is_file()]
    assert kept and all(str(tiny) not in p.read_text(errors="replace") for p in kept)
    assert "data_dir" not in json.loads((tiny / "results" / "tiny" / "rnn" / "seed-0" / "env.json").read_text())


# --- a gradflow table: measurements, no runs ----------------------------------------------------

GRADFLOW_TABLES = """\
[trained]
title = "Tiny trained models"
kind = "grid"
sweep = "grid.toml"
metrics = ["valid.nll"]

[g]
title = "Tiny gradient flow"
kind = "gradflow"
models = ["rnn", "dts-rnn"]
depths = [2]
lengths = [5, 10]
hidden = 8
batch_size = 4
"""

TINY_GRID = 'base = "tiny/rnn.toml"\nstudy = "tiny-trained"\ncpu_hours = 0\n[grid]\n"model.name" = ["rnn"]\n'


@pytest.fixture
def gradflow_root(tmp_path):
    """A gradflow table ``g`` and a grid table ``trained`` of one tiny JSB run (model rnn) it may measure."""
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "rnn.toml").write_text(TINY_RECIPE.format(model="rnn"))
    (tmp_path / "grid.toml").write_text(TINY_GRID)
    (tmp_path / "tables.toml").write_text(GRADFLOW_TABLES)
    return tmp_path


def reproduce_gradflow_table(root: Path, name: str = "g", **options) -> list[str]:
    """Run ``deeprnn reproduce NAME`` on the tables under ``root`` without RESULTS.md; returns its log."""
    log: list[str] = []
    assert reproduce(name, tables_file=root / "tables.toml", out_root=root / "runs", results_dir=root / "results",
                     results_md=None, log=log.append, **options) == 0
    return log


def test_a_gradflow_table_writes_the_synthetic_sweeps_rows_and_its_settings(gradflow_root):
    from deeprnn.experiments import gradflow

    log = reproduce_gradflow_table(gradflow_root)
    kept = sorted(p.relative_to(gradflow_root / "results").as_posix()
                  for p in (gradflow_root / "results").rglob("*") if p.is_file())
    assert kept == ["g/gradflow.csv", "g/settings.json", "tables.json"]  # no per-step CSV, no figures
    expected = gradflow.synthetic_sweep(["rnn", "dts-rnn"], [2], [5, 10], hidden_size=8, batch_size=4, progress=False)
    assert (gradflow_root / "results" / "g" / "gradflow.csv").read_text() == gradflow.summary_csv(expected)
    assert len(expected) == 4  # rnn once (no depth), dts-rnn at depth 2, each at T = 5 and 10
    settings = json.loads((gradflow_root / "results" / "g" / "settings.json").read_text())
    assert (settings["models"], settings["depths"], settings["lengths"], settings["hidden"]) == (
        ["rnn", "dts-rnn"], [2], [5, 10], 8)
    assert settings["dataset"] is None and settings["trained_runs"] == [] and list(settings) == sorted(settings)
    assert str(gradflow_root) not in (gradflow_root / "results" / "g" / "settings.json").read_text()
    assert "g: 4 measurements (0 trained runs)" in log[-1]
    entry = next(t for t in json.loads((gradflow_root / "results" / "tables.json").read_text())["tables"]
                 if t["name"] == "g")
    assert entry["kind"] == "gradflow" and "dataset" not in entry and "base" not in entry  # absent stays absent


def test_a_gradflow_table_measures_the_finished_runs_of_its_trained_table(gradflow_root):
    from deeprnn.experiments import gradflow

    tables = gradflow_root / "tables.toml"
    tables.write_text(tables.read_text() + 'dataset = "jsb"\ntrained = "trained"\n')
    log = reproduce_gradflow_table(gradflow_root)
    assert any("1 of 1 runs not finished" in line for line in log)  # nothing trained yet: skipped, said so
    reproduce_gradflow_table(gradflow_root, "trained")  # one epoch of one batch
    log = reproduce_gradflow_table(gradflow_root)
    with open(gradflow_root / "results" / "g" / "gradflow.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["source"] for r in rows] == ["synthetic"] * 4 + ["jsb-init"] * 4 + ["jsb-run-init"] * 2 + [
        "jsb-run-trained"] * 2
    run_dir = next((gradflow_root / "runs").rglob("checkpoint_best.pt")).parent
    direct = gradflow.run_sweep(run_dir, [5, 10], batch_size=4, progress=False)  # independently, as gradflow does
    assert "".join(f"{line}\n" for line in gradflow.summary_csv(direct).splitlines()[1:]) in (
        gradflow_root / "results" / "g" / "gradflow.csv").read_text()
    settings = json.loads((gradflow_root / "results" / "g" / "settings.json").read_text())
    assert settings["trained_runs"] == [run_dir.name] and settings["dataset"] == "jsb"

    (run_dir / "checkpoint_best.pt").unlink()  # a run without its best checkpoint is left out, with a line
    log = reproduce_gradflow_table(gradflow_root)
    assert any("no best checkpoint" in line for line in log) and "(0 trained runs)" in log[-1]


def test_a_gradflow_tables_trained_runs_must_differ_in_their_model(gradflow_root):
    (gradflow_root / "grid.toml").write_text(TINY_GRID + '"model.hidden_size" = [4, 6]\n')
    tables = gradflow_root / "tables.toml"
    tables.write_text(tables.read_text() + 'trained = "trained"\n')
    with pytest.raises(ConfigError, match="share a model name .rnn: .*could not tell them apart"):
        reproduce_gradflow_table(gradflow_root)


def test_a_gradflow_table_refuses_the_options_of_runs_in_one_line(gradflow_root, capsys):
    common = ["reproduce", "g", "--tables", str(gradflow_root / "tables.toml"), "--out", str(gradflow_root / "runs"),
              "--results", str(gradflow_root / "results"), "--results-md", str(gradflow_root / "RESULTS.md")]
    assert main([*common, "--jobs", "2"]) == 2
    assert capsys.readouterr().err == ("deeprnn: error: g is a gradflow table (it measures gradients and trains no "
                                       "runs): --jobs does not apply to it\n")
    assert main([*common, "--seeds", "2", "--only", "rnn", "--reuse", "x"]) == 2
    assert "--seeds, --only, --reuse do not apply" in capsys.readouterr().err
    assert main([*common, "--set", "model.hidden_size=4"]) == 2
    assert "takes only train.threads" in capsys.readouterr().err
    assert not (gradflow_root / "results").exists()  # refused before anything was measured or written


def test_no_train_keeps_a_gradflow_tables_measurements(gradflow_root):
    reproduce_gradflow_table(gradflow_root, **{"overrides": ["train.threads=1"]})
    csv_file = gradflow_root / "results" / "g" / "gradflow.csv"
    csv_file.write_text("as committed\n")
    (gradflow_root / "results" / "tables.json").unlink()
    log = reproduce_gradflow_table(gradflow_root, train=False)
    assert csv_file.read_text() == "as committed\n" and (gradflow_root / "results" / "tables.json").is_file()
    assert "nothing measured (--no-train)" in log[0]


def test_gradflow_table_errors_name_the_file_and_table(gradflow_root):
    tables = gradflow_root / "tables.toml"
    for old, new, message in (
            ("hidden = 8", 'metric = "test.nll"', r"\[g\]: unknown key\(s\) metric; valid keys: kind, title"),
            ("hidden = 8", 'trained = "g"', r"\[g\]: trained = 'g' must name a grid table of this file"),
            ("depths = [2]", "depths = [0]", r"\[g\]: depths must be a list of positive integers, got \(0,\)"),
            ("hidden = 8", "hidden = true", r"\[g\]: hidden must be a positive integer, got True"),
            ('"dts-rnn"]', '"nope"]', r"\[g\]: models must name architectures \(.*\), got nope")):
        tables.write_text(GRADFLOW_TABLES.replace(old, new))
        with pytest.raises(ConfigError, match=re.escape(str(tables)) + " " + message):
            load_tables(tables)

"""The index of ``results/``: ``results/runs.csv`` (one row per committed run) and ``results/README.md``.

Both are made from the run files and ``results/tables.json`` alone, like RESULTS.md, by the same command
(``deeprnn report results/ --results-md RESULTS.md``, and ``deeprnn reproduce TABLE``).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from deeprnn.files import atomic_write_text
from deeprnn.reports.runs import BOOKKEEPING_KEYS, Run, default_metric, load_table_runs
from deeprnn.reports.table_specs import (
    GRADFLOW_CSV,
    SNAPSHOT,
    GradflowTable,
    GridTable,
    RecipeTable,
    TableSpec,
    table_from_json,
)
from deeprnn.reports.tables import format_value

RUNS_CSV = "runs.csv"
README = "README.md"
COLUMNS = ("table", "run", "model", "seed", "settings", "metric", "valid", "test", "params", "best_epoch",
           "epochs", "stopped", "wall_time_s", "commit")
NOT_SETTINGS = {*BOOKKEEPING_KEYS, "model.name", "train.seed"}


def read_tables(results_dir: Path) -> dict[str, TableSpec]:
    path = results_dir / SNAPSHOT
    entries = json.loads(path.read_text())["tables"] if path.is_file() else []
    return {entry["name"]: table_from_json(entry) for entry in entries}


def committed_runs(results_dir: Path) -> dict[str, list[tuple[str, Run, dict[str, Any]]]]:
    """(name in its table, run, env) of every run with a summary.json under ``results_dir``, by table (folder)."""
    tables = sorted(path for path in results_dir.iterdir() if path.is_dir())
    return {path.name: found for path in tables if (found := load_table_runs(path))}


def distinguishing(runs: list[Run]) -> list[str]:
    """The config keys whose values differ between ``runs`` (the seed and where a run was made aside). Only keys every
    run stores: a config.json written before a key existed lacks it, which is no setting of its own."""
    keys = sorted(set.intersection(*(set(run.config) for run in runs)) - NOT_SETTINGS) if runs else []
    return [key for key in keys if len({json.dumps(run.config.get(key), sort_keys=True) for run in runs}) > 1]


def settings_of(run: Run, keys: list[str]) -> str:
    return "; ".join(f"{key}={format_value(run.config[key])}" for key in keys if key in run.config)


def metric_name(table: TableSpec | None, runs: list[Run]) -> str:
    """The metric a table reports, without its split ("nll"); a folder without a table: the task's default."""
    if isinstance(table, RecipeTable):
        return table.metric.partition(".")[2]
    if isinstance(table, GridTable) and table.metrics:
        return table.metrics[0].partition(".")[2]
    return default_metric(runs).partition(".")[2]  # also runs under a gradflow table's folder: it has none of its own


def number(value: Any) -> str:
    return repr(float(value)) if isinstance(value, int | float) else ""


def run_rows(results_dir: Path) -> list[dict[str, str]]:
    """One row per committed run, in the order of its path."""
    tables = read_tables(results_dir)
    rows = []
    for table_name, found in committed_runs(results_dir).items():
        table, runs = tables.get(table_name), [run for _, run, _ in found]
        metric = metric_name(table, runs)
        groups: dict[str, list[Run]] = {}
        for run in runs:  # a recipe table's runs differ from each other's recipe; a search's across the table
            groups.setdefault(run.model if isinstance(table, RecipeTable) else "", []).append(run)
        keys = {id(run): distinguishing(group) for group in groups.values() for run in group}
        for name, run, env in found:
            summary = run.summary
            rows.append({
                "table": table_name, "run": name, "model": run.model,
                "seed": str(run.config.get("train.seed", "")), "settings": settings_of(run, keys[id(run)]),
                "metric": metric, "valid": number(summary.get("valid", {}).get(metric)),
                "test": number(summary.get("test", {}).get(metric)), "params": str(summary.get("params", "")),
                "best_epoch": str(summary.get("best_epoch", "")), "epochs": str(summary.get("epochs", "")),
                "stopped": str(summary.get("stopped", "")), "wall_time_s": number(summary.get("wall_time_s")),
                "commit": str(env.get("git_commit") or "")[:10] + ("+modified" if env.get("source_modified") else ""),
            })
    return rows


def runs_csv(results_dir: Path) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(run_rows(results_dir))
    return out.getvalue()


def readme(results_dir: Path, rows: list[dict[str, str]]) -> str:
    """results/README.md: the layout, what each file holds, how it was made, and a line per table."""
    tables = read_tables(results_dir)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["table"]] = counts.get(row["table"], 0) + 1
    lines = [
        "# results/", "",
        "<!-- Generated by `deeprnn report results/ --results-md RESULTS.md` (and `deeprnn reproduce TABLE`); "
        "do not edit by hand. -->", "",
        "The small files of every finished run behind [RESULTS.md](../RESULTS.md) and its pages "
        "([docs/results/](../docs/results/)); checkpoints are not kept. "
        f"{len(rows)} runs in {len(counts)} folders; every run is a row of [runs.csv](runs.csv).", "",
        "## Layout", "",
        "- `tables.json`: the table definitions, a snapshot of `configs/recipes/tables.toml` (with each search's "
        "points) taken by `deeprnn reproduce`; RESULTS.md is made from it and the runs alone.",
        "- `runs.csv`: one row per run: its table, folder, model, seed, the settings that tell it apart from the "
        "other runs of its table (of its model, in a recipe table), the table's metric on the validation and "
        "test sets of its best-validation checkpoint, parameters, best and last epoch, why it stopped, wall "
        "time in seconds and the commit it was trained at.",
        "- `figures/`: the figures of RESULTS.md and its pages, PNG and SVG.",
        "- `TABLE/MODEL/seed-N/` (a recipe table) or `TABLE/POINT/` (a search: the folder names the point's "
        "keys, cut short, and a hash): one finished run. `config.json` is the full config it was trained with, "
        "`summary.json` its best-validation checkpoint's metrics, its epochs, parameters, wall time and why it "
        "stopped, `metrics.jsonl` one record per epoch, `env.json` the machine, library versions and commit.",
        "- `TABLE/baseline.json`: a tagging table's most-frequent-tag baseline, a row of its table.",
        "- `TABLE/gradflow.csv` and `TABLE/settings.json` (a gradient-flow table, no runs of its own): one row per "
        "measured gradient norm and the settings they were measured with ([docs/gradflow.md](../docs/gradflow.md)).",
        "",
        "## How it was made", "",
        "`deeprnn reproduce TABLE` trains the table's missing runs, copies their small files here and "
        "regenerates RESULTS.md, its pages, the figures, this file and runs.csv; `deeprnn report results/ "
        "--results-md RESULTS.md` regenerates them from these files alone, byte for byte "
        "([docs/reproduce.md](../docs/reproduce.md)).", "",
        "## Folders", "",
        "| folder | kind | runs | title |", "| --- | --- | ---: | --- |",
    ]
    measured = {name for name, table in tables.items() if isinstance(table, GradflowTable)
                and (results_dir / name / GRADFLOW_CSV).is_file()}
    for name in sorted(set(counts) | measured):
        table = tables.get(name)
        kind = ("recipes" if isinstance(table, RecipeTable) else "sweep" if isinstance(table, GridTable)
                else "gradient flow" if name in measured else "–")
        lines.append(f"| `{name}/` | {kind} | {counts.get(name, '–')} | {table.title if table else '–'} |")
    return "\n".join(lines) + "\n"


def write_index(results_dir: str | Path) -> None:
    """Write ``results_dir``/runs.csv and ``results_dir``/README.md."""
    results_dir = Path(results_dir)
    text = runs_csv(results_dir)
    atomic_write_text(results_dir / RUNS_CSV, text)
    rows = list(csv.DictReader(io.StringIO(text)))
    atomic_write_text(results_dir / README, readme(results_dir, rows))

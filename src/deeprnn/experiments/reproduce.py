"""``deeprnn reproduce TABLE``: run a table's recipes as sweeps, keep their small files in results/, write RESULTS.md.

The tables live in ``configs/recipes/tables.toml``, one ``[NAME]`` table each, in the order of RESULTS.md:

- ``kind = "recipes"`` (the published-number tables): one recipe per model, an ordinary training config in
  ``configs/recipes/<dataset>/<model>.toml``, run with seeds 0..N-1. Each (recipe, seed) is a one-point
  study of its own, all in one storage per table: a study is tied to its grid, and a table grows over
  several sittings (more seeds, a retuned recipe) without invalidating the runs already made.
- ``kind = "grid"``: a sweep preset (the replication's tables; recipe searches), run as one study under
  ``OUT/<study>``, so ``--out runs/sweeps`` shares the runs of ``deeprnn sweep PRESET``.
- ``kind = "gradflow"``: no runs; the gradient-flow measurement of ``deeprnn gradflow``, including the trained
  runs of a grid table, kept as ``results/<table>/gradflow.csv`` (``deeprnn.experiments.gradflow_table``).

For the first two, the sweep machinery resumes interrupted runs, never reruns a finished one, and lets any number
of worker processes share a table (``--jobs``, or ``--storage`` on many machines).

What is kept: each finished run's ``config.json``, ``metrics.jsonl``, ``summary.json`` and ``env.json`` (the
machine, without its local paths) go to ``results/<table>/<recipe>/seed-<s>/`` (grid tables:
``results/<table>/<run name>/``), never the checkpoints; ``results/tables.json`` is a snapshot of the table
definitions, so RESULTS.md is a function of ``results/`` alone (``deeprnn.reports.results_md``).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from deeprnn import presets
from deeprnn.files import atomic_write_text
from deeprnn.reports.table_specs import (
    SNAPSHOT,
    GradflowTable,
    GridTable,
    RecipeTable,
    TableError,
    TableSpec,
    table_from_toml,
)
from deeprnn.training.config import SAME_RESULT, Config, ConfigError, coerce_value, config_differences

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

TABLES_FILE = Path("configs/recipes/tables.toml")
RESULT_FILES = ("config.json", "env.json", "metrics.jsonl", "summary.json")  # never the *.pt checkpoints
LOCAL_ENV_KEYS = ("data_dir",)  # env.json keys naming this machine's paths: kept out of results/ (committed)


@dataclass
class Point:
    """One run of a table: a recipe at a seed (recipe tables) or a grid point (grid tables)."""

    label: str  # where its files go under results/<table>/
    spec: Any  # the SweepSpec it belongs to
    point: dict[str, Any]  # its grid point in that spec
    out_dir: Path  # its sweep directory
    run_dir: Path  # its run directory


# --- table definitions -------------------------------------------------------------------------


def load_tables(path: str | Path = TABLES_FILE) -> dict[str, TableSpec]:
    """The table definitions, checked, in file order; recipe and preset paths resolved against the file. A grid
    table gets its sweep preset's cost and points (the preset is read here, not in deeprnn.reports)."""
    from deeprnn.experiments.sweep_spec import grid_points, load_preset

    path = presets.resolve(path)  # from any folder: the packaged tables
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no table definitions at {path} (run from the repository root, or give --tables)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    tables = {}
    for name, entry in raw.items():
        try:
            table = table_from_toml(name, entry, path.parent, f"{path} [{name}]")
        except TableError as exc:
            raise ConfigError(str(exc)) from None
        if isinstance(table, GridTable):
            preset = load_preset(Path(table.sweep_path))
            # as a run's config.json stores them ("none" is null), so RESULTS.md can tell which have run
            points = tuple({key: coerce_value(key, value, f"{table.sweep_path} [grid]") for key, value in point.items()}
                           for point in grid_points(preset["grids"]))
            table = replace(table, cpu_hours=preset["cpu_hours"], points=points)
        tables[name] = table
    for name, table in tables.items():  # a gradflow table measures the runs of a grid table of this file
        if isinstance(table, GradflowTable) and table.trained is not None \
                and not isinstance(tables.get(table.trained), GridTable):
            raise ConfigError(f"{path} [{name}]: trained = {table.trained!r} must name a grid table of this file")
    return tables


def get_table(tables: dict[str, TableSpec], name: str) -> TableSpec:
    if name not in tables:
        raise ConfigError(f"unknown table {name!r}; choose from {', '.join(tables)} (deeprnn reproduce --list)")
    return tables[name]


def snapshot(tables: dict[str, TableSpec]) -> dict[str, Any]:
    """What RESULTS.md needs to know about the tables, without local paths: results/tables.json.

    A grid table carries its preset's points, so RESULTS.md can say which of them have not run yet; "absent"
    holds what each key means in a stored config.json that lacks it (the option is newer than the run), so
    the reports read older runs' configs as training does.
    """
    return {"tables": [table.to_json() for table in tables.values()], "absent": Config.from_dict({}).flat()}


# --- the runs of a table -----------------------------------------------------------------------


def table_points(table: TableSpec, out_root: Path, overrides: list[str] = (), seeds: int | None = None,
                 only: list[str] = ()) -> list[Point]:
    """Every run of the table, each with its (validated) sweep spec and directories; a gradflow table has none."""
    from deeprnn.experiments.sweep import build_spec, run_name

    if isinstance(table, GradflowTable):
        return []
    if isinstance(table, GridTable):
        spec = build_spec(table.sweep_path, overrides=list(overrides))
        out_dir = out_root / spec.study
        return [Point(run_name(p), spec, p, out_dir, out_dir / run_name(p)) for p in spec.points()]
    recipe_paths = table.recipe_paths
    unknown = sorted(set(only) - set(recipe_paths))
    if unknown:
        raise ConfigError(f"table {table.name} has no recipe(s) {', '.join(unknown)}; "
                          f"its recipes: {', '.join(recipe_paths)}")
    points = []
    for recipe, path in recipe_paths.items():
        if only and recipe not in only:
            continue
        for seed in range(table.seeds if seeds is None else seeds):
            study = f"{table.name}-{recipe}-seed{seed}"
            spec = build_spec(path, [f"train.seed={seed}"], list(overrides), study=study)
            out_dir = out_root / table.name / f"{recipe}-seed{seed}"
            point = {"train.seed": seed}
            points.append(Point(f"{recipe}/seed-{seed}", spec, point, out_dir, out_dir / run_name(point)))
    return points


def table_storage(table: TableSpec, points: list[Point], out_root: Path, storage: str | None) -> str:
    """One storage per table: --storage / $DEEPRNN_STORAGE, else an SQLite file next to its runs."""
    from deeprnn.experiments.sweep import storage_url

    home = points[0].out_dir if isinstance(table, GridTable) else out_root / table.name
    home.mkdir(parents=True, exist_ok=True)
    return storage_url(storage, home)


def _identity(config: Config) -> str:
    """What makes two runs the same run: ``Config.identity`` without the execution options (``SAME_RESULT``):
    a run made on a GPU, with other threads, prefetching or a CUDA graph is adopted by a CPU sitting (env.json
    and the report say where it ran); these change the float rounding and the dropout masks drawn, not the
    computation. Its budget (epochs, patience, ...) is part of it: a run trained longer is another result."""
    return json.dumps(config.identity(ignore=SAME_RESULT), sort_keys=True)


def _budget_free(config: Config) -> str:
    """A run's identity without its epoch budget (``train.epochs``)."""
    return json.dumps(config.identity(ignore=(*SAME_RESULT, "train.epochs")), sort_keys=True)


def adopt(points: list[Point], dirs: list[str | Path], log: Callable[[str], None] = print) -> int:
    """Copy finished runs made with exactly a point's config (on any device) into its run directory; returns
    how many.

    E.g. the recipe search's run of the chosen point is the recipe's seed 0: the same config, the same
    seed, so training it again would only repeat it. The sweep then reads its summary.json.

    A finished run that differs from a point only by fewer ``train.epochs`` and still has its checkpoints is
    adopted too, and the sweep then resumes it up to the point's budget (a longer budget for runs that were
    still improving at their cap). Resuming is exact, so this is the run the point would have trained; a run
    that stopped early stays stopped, as the longer run would have. Without checkpoints (results/ keeps
    none) the point trains from the start.
    """
    made, shorter = {}, {}
    for root in dirs:
        for summary in sorted(Path(root).rglob("summary.json")):
            # resolved, so a run made before a config key was added (at its default) still matches
            config = Config.from_dict(json.loads((summary.parent / "config.json").read_text()))
            made.setdefault(_identity(config), summary.parent)
            if (summary.parent / "checkpoint_last.pt").is_file():
                shorter.setdefault(_budget_free(config), []).append((config.train.epochs, summary.parent))
    adopted = 0
    for point in points:
        if (point.run_dir / "config.json").exists():
            continue
        config = point.spec.point_config(point.point)
        source = made.get(_identity(config))
        if source is not None:
            shutil.copytree(source, point.run_dir)
            log(f"{point.label}: adopted the finished run {source} (the same config and seed)")
        else:
            budget = config.train.epochs
            candidates = [(epochs, run) for epochs, run in shorter.get(_budget_free(config), []) if epochs < budget]
            if not candidates:
                continue
            epochs, source = max(candidates, key=lambda c: c[0])
            shutil.copytree(source, point.run_dir)
            (point.run_dir / "summary.json").unlink()  # not finished at this budget: the sweep resumes it
            log(f"{point.label}: adopted the finished {epochs}-epoch run {source} (the same config and seed) "
                f"to go on to {budget} epochs")
        adopted += 1
    return adopted


def forget_deleted(points: list[Point], url: str, log: Callable[[str], None] = print) -> None:
    """Drop the stored study of every recipe run whose directory is gone.

    A recipe table keeps all its studies in one storage next to the run directories. Deleting a run's
    directory (what ``collect`` tells you to do after changing its recipe) must mean "train it again", not
    "it finished earlier": without this, the old study would still hold a COMPLETE trial, or a spec the
    changed recipe no longer matches.
    """
    import optuna

    from deeprnn.experiments.sweep import open_storage

    storage = open_storage(url)
    stored = set(optuna.study.get_all_study_names(storage))
    for point in points:
        if point.spec.study in stored and not point.out_dir.exists():
            optuna.delete_study(study_name=point.spec.study, storage=storage)
            log(f"{point.label}: its directory is gone, so its stored study is dropped and it trains again")


def run_points(points: list[Point], url: str, log: Callable[[str], None] = print, show_test: bool = False) -> int:
    """Run each point's one-study sweep in turn; returns 1 if any run failed (rerun to retry). ``show_test``: the
    sweeps' reports show the test metric too (a recipe table's runs, not a search's)."""
    from deeprnn.experiments.sweep import run_sweep

    status, done = 0, set()
    for point in points:
        if id(point.spec) in done:  # a grid table: one study for all its points
            continue
        done.add(id(point.spec))
        status = max(status, run_sweep(point.spec, point.out_dir, url, jobs=1, log=log, show_test=show_test))
    return status


def spawn_workers(jobs: int, argv: list[str], url: str) -> int:
    """``jobs`` processes each running ``deeprnn reproduce ... --worker`` over the same points.

    A point's trial is claimed atomically in the storage, so every run is made once; a worker that
    finds a point taken moves on to the next. The storage URL travels in the environment, not in ``ps``.
    """
    from deeprnn.experiments.sweep import run_worker_processes

    return max(run_worker_processes(jobs, ["reproduce", *argv, "--worker"], url))


# --- keeping the results -----------------------------------------------------------------------


def collect(table: TableSpec, points: list[Point], results_dir: Path, log: Callable[[str], None] = print) -> int:
    """Copy the small files of every finished run of the table into results/<table>/; returns how many.

    A run made for another config (a recipe changed since) is skipped, so results/ never pairs a recipe with
    runs of an older version of it. The run's own config.json decides, as well as its sweep.json: a run
    adopted by ``--no-train --reuse`` sits in a directory where no sweep ran, so it has none.
    """
    copied, stale = 0, set()
    for point in points:
        if not (point.run_dir / "summary.json").is_file():
            continue
        problem = made_for_another_config(point)
        if problem:
            if point.out_dir not in stale:
                log(f"not collected (made for another config; delete {point.out_dir} to rerun): {problem}")
            stale.add(point.out_dir)
            continue
        dest = results_dir / table.name / point.label
        dest.mkdir(parents=True, exist_ok=True)
        for name in RESULT_FILES:
            if (point.run_dir / name).is_file():
                shutil.copyfile(point.run_dir / name, dest / name)
        env = json.loads((dest / "env.json").read_text()) if (dest / "env.json").is_file() else {}
        if any(key in env for key in LOCAL_ENV_KEYS):
            env = {key: value for key, value in env.items() if key not in LOCAL_ENV_KEYS}
            (dest / "env.json").write_text(json.dumps(env, indent=2) + "\n")
        copied += 1
    return copied


def is_run_of(made: Config, config: Config) -> bool:
    """Whether a run made with ``made`` is the run of a point whose config is ``config``: the same identity, or
    that run ended early (`deeprnn train --resume DIR --set train.epochs=N`), which is the point's run cut short,
    not another run (RESULTS.md lists it as stopped by its budget)."""
    return _budget_free(made) == _budget_free(config) and made.train.epochs <= config.train.epochs


def made_for_another_config(point: Point) -> str | None:
    """Why a finished run is not the point's run now (its sweep's or its own config differs), or None."""
    from deeprnn.experiments.sweep import check_sweep_dir

    try:
        check_sweep_dir(point.out_dir, point.spec)
        _check_same_run(point)
    except ConfigError as exc:
        return str(exc)
    return None


def _check_same_run(point: Point) -> None:
    made = Config.from_dict(json.loads((point.run_dir / "config.json").read_text()))
    config = point.spec.point_config(point.point)
    if not is_run_of(made, config):
        differences = config_differences(made, config, SAME_RESULT)
        changed = ", ".join(f"{key} {old!r} -> {new!r}" for key, old, new in differences)
        raise ConfigError(f"{point.run_dir / 'config.json'} is not the config of {point.label} now ({changed})")


def trained_runs(table: GradflowTable, tables: dict[str, TableSpec], out_root: Path,
                 log: Callable[[str], None] = print) -> list[Point]:
    """The finished runs of the table's ``trained`` grid table under ``out_root`` that have a best checkpoint
    and were made with their point's config now; each run left out is logged."""
    if table.trained is None:
        return []
    grid = tables[table.trained]
    points = table_points(grid, out_root)
    by_model: dict[str, list[str]] = {}
    for point in points:
        by_model.setdefault(point.spec.point_config(point.point).model.name, []).append(point.label)
    shared = {model: labels for model, labels in by_model.items() if len(labels) > 1}
    if shared:  # gradflow.csv tells a trained run's rows by source and model only
        raise ConfigError(f"table {table.name}: runs of its trained table {grid.name} share a model name ("
                          + "; ".join(f"{model}: {', '.join(labels)}" for model, labels in shared.items())
                          + "), so gradflow.csv could not tell them apart; give each model one run")
    finished = [point for point in points if (point.run_dir / "summary.json").is_file()]
    if len(finished) < len(points):
        log(f"{grid.name}: {len(points) - len(finished)} of {len(points)} runs not finished under {out_root}, "
            f"their trained gradient flow skipped (deeprnn reproduce {grid.name} --out {out_root} trains them)")
    runs = []
    for point in finished:
        problem = made_for_another_config(point)  # as collect checks a run: one of an older config is not this point's
        if problem:
            log(f"{grid.name}/{point.label}: skipped, made for another config: {problem}")
            continue
        if (point.run_dir / "checkpoint_best.pt").is_file():
            runs.append(point)
        else:
            log(f"{grid.name}/{point.label}: skipped, no best checkpoint (checkpoint_best.pt) in {point.run_dir}")
    return runs


def write_baseline(table: RecipeTable, results_dir: Path, log: Callable[[str], None] = print) -> None:
    """results/<table>/baseline.json: the most-frequent-tag baseline of the dataset named by the table's
    ``baseline`` (a row of its RESULTS.md table)."""
    from deeprnn.training.baselines import tagging_baseline

    path = results_dir / table.name / "baseline.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tagging_baseline(table.baseline), indent=2, sort_keys=True) + "\n")
    log(f"{path}: the most-frequent-tag baseline of {table.baseline}")


def write_snapshot(tables: dict[str, TableSpec], results_dir: Path) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(results_dir / SNAPSHOT, json.dumps(snapshot(tables), indent=2, sort_keys=True) + "\n")


def reproduce(table_name: str, *, tables_file: str | Path = TABLES_FILE, out_root: str | Path = "runs/reproduce",
              results_dir: str | Path = "results", results_md: str | Path | None = "RESULTS.md",
              seeds: int | None = None, jobs: int = 1, only: list[str] = (), overrides: list[str] = (),
              storage: str | None = None, train: bool = True, worker: bool = False, argv: list[str] = (),
              reuse: list[str | Path] = (), log: Callable[[str], None] = print) -> int:
    """Run (unless ``train`` is False), collect and report one table; returns an exit code."""
    tables = load_tables(tables_file)
    table = get_table(tables, table_name)
    if isinstance(table, GradflowTable):
        from deeprnn.experiments.gradflow_table import refuse_options, reproduce_gradflow

        refuse_options(table, jobs, seeds, only, reuse, storage)
        if train:
            runs = trained_runs(table, tables, Path(out_root), log)
            reproduce_gradflow(table, runs, Path(results_dir), overrides, log)
        else:  # --no-train: what results/ holds is kept as it is, only the files made from it are rewritten
            log(f"{table_name}: nothing measured (--no-train); {Path(results_dir) / table_name} kept as it is")
        write_report(tables, Path(results_dir), results_md, log)
        return 0
    if (seeds is not None or only) and isinstance(table, GridTable):
        raise ConfigError(f"{table_name} is a grid table (its sweep preset's points, one seed); drop --seeds/--only")
    out_root, results_dir = Path(out_root), Path(results_dir)
    points = table_points(table, out_root, overrides, seeds, only)
    if not points:
        raise ConfigError(f"table {table_name}: nothing to run (--seeds 0?)")
    status = 0
    url = table_storage(table, points, out_root, storage) if train else None
    if train and not worker and isinstance(table, RecipeTable):
        forget_deleted(points, url, log)
    if reuse and not worker:
        adopt(points, reuse, log)
    if train:
        if jobs > 1 and not worker:
            from deeprnn.experiments.sweep import open_storage

            open_storage(url)  # create the storage's tables once, before the workers race to
            status = spawn_workers(jobs, list(argv), url)
        else:
            status = run_points(points, url, log, show_test=isinstance(table, RecipeTable))
    if worker:
        return status
    copied = collect(table, points, results_dir, log)
    if isinstance(table, RecipeTable) and table.baseline:
        write_baseline(table, results_dir, log)
    log(f"{table_name}: {copied} of {len(points)} runs finished under {out_root}; their small files copied to "
        f"{results_dir / table_name}")
    write_report(tables, results_dir, results_md, log)
    return status


def write_report(tables: dict[str, TableSpec], results_dir: Path, results_md: str | Path | None,
                 log: Callable[[str], None] = print) -> None:
    """results/tables.json, then (unless ``results_md`` is None) RESULTS.md and the files made with it."""
    write_snapshot(tables, results_dir)
    if results_md is not None:
        from deeprnn.reports.results_md import write_results_md

        write_results_md(results_dir, results_md)
        log(f"{results_md} regenerated from {results_dir}")


def describe_tables(tables: dict[str, TableSpec]) -> str:
    """``deeprnn reproduce --list``: name, runs, estimated CPU-hours and title of each table."""
    width = max(len("table"), *map(len, tables))
    lines = [f"{'table':<{width}} {'runs':>5} {'CPU-h':>6}  title"]
    for name, table in tables.items():
        if isinstance(table, RecipeTable):
            runs = f"{len(table.recipes)}x{table.seeds}"
        elif isinstance(table, GradflowTable):  # no runs: its measurements, each trained run's at init and trained
            trained = len(tables[table.trained].points) if table.trained else 0
            runs = str((table.pairs * (2 if table.music_dataset else 1) + 2 * trained) * len(table.lengths))
        else:  # one run per point of its sweep preset
            runs = str(len(table.points))
        cost = table.cpu_hours
        lines.append(f"{name:<{width}} {runs:>5} {cost if cost is not None else '?':>6}  {table.title}")
    return "\n".join(lines)

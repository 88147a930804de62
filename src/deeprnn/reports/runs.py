"""Reading run directories: each is a config.json, a metrics.jsonl and a summary.json written by ``deeprnn train``.

A sweep directory holds one run directory per grid point and a ``sweep.json`` whose ``grid`` names the
swept keys; for a plain list of runs the swept keys are the config keys whose values differ between runs.
This module reads JSON only: it imports nothing from training, so reports need no torch.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deeprnn import metric_keys, stop_reasons
from deeprnn.files import flatten, read_records

# Config keys that say where or how a run was executed, not what was trained: never treated as swept.
BOOKKEEPING_KEYS = ("data.data_dir", "train.device", "train.threads", "train.deterministic")

# Selection metric per task (as the trainer's, but named as reported: perplexity for word-level text).
DEFAULT_METRICS = {"music": ("valid.nll",), "lm": ("valid.ppl", "valid.bpc", "valid.loss"), "tagging": ("valid.acc",)}


# The values each metric can take (train.loss is the training objective, in nats, like the others): a summary
# or record holding anything else (a hand edit, a bug, a torn number) is refused, never reported.
METRIC_RANGES = metric_keys.VALID_RANGES  # declared with each metric (deeprnn.metric_keys)


def metric_problem(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be metric ``name`` ("nll", "ppl", ...): not a number (``true`` is not one), not
    finite, or outside the metric's range; None when it can. Metrics without a known range need a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{value!r} is not a number"
    if not math.isfinite(value):
        return f"{value!r} is not a finite number"
    low, high, what = METRIC_RANGES.get(name, (-math.inf, math.inf, ""))
    if not low <= value <= high:
        return f"{value!r} cannot be {what}"
    return None


def summary_problems(summary: dict[str, Any]) -> list[str]:
    """``split.name: why`` for each metric of summary.json's valid and test results that cannot be right (those of
    ``METRIC_RANGES``; a tagger's acc_unknown is NaN without unknown words)."""
    problems = []
    for split in ("valid", "test"):
        results = summary.get(split)
        if not isinstance(results, dict):
            problems.append(f"{split}: {results!r} is not a table of metrics")
            continue
        problems += [f"{split}.{name}: {why}" for name, value in results.items()
                     if name in METRIC_RANGES for why in [metric_problem(name, value)] if why]
    return problems


def diverged(summary: dict[str, Any]) -> bool:
    return stop_reasons.is_diverged(summary.get("stopped"))


@dataclass
class Run:
    """One run directory, its files parsed. ``name`` is its path relative to the runs' common parent."""

    path: Path
    name: str
    config: dict[str, Any]  # flattened: {"model.hidden_size": 200, ...}
    summary: dict[str, Any]
    epochs: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl, one dict per epoch

    @property
    def model(self) -> str:
        return str(self.config.get("model.name", self.summary.get("model", "?")))

    @property
    def task(self) -> str | None:
        return self.summary.get("task") or self.config.get("data.task")


@dataclass
class RunSet:
    """The runs of one report and the keys that were swept (excluding ``model.name``, the table's columns)."""

    runs: list[Run]
    swept: list[str]
    title: str



def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def read_metrics(path: Path) -> list[dict[str, Any]]:
    return read_records(path)  # a torn last record (a run killed mid-write) is dropped with a warning


def is_run_dir(path: Path) -> bool:
    return (path / "config.json").is_file()


def find_run_dirs(path: Path) -> list[Path]:
    """``path`` itself if it is a run directory, else its subdirectories that are (a sweep), sorted."""
    if is_run_dir(path):
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no such directory: {path}")
    found = sorted(p for p in path.iterdir() if p.is_dir() and is_run_dir(p))
    if not found:
        raise FileNotFoundError(f"{path} is neither a run directory (no config.json) nor a sweep of run directories")
    return found


def load_run(path: Path, name: str) -> Run | None:
    """The run in ``path``, or None when it has no summary.json yet (unfinished or failed)."""
    if not (path / "summary.json").is_file():
        return None
    return Run(path, name, flatten(read_json(path / "config.json")), read_json(path / "summary.json"),
               read_metrics(path / "metrics.jsonl"))


def read_env(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "env.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def load_table_runs(table_dir: Path) -> list[tuple[str, Run, dict[str, Any]]]:
    """(relative name, run, env) of every finished run under ``table_dir``, sorted by name."""
    if not table_dir.is_dir():
        return []
    found = []
    for summary in sorted(table_dir.rglob("summary.json")):
        run_dir = summary.parent
        name = run_dir.relative_to(table_dir).as_posix()
        run = load_run(run_dir, name)
        if run is not None:
            found.append((name, run, read_env(run_dir)))
    return found


def common_parent(paths: list[Path]) -> Path:
    parts = [p.resolve().parts for p in paths]
    shared = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        shared.append(level[0])
    return Path(*shared) if shared else Path("/")


def differing_keys(runs: list[Run]) -> list[str]:
    keys = sorted({key for run in runs for key in run.config})
    return [key for key in keys if key not in BOOKKEEPING_KEYS and key != "model.name"
            and len({json.dumps(run.config.get(key), sort_keys=True) for run in runs}) > 1]


def load_runs(paths: list[str | Path], warn=print) -> RunSet:
    """Every finished run under ``paths`` (run or sweep directories) and the swept keys.

    The swept keys are those of a single sweep's ``sweep.json`` grid when one sweep is given (in the
    grid's order), else the keys whose values differ between the runs.
    """
    paths = [Path(p) for p in paths]
    run_dirs = sorted({d.resolve(): d for p in paths for d in find_run_dirs(p)}.values(), key=lambda d: d.resolve())
    parent = common_parent(run_dirs) if len(run_dirs) > 1 else run_dirs[0].resolve().parent
    runs, unfinished = [], []
    for run_dir in run_dirs:
        name = run_dir.resolve().relative_to(parent).as_posix()
        run = load_run(run_dir, name)
        if run is None:
            unfinished.append(name)
        else:
            runs.append(run)
    if unfinished:
        warn(f"skipping {len(unfinished)} run(s) without summary.json: {', '.join(unfinished)}")
    for run in runs:
        if diverged(run.summary):
            warn(f"{run.name} {run.summary['stopped']} (its numbers are those of its best epoch, "
                 f"{run.summary.get('best_epoch')}; never marked best)")
        problems = summary_problems(run.summary)
        if problems:
            warn(f"{run.name}/summary.json: not reported, impossible values: {'; '.join(problems)}")
    if not runs:
        raise FileNotFoundError(f"no finished runs (with summary.json) under {', '.join(map(str, paths))}")

    swept = differing_keys(runs)
    sweep_file = paths[0] / "sweep.json"
    if len(paths) == 1 and sweep_file.is_file():
        grid = read_json(sweep_file).get("grid") or {}
        grid_keys = [key for key in grid if key != "model.name" and any(key in run.config for run in runs)]
        # A grid key with a single value is still what the sweep was about: show it as the rows.
        swept = grid_keys + [key for key in swept if key not in grid_keys]
    title = paths[0].resolve().name if len(paths) == 1 else parent.name
    return RunSet(runs, swept, title)


def metric_value(run: Run, metric: str, epoch: int | None = None) -> float | None:
    """``metric`` ("valid.nll", "test.ppl", "train.loss") of the best checkpoint (summary.json), or at
    ``epoch`` (metrics.jsonl); None when the run does not have it."""
    split, _, name = metric.partition(".")
    if not name:
        raise ValueError(f"metric must look like SPLIT.NAME (e.g. valid.nll), got {metric!r}")
    if epoch is None:
        if split == "train":
            best = run.summary.get("best_epoch")
            record = next((e for e in run.epochs if e.get("epoch") == best), {})
            value = record.get("train", {}).get(name)
        else:
            value = run.summary.get(split, {}).get(name)
    else:
        if split == "test":
            raise ValueError("test metrics exist for the best checkpoint only; drop --epoch or use valid.*")
        record = next((e for e in run.epochs if e.get("epoch") == epoch), {})
        value = record.get(split, {}).get(name)
    if value is None or metric_problem(name, value):
        return None  # a value that cannot be this metric (load_runs names it) is no result
    if epoch is None and summary_problems(run.summary):
        return None  # a summary with an impossible value anywhere is not trusted for any
    return float(value)


def default_metric(runs: list[Run]) -> str:
    """The task's selection metric, as found in the first run's summary."""
    task = runs[0].task or "music"
    for metric in DEFAULT_METRICS.get(task, ("valid.loss",)):
        if metric_value(runs[0], metric) is not None:
            return metric
    return DEFAULT_METRICS.get(task, ("valid.loss",))[0]


def larger_is_better(metric: str) -> bool:
    return metric_keys.larger_is_better(metric)

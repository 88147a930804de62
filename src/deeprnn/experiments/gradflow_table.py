"""``deeprnn reproduce NAME`` for a gradflow table: measure the gradient flow, keep gradflow.csv and settings.json.

A gradflow table (``deeprnn.reports.table_specs.GradflowTable``) trains nothing. It runs ``deeprnn gradflow``'s
measurement (``deeprnn.experiments.gradflow``, docs/gradflow.md) at its settings: synthetic inputs, its music
dataset at initialisation, and the best checkpoint of every finished run of its ``trained`` grid table under
``--out`` beside that architecture freshly initialised. ``results/NAME/`` keeps ``gradflow.csv`` (as ``deeprnn
gradflow`` writes it) and ``settings.json``, nothing else: the per-step norms and the figures can be remade with
``deeprnn gradflow`` and would only make the committed files large.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deeprnn.files import atomic_write_text
from deeprnn.reports.table_specs import GRADFLOW_CSV, GRADFLOW_SETTINGS, GradflowTable
from deeprnn.training.config import ConfigError, coerce_value, parse_override

INPUT_SIZE = 10  # the synthetic inputs' width, X in R^{B x T x 10}: deeprnn gradflow's


def refuse_options(table: GradflowTable, jobs: int, seeds: int | None, only: list[str], reuse: list,
                   storage: str | None) -> None:
    """The options of training runs, which a gradflow table has none of: refused, not silently ignored."""
    given = [option for option, used in (("--jobs", jobs > 1), ("--seeds", seeds is not None), ("--only", bool(only)),
                                         ("--reuse", bool(reuse)), ("--storage", storage is not None)) if used]
    if given:
        raise ConfigError(f"{table.name} is a gradflow table (it measures gradients and trains no runs): "
                          f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to it")


def threads_of(overrides: list[str]) -> int:
    """Torch threads from ``--set train.threads=N`` (default 1); any other ``--set`` is refused, since nothing
    else of a training config reaches the measurement."""
    threads = None
    for text in overrides:
        key, value = parse_override(text)
        if key != "train.threads":
            raise ConfigError(f"--set {text}: a gradflow table takes only train.threads (its torch threads)")
        threads = coerce_value(key, value)
    return threads or 1


def measure_table(table: GradflowTable, runs: list, progress: bool = False) -> list:
    """Every measurement of the table, in gradflow.csv's order: synthetic, the dataset at initialisation, then
    each trained run (its architecture at initialisation, then its best checkpoint)."""
    from deeprnn.experiments import gradflow
    from deeprnn.training import run_data_dir

    measurements = gradflow.synthetic_sweep(table.models, table.depths, table.lengths, table.hidden,
                                            table.batch_size, INPUT_SIZE, table.seed, progress)
    if table.music_dataset:
        measurements += gradflow.music_sweep(table.music_dataset, table.models, table.depths, table.lengths,
                                             table.hidden, table.batch_size, table.seed, None, progress)
    for point in runs:
        measurements += gradflow.run_sweep(point.run_dir, table.lengths, table.batch_size, table.seed,
                                           run_data_dir(point.run_dir), progress)
    return measurements


def settings_of(table: GradflowTable, runs: list) -> dict[str, Any]:
    """settings.json: the table's settings as ``deeprnn gradflow`` records them, and the trained runs by name
    (relative to their table: no local paths)."""
    from deeprnn.models.config import ModelConfig

    defaults = ModelConfig()  # what build_model initialises with: gradflow's init options, at their defaults
    return {"models": list(table.models), "depths": list(table.depths), "lengths": list(table.lengths),
            "hidden": table.hidden, "batch_size": table.batch_size, "input_size": INPUT_SIZE, "seed": table.seed,
            "dataset": table.music_dataset, "trained": table.trained, "trained_runs": [p.label for p in runs],
            "spectral_radius": 1.0, "transition_dropout": 0.0, "init": defaults.init,
            "sparse_nonzeros": defaults.sparse_nonzeros, "transition_gain": defaults.transition_gain}


def reproduce_gradflow(table: GradflowTable, runs: list, results_dir: Path, overrides: list[str] = (),
                       log: Callable[[str], None] = print) -> Path:
    """Measure the table, with ``runs`` (the points of its trained runs, ``reproduce.trained_runs``), and write
    results_dir/NAME/gradflow.csv and settings.json; returns the CSV's path."""
    from deeprnn.experiments.gradflow import measuring, summary_csv

    threads = threads_of(list(overrides))
    with measuring(threads, log):
        measurements = measure_table(table, runs, progress=sys.stderr.isatty())
    folder = results_dir / table.name
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / GRADFLOW_CSV, summary_csv(measurements))
    atomic_write_text(folder / GRADFLOW_SETTINGS, json.dumps(settings_of(table, runs), indent=2, sort_keys=True) + "\n")
    log(f"{table.name}: {len(measurements)} measurements ({len(runs)} trained runs) written to "
        f"{folder / GRADFLOW_CSV}")
    return folder / GRADFLOW_CSV


"""Tuning effort on equal terms: which settings a benchmark's searches varied for each model, and which of those
varied for a deep model were never varied for the RNN or the sRNN. Read from the committed search runs
(the finished runs under results/<benchmark>-search*/), so it reports what was run, not what was planned.

A dimension is a semantic setting of the model, data or optimiser sections (the training section holds the
budget and the seed, which are not tuned); a model searched it when its runs in the benchmark's searches took more
than one value of it. A model option that a baseline does not read (a deep transition's gain) is no gap for it.
"""

from __future__ import annotations

import json
from pathlib import Path

from deeprnn import architectures
from deeprnn.reports.runs import load_table_runs
from deeprnn.reports.table_specs import SNAPSHOT

SECTIONS = ("model.", "data.", "optim.")
NOT_TUNED = ("data.data_dir", "data.name", "data.task", "model.name")
DEEP_ARCHITECTURE = ("model.activation", "model.output_activation", "model.output_depth", "model.output_from_input",
                     "model.output_size", "model.pool_size", "model.shortcut", "model.input_to")
DEEP = ("dts-rnn", "dots-rnn")
BASELINES = ("rnn", "srnn")


def searched(results_dir: Path, search_tables: list[str]) -> dict[str, set[str]]:
    """model name -> the settings its runs in these searches took more than one value of. A key an older run's
    config lacks takes the value it meant then (results/tables.json's "absent", as training reads it)."""
    snapshot = Path(results_dir) / SNAPSHOT
    absent = json.loads(snapshot.read_text()).get("absent", {}) if snapshot.is_file() else {}
    configs: dict[str, list[dict]] = {}
    for table in search_tables:
        for _, run, _ in load_table_runs(Path(results_dir) / table):
            configs.setdefault(run.config["model.name"], []).append(run.config)
    found = {}
    for model, runs in configs.items():
        keys = {key for config in runs for key in config if key.startswith(SECTIONS) and key not in NOT_TUNED}
        found[model] = {key for key in keys
                        if len({json.dumps(config.get(key, absent.get(key, "absent"))) for config in runs}) > 1}
    return found


def gaps(results_dir: Path, search_tables: list[str]) -> dict[str, list[str]]:
    """baseline -> the settings searched for a deep model and never for it (empty lists: equal terms)."""
    return gaps_of(searched(results_dir, search_tables))


def gaps_of(by_model: dict[str, set[str]]) -> dict[str, list[str]]:
    """``gaps`` from what ``searched`` found."""
    deep = set().union(*(by_model.get(name, set()) for name in DEEP))
    return {name: sorted(key for key in deep - by_model.get(name, set()) if _tunes(name, key)) for name in BASELINES}


def _tunes(name: str, key: str) -> bool:
    """Whether ``key`` is a setting model ``name`` could have been tuned on (see the module's docstring)."""
    if not key.startswith("model."):
        return True
    return key not in DEEP_ARCHITECTURE and architectures.applies(name, key.partition(".")[2])


def tuning_lines(results_dir: Path, search_tables: list[str]) -> list[str]:
    """A benchmark page's paragraph on tuning effort, or none without searches."""
    by_model = searched(results_dir, search_tables)
    if not by_model:
        return []
    labels = architectures.labels()
    lines = ["## Tuning effort", "", "Settings each model's validation-only searches varied (below):", ""]
    for name in sorted(by_model, key=lambda n: list(labels).index(n) if n in labels else len(labels)):
        lines.append(f"- {labels.get(name, name)}: {', '.join(sorted(by_model[name])) or 'none'}")
    missing = {name: keys for name, keys in gaps_of(by_model).items() if keys}
    lines.append("")
    if missing:
        lines.append("Varied for DT(S)- or DOT(S)-RNN but not for the baseline: " + "; ".join(
            f"{labels[name]}: {', '.join(keys)}" for name, keys in missing.items()) + ".")
    else:
        lines.append("Every setting varied for DT(S)- or DOT(S)-RNN was varied for the RNN and the sRNN too.")
    lines += ["", "Not counted as gaps: options the baselines do not read (a deep transition's gain, depth and "
              "dropout) and those that make a deep model what it is (its deep output and units)."]
    return lines + [""]

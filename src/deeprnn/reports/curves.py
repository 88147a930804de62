"""Learning curves: loss and accuracy against epoch, one line per swept value (like the replication's Figures 2-10).

One figure per model: the left panel shows the loss (training dashed, validation solid), the right one
the accuracy where the runs record one. Runs of several models also get one comparison figure: every run's
validation curve, coloured by model, beside its final metric. Curves are labelled by the keys whose values
differ between the runs drawn (short names, wrapped), and legends sit outside the plotting area, so a sweep
of many keys keeps its panels readable. Values come from each run's metrics.jsonl and summary.json.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from deeprnn.metric_keys import ACCURACY, FRAME_ACCURACY
from deeprnn.reports.plotting import plt, save_figure
from deeprnn.reports.runs import Run, RunSet, default_metric, larger_is_better, metric_value
from deeprnn.reports.tables import column_order, format_value, sort_key

# The first key found in a run's records is plotted (music validation reports nll, text ones loss).
LOSS_KEYS = ("nll", "loss")
ACCURACY_KEYS = (FRAME_ACCURACY, ACCURACY)


def series(run: Run, split: str, keys: tuple[str, ...]) -> tuple[str | None, list[int], list[float]]:
    """(key, epochs, values) of the first of ``keys`` that ``split`` records in this run."""
    for key in keys:
        points = [(e["epoch"], e[split][key]) for e in run.epochs
                  if isinstance(e.get(split, {}).get(key), int | float)]
        if points:
            epochs, values = zip(*points)
            return key, list(epochs), list(values)
    return None, [], []


def curves_stem(runset: RunSet, model: str) -> str:
    return f"curves_{'+'.join(runset.swept) or 'runs'}_{model}"


def varying_keys(keys: list[str], runs: list[Run]) -> list[str]:
    """The keys (of ``keys``) whose values differ between ``runs``: a key every run shares names nothing."""
    return [key for key in keys if len({json.dumps(run.config.get(key), sort_keys=True) for run in runs}) > 1]


def run_label(run: Run, keys: list[str], width: int = 40) -> str:
    """"hidden_size=200, lr=0.001", wrapped at ``width`` characters; the run's name without any key."""
    if not keys:
        return run.name
    text = ", ".join(f"{key.rpartition('.')[2]}={format_value(run.config.get(key))}" for key in keys)
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False))


def outside_legend(fig, axis) -> None:
    """The legend of ``axis``'s lines at the figure's right, outside every panel (constrained layout)."""
    handles, labels = axis.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize="small")


def plot_model_curves(runset: RunSet, model: str, out_dir: Path) -> list[Path]:
    runs = [run for run in runset.runs if run.model == model]
    runs.sort(key=lambda run: (tuple(sort_key(run.config.get(k)) for k in runset.swept), run.name))
    keys = varying_keys(runset.swept, runs)
    has_accuracy = any(series(run, "valid", ACCURACY_KEYS)[0] for run in runs)
    fig, axes = plt.subplots(1, 2 if has_accuracy else 1, figsize=(13 if has_accuracy else 9, 4.5), squeeze=False,
                             layout="constrained")
    colours = plt.get_cmap("viridis")
    for index, run in enumerate(runs):
        colour = colours(index / max(len(runs) - 1, 1))
        label = run_label(run, keys)
        for axis, keys_ in zip(axes[0], (LOSS_KEYS, ACCURACY_KEYS)):
            for split, style in (("train", "--"), ("valid", "-")):
                key, epochs, values = series(run, split, keys_)
                if key:
                    axis.plot(epochs, values, style, color=colour, marker=".",
                              label=label if split == "valid" and axis is axes[0][0] else None)
    for axis, name in zip(axes[0], ("loss", "accuracy")):
        epoch_axis(axis, f"{name} (train dashed, valid solid)")
    outside_legend(fig, axes[0][0])
    fig.suptitle(f"{model}: learning curves")
    return save_figure(fig, out_dir / curves_stem(runset, model))


def epoch_axis(axis, ylabel: str) -> None:
    axis.set_xlabel("epoch")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no 1.5 ticks on short runs
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)


def plot_comparison(runset: RunSet, out_dir: Path, metric: str | None = None) -> list[Path]:
    """Runs of several models on one figure: each run's validation loss against epoch, coloured by model (left),
    and its final ``metric`` (default: the task's selection metric) by model (right)."""
    models = column_order({run.model for run in runset.runs})
    metric = metric or default_metric(runset.runs)
    runs = sorted(runset.runs, key=lambda run: (models.index(run.model),
                                                 tuple(sort_key(run.config.get(k)) for k in runset.swept), run.name))
    keys = varying_keys(runset.swept, runs)
    fig, (curves, finals) = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained",
                                         gridspec_kw={"width_ratios": (2, 1)})
    colours = {model: f"C{index % 10}" for index, model in enumerate(models)}
    styles = ("-", "--", ":", "-.")
    for run in runs:
        style = styles[[r for r in runs if r.model == run.model].index(run) % len(styles)]
        key, epochs, values = series(run, "valid", LOSS_KEYS)
        label = run.model + (": " + run_label(run, keys, 36) if keys else "")
        if key:
            curves.plot(epochs, values, style, color=colours[run.model], marker=".", label=label)
        value = metric_value(run, metric)
        if value is not None:
            finals.scatter([models.index(run.model)], [value], color=colours[run.model], zorder=3)
    epoch_axis(curves, "validation loss")
    finals.set_xticks(range(len(models)), models, rotation=20)
    better = "higher" if larger_is_better(metric) else "lower"
    finals.set_ylabel(f"{metric}, best checkpoint ({better} is better)")
    finals.grid(axis="y", alpha=0.3)
    outside_legend(fig, curves)
    fig.suptitle(f"{runset.title}: {', '.join(models)} compared")
    return save_figure(fig, out_dir / f"compare_{'+'.join(models)}")


def plot_learning_curves(runset: RunSet, out_dir: Path) -> dict[str, list[Path]]:
    """{model: [png, svg]} for every model in the run set."""
    models = column_order({run.model for run in runset.runs})
    return {model: plot_model_curves(runset, model, out_dir) for model in models}

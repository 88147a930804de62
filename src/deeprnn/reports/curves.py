"""Learning curves: loss and accuracy against epoch, one line per swept value (like the replication's Figures 2-10).

One figure per model: the left panel shows the loss (training dashed, validation solid), the right one
the accuracy where the runs record one. Values come from each run's metrics.jsonl.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.ticker import MaxNLocator

from deeprnn.metric_keys import ACCURACY, FRAME_ACCURACY
from deeprnn.reports.plotting import plt, save_figure
from deeprnn.reports.runs import Run, RunSet
from deeprnn.reports.tables import column_order, row_label, sort_key

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


def plot_model_curves(runset: RunSet, model: str, out_dir: Path) -> list[Path]:
    runs = [run for run in runset.runs if run.model == model]
    runs.sort(key=lambda run: (tuple(sort_key(run.config.get(k)) for k in runset.swept), run.name))
    has_accuracy = any(series(run, "valid", ACCURACY_KEYS)[0] for run in runs)
    fig, axes = plt.subplots(1, 2 if has_accuracy else 1, figsize=(11 if has_accuracy else 6, 4), squeeze=False)
    colours = plt.get_cmap("viridis")
    for index, run in enumerate(runs):
        colour = colours(index / max(len(runs) - 1, 1))
        label = row_label(runset.swept, tuple(run.config.get(k) for k in runset.swept))
        for axis, keys in zip(axes[0], (LOSS_KEYS, ACCURACY_KEYS)):
            for split, style in (("train", "--"), ("valid", "-")):
                key, epochs, values = series(run, split, keys)
                if key:
                    axis.plot(epochs, values, style, color=colour, marker=".",
                              label=label if split == "valid" else None)
    for axis, name in zip(axes[0], ("loss", "accuracy")):
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no 1.5 ticks on short runs
        axis.set_ylabel(f"{name} (train dashed, valid solid)")
        axis.grid(alpha=0.3)
    axes[0][0].legend(title=", ".join(runset.swept) or None, fontsize="small")
    fig.suptitle(f"{model}: learning curves")
    fig.tight_layout()
    return save_figure(fig, out_dir / curves_stem(runset, model))


def plot_learning_curves(runset: RunSet, out_dir: Path) -> dict[str, list[Path]]:
    """{model: [png, svg]} for every model in the run set."""
    models = column_order({run.model for run in runset.runs})
    return {model: plot_model_curves(runset, model, out_dir) for model in models}

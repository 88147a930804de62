"""The figures of RESULTS.md, drawn from ``results/`` alone (like the Markdown around them).

- a recipe table (one recipe per model, several seeds): each model's seeds as dots and their mean as a bar,
  each model's target as a dashed line across its column (the best model's across the figure), and the
  published numbers of the same metric as hollow markers, one marker shape per source (quoted, not measured
  here);
- a grid table with one swept key (the replication's hidden-size tables): the metric against the swept
  value, one line per model, the published grid of the same metric and epoch dashed in the same colour;
- the headline figure: one panel per benchmark, ours per model against the published numbers by source
  (grey markers: a source whose protocol differs from ours).

Files are written by ``deeprnn.reports.plotting.save_figure`` (PNG and SVG, byte-reproducible).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from matplotlib.ticker import NullLocator

from deeprnn.reports.plotting import plt, save_figure
from deeprnn.reports.published import Quote, get_published
from deeprnn.reports.runs import Run, larger_is_better, metric_value
from deeprnn.reports.table_specs import GridTable, RecipeTable
from deeprnn.reports.tables import column_order, format_value, is_number, sort_key

MARKERS = ("o", "s", "^", "D", "v", "P")


def recipe_figure(table: RecipeTable, by_recipe: dict[str, list[Run]], labels: dict[str, str],
                  stem: Path) -> Path | None:
    """Ours per model (seeds and mean) against the targets and the published numbers; the PNG's path, or
    None when no run of the table has finished."""
    metric = table.metric
    recipes = [Path(r).name for r in table.recipes]
    ours = {r: [v for v in (metric_value(run, metric) for run in by_recipe.get(r, [])) if v is not None]
            for r in recipes}
    if not any(ours.values()):
        return None
    scale = 100.0 if metric.endswith("acc") else 1.0  # accuracies in %
    fig, axis = plt.subplots(figsize=(max(8.0, 1.0 * len(recipes) + 5.0), 4.2))
    positions = {recipe: index for index, recipe in enumerate(recipes)}
    labelled = False  # the legend entries once, on the first model with runs
    for recipe, values in ours.items():
        x = positions[recipe]
        if values:
            axis.scatter([x] * len(values), [v * scale for v in values], s=18, color="tab:blue", zorder=3,
                         label=None if labelled else "ours, each seed")
            mean = math.fsum(values) / len(values)
            axis.hlines(mean * scale, x - 0.3, x + 0.3, color="tab:blue", linewidth=2.5, zorder=3,
                        label=None if labelled else "ours, mean")
            labelled = True
        else:
            axis.text(x, 0.5, "not run", transform=axis.get_xaxis_transform(), ha="center", color="grey",
                      fontsize="small", rotation=90)
    sources = {}
    for set_name in table.published:
        published = get_published(set_name)
        if published.metric != metric:
            continue
        for quote in published.quotes:
            marker = sources.setdefault(quote.source, MARKERS[len(sources) % len(MARKERS)])
            x = positions.get(quote.model)
            if x is None:  # a model we do not have (e.g. TCN): a column of its own at the right
                positions[quote.model] = x = len(positions)
            offset = 0.12 if quote.variant else 0.0  # e.g. L_p units beside the sigmoid variant
            axis.scatter([x + offset], [quote.value * scale], marker=marker, facecolors="none",
                         edgecolors="tab:red", s=45, zorder=4)
    for source, marker in sources.items():
        axis.scatter([], [], marker=marker, facecolors="none", edgecolors="tab:red", label=f"{source} (quoted)")
    targets = {recipe: table.target(recipe) for recipe in recipes if table.target(recipe) is not None}
    for index, (recipe, target) in enumerate(targets.items()):  # each model's own bound, across its column
        x = positions[recipe]
        axis.hlines(target * scale, x - 0.4, x + 0.4, linestyle="--", color="grey", linewidth=1,
                    label=None if index else "target")
    if table.target_best is not None:
        axis.axhline(table.target_best * scale, linestyle=":", color="grey", linewidth=1, label="target, best")
    names = sorted(positions, key=positions.get)
    axis.set_xticks(range(len(names)), [labels.get(n, n) for n in names], rotation=20)
    split, _, name = metric.partition(".")
    better = "higher" if larger_is_better(metric) else "lower"
    axis.set_ylabel(f"{split} {name}{' (%)' if scale != 1.0 else ''}, {better} is better")
    axis.set_title(table.title)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return save_figure(fig, stem)[0]


def grid_figure(table: GridTable, runs: list[Run], metric: str, labels: dict[str, str],
                stem: Path) -> Path | None:
    """``metric`` against the table's one swept key, a line per model, with the published grid of the same
    metric and epoch dashed; None unless the table sweeps exactly one key and has runs."""
    keys = list(table.row_keys or ())
    if len(keys) != 1 or not runs:
        return None
    key, epoch = keys[0], table.epoch
    values = sorted({run.config[key] for run in runs if key in run.config}, key=sort_key)  # the table's row order
    # A key with a value that is not a number (None: the default) gets one evenly spaced position per value
    # instead of a log axis; quoted grids (over hidden sizes) are numeric and stay on theirs.
    numeric = all(is_number(value) for value in values)
    position = {value: float(value) if numeric else float(i) for i, value in enumerate(values)}
    fig, axis = plt.subplots(figsize=(10.0, 4.5))
    colours = {}
    for model in column_order({run.model for run in runs}):
        points = sorted((position[run.config[key]], value) for run in runs
                        if run.model == model and key in run.config
                        for value in [metric_value(run, metric, epoch)] if value is not None)
        if points:
            line, = axis.plot(*zip(*points), marker="o", label=labels.get(model, model))
            colours[model] = line.get_color()
    for set_name in table.published if numeric else ():
        published = get_published(set_name)
        if (published.metric, published.epoch) != (metric, epoch):
            continue
        for model in column_order({quote.model for quote in published.quotes}):
            points = sorted((q.row, q.value) for q in published.quotes if q.model == model)
            axis.plot(*zip(*points), linestyle="--", marker="x", color=colours.get(model, "grey"), alpha=0.7,
                      label=f"{labels.get(model, model)}, {published.quotes[0].source} (quoted)")
    if numeric and max(values) >= 10 * min(values) > 0:  # sizes 10..600: a log axis, ticked at the values
        axis.set_xscale("log")
        axis.xaxis.set_minor_locator(NullLocator())
    if numeric:  # plain numbers at the swept values (a log axis would print 2 x 10^0)
        axis.set_xticks([float(value) for value in values], [format_value(value) for value in values])
    else:
        axis.set_xticks(range(len(values)), [format_value(value) for value in values])
    axis.set_xlabel(key.rpartition(".")[2])
    when = f"at epoch {epoch}" if epoch is not None else "best checkpoint"
    axis.set_ylabel(f"{metric} {when}")
    axis.set_title(table.title, fontsize="medium")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return save_figure(fig, stem)[0]


@dataclass(frozen=True)
class Panel:
    """One benchmark of the headline figure: our runs' values per model and the quotes of the same metric."""

    title: str
    metric: str
    ours: dict[str, list[float]]  # model -> the reported metric of each seed, in the table's order
    quotes: tuple[Quote, ...]


def headline_figure(panels: list[Panel], labels: dict[str, str], stem: Path) -> Path | None:
    """Every benchmark in a panel of its own: ours (mean, and the seeds' range as an error bar) against the
    published numbers, one hollow marker shape per source; None when no panel has runs."""
    panels = [panel for panel in panels if any(panel.ours.values())]
    if not panels:
        return None
    columns = min(len(panels), 4)
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.6 * rows), squeeze=False)
    markers: dict[str, str] = {}
    for axis, panel in zip(axes.flat, panels):
        headline_panel(axis, panel, labels, markers)
    handles = [plt.Line2D([], [], color="tab:blue", marker="o", linestyle="", label="ours: mean, bar = seed range"),
               *(plt.Line2D([], [], color="tab:red", marker=marker, markerfacecolor="none", linestyle="",
                            label=f"{source} (quoted)") for source, marker in markers.items())]
    if any(quote.protocol for panel in panels for quote in panel.quotes):
        handles.append(plt.Line2D([], [], color="grey", marker="o", markerfacecolor="none", linestyle="",
                                  label="grey: quoted, a different protocol"))
    spare = list(axes.flat)[len(panels):]
    for axis in spare:
        axis.set_axis_off()
    if spare:  # the legend in the empty panels' place
        spare[-1].legend(handles=handles, loc="center right" if len(spare) > 1 else "center", fontsize="small")
        fig.tight_layout()
    else:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 4), fontsize="small")
        fig.tight_layout(rect=(0, 0.06 + 0.02 * math.ceil(len(handles) / 4), 1, 1))
    return save_figure(fig, stem)[0]


def headline_panel(axis, panel: Panel, labels: dict[str, str], markers: dict[str, str]) -> None:
    """One benchmark: x = models (ours, then quoted models we do not have), y = its reported metric."""
    scale = 100.0 if panel.metric.rpartition(".")[2].startswith(("acc", "frame_acc")) else 1.0
    positions = {model: index for index, model in enumerate(panel.ours)}
    for model, values in panel.ours.items():
        if values:
            mean = math.fsum(values) / len(values)
            low, high = min(values) * scale, max(values) * scale
            axis.errorbar([positions[model]], [mean * scale], yerr=[[mean * scale - low], [high - mean * scale]],
                          color="tab:blue", marker="o", markersize=5, capsize=3, zorder=3)
    for quote in panel.quotes:
        marker = markers.setdefault(quote.source, MARKERS[len(markers) % len(MARKERS)])
        if quote.beside not in positions:
            positions[quote.beside] = len(positions)
        axis.scatter([positions[quote.beside] + 0.18], [quote.value * scale], marker=marker, facecolors="none",
                     edgecolors="grey" if quote.protocol else "tab:red", s=40, zorder=4)
    names = sorted(positions, key=positions.get)
    axis.set_xticks(range(len(names)), [labels.get(n, n) for n in names], rotation=45, ha="right",
                    fontsize="x-small")
    split, _, name = panel.metric.partition(".")
    better = "higher" if larger_is_better(panel.metric) else "lower"
    axis.set_ylabel(f"{split} {name}{' (%)' if scale != 1.0 else ''} ({better} better)", fontsize="small")
    axis.set_title(panel.title, fontsize="medium")
    axis.grid(axis="y", alpha=0.3)

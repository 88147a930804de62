"""Figures of a gradient-flow analysis, drawn from its records (``gradflow.json``'s "results"), on log scales.

- ``grad_h1_vs_T``: ‖∂L/∂h_1‖ against T, one panel per architecture, one line per depth (the replication's
  Figure 1), with the vanishing and exploding thresholds dotted;
- ``param_grad_vs_T``: the total parameter-gradient norm against T, laid out the same way;
- ``grad_vs_distance``: ‖∂L/∂h_t‖ against the distance T − t, at the longest T.

The synthetic measurements get these names; real-data ones a suffix: ``_<dataset>-init`` for the
architectures at initialisation, ``_<dataset>-run`` for a run at initialisation and trained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import NullLocator

from deeprnn.reports.plotting import plt, save_figure
from deeprnn.reports.tables import column_order

# Below float32's smallest normal number a norm is an underflow artefact (down to 0): left out of the plots.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def plottable(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(values >= FLOAT32_TINY, values, np.nan)


def figure_group(source: str) -> str:
    """The file-name suffix of a source: a run's init and trained measurements share one figure."""
    if source == "synthetic":
        return ""
    for ending in ("-run-init", "-run-trained"):
        if source.endswith(ending):
            return "_" + source[: -len(ending)] + "-run"
    return "_" + source


def _panels(records: list[dict], title: str, xlabel: str, ylabel: str):
    models = column_order({r["model"] for r in records})
    columns = min(len(models), 3)
    rows = -(-len(models) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
    for axis in axes.flat[len(models):]:
        axis.set_visible(False)
    panels = dict(zip(models, axes.flat))
    for model, axis in panels.items():
        axis.set_title(model)
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.set_yscale("log")
        axis.grid(alpha=0.3, which="both")
    fig.suptitle(title)
    return fig, panels


def _lines(records: list[dict]) -> dict[tuple, list[dict]]:
    """Records grouped into lines by (model, source, depth), each sorted by length."""
    lines: dict[tuple, list[dict]] = {}
    for r in sorted(records, key=lambda r: (r["model"], r["source"], r["depth"], r["length"])):
        lines.setdefault((r["model"], r["source"], r["depth"]), []).append(r)
    return lines


def _label(source: str, depth: int, several_sources: bool) -> str:
    return f"{source.rpartition('-')[2]}, depth {depth}" if several_sources else f"depth {depth}"


def plot_against_length(records: list[dict], value: str, ylabel: str, stem: Path,
                        thresholds: tuple[float, ...] = (), title: str | None = None) -> list[Path]:
    several = len({r["source"] for r in records}) > 1
    fig, panels = _panels(records, title or f"{ylabel} against sequence length", "sequence length T", ylabel)
    for (model, source, depth), line in _lines(records).items():
        panels[model].plot([r["length"] for r in line], plottable([r[value] for r in line]), marker="o",
                           label=_label(source, depth, several))
    lengths = sorted({r["length"] for r in records})
    for axis in panels.values():
        axis.set_xscale("log")
        axis.set_xticks(lengths, [str(length) for length in lengths])
        axis.xaxis.set_minor_locator(NullLocator())
        for threshold in thresholds:
            axis.axhline(threshold, color="grey", linestyle=":", linewidth=1)
        axis.legend(fontsize="small")
    fig.tight_layout()
    return save_figure(fig, stem)


def plot_against_distance(records: list[dict], stem: Path) -> list[Path]:
    longest = max(r["length"] for r in records)
    records = [r for r in records if r["length"] == longest]
    several = len({r["source"] for r in records}) > 1
    fig, panels = _panels(records, f"‖∂L/∂h_t‖ against distance T − t (T = {longest})", "distance T − t",
                          "‖∂L/∂h_t‖")
    for (model, source, depth), line in _lines(records).items():
        norms = line[0]["step_grad_norms"]
        panels[model].plot([longest - t for t in range(1, len(norms) + 1)], plottable(norms),
                           label=_label(source, depth, several))
    for axis in panels.values():
        axis.legend(fontsize="small")
    fig.tight_layout()
    return save_figure(fig, stem)


def plot_gradflow(records: list[dict], out_dir: Path, thresholds: tuple[float, ...] = ()) -> list[Path]:
    """All figures, one set per source group; returns the PNG and SVG paths."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(figure_group(r["source"]), []).append(r)
    paths = []
    for suffix, group in sorted(groups.items()):
        paths += plot_against_length(group, "grad_h1", "‖∂L/∂h_1‖", out_dir / f"grad_h1_vs_T{suffix}", thresholds)
        paths += plot_against_length(group, "param_grad_norm", "‖∂L/∂θ‖", out_dir / f"param_grad_vs_T{suffix}")
        paths += plot_against_distance(group, out_dir / f"grad_vs_distance{suffix}")
    return paths

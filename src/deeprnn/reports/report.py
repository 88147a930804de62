"""``deeprnn report``: tables (Markdown, CSV, LaTeX), learning curves and a Markdown report linking them.

Everything written is a function of the run files alone: no timestamps, no absolute paths, sorted rows
and columns, so a report regenerates byte for byte from committed results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from deeprnn.files import atomic_write_text
from deeprnn.reports.curves import plot_comparison, plot_learning_curves
from deeprnn.reports.published import get_published
from deeprnn.reports.runs import RunSet, default_metric, load_runs
from deeprnn.reports.tables import FORMATS, SUFFIXES, Table, build_table, column_order, format_value, to_markdown


@dataclass
class Report:
    runset: RunSet
    tables: list[Table]
    files: list[Path] = field(default_factory=list)


def runs_section(runset: RunSet) -> list[str]:
    header = ["run", "model", *runset.swept, "best epoch", "epochs", "params"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in sorted(runset.runs, key=lambda r: r.name):
        cells = [f"`{run.name}`", run.model, *(format_value(run.config.get(k)) for k in runset.swept),
                 *(str(run.summary.get(k, "")) for k in ("best_epoch", "epochs", "params"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_report(report: Report, curves: dict[str, list[Path]], comparison: list[Path] = ()) -> str:
    runset = report.runset
    datasets = sorted({str(run.summary.get("dataset", run.config.get("data.name", "?"))) for run in runset.runs})
    models = column_order({run.model for run in runset.runs})
    lines = [f"# Report: {runset.title}", "",
             f"{len(runset.runs)} runs of {', '.join(models)} on {', '.join(datasets)}; "
             f"swept: {', '.join(f'`{k}`' for k in runset.swept) or 'nothing but the model'}.", ""]
    for table in report.tables:
        better = "highest" if "higher" in table.title else "lowest"
        lines += [f"## {table.title}", "", to_markdown(table).rstrip("\n"), "",
                  f"Rows: {table.row_header}; columns: model; the {better} value of each row is in **bold**. "
                  f"Also as [CSV]({table.stem}.csv) and [LaTeX]({table.stem}.tex).", ""]
        lines += [f"- {note}" for note in table.notes] + ([""] if table.notes else [])
    if comparison:
        png, svg = comparison
        lines += ["## The models compared", "",
                  "Every run's validation loss against epoch, coloured by model, and its final metric.", "",
                  f"![models compared]({png.name}) ([SVG]({svg.name}))", ""]
    if curves:
        lines += ["## Learning curves", "",
                  "Loss and accuracy against epoch, one line per swept value; training dashed, validation solid.", ""]
        for model, (png, svg) in curves.items():
            lines += [f"### {model}", "", f"![{model} learning curves]({png.name}) ([SVG]({svg.name}))", ""]
    lines += ["## Runs", "", *runs_section(runset), ""]
    return "\n".join(lines)


def write_report(paths: list[str | Path], out_dir: str | Path, metrics: list[str] | None = None,
                 epoch: int | None = None, published: list[str] = (), figures: bool = True, warn=print) -> Report:
    """Read the runs under ``paths`` and write report.md, the tables and the learning curves to ``out_dir``."""
    out_dir = Path(out_dir)
    runset = load_runs(paths, warn=warn)
    published_sets = tuple(get_published(name) for name in published)
    metrics = metrics or [default_metric(runset.runs)]
    report = Report(runset, [build_table(runset, m, epoch, published_sets, warn=warn) for m in metrics])
    out_dir.mkdir(parents=True, exist_ok=True)
    for table in report.tables:
        for fmt, render in FORMATS.items():
            path = out_dir / f"{table.stem}{SUFFIXES[fmt]}"
            atomic_write_text(path, render(table))
            report.files.append(path)
    curves = plot_learning_curves(runset, out_dir) if figures else {}
    several = len({run.model for run in runset.runs}) > 1
    comparison = plot_comparison(runset, out_dir, metrics[0]) if figures and several else []
    report.files += [path for pair in curves.values() for path in pair] + comparison
    atomic_write_text(out_dir / "report.md", markdown_report(report, curves, comparison))
    report.files.append(out_dir / "report.md")
    return report

"""deeprnn.reports: tables, learning curves and a Markdown report from run directories (JSON files only).

Importing the package is light (no torch, no matplotlib): ``write_report`` lives in
``deeprnn.reports.report`` and the figures in ``deeprnn.reports.curves`` / ``gradflow_figures``.
"""

from deeprnn.reports.published import PUBLISHED, SOURCES, PublishedSet, Quote, get_published
from deeprnn.reports.runs import Run, RunSet, load_runs, metric_value
from deeprnn.reports.table_specs import GradflowTable, GridTable, RecipeTable
from deeprnn.reports.tables import Table, build_table, to_csv, to_latex, to_markdown

__all__ = [
    "PUBLISHED", "SOURCES", "GradflowTable", "GridTable", "PublishedSet", "Quote", "RecipeTable", "Run", "RunSet",
    "Table", "build_table", "get_published", "load_runs", "metric_value", "to_csv", "to_latex", "to_markdown",
]  # fmt: skip

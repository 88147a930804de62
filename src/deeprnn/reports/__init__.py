"""deeprnn.reports: tables, learning curves and a Markdown report from run directories (JSON files only)."""

from deeprnn.reports.published import PUBLISHED, SOURCES, PublishedSet, Quote, get_published
from deeprnn.reports.report import Report, write_report
from deeprnn.reports.runs import Run, RunSet, load_runs, metric_value
from deeprnn.reports.tables import Table, build_table, to_csv, to_latex, to_markdown

__all__ = [
    "PUBLISHED", "SOURCES", "PublishedSet", "Quote", "Report", "Run", "RunSet", "Table", "build_table",
    "get_published", "load_runs", "metric_value", "to_csv", "to_latex", "to_markdown", "write_report",
]  # fmt: skip

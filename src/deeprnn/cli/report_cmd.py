"""``deeprnn report``: tables, learning curves and a Markdown report from run or sweep directories."""

from __future__ import annotations

import sys
from pathlib import Path

from deeprnn.cli.help import examples


def _split_commas(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def add_parser(subparsers) -> None:
    from deeprnn.reports.published import PUBLISHED  # light: no torch, no matplotlib

    p = subparsers.add_parser(
        "report",
        help="tables and learning curves from run or sweep directories",
        description="Tables in the layout of the replication's Tables 1 and 2 (rows = swept value, columns = "
        "model, best cell marked) as Markdown, CSV and LaTeX; learning curves (PNG and SVG) per model, and for "
        "runs of several models one figure comparing them; and report.md linking them. A sweep directory's "
        "sweep.json names the swept keys; for a list of runs they are the config keys whose values differ.",
        epilog=examples("deeprnn report results/jsb-search --out runs/report-jsb-search",
                        "deeprnn report results/jsb/rnn/seed-0 results/jsb/dts-rnn/seed-0",
                        "deeprnn report results/jsb-search --metric valid.nll,test.nll --format csv --no-figures "
                        "--out runs/report-jsb-search",
                        "deeprnn report results/ --results-md runs/RESULTS.md"),
    )
    p.add_argument("dirs", nargs="+", metavar="STUDY_OR_RUN_DIR", help="a sweep directory, or run directories")
    p.add_argument("--metric", action="append", default=[],
                   help="SPLIT.NAME, e.g. valid.nll, valid.bce_mean, test.nll (repeatable or comma-separated; "
                   "default: the task's selection metric)")
    p.add_argument("--epoch", type=int, help="take values at this epoch (metrics.jsonl) instead of the best "
                   "checkpoint (default: the best checkpoint's)")
    p.add_argument("--format", choices=["md", "csv", "latex"], default="md",
                   help="format of the table printed; all three are written (default md)")
    p.add_argument("--published", action="append", default=[], metavar="NAME",
                   help=f"add quoted published numbers, labelled with their source: {', '.join(PUBLISHED)} "
                   "(repeatable; default: none)")
    p.add_argument("--out", help="output directory (default: runs/report/NAME, NAME the directory's name for one "
                   "directory, else 'compare')")
    p.add_argument("--no-figures", action="store_true", help="tables only (default: tables and learning curves)")
    p.add_argument("--results-md", metavar="PATH",
                   help="instead: regenerate RESULTS.md at PATH from a results directory written by "
                   "'deeprnn reproduce' (e.g. deeprnn report results/ --results-md RESULTS.md; default: a report)")
    p.add_argument("--data-dir", help="accepted like every command's, but not read: reports use the runs' "
                   "recorded metrics only (default: none)")
    p.set_defaults(func=run_report)


def run_report(args) -> int:
    if args.results_md:
        from deeprnn.reports.results_md import write_results_md

        if len(args.dirs) != 1:
            raise ValueError("--results-md reads one results directory (e.g. results/)")
        write_results_md(args.dirs[0], args.results_md)
        print(f"{args.results_md} regenerated from {args.dirs[0]}")
        return 0
    from deeprnn.reports.report import write_report
    from deeprnn.reports.tables import FORMATS

    name = Path(args.dirs[0]).resolve().name if len(args.dirs) == 1 else "compare"
    out = Path(args.out) if args.out else Path("runs") / "report" / name
    report = write_report(args.dirs, out, _split_commas(args.metric), args.epoch, _split_commas(args.published),
                          figures=not args.no_figures, warn=lambda message: print(message, file=sys.stderr))
    for table in report.tables:
        print(f"{table.title}\n{FORMATS[args.format](table)}")
    print(f"report written to {out / 'report.md'} ({len(report.files)} files)")
    return 0

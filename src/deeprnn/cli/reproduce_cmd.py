"""``deeprnn reproduce``: run a table's recipes (as sweeps), keep the run files in results/, regenerate RESULTS.md."""

from __future__ import annotations

import argparse

from deeprnn.cli.help import PROCESS_DATA_DIR_HELP, examples

DESCRIPTION = """\
Run the recipes of one table of RESULTS.md (configs/recipes/tables.toml) with N seeds, each run an
ordinary training run managed by the sweep machinery: rerunning resumes interrupted runs and never
repeats finished ones, and --jobs / --storage share the work between processes and machines. Finished
runs' small files (config.json, metrics.jsonl, summary.json, env.json; no checkpoints) are copied to
results/<table>/ and RESULTS.md is regenerated from results/. A gradflow table trains nothing: it measures
gradient norms through time (deeprnn gradflow) and keeps results/<table>/gradflow.csv."""

EXAMPLES = examples(
    "deeprnn reproduce --list",
    "deeprnn reproduce jsb --seeds 3 --set train.threads=1",
    "deeprnn reproduce jsb --only dots-rnn-star --seeds 1       # one recipe, one seed (a first sitting)",
    "deeprnn reproduce replication-table2 --out runs/sweeps     # shares runs/sweeps/jsb-hidden with 'deeprnn sweep'",
    "deeprnn reproduce nottingham --no-train                    # only collect finished runs and regenerate",
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="run a table's recipes x seeds (resumable sweeps), keep the results, regenerate RESULTS.md",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("table", nargs="?",
                   help="a table of configs/recipes/tables.toml, see --list (default: none; needed unless --list)")
    p.add_argument("--list", action="store_true",
                   help="list the tables, their runs and estimated CPU-hours (default: run TABLE)")
    p.add_argument("--seeds", type=int, help="seeds 0..N-1 per recipe (default: the table's)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--only", action="append", default=[], metavar="RECIPE",
                   help="run only these recipes of the table (repeatable or comma-separated; default: all)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a fixed override for every run, e.g. --set train.threads=1; a later sitting must give "
                   "the same ones to resume (a study is tied to its config; repeatable; default: none)")
    p.add_argument("--out", default="runs/reproduce", help="where the runs and checkpoints go (default runs/reproduce)")
    p.add_argument("--storage", help="Optuna storage URL shared by all workers (default $DEEPRNN_STORAGE, else an "
                   "SQLite file per table under --out)")
    p.add_argument("--tables", default="configs/recipes/tables.toml",
                   help="table definitions (default configs/recipes/tables.toml)")
    p.add_argument("--results", default="results", help="where the small run files are kept (default results)")
    p.add_argument("--results-md", default="RESULTS.md", help="the Markdown file regenerated (default RESULTS.md)")
    p.add_argument("--reuse", action="append", default=[], metavar="DIR",
                   help="adopt finished runs under DIR made with exactly a run's config, on any train.device (e.g. "
                   "the recipe search's run of the chosen point is seed 0 of its recipe) instead of training them "
                   "again; a finished run with fewer train.epochs and its checkpoints is adopted and resumed to "
                   "the run's budget; repeatable (default: none)")
    p.add_argument("--no-train", action="store_true",
                   help="only collect finished runs and regenerate RESULTS.md (default: train what is missing)")
    p.add_argument("--data-dir", help=PROCESS_DATA_DIR_HELP)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # a process started by --jobs
    p.set_defaults(func=run_reproduce)


def run_reproduce(args) -> int:
    from deeprnn.data.datadir import data_dir_in_environment
    from deeprnn.experiments.reproduce import describe_tables, load_tables, reproduce

    if args.list:
        print(describe_tables(load_tables(args.tables)))
        return 0
    if not args.table:
        raise ValueError("name a table (deeprnn reproduce --list shows them)")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    only = [item.strip() for value in args.only for item in value.split(",") if item.strip()]
    # What each --jobs worker process is started with: the same table, runs and storage home.
    argv = [args.table, "--jobs", str(args.jobs), "--out", args.out, "--tables", args.tables]
    argv += ["--seeds", str(args.seeds)] if args.seeds is not None else []
    argv += ["--only", ",".join(only)] if only else []
    argv += [item for override in args.overrides for item in ("--set", override)]
    with data_dir_in_environment(args.data_dir):  # the workers it starts inherit it
        return reproduce(
            args.table, tables_file=args.tables, out_root=args.out, results_dir=args.results,
            results_md=args.results_md, seeds=args.seeds, jobs=args.jobs, only=only, overrides=args.overrides,
            storage=args.storage, train=not args.no_train, worker=args.worker, argv=argv, reuse=args.reuse,
            log=lambda message: print(message, flush=True),
        )  # fmt: skip

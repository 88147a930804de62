"""``deeprnn sweep``: grid sweeps over config keys, one training run per grid point (see docs/sweeps.md)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from deeprnn.cli.help import PROCESS_DATA_DIR_HELP, examples

DESCRIPTION = """\
Run every point of a grid over config keys as an ordinary training run, each exactly once.
The study lives in an SQLite file in the sweep directory, or in --storage (e.g. PostgreSQL) shared
with 'deeprnn sweep --worker' processes on other machines. Rerunning the same command resumes:
finished points are kept, interrupted runs continue from their checkpoints, failed ones are retried."""

EXAMPLES = examples(
    "deeprnn sweep configs/music/jsb.toml --grid model.name=rnn,dts-rnn --grid model.hidden_size=50,100 "
    "--study jsb-small",
    "deeprnn sweep configs/sweeps/music/jsb-hidden.toml --jobs 2",
    "DEEPRNN_STORAGE_PASSWORD=... deeprnn sweep --worker --study jsb-hidden --storage "
    "postgresql://sweeper@db-host/sweeps",
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run a grid of training runs (an Optuna study; resumable, any number of workers)",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", help="a training config (with --grid) or a sweep preset (configs/sweeps/); "
                   "default: none, for --worker")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a config key and its values (repeatable; the sweep is the product of all --grid; "
                   "default: a preset's grids)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a fixed override for every run, e.g. --set train.epochs=10 (repeatable; default: none)")
    p.add_argument("--study", help="study name (default: the preset's own; needed with --grid)")
    p.add_argument("--out", help="sweep directory: runs, sweep.json, study.db (default runs/sweeps/<study>)")
    p.add_argument("--storage", help="Optuna storage URL (default $DEEPRNN_STORAGE, else sqlite:///<out>/study.db); "
                   "the password may come from $DEEPRNN_STORAGE_PASSWORD instead of the URL")
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes on this machine (default 1; 0: only create the study and enqueue its grid)")
    p.add_argument("--worker", action="store_true",
                   help="only run the waiting trials of an existing study (named by --study or a preset), then "
                   "exit (default: create or resume the study, then run it)")
    p.add_argument("--pruner", choices=["none", "median"], default="none",
                   help="median: stop runs whose validation metric is worse than the median of earlier trials at "
                   "that epoch (default none)")
    p.add_argument("--data-dir", help=PROCESS_DATA_DIR_HELP)
    p.set_defaults(func=run_sweep_command)


def run_sweep_command(args) -> int:
    from deeprnn.data.datadir import data_dir_in_environment

    with data_dir_in_environment(args.data_dir):  # the workers it starts inherit it
        return _run_sweep(args)


def _run_sweep(args) -> int:
    from deeprnn.experiments import sweep

    url = None
    try:
        if args.jobs < (1 if args.worker else 0):
            raise ValueError(f"--jobs must be >= {1 if args.worker else 0}")
        if args.worker:
            if args.grid or args.overrides:
                raise ValueError("a worker takes the grid and config from the study; drop --grid and --set")
            study = args.study or (sweep.load_preset(Path(args.config))["study"] if args.config else None)
            if not study:
                raise ValueError("--worker needs --study NAME (or a sweep preset naming its study)")
            out_dir = Path(args.out or Path("runs") / "sweeps" / study)
            url = sweep.storage_url(args.storage, out_dir)
            return sweep.run_worker(study, out_dir, url, jobs=args.jobs, log=_print)
        if not args.config:
            raise ValueError("give a training config with --grid KEY=V1,V2,..., or a sweep preset (configs/sweeps/)")
        spec = sweep.build_spec(args.config, args.grid, args.overrides, study=args.study, pruner=args.pruner)
        out_dir = Path(args.out or Path("runs") / "sweeps" / spec.study)
        url = sweep.storage_url(args.storage, out_dir)
        return sweep.run_sweep(spec, out_dir, url, jobs=args.jobs, log=_print)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - storage errors may quote the URL: one scrubbed line, no traceback
        from deeprnn.cli.main import EXPECTED_ERRORS, error_line

        message = error_line(exc) if isinstance(exc, EXPECTED_ERRORS) else f"{type(exc).__name__}: {exc}"
        secrets = [sweep.url_password(url) if url else None, os.environ.get(sweep.PASSWORD_ENV)]
        raise ValueError(sweep.scrub(message, secrets)) from None


def _print(message: str) -> None:
    print(message, flush=True)

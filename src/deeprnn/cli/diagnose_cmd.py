"""``deeprnn diagnose``: gain at init, then the first training batches through the trainer's own code."""

from __future__ import annotations

import sys
from pathlib import Path

from deeprnn.cli.help import PROCESS_DATA_DIR_HELP, examples


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "diagnose",
        help="pre-flight check of a config: step gain at init, first batches' loss, gradients and saturation",
        description="Build the run of CONFIG exactly as 'deeprnn train' does and train its first --batches "
        "batches through the trainer's own code (the same losses for the same config and seed). Prints the gain "
        "of the recurrent step at initialisation (largest singular value of dh_t/dh_(t-1) at the origin), then "
        "per batch the training loss, the gradient norm before and after clipping and the fraction of saturated "
        "output units, then the validation metric. Writes no run directory. See docs/models.md.",
        epilog=examples(
            "deeprnn diagnose configs/demo.toml --batches 20",
            "deeprnn diagnose configs/recipes/ptb-word/dots-rnn.toml --batches 200 --set model.transition_gain=1.0 "
            "--set model.output_from_input=false --set train.threads=1 --out runs/diagnose",
        ),
    )
    p.add_argument("config", help="TOML config file, as for 'deeprnn train'")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set model.init=groundhog (repeatable; default none)")
    p.add_argument("--batches", type=int, default=200, help="training batches to run (default 200)")
    p.add_argument("--data-dir", help=PROCESS_DATA_DIR_HELP)
    p.add_argument("--rows", type=int, default=10, help="batches shown in the printed table (default 10)")
    p.add_argument("--out", help="also write diagnose.json (every batch) and diagnose.png here (default: none)")
    p.add_argument("--json", action="store_true",
                   help="print the whole diagnosis as JSON instead of the table (default: the table)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (default: a bar when stderr is a terminal)")
    p.set_defaults(func=run_diagnose)


def run_diagnose(args) -> int:
    from deeprnn.data.datadir import data_dir_in_environment
    from deeprnn.experiments import diagnose
    from deeprnn.training import load_config

    config = load_config(args.config, args.overrides)
    progress = False if args.no_progress else (None if sys.stderr.isatty() else False)
    with data_dir_in_environment(args.data_dir):  # as `deeprnn train --data-dir`: not part of the config
        result = diagnose.diagnose(config, args.batches, progress=progress)
    print(result.to_json() if args.json else diagnose.report(result, args.rows))
    if args.out:
        files = diagnose.write(result, Path(args.out))
        print(f"written: {', '.join(str(f) for f in files)}", file=sys.stderr)
    return 0

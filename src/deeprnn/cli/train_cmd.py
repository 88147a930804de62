"""``deeprnn train`` and ``deeprnn evaluate``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from deeprnn import stop_reasons
from deeprnn.cli.help import AFTER_DEMO, PROCESS_DATA_DIR_HELP, RUN_DATA_DIR_HELP, examples


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model from a TOML config (writes a run directory)",
        description="Train a model from a TOML config. Every run directory gets its resolved config.json, "
        "env.json (the machine, and where it read the data), metrics.jsonl, summary.json and the checkpoints "
        "'last' and 'best'. Test metrics are those of the best-validation checkpoint. On a shared machine, "
        "--set train.threads=1 is often faster than torch's default threads. Exit codes: 0 trained; 2 error, in one "
        "line (bad settings, a file that cannot be read or written); 3 diverged (summary.json's 'stopped' says "
        "why); 130 interrupted (continue it with --resume).",
        epilog=examples(
            "deeprnn train configs/demo.toml --run-dir runs/demo --overwrite",
            "deeprnn train configs/music/jsb.toml --set model.name=dts-rnn --set model.hidden_size=400 "
            "--set train.threads=1 --run-dir runs/jsb-dts",
            "deeprnn train --resume runs/jsb-dts --set train.epochs=40",
        ),
    )
    p.add_argument("config", nargs="?",
                   help="TOML config file (default with --resume: the run's stored config.json)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set model.hidden_size=400 (repeatable; default: none)")
    p.add_argument("--run-dir", help="where to write the run (default runs/<dataset>-<model>-<time>)")
    p.add_argument("--resume", metavar="RUN_DIR", nargs="?", const="",
                   help="continue the run in RUN_DIR (or, given alone, the one in --run-dir) from its last "
                   "checkpoint (default: start a new run)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a run already in --run-dir, once the new run's config, model and data have "
                   "loaded; until then the old run stays intact (default: refuse to)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"],
                   help="override train.device (default: the config's, 'auto' unless it sets one)")
    p.add_argument("--seed", type=int, help="override train.seed (default: the config's, 0 unless it sets one)")
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic algorithms, for exact resume on CPU (default: the config's "
                   "train.deterministic, off unless it sets it)")
    p.add_argument("--data-dir", help=PROCESS_DATA_DIR_HELP + "; with --resume, default: also the directory the "
                   "run recorded")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (default: bars when stderr is a terminal)")
    p.set_defaults(func=run_train)

    e = subparsers.add_parser(
        "evaluate",
        help="evaluate a run's checkpoint on a split",
        description="Recompute a run's metrics on a split from one of its checkpoints.",
        epilog=examples("deeprnn evaluate runs/demo",
                        "deeprnn evaluate runs/demo --split valid --checkpoint last --json", after=AFTER_DEMO),
    )
    e.add_argument("run_dir", help="a run directory written by 'deeprnn train'")
    e.add_argument("--split", choices=["train", "valid", "test"], default="test", help="the split (default test)")
    e.add_argument("--checkpoint", choices=["best", "last"], default="best",
                   help="best = the best-validation checkpoint, last = the latest epoch's (default best)")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto = cuda if available, else cpu (default auto)")
    e.add_argument("--data-dir", help=RUN_DATA_DIR_HELP)
    e.add_argument("--json", action="store_true", help="print machine-readable JSON (default: one line of text)")
    e.set_defaults(func=run_evaluate)


def _run_to_resume(resume: str, run_dir: str | None) -> Path:
    """The run directory that ``--resume [RUN_DIR]`` names: its argument, or ``--run-dir`` when bare."""
    if not resume:
        if not run_dir:
            raise ValueError("--resume without a RUN_DIR needs --run-dir to say which run to continue")
        return Path(run_dir)
    if resume.endswith(".toml"):
        # argparse gives a bare --resume the next word, so `--resume CONFIG` lands here.
        raise ValueError(f"--resume {resume}: that is a config file, not a run directory; "
                         "put the config first (deeprnn train CONFIG --run-dir DIR --resume)")
    if run_dir and Path(run_dir).resolve() != Path(resume).resolve():
        raise ValueError(f"--resume {resume} and --run-dir {run_dir} name different runs; give one of them")
    return Path(resume)


def run_train(args) -> int:
    from deeprnn.data.datadir import data_dir_in_environment
    from deeprnn.training import Config, load_config, run_data_dir, train
    from deeprnn.training.checkpoint import read_json
    from deeprnn.training.config import apply_overrides

    overrides = list(args.overrides)
    for flag, key in ((args.device, "train.device"), (args.seed, "train.seed")):
        if flag is not None:
            overrides.append(f"{key}={json.dumps(flag)}")
    if args.deterministic:
        overrides.append("train.deterministic=true")
    progress = False if args.no_progress else None
    if args.resume is not None:
        # With --resume the stored config is the base; a config file or overrides may only change
        # the keys that are safe to change (more epochs, another device), which train() checks.
        run_dir = _run_to_resume(args.resume, args.run_dir)
        config = None
        if args.config:
            config = load_config(args.config, overrides)
        elif overrides and (run_dir / "config.json").is_file():
            config = apply_overrides(Config.from_dict(read_json(run_dir / "config.json")), overrides)
        with data_dir_in_environment(run_data_dir(run_dir, args.data_dir)):
            summary = train(config, run_dir, resume=True, progress=progress)
        print(_last_line(run_dir, summary))
        return _exit_code(summary)
    if not args.config:
        raise ValueError("give a config file (e.g. configs/demo.toml) or --resume RUN_DIR")
    config = load_config(args.config, overrides)
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / (
        f"{config.data.name.replace(':', '_').replace('/', '_')}-{config.model.name}-"
        f"{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    )
    with data_dir_in_environment(args.data_dir):
        summary = train(config, run_dir, overwrite=args.overwrite, progress=progress)
    print(_last_line(run_dir, summary))
    return _exit_code(summary)


def _last_line(run_dir: Path, summary: dict) -> str:
    """The console's last line of a run: where it is and why it stopped (summary.json's "stopped")."""
    return f"run written to {run_dir}; stopped: {summary['stopped']}"


def _exit_code(summary: dict) -> int:
    from deeprnn.training.trainer import TrainingDiverged

    return TrainingDiverged.exit_code if stop_reasons.is_diverged(summary["stopped"]) else 0


def run_evaluate(args) -> int:
    from deeprnn.training import evaluate_run

    result = evaluate_run(args.run_dir, split=args.split, checkpoint=args.checkpoint, device=args.device,
                          data_dir=args.data_dir)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        metrics = " ".join(f"{k} {v:.4f}" for k, v in result["metrics"].items() if isinstance(v, float))
        print(f"{args.run_dir} [{args.checkpoint}, epoch {result['epoch']}] {args.split}: {metrics}")
    return 0

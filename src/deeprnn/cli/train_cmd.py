"""``deeprnn train`` and ``deeprnn evaluate``."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model from a TOML config (writes a run directory)",
        description="Train a model from a TOML config. Every run directory gets its resolved config.json,\n"
        "env.json, metrics.jsonl, summary.json and the checkpoints 'last' and 'best'. Test metrics are\n"
        "those of the best-validation checkpoint.",
        epilog="example: deeprnn train configs/music/jsb.toml --set model.name=dts-rnn --set model.hidden_size=400\n"
        "exit codes: 0 trained; 2 error, in one line (bad settings, a file that cannot be read or written);\n"
        "  3 diverged (summary.json's 'stopped' says why); 130 interrupted (continue it with --resume)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", help="TOML config file (optional with --resume)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set model.hidden_size=400 (repeatable)")
    p.add_argument("--run-dir", help="where to write the run (default runs/<dataset>-<model>-<time>)")
    p.add_argument("--resume", metavar="RUN_DIR", nargs="?", const="",
                   help="continue the run in RUN_DIR (or, given alone, the one in --run-dir) from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --run-dir")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override train.device")
    p.add_argument("--seed", type=int, help="override train.seed")
    p.add_argument("--deterministic", action="store_true", help="deterministic algorithms (exact resume on CPU)")
    p.add_argument("--data-dir", help="override data.data_dir (default: $DEEPRNN_DATA, then the user cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_train)

    e = subparsers.add_parser(
        "evaluate",
        help="evaluate a run's checkpoint on a split",
        description="Recompute a run's metrics on a split from one of its checkpoints.",
    )
    e.add_argument("run_dir", help="a run directory written by 'deeprnn train'")
    e.add_argument("--split", choices=["train", "valid", "test"], default="test")
    e.add_argument("--checkpoint", choices=["best", "last"], default="best")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    e.add_argument("--json", action="store_true", help="print machine-readable JSON")
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
    from deeprnn.training import Config, load_config, train
    from deeprnn.training.checkpoint import read_json
    from deeprnn.training.config import apply_overrides

    overrides = list(args.overrides)
    for flag, key in ((args.device, "train.device"), (args.seed, "train.seed"), (args.data_dir, "data.data_dir")):
        if flag is not None:
            overrides.append(f"{key}={json.dumps(flag)}")
    if args.deterministic:
        overrides.append("train.deterministic=true")
    if args.resume is not None:
        # With --resume the stored config is the base; a config file or overrides may only change
        # the keys that are safe to change (more epochs, another device), which train() checks.
        run_dir = _run_to_resume(args.resume, args.run_dir)
        config = None
        if args.config:
            config = load_config(args.config, overrides)
        elif overrides and (run_dir / "config.json").is_file():
            config = apply_overrides(Config.from_dict(read_json(run_dir / "config.json")), overrides)
        summary = train(config, run_dir, resume=True, progress=False if args.no_progress else None)
        return _exit_code(summary)
    if not args.config:
        raise ValueError("give a config file (e.g. configs/demo.toml) or --resume RUN_DIR")
    config = load_config(args.config, overrides)
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / (
        f"{config.data.name.replace(':', '_').replace('/', '_')}-{config.model.name}-"
        f"{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    )
    summary = train(config, run_dir, overwrite=args.overwrite, progress=False if args.no_progress else None)
    print(f"run written to {run_dir}")
    return _exit_code(summary)


def _exit_code(summary: dict) -> int:
    from deeprnn.training.trainer import TrainingDiverged

    return TrainingDiverged.exit_code if summary["stopped"].startswith("diverged") else 0


def run_evaluate(args) -> int:
    from deeprnn.training import evaluate_run

    result = evaluate_run(args.run_dir, split=args.split, checkpoint=args.checkpoint, device=args.device)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        metrics = " ".join(f"{k} {v:.4f}" for k, v in result["metrics"].items() if isinstance(v, float))
        print(f"{args.run_dir} [{args.checkpoint}, epoch {result['epoch']}] {args.split}: {metrics}")
    return 0

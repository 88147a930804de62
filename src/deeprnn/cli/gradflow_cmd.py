"""``deeprnn gradflow``: how the gradient of a last-step loss decays back through the recurrence."""

from __future__ import annotations

import sys
from pathlib import Path

from deeprnn.architectures import SIX_MODELS
from deeprnn.cli.help import examples

DEFAULT_MODELS = ",".join(SIX_MODELS)


def _ints(text: str) -> list[int]:
    try:
        values = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"expected positive integers, got {text!r}")
    return values


def _gain(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def add_parser(subparsers) -> None:
    from deeprnn.models import INIT_SCHEMES
    from deeprnn.training.config import ModelConfig

    p = subparsers.add_parser(
        "gradflow",
        help="gradient-flow analysis: ‖∂L/∂h_t‖ against distance, per architecture and depth",
        description="Measure ‖∂L/∂h_t‖ for every step t of a loss at the last step, and the parameter-gradient "
        "norms, for each architecture and depth: on synthetic inputs (32 x T x 10, L = ½‖V h_T − y‖² / B with a "
        "fixed random read-out V and targets y), on real music windows at initialisation and, with --run-dir, "
        "for a trained run. Flags ‖∂L/∂h_1‖ < 1e-6 (vanishing) and > 10 (exploding). Writes gradflow.csv, "
        "gradflow_steps.csv, gradflow.json and the figures (PNG and SVG). See docs/gradflow.md.",
        epilog=examples("deeprnn gradflow --models dts-rnn,srnn --depths 2,4 --lengths 10,50,200 --out runs/gradflow",
                        "deeprnn gradflow --run-dir runs/demo --models dots-rnn --depths 2 --lengths 10,50 "
                        "--out runs/gradflow-demo", after="the second after the README's first command"),
    )
    p.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated model names (default {DEFAULT_MODELS})")
    p.add_argument("--depths", default="2,4,8",
                   help="transition depth (dt*/dot*) or number of layers (srnn/lstm/gru); rnn has none (default 2,4,8)")
    p.add_argument("--lengths", default="10,25,50,100,200", help="sequence lengths T (default 10,25,50,100,200)")
    p.add_argument("--hidden", type=int, default=200, help="hidden size (default 200)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per measurement (default 32)")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights, the inputs, V and y (default 0)")
    p.add_argument("--dataset", default="musedata",
                   help="music dataset for the real-data measurement at initialisation, or 'none' (default musedata)")
    p.add_argument("--data-dir", help="data directory (default: with --run-dir as for that run: its data.data_dir, "
                   "else $DEEPRNN_DATA, else the directory it recorded in env.json; without: $DEEPRNN_DATA; "
                   "else ~/.cache/deeprnn/data)")
    p.add_argument("--run-dir", help="also measure this music run's best checkpoint and its architecture at init "
                   "(default: none)")
    p.add_argument("--out", default="runs/gradflow", help="output directory (default runs/gradflow)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: the per-step matrices are small, so more threads mostly wait)")
    defaults = ModelConfig()  # the initialisation options of `deeprnn train`'s [model], with its defaults
    p.add_argument("--init", default=defaults.init, choices=INIT_SCHEMES,
                   help=f"initialisation scheme (model.init; default {defaults.init})")
    p.add_argument("--sparse-nonzeros", type=int, default=defaults.sparse_nonzeros,
                   help=f"non-zeros per row for init sparse/groundhog (model.sparse_nonzeros; "
                        f"default {defaults.sparse_nonzeros})")
    p.add_argument("--spectral-radius", type=float, default=defaults.spectral_radius,
                   help="scale of the recurrent matrices at initialisation (model.spectral_radius; "
                        f"default {defaults.spectral_radius})")
    p.add_argument("--transition-gain", type=_gain, default=defaults.transition_gain,
                   help="deep-transition models: the step Jacobian's largest singular value at the origin "
                        f"(model.transition_gain; 'none' = the scheme's scale; default {defaults.transition_gain})")
    p.add_argument("--transition-dropout", type=float, default=0.0,
                   help="deep-transition models: measure in training mode with this dropout on the transition's "
                        "intermediate layers, one mask per sequence as in training (default 0.0: eval mode)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (default: bars when stderr is a terminal)")
    p.set_defaults(func=run_gradflow)


def run_gradflow(args) -> int:
    from deeprnn.experiments.gradflow import measuring

    with measuring(args.threads, lambda text: print(f"deeprnn: {text}", file=sys.stderr)):
        return _run(args)


def _run(args) -> int:
    from deeprnn.experiments import gradflow
    from deeprnn.reports.gradflow_figures import plot_gradflow
    from deeprnn.training import run_data_dir

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    depths, lengths = _ints(args.depths), _ints(args.lengths)
    progress = not args.no_progress and sys.stderr.isatty()
    init = {"spectral_radius": args.spectral_radius, "transition_dropout": args.transition_dropout,
            "init": args.init, "sparse_nonzeros": args.sparse_nonzeros, "transition_gain": args.transition_gain}
    measurements = gradflow.synthetic_sweep(models, depths, lengths, args.hidden, args.batch_size, seed=args.seed,
                                            progress=progress, **init)
    dataset = None if args.dataset.lower() == "none" else args.dataset
    # with a run, its data directory is the user's: the --dataset measurement reads there too
    data_dir = run_data_dir(args.run_dir, args.data_dir) if args.run_dir else args.data_dir
    if dataset:
        measurements += gradflow.music_sweep(dataset, models, depths, lengths, args.hidden, args.batch_size,
                                             args.seed, data_dir, progress, **init)
    if args.run_dir:
        measurements += gradflow.run_sweep(args.run_dir, lengths, args.batch_size, args.seed, data_dir, progress)

    out = Path(args.out)
    settings = {"models": models, "depths": depths, "lengths": lengths, "hidden": args.hidden,
                "batch_size": args.batch_size, "input_size": 10, "seed": args.seed, "dataset": dataset,
                "run_dir": Path(args.run_dir).name if args.run_dir else None, **init}
    files = gradflow.write_results(measurements, out, settings)
    records = [gradflow.as_record(m) for m in measurements]
    files += plot_gradflow(records, out, thresholds=(gradflow.VANISHING, gradflow.EXPLODING))
    print(gradflow.summary_table(measurements))
    print(f"gradflow results written to {out} ({len(files)} files)")
    return 0
